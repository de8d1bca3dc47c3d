"""The light session inbox keeps the Mailbox's promises: order, backpressure, close, redelivery."""

from __future__ import annotations

import math

import pytest
import trio
import trio.testing

from supervisor.inbox import SessionInbox


async def test_events_come_out_in_order_and_a_waiting_reader_is_woken() -> None:
    inbox = SessionInbox[int]("s", capacity=4)
    got: list[int] = []

    async def read() -> None:
        got.extend([await inbox.receive(), await inbox.receive(), await inbox.receive()])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        await trio.testing.wait_all_tasks_blocked()
        inbox.sender.send_nowait(1)
        await inbox.send(2)
        await inbox.send(3)
    assert got == [1, 2, 3]


async def test_a_full_inbox_makes_the_sender_wait_and_drops_nothing() -> None:
    inbox = SessionInbox[int]("s", capacity=2)
    inbox.send_nowait(1)
    inbox.send_nowait(2)
    with pytest.raises(trio.WouldBlock):
        inbox.send_nowait(3)
    sent = []

    async def send() -> None:
        await inbox.send(3)
        sent.append(3)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send)
        await trio.testing.wait_all_tasks_blocked()
        assert sent == [] and inbox.depth() == 2  # waiting for room
        assert await inbox.receive() == 1
        await trio.testing.wait_all_tasks_blocked()
        assert sent == [3]
    assert [await inbox.receive(), await inbox.receive()] == [2, 3]


async def test_close_lets_the_reader_drain_then_end_and_refuses_senders() -> None:
    inbox = SessionInbox[int]("s", capacity=1)
    inbox.send_nowait(1)
    refused = []

    async def blocked_send() -> None:
        try:
            await inbox.send(2)
        except trio.ClosedResourceError:
            refused.append(2)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(blocked_send)
        await trio.testing.wait_all_tasks_blocked()
        inbox.close()
    assert refused == [2]
    with pytest.raises(trio.ClosedResourceError):
        inbox.send_nowait(3)
    assert await inbox.receive() == 1
    with pytest.raises(trio.EndOfChannel):
        await inbox.receive()


async def test_close_wakes_a_waiting_reader_with_end_of_channel() -> None:
    inbox = SessionInbox[int]("s", capacity=1)
    ended = []

    async def read() -> None:
        with pytest.raises(trio.EndOfChannel):
            await inbox.receive()
        ended.append(True)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        await trio.testing.wait_all_tasks_blocked()
        inbox.close()
    assert ended == [True]


async def test_a_cancelled_wait_leaves_the_inbox_usable() -> None:
    inbox = SessionInbox[int]("s", capacity=1)
    with trio.move_on_after(1) as scope:
        await inbox.receive()
    assert scope.cancelled_caught
    inbox.send_nowait(5)  # no stale reader to wake
    assert await inbox.receive() == 5


async def test_the_event_in_hand_at_a_crash_comes_back_once_then_is_a_poison_pill() -> None:
    inbox = SessionInbox[int]("s", capacity=4)
    inbox.send_nowait(1)
    inbox.send_nowait(2)
    assert await inbox.receive() == 1
    inbox.crashed()
    assert await inbox.receive() == 1  # handed back after the first crash
    inbox.crashed()
    assert await inbox.receive() == 2  # crashed twice: dropped


@pytest.mark.parametrize("capacity", [0, -1, 0.5])
def test_an_inbox_that_could_hold_nothing_is_refused(capacity: float) -> None:
    with pytest.raises(ValueError, match=r"at least 1|capacity"):
        SessionInbox[int]("s", capacity=capacity)


def test_unbounded_is_allowed_when_said() -> None:
    inbox = SessionInbox[int]("s", capacity=math.inf)
    for n in range(1_000):
        inbox.send_nowait(n)
    assert inbox.depth() == 1_000
