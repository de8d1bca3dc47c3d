"""The coalescing inbox: senders never wait for keyed messages, nothing is lost, newer replaces older."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from actors.leaderboard_publisher import PublishFinal, publisher_inbox
from actors.reset_clock import reset_clock_inbox
from domain.events import GuildSnapshot
from domain.guild_config import GuildConfig
from domain.messages import GuildConfigured, MemberForgotten, TotalsChanged
from supervisor.coalescing import CoalescingMailbox


def drain(box: CoalescingMailbox[object]) -> list[object]:
    out = []
    while True:
        try:
            out.append(box.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            return out


def by_parity(n: int) -> int | None:
    return None if n < 0 else n % 2


def test_a_newer_message_takes_the_place_of_the_queued_one_with_its_key() -> None:
    box = CoalescingMailbox[int]("t", by_parity)
    for n in (1, 2, 3, 4, 5):
        box.sender.send_nowait(n)
    assert box.depth() == 2
    assert drain(box) == [5, 4]  # in the order the keys first arrived, each with its newest value


def test_messages_without_a_key_queue_as_they_come_up_to_capacity() -> None:
    box = CoalescingMailbox[int]("t", by_parity, capacity=2)
    box.sender.send_nowait(-1)
    box.sender.send_nowait(-2)
    box.sender.send_nowait(7)  # keyed messages are never refused
    with pytest.raises(trio.WouldBlock):
        box.sender.send_nowait(-3)
    assert drain(box) == [-1, -2, 7]
    box.sender.send_nowait(-3)  # room again
    assert drain(box) == [-3]


async def test_send_waits_for_room_and_receive_waits_for_a_message(autojump_clock: object) -> None:
    box = CoalescingMailbox[int]("t", by_parity, capacity=1)
    got: list[int] = []

    async def reader() -> None:
        await trio.sleep(5)
        got.append(await box.receive())
        got.append(await box.receive())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        await box.send(-1)
        await box.send(-2)  # waits until the reader took -1
        assert got == [-1]
    assert got == [-1, -2]


async def test_close_lets_the_reader_drain_then_end(autojump_clock: object) -> None:
    box = CoalescingMailbox[int]("t", by_parity)
    box.sender.send_nowait(1)
    box.close()
    with pytest.raises(trio.ClosedResourceError):
        box.sender.send_nowait(2)
    assert await box.receive() == 1
    with pytest.raises(trio.EndOfChannel):
        await box.receive()


def test_the_message_in_flight_is_handed_out_again_after_a_crash() -> None:
    box = CoalescingMailbox[int]("t", by_parity)
    box.sender.send_nowait(1)
    box.sender.send_nowait(2)
    assert box.receive_nowait() == 1
    box.crashed()  # what the supervisor does when the reader crashed
    assert drain(box) == [1, 2]


def snapshot(guild_id: int, name: str) -> GuildSnapshot:
    return GuildSnapshot(guild_id=guild_id, name=name, at=0.0)


def test_the_publisher_hears_every_guild_however_busy_it_is() -> None:
    """Thousands of guilds connect while the publisher is in a round of Discord calls: a bounded
    channel dropped the 1,001st message; this inbox keeps the newest of each, and one totals."""
    inbox = publisher_inbox()
    guilds = range(1, 3_001)
    for round_ in (1, 2):
        for g in guilds:
            inbox.sender.send_nowait(snapshot(g, f"guild {g} v{round_}"))
            inbox.sender.send_nowait(GuildConfigured(g, GuildConfig(update_interval=60.0 * round_), 0.0))
            inbox.sender.send_nowait(TotalsChanged(frozenset({g})))
    forget = MemberForgotten(5, 50, 0.0)
    final = PublishFinal(5, 1, 30.0)
    inbox.sender.send_nowait(forget)
    inbox.sender.send_nowait(final)
    taken = drain(inbox)
    snapshots = [m for m in taken if isinstance(m, GuildSnapshot)]
    configs = [m for m in taken if isinstance(m, GuildConfigured)]
    (totals,) = [m for m in taken if isinstance(m, TotalsChanged)]
    assert [s.name for s in snapshots] == [f"guild {g} v2" for g in guilds]
    assert {c.config.update_interval for c in configs} == {120.0} and len(configs) == len(guilds)
    assert totals.guild_ids == frozenset(guilds)
    assert taken[-2:] == [forget, final]


def test_the_reset_clock_keeps_the_newest_snapshot_and_config_of_each_guild() -> None:
    inbox = reset_clock_inbox()
    for g in (1, 2, 1, 2, 1):
        inbox.sender.send_nowait(snapshot(g, f"g{g}"))
    inbox.sender.send_nowait(GuildConfigured(1, GuildConfig(period_days=7), 0.0))
    taken = drain(inbox)
    assert [type(m).__name__ for m in taken] == ["GuildSnapshot", "GuildSnapshot", "GuildConfigured"]


async def test_a_sender_waiting_for_room_hears_the_close(autojump_clock: object) -> None:
    box = CoalescingMailbox[int]("t", by_parity, capacity=1)
    box.sender.send_nowait(-1)
    async with trio.open_nursery() as nursery:

        async def blocked_send() -> None:
            with pytest.raises(trio.ClosedResourceError):
                await box.send(-2)

        nursery.start_soon(blocked_send)
        await trio.testing.wait_all_tasks_blocked()
        box.close()
