"""Frames through the real gateway parsers into the real pipeline, on MockClock.

``run_frames`` plays a list of (delay, event name, payload) frames through the real ``Gateway``
(disnake's own parsers behind ours) into the real ``Pipeline`` with an inline store, so every
total is deterministic. Used by the pipeline fuzz and the abuse tests.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import shutil
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import trio
import trio.testing
import trio_asyncio

from bot_entry.gateway import Gateway
from discord_sim.world import World
from domain.clock import WallClock
from domain.events import Event
from persistence.store import Store
from tests.bot_entry.gateway_payloads import GUILD_A, GUILD_B
from tests.harness import EPOCH, settings_for
from wiring.pipeline import NO_FAULTS, Faults, Pipeline


def ready_payload(world: World) -> dict[str, Any]:
    """READY as the simulator sends it: the bot user and every guild, not yet available."""
    return {
        "v": 10,
        "user": world.bot.user_payload() | {"verified": True, "mfa_enabled": False, "flags": 0},
        "guilds": [{"id": str(g), "unavailable": True} for g in (GUILD_A, GUILD_B)],
        "session_id": "fuzz",
        "session_type": "normal",
        "resume_gateway_url": "ws://127.0.0.1:1/gateway",
        "application": {"id": str(world.application_id), "flags": 0},
        "private_channels": [],
        "relationships": [],
        "presences": [],
        "guild_join_requests": [],
        "user_settings": {},
        "geo_ordered_rtc_regions": [],
    }


Frames = list[tuple[float, str, Any]]  # (seconds to wait first, event name, payload)
CALL = "CALL"  # a frame whose payload is a function of the pipeline, called instead of a parser


async def feed_pipeline(
    frames: Frames,
    world: World,
    db: Path,
    *,
    configure: Callable[[Pipeline], None] | None = None,
    faults: Faults = NO_FAULTS,
    **env: str,
) -> tuple[Gateway, Pipeline]:
    """Play ``frames`` through the real gateway parsers into the real pipeline, on MockClock.

    Run it with ``trio.run(..., clock=MockClock(autojump_threshold=0))``: the store is inline, so
    frames are stamped at exactly their scheduled virtual time and totals are deterministic.
    """
    clock = WallClock.starting_at(EPOCH)
    env = {
        "VOICE_CHECKPOINT_SECONDS": "15",
        "MESSAGE_FLUSH_SECONDS": "5",
        "VOICE_FLUSH_SECONDS": "5",
        "MESSAGE_FLUSH_MAX": "7",
    } | env
    async with trio_asyncio.open_loop():
        send, receive = trio.open_memory_channel[Event](10_000)
        gateway = Gateway(send, clock)
        pipeline = Pipeline(settings_for(db, **env).pipeline, clock, faults, inline_db=True)
        if configure is not None:
            configure(pipeline)
        parsers = gateway.client._connection.parsers

        async def play() -> None:  # disnake calls parsers from its asyncio websocket loop; so do we
            parsers["READY"](ready_payload(world))  # disnake knows who it is before anything else
            for delay, name, payload in frames:
                if delay:
                    await asyncio.sleep(delay)
                if name == CALL:
                    payload(pipeline, gateway)  # what an admin command would do at this moment
                else:
                    parsers[name](payload)
                    await gateway.drain()  # as the websocket does before reading the next frame

        async with trio.open_nursery() as nursery:
            await nursery.start(pipeline.run, receive)
            async with send:
                await trio_asyncio.aio_as_trio(play)()
    return gateway, pipeline


@functools.cache
def migrated_template() -> Path:
    """An empty database with the current schema, made once per test process."""
    folder = Path(tempfile.mkdtemp(prefix="fuzz-template-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    Store(folder / "template.db").close()
    return folder / "template.db"


def run_frames(frames: Frames, world: World, db: Path, **kwargs: Any) -> tuple[Gateway, Pipeline]:
    """``feed_pipeline`` on MockClock, starting from a copy of the migrated template database.

    Why the copy: the pipeline opens its store in a worker thread, and while it waits, MockClock's
    autojump spins the Trio loop, starving that thread of the GIL: creating the schema there took
    up to seconds per example; opening an existing one takes milliseconds.
    """
    if not db.exists():
        shutil.copyfile(migrated_template(), db)
    return trio.run(
        partial(feed_pipeline, frames, world, db, **kwargs),
        clock=trio.testing.MockClock(autojump_threshold=0),
    )


def stored(db: Path) -> tuple[Counter[tuple[int, int]], Counter[tuple[int, int]]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT guild_id, user_id, SUM(messages), SUM(voice_ms) FROM activity GROUP BY 1, 2"
        )
        messages, voice = Counter[tuple[int, int]](), Counter[tuple[int, int]]()
        for guild_id, user_id, n, ms in rows:
            if n:
                messages[(guild_id, user_id)] = n
            if ms:
                voice[(guild_id, user_id)] = ms
        return messages, voice
