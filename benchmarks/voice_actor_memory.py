"""voice_actor_memory: resident bytes per concurrent voice-session actor, 10,000 users in voice.

A Pipeline gets a ``GuildSnapshot`` per guild, then one ``VoiceStateChanged`` join per user (25
users to a channel, 4 channels to a guild, so 100 guilds for 10,000 users). Measured once every session
actor has started and applied its join (``router.sessions`` and the ledger both hold every user):
RSS now minus RSS before the joins, divided by the number of users. Everything a user in voice
costs is in it: the join event the router keeps, its presence, the mailbox, the Trio task and
its checkpoint in the ledger. Each repetition runs in a fresh interpreter (``benchmarks.suite``),
so memory freed by earlier work cannot hide the growth. Sessions are measured at rest: the
checkpoint interval is an hour, so none falls inside the window (see ``_measure``).

A second, smaller run under tracemalloc attributes the Python allocations per actor to source
lines (the notes), which is where to look when the figure grows.
"""

from __future__ import annotations

import gc
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import trio

from benchmarks.common import Sample, Size, Stopwatch, rss_bytes, settings_for
from domain.clock import WallClock
from domain.events import Event, GuildSnapshot, VoiceStateChanged
from wiring.pipeline import Pipeline

PER_CHANNEL = 25
CHANNELS_PER_GUILD = 4  # the router's work per join grows with the guild's users in voice
TRACED_USERS = 2_000
CHECKPOINT_SECONDS = 3_600
ROOT = Path(__file__).resolve().parent.parent


def _layout(users: int) -> list[tuple[int, int, int]]:
    """(guild, channel, user) for every user."""
    per_guild = PER_CHANNEL * CHANNELS_PER_GUILD
    return [
        (
            800_000_000_000_000_000 + u // per_guild,
            600_000_000_000_000_000 + u // PER_CHANNEL,
            500_000_000_000_000_000 + u,
        )
        for u in range(users)
    ]


async def _measure(
    db: Path, users: int, before: Callable[[], int], after: Callable[[], int]
) -> tuple[int, int, float]:
    """Join ``users`` into voice: ``before()`` ahead of the joins, ``after()`` once every actor runs,
    and the seconds from the first join sent to the last actor running."""
    layout = _layout(users)
    guilds = sorted({g for g, _, _ in layout})
    now = time.time()
    # At rest: no checkpoint falls inside the measurement. 100,000 joins take a minute or more, and
    # at the default 5 s every session would report several times meanwhile (20,000 reports a
    # second): a backlog of reports in flight, not what a session holds. Each still holds its
    # entry in the checkpoint ticker, which is counted.
    settings = settings_for(db, VOICE_CHECKPOINT_SECONDS=str(CHECKPOINT_SECONDS))
    pipeline = Pipeline(settings.pipeline, WallClock.real())
    send, receive = trio.open_memory_channel[Event](10_000)
    async with trio.open_nursery() as nursery:
        await nursery.start(pipeline.run, receive)
        async with send:
            channels: dict[int, set[int]] = {}
            for guild_id, channel_id, _ in layout:  # one pass: 100,000 users in 1,000 guilds
                channels.setdefault(guild_id, set()).add(channel_id)
            for g in guilds:
                await send.send(GuildSnapshot(g, f"guild {g}", now, voice_channel_ids=frozenset(channels[g])))
            while pipeline.router is None or len(pipeline.router.guilds) < len(guilds):  # noqa: ASYNC110
                await trio.sleep(0.001)
            gc.collect()
            start = before()
            watch = Stopwatch()
            watch.start()
            for guild_id, channel_id, user_id in layout:  # built here: the router keeps these events
                await send.send(
                    VoiceStateChanged(guild_id, user_id, channel_id, time.time(), member_name="someone")
                )
            assert pipeline.router is not None and pipeline.ledger is not None
            while len(pipeline.router.sessions) < users or len(pipeline.ledger.latest) < users:  # noqa: ASYNC110
                await trio.sleep(0.005)
            watch.stop()
            gc.collect()
            end = after()
    return start, end, watch.elapsed


def _traced(db: Path, users: int) -> tuple[float, list[str]]:
    """Python bytes per actor by tracemalloc, and the source lines that hold most of them."""
    snapshots: list[tracemalloc.Snapshot] = []

    def snap() -> int:
        snapshots.append(tracemalloc.take_snapshot())
        return 0

    tracemalloc.start(1)
    try:
        trio.run(_measure, db, users, snap, snap)
    finally:
        tracemalloc.stop()
    stats = snapshots[1].compare_to(snapshots[0], "lineno")
    total = sum(s.size_diff for s in stats)
    top = [
        f"{s.size_diff / users:7.0f} B/actor  {_where(s.traceback[0])}"
        for s in sorted(stats, key=lambda s: -s.size_diff)[:8]
    ]
    return total / users, top


def _where(frame: tracemalloc.Frame) -> str:
    return f"{frame.filename.split('site-packages/')[-1].removeprefix(str(ROOT) + '/')}:{frame.lineno}"


def sample(size: Size, cache: Path, rep: int = 0) -> Sample:
    return sample_at(size.pick(200, 10_000, 10_000), cache, rep)


def sample_at(users: int, cache: Path, rep: int = 0) -> Sample:
    """The figure at ``users`` concurrent sessions (``voice_actor_memory_100k`` asks for 100,000)."""
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        start, end, seconds = trio.run(_measure, Path(tmp, "rss.db"), users, rss_bytes, rss_bytes)
        result = Sample(value=(end - start) / users, notes={"users": users, "joins_per_s": users / seconds})
        if rep == 0:  # where the bytes go does not change between repetitions
            traced_users = min(users, TRACED_USERS)
            traced, top = _traced(Path(tmp, "traced.db"), traced_users)
            result.notes["tracemalloc_bytes_per_actor"] = traced
            result.text = [f"top allocation sites per actor ({traced_users} actors, tracemalloc):", *top]
    return result
