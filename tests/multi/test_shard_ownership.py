"""A process acts only on the guilds of its shards: with several processes on one database, each
archives periods and loads boards for its own guilds (``domain.shards.ShardSet``)."""

from __future__ import annotations

from pathlib import Path

import trio

from actors.leaderboard_publisher import LeaderboardPublisher
from actors.reset_clock import ResetClock
from domain.checkpoints import BoardCheckpoint, BoardRow, MessageBatch
from domain.clock import WallClock
from domain.guild_config import GuildConfig, GuildConfigs
from domain.kinds import BoardKind
from domain.periods import DAY
from domain.shards import ShardSet, shard_of
from persistence import boards as board_rows
from persistence.store import Store
from tests.harness import EPOCH

EVEN = 2 << 22  # shard 0 of 2
ODD = 3 << 22  # shard 1 of 2


def test_a_shard_set_owns_its_shards_guilds_only() -> None:
    assert shard_of(EVEN, 2) == 0 and shard_of(ODD, 2) == 1
    zero, one = ShardSet(2, (0,)), ShardSet(2, (1,))
    assert zero.owns(EVEN) and not zero.owns(ODD)
    assert one.owns(ODD) and not one.owns(EVEN)
    assert ShardSet().owns(EVEN) and ShardSet(2, None).owns(ODD) and ShardSet(None, (1,)).owns(EVEN)
    guilds = [g << 22 for g in range(1000)]
    owners = [[s for s in range(4) if ShardSet(4, (s,)).owns(g)] for g in guilds]
    assert all(len(o) == 1 for o in owners)  # every guild has exactly one owner


def two_guild_store(path: Path) -> Store:
    store = Store(path)
    for guild in (EVEN, ODD):
        spec = store.period_spec_sync(guild, EPOCH)
        store.apply_messages_sync(MessageBatch({(guild, 1, int(spec.start_of(0) + 3600)): 3}, (), {}))
    return store


async def test_each_process_archives_only_its_own_guilds_and_together_all_once(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    store = two_guild_store(tmp_path / "shared.db")
    clock = WallClock.starting_at(EPOCH + 31 * DAY)
    try:
        zero = ResetClock(store, clock, grace_seconds=10, shards=ShardSet(2, (0,)))
        one = ResetClock(store, clock, grace_seconds=10, shards=ShardSet(2, (1,)))
        assert await zero.catch_up() == [(EVEN, 0)]
        assert store.last_archived_sync(ODD) is None  # not shard 0's to archive
        assert await one.catch_up() == [(ODD, 0)]
        assert await zero.catch_up() == [] and await one.catch_up() == []
    finally:
        store.close()


class NoPoster:
    """Loading boards posts nothing: a poster without methods shows it."""


async def test_the_publisher_loads_only_its_own_guilds_boards(tmp_path: Path) -> None:
    store = Store(tmp_path / "boards.db")
    try:
        for guild in (EVEN, ODD):
            row = BoardRow(guild, BoardKind.MESSAGES, 77, guild + 1, "hash", EPOCH, EPOCH)
            board_rows.save_board_sync(store, BoardCheckpoint(guild, BoardKind.MESSAGES, row))
        configs = GuildConfigs(GuildConfig())
        clock = WallClock.starting_at(EPOCH)
        one = LeaderboardPublisher(store, NoPoster(), configs, clock, shards=ShardSet(2, (1,)))  # type: ignore[arg-type]
        everyone = LeaderboardPublisher(store, NoPoster(), configs, clock)  # type: ignore[arg-type]
        assert set(await one.load()) == {(ODD, BoardKind.MESSAGES)}
        assert set(await everyone.load()) == {(EVEN, BoardKind.MESSAGES), (ODD, BoardKind.MESSAGES)}
    finally:
        store.close()
