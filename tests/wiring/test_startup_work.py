"""Start-up costs a constant per guild: no actor scans every guild for each guild it sees."""

from __future__ import annotations

from pathlib import Path

import trio

from benchmarks.startup_work import prepare, start_guilds
from domain.clock import WallClock
from tests.harness import EPOCH


async def test_start_up_store_calls_grow_linearly_with_the_guilds(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """The real pipeline (configs and boards for every guild, a snapshot of each) until idle: ten
    times the guilds costs at most about ten times the store calls. The reset clock used to read
    every guild's last archive for each guild seen (O(G^2): 1,032,600 calls at 2,500 guilds)."""
    calls: dict[int, int] = {}
    for guilds in (50, 500):
        db = tmp_path / f"{guilds}.db"
        snapshots = prepare(db, guilds, EPOCH)
        calls[guilds], _, _ = await start_guilds(db, snapshots, WallClock.starting_at(EPOCH), inline=True)
    assert calls[500] <= 11 * calls[50], calls
