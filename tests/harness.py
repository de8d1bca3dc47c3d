"""Shared test plumbing: a simulator and a real bot wired together over loopback sockets."""

from __future__ import annotations

import os
import random
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
import trio_asyncio

from bot_entry.app import BotApp
from bot_entry.config import Settings, load_settings
from discord_sim.crowd import Scenario, build_scenario
from discord_sim.server import DiscordSim
from discord_sim.world import World
from domain.clock import WallClock

EPOCH = 1_790_000_000.0  # 2026-09-21T14:13:20Z: a fixed "now" for every simulated run


def settings_for(db: Path | str, **env: str) -> Settings:
    """Test settings: no ops port (tests run side by side) and no scheduled backups unless asked.
    ``db``: a SQLite file, or a PostgreSQL URL (the ``db_target`` fixture gives either)."""
    quiet = {"OPS_PORT": "0", "BACKUP_INTERVAL_HOURS": "0"}
    where = {"LEADERBOARD_DB": str(db)} if isinstance(db, Path) else {"DATABASE_URL": db}
    return load_settings({**where, **quiet, **env}, env_file=None)


@contextmanager
def db_connect(db: Path | str) -> Iterator[Any]:
    """A plain connection to a test's database, as an operator would open it (either engine)."""
    if isinstance(db, Path):
        with sqlite3.connect(db) as conn:
            yield conn
        return
    from persistence.dialect import PgDatabase

    conn = PgDatabase(db)
    try:
        yield conn
    finally:
        conn.close()


@asynccontextmanager
async def simulator(clock: WallClock, seed: int = 1, members: int = 20) -> AsyncIterator[Scenario]:
    """A started loopback Discord with one seeded guild (must run inside a trio-asyncio loop)."""
    sim = DiscordSim(World(lambda: int(clock.now() * 1000)), token="test-token-not-a-secret")
    scenario = build_scenario(sim, random.Random(seed), members=members)
    await trio_asyncio.aio_as_trio(sim.start)()
    try:
        yield scenario
    finally:
        await trio_asyncio.aio_as_trio(sim.close)()


SCENARIO_MARKER = "scenario(seed=1, members=20): the seeded guild the ``scenario`` fixture starts"


@pytest.fixture
async def scenario(
    request: pytest.FixtureRequest, aio_loop: object, clock: WallClock
) -> AsyncIterator[Scenario]:
    """``simulator`` as a fixture, for a test that runs in it from start to end; the guild comes
    from the test's ``@pytest.mark.scenario(seed=..., members=...)``. The test still asks for
    ``autojump_clock`` itself: pytest-trio takes the clock from the test's own arguments."""
    marker = request.node.get_closest_marker("scenario")
    async with simulator(clock, **(marker.kwargs if marker else {})) as started:
        yield started


@asynccontextmanager
async def running_bot(
    sim: DiscordSim, settings: Settings, clock: WallClock, *, inline_db: bool = True, **kwargs: Any
) -> AsyncIterator[BotApp]:
    """A real bot connected to ``sim``; on exit it shuts down cleanly (everything flushed).

    ``inline_db`` (default, for MockClock tests): SQLite runs on the Trio thread, because while a
    worker thread writes, virtual time would run on and make timings meaningless. Tests on the
    real clock pass False and get the production worker thread.
    """
    from attrs import evolve

    from bot_entry.config import Secret

    app = BotApp(evolve(settings, token=Secret(sim.token)), clock, api_base=sim.base_url, **kwargs)
    app.pipeline.inline_db = inline_db
    async with trio.open_nursery() as nursery:
        await nursery.start(app.run)
        try:
            yield app
        finally:
            app.stop()


async def wait_until(predicate: Callable[[], bool], *, within: float = 120.0, what: str = "it") -> None:
    """Poll ``predicate`` in virtual time (tests run on MockClock); fail loudly after ``within`` s.

    Polling, not an Event: the predicates read counters inside disnake and the simulator.
    """
    deadline = trio.current_time() + within
    while not predicate():
        if trio.current_time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await trio.sleep(0.05)


def db_message_counts(db: Path | str, guild_id: int) -> dict[int, int]:
    """Read counts back with a plain connection, as an operator would."""
    with db_connect(db) as conn:
        rows = conn.execute(
            "SELECT user_id, SUM(messages) FROM activity WHERE guild_id = ? GROUP BY user_id", [guild_id]
        )
        return {user: n for user, n in rows if n}


@contextmanager
def host_tz(name: str) -> Iterator[None]:
    """Run with the host's time zone set to ``name`` (nothing we compute may depend on it)."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


@asynccontextmanager
async def wall_clock_simulator(token: str) -> AsyncIterator[DiscordSim]:
    """A started loopback Discord on the real clock, with no guild (for the bot run as a process)."""
    sim = DiscordSim(World(lambda: int(time.time() * 1000)), token=token)
    await trio_asyncio.aio_as_trio(sim.start)()
    try:
        yield sim
    finally:
        await trio_asyncio.aio_as_trio(sim.close)()
