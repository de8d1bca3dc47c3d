"""Deterministic simulation: seeded voice scripts through the real pipeline (router, supervised
voice actors, ledger, SQLite) on MockClock, with random actor crashes, checked to the second
against an independent oracle. A failure prints the seed; replay it with ``just sim SEED``.
"""

from __future__ import annotations

import os
import random
import sqlite3
from pathlib import Path

import pytest
import trio

from actors.voice_ledger import SessionKey
from actors.voice_session import PresenceChanged
from domain.clock import WallClock
from domain.events import Event
from domain.periods import DAY, PeriodSpec, day_floor
from tests.harness import EPOCH, settings_for
from tests.voice_script import EXCLUDED, GUILD, Script, expected, generate
from wiring.pipeline import Faults, Pipeline

SEEDS = [int(s) for s in os.environ.get("VOICE_SIM_SEEDS", "1,2,3").split(",")]


class RandomCrashes:
    """Crash a voice actor on about ``rate`` of the events it handles, each event at most once."""

    def __init__(self, seed: int, rate: float) -> None:
        self.rng = random.Random(seed ^ 0x5EED)
        self.rate = rate
        self.crashed: set[int] = set()

    def __call__(self, key: SessionKey, change: PresenceChanged) -> None:
        if change.seq not in self.crashed and self.rng.random() < self.rate:
            self.crashed.add(change.seq)
            raise RuntimeError(f"injected crash in {key} at seq {change.seq}")


async def run_script(script: Script, db: Path, faults: Faults, checkpoint_seconds: int) -> Pipeline:
    clock = WallClock.starting_at(script.start)  # each run starts its own day, even in one test
    settings = settings_for(
        db,
        PERIOD_DAYS="1",
        VOICE_CHECKPOINT_SECONDS=str(checkpoint_seconds),
        EXCLUDED_CHANNEL_IDS=str(EXCLUDED),
        SUPERVISOR_INTENSITY="1000000",
        MESSAGE_FLUSH_SECONDS="30",
        VOICE_FLUSH_SECONDS="30",  # how often the ledger writes changes nothing in the totals
    )
    pipeline = Pipeline(settings.pipeline, clock, faults, inline_db=True)
    send, receive = trio.open_memory_channel[Event](1_000)
    async with trio.open_nursery() as nursery:
        await nursery.start(pipeline.run, receive)
        async with send:
            await send.send(script.snapshot)
            for change in script.changes:
                await clock.sleep_until(change.at)
                await send.send(change)
    return pipeline


def stored(db: Path) -> dict[tuple[int, int], int]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT user_id, period, voice_ms FROM activity WHERE guild_id = ?", [GUILD])
        return {(user, period): ms // 1000 for user, period, ms in rows if ms}


@pytest.mark.parametrize("seed", SEEDS)
async def test_voice_totals_equal_the_oracle_to_the_second_despite_actor_crashes(
    autojump_clock: trio.testing.MockClock, tmp_path: Path, seed: int
) -> None:
    script = generate(seed, start=EPOCH, users=200, seconds=2 * DAY)
    crashes = RandomCrashes(seed, rate=0.02)
    db = tmp_path / "voice.db"
    pipeline = await run_script(script, db, Faults(voice=crashes), checkpoint_seconds=600)
    period = PeriodSpec(day_floor(EPOCH), DAY)
    want = expected(script, period, frozenset({EXCLUDED}))
    got = stored(db)
    restarts = sum(pipeline.voice_supervisor.restarts.values())
    assert restarts == len(crashes.crashed) > 10, f"seed {seed}: the run must include crashes"
    diff = {
        k: (got.get(k, 0), want.get(k, 0)) for k in set(got) | set(want) if got.get(k, 0) != want.get(k, 0)
    }
    assert not diff, f"seed {seed} (replay: just sim {seed}): (user, period) -> (stored, oracle): {diff}"
    assert len({p for _, p in want}) >= 3, "the run must cross period boundaries"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'voice_sessions'").fetchone() is None


async def test_checkpoint_interval_does_not_change_totals(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    script = generate(99, start=EPOCH, users=30, seconds=DAY // 4)
    await run_script(script, tmp_path / "a.db", Faults(), checkpoint_seconds=5)
    await run_script(script, tmp_path / "b.db", Faults(), checkpoint_seconds=3_600)
    assert stored(tmp_path / "a.db") == stored(tmp_path / "b.db") != {}
