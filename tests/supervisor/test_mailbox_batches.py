"""A batch receive keeps the Mailbox's promise: after a crash inside a batch, exactly the event in
hand and the ones after it come out again, in order (no loss; the handled ones never again), and an
event that crashes the reader twice is dropped. For the trio-channel Mailbox and the QueueInbox."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import trio

from supervisor.inbox import QueueInbox
from supervisor.mailbox import Mailbox

Make = Callable[[str, int], Mailbox[int]]
KINDS = [pytest.param(Mailbox[int], id="Mailbox"), pytest.param(QueueInbox[int], id="QueueInbox")]


def filled(make: Make, *items: int, capacity: int = 100) -> Mailbox[int]:
    mailbox = make("m", capacity)
    for item in items:
        mailbox.sender.send_nowait(item)
    return mailbox


def handle(batch: object, upto: int) -> list[int]:
    """Go through ``batch`` and 'crash' while handling ``upto`` (the events before it are handled)."""
    handled = []
    for item in batch:  # type: ignore[attr-defined]
        if item == upto:
            break
        handled.append(item)
    return handled


@pytest.mark.parametrize("make", KINDS)
def test_a_batch_holds_at_most_the_limit_in_order(make: Make) -> None:
    mailbox = filled(make, 1, 2, 3, 4, 5)
    assert list(mailbox.receive_batch_nowait(3)) == [1, 2, 3]
    assert list(mailbox.receive_batch_nowait(3)) == [4, 5]
    with pytest.raises(trio.WouldBlock):
        mailbox.receive_batch_nowait(3)
    mailbox.close()
    with pytest.raises(trio.EndOfChannel):
        mailbox.receive_batch_nowait(3)


@pytest.mark.parametrize("make", KINDS)
def test_a_crash_inside_a_batch_redelivers_the_event_in_hand_and_the_rest_only(make: Make) -> None:
    mailbox = filled(make, 1, 2, 3, 4, 5, 6)
    assert handle(mailbox.receive_batch_nowait(5), upto=3) == [1, 2]
    mailbox.crashed()
    # 3 was in hand, 4 and 5 were taken but not reached, 6 was still queued: no loss, 1 and 2 never again.
    assert list(mailbox.receive_batch_nowait(10)) == [3, 4, 5, 6]


@pytest.mark.parametrize("make", KINDS)
def test_redelivered_events_come_first_and_respect_the_limit(make: Make) -> None:
    mailbox = filled(make, 1, 2, 3, 4, 5)
    handle(mailbox.receive_batch_nowait(4), upto=2)
    mailbox.crashed()
    mailbox.sender.send_nowait(6)
    assert list(mailbox.receive_batch_nowait(2)) == [2, 3]
    assert list(mailbox.receive_batch_nowait(10)) == [4, 5, 6]


@pytest.mark.parametrize("make", KINDS)
def test_a_crash_before_the_batch_is_started_redelivers_all_of_it(make: Make) -> None:
    mailbox = filled(make, 1, 2, 3)
    mailbox.receive_batch_nowait(3)
    mailbox.crashed()
    assert list(mailbox.receive_batch_nowait(10)) == [1, 2, 3]


@pytest.mark.parametrize("make", KINDS)
def test_after_a_whole_batch_the_last_event_is_in_flight_as_with_receive(make: Make) -> None:
    mailbox = filled(make, 1, 2, 3)
    assert list(mailbox.receive_batch_nowait(3)) == [1, 2, 3]
    mailbox.crashed()  # the reader crashed after its last event, before asking for more
    assert list(mailbox.receive_batch_nowait(3)) == [3]


@pytest.mark.parametrize("make", KINDS)
async def test_the_next_receive_acknowledges_the_batch(make: Make) -> None:
    mailbox = filled(make, 1, 2, 3)
    assert list(mailbox.receive_batch_nowait(2)) == [1, 2]
    assert await mailbox.receive() == 3
    mailbox.crashed()
    assert mailbox.receive_nowait() == 3  # only the event in hand: the batch was handled


@pytest.mark.parametrize("make", KINDS)
def test_an_event_that_crashes_a_batch_twice_is_dropped_and_the_rest_delivered(make: Make) -> None:
    mailbox = filled(make, 1, 2, 3, 4)
    handle(mailbox.receive_batch_nowait(4), upto=2)
    mailbox.crashed()
    handle(mailbox.receive_batch_nowait(4), upto=2)  # the same event crashes the reader again
    mailbox.crashed()
    assert list(mailbox.receive_batch_nowait(4)) == [3, 4]


@pytest.mark.parametrize("make", KINDS)
def test_a_second_crash_at_another_event_drops_nothing(make: Make) -> None:
    mailbox = filled(make, 1, 2, 3, 4)
    handle(mailbox.receive_batch_nowait(4), upto=2)
    mailbox.crashed()
    assert handle(mailbox.receive_batch_nowait(4), upto=3) == [2]
    mailbox.crashed()
    assert list(mailbox.receive_batch_nowait(4)) == [3, 4]


def test_taking_a_batch_makes_room_for_a_waiting_sender() -> None:
    mailbox = filled(QueueInbox[int], 1, 2, capacity=2)
    with pytest.raises(trio.WouldBlock):
        mailbox.sender.send_nowait(3)
    assert list(mailbox.receive_batch_nowait(5)) == [1, 2]
    mailbox.sender.send_nowait(3)
    assert mailbox.depth() == 1
