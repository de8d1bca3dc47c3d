"""core_pipeline: events/s through the real Pipeline (router -> actors -> batched SQLite), no gateway.

``core_pipeline_postgres`` (``postgres_sample``): the same events through the same pipeline on
PostgreSQL, its ratio against SQLite in the same run; skipped with the reason without a server.

A seeded mix of 90% ``MessageSent`` and 10% ``VoiceStateChanged`` (joins, moves, mutes, deafens,
leaves) from 1,000 users in 4 guilds, each guild announced by a ``GuildSnapshot`` first. Timed from
the first event handed over to ``Pipeline.run`` returning, i.e. every count committed and the
database closed. Events are handed over like the gateway does (``send_nowait``, awaiting only when
the channel is full). The imported heap is frozen before the workload is built, as the bot's process
freezes what its start made (``freeze_imported_heap``).

Baseline, same repetition, same events: the naive pattern of the original bot, one sqlite3
connection with default settings (rollback journal, synchronous=FULL) and one UPDATE (or INSERT)
+ COMMIT per event. Its cost per event is flat (one synced commit), so it runs on a prefix of the
same events, for at most a few seconds. The notes add the same naive loop with WAL and
synchronous=NORMAL (the store's settings), which shows how much of the ratio is the disk sync.
"""

from __future__ import annotations

import gc
import os
import random
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import sqlite_utils
import trio

from benchmarks.common import Sample, Size, Stopwatch, profiled, settings_for
from bot_entry.app import GATEWAY_QUEUE
from domain.clock import WallClock
from domain.events import Event, GuildSnapshot, MessageSent, VoiceStateChanged
from domain.periods import DAY, DEFAULT_PERIOD_DAYS, PeriodSpec, day_floor
from persistence.schema import migrate
from wiring.pipeline import Pipeline

USERS = 1_000
GUILDS = 4
TEXT_CHANNELS = 3
VOICE_CHANNELS = 3
VOICE_SHARE = 0.10
SEED = 10


def workload(n: int, seed: int = SEED) -> tuple[list[GuildSnapshot], list[Event]]:
    """Snapshots for every guild, then ``n`` seeded events stamped about 10 us apart from now."""
    rng = random.Random(seed)
    now = time.time()
    guild_ids = [900_000_000_000_000_000 + g for g in range(GUILDS)]
    voice = {g: [g * 100 + c for c in range(VOICE_CHANNELS)] for g in guild_ids}
    afk = {g: g * 100 + 99 for g in guild_ids}
    snapshots = [
        GuildSnapshot(
            g, f"guild {g}", now, afk_channel_id=afk[g], voice_channel_ids=frozenset([*voice[g], afk[g]])
        )
        for g in guild_ids
    ]
    users = [(guild_ids[u % GUILDS], 700_000_000_000_000_000 + u) for u in range(USERS)]
    in_voice: dict[int, VoiceStateChanged] = {}
    events: list[Event] = []
    for i in range(n):
        at = now + i * 1e-5
        guild_id, user_id = rng.choice(users)
        if rng.random() >= VOICE_SHARE:
            channel = guild_id * 10 + rng.randrange(TEXT_CHANNELS)
            events.append(MessageSent(guild_id, channel, 10**15 + i, user_id, f"user {user_id % 10_000}", at))
            continue
        before = in_voice.get(user_id)
        roll = rng.random()
        if before is None:
            channel = afk[guild_id] if roll < 0.05 else rng.choice(voice[guild_id])
            change = VoiceStateChanged(guild_id, user_id, channel, at)
        elif roll < 0.25:
            change = VoiceStateChanged(guild_id, user_id, None, at)
        elif roll < 0.5:
            change = VoiceStateChanged(guild_id, user_id, rng.choice(voice[guild_id]), at)
        elif roll < 0.75:
            change = VoiceStateChanged(
                guild_id, user_id, before.channel_id, at, self_mute=not before.self_mute
            )
        else:
            change = VoiceStateChanged(
                guild_id, user_id, before.channel_id, at, self_deaf=not before.self_deaf
            )
        if change.channel_id is None:
            in_voice.pop(user_id, None)
        else:
            in_voice[user_id] = change
        events.append(change)
    return snapshots, events


# -- ours -----------------------------------------------------------------------------------------


async def _feed_pipeline(db: Path | str, snapshots: list[GuildSnapshot], events: list[Event]) -> float:
    pipeline = Pipeline(settings_for(db).pipeline, WallClock.real())
    send, receive = trio.open_memory_channel[Event](GATEWAY_QUEUE)
    watch = Stopwatch()
    async with trio.open_nursery() as nursery:
        await nursery.start(pipeline.run, receive)
        async with send:
            for snapshot in snapshots:
                await send.send(snapshot)
            while pipeline.router is None or len(pipeline.router.guilds) < len(snapshots):  # noqa: ASYNC110
                await trio.sleep(0.001)
            watch.start()
            for event in events:
                try:
                    send.send_nowait(event)
                except trio.WouldBlock:
                    await send.send(event)
    return watch.stop()  # the nursery has waited for run() to flush, commit and close the database


def run_pipeline(db: Path | str, snapshots: list[GuildSnapshot], events: list[Event]) -> float:
    """Seconds from the first event to the pipeline's clean return."""
    with profiled("core_pipeline: ours"):
        return trio.run(_feed_pipeline, db, snapshots, events)


# -- baseline -------------------------------------------------------------------------------------


def run_naive(db: Path, events: list[Event], *, budget: float, wal: bool = False) -> float:
    """The original bot's pattern, one UPDATE (INSERT if new) and one COMMIT per event: events/s.

    Stops after ``budget`` seconds if the events are not all done by then (every commit waits for
    the disk, whose speed on a shared machine varies tenfold).
    """
    conn = sqlite3.connect(db)
    migrate(sqlite_utils.Database(conn))
    conn.commit()
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    specs: dict[int, PeriodSpec] = {}
    joined: dict[tuple[int, int], float] = {}
    watch = Stopwatch()
    watch.start()
    done = 0
    for event in events:
        if time.perf_counter() - watch.started > budget:
            break
        done += 1
        spec = specs.setdefault(event.guild_id, PeriodSpec(day_floor(event.at), DEFAULT_PERIOD_DAYS * DAY))
        period = spec.index_at(event.at)
        if isinstance(event, MessageSent):
            user_id, column, amount = event.author_id, "messages", 1
        else:
            assert isinstance(event, VoiceStateChanged)
            user_id, column = event.user_id, "voice_ms"
            since = joined.pop((event.guild_id, user_id), None)  # naive: time since the last change
            amount = round((event.at - since) * 1000) if since is not None else 0
            if event.channel_id is not None:
                joined[(event.guild_id, user_id)] = event.at
        key = (event.guild_id, period, user_id)
        cur = conn.execute(
            f"UPDATE activity SET {column} = {column} + ? WHERE guild_id = ? AND period = ? AND user_id = ?",
            (amount, *key),
        )
        if cur.rowcount == 0:
            conn.execute(
                f"INSERT INTO activity (guild_id, period, user_id, {column}) VALUES (?, ?, ?, ?)",
                (*key, amount),
            )
        conn.commit()
    elapsed = watch.stop()
    conn.close()
    return done / elapsed


def _committed_messages(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COALESCE(SUM(messages), 0) FROM activity").fetchone()[0]


def freeze_imported_heap() -> None:
    """What the bot's process does once it has started (``BotApp``: ``gc.freeze()``), done here
    before the workload exists: the imported modules are moved out of the collector's sight, so a
    full collection does not walk them (about 20% of a run without it). The events are built after,
    so they stay collectable, as the gateway's events are; both sides of the ratio run frozen."""
    gc.collect()
    gc.freeze()


def sample(size: Size, cache: Path, rep: int = 0) -> Sample:
    n = size.pick(1_000, 30_000, 60_000)
    naive_n, budget = size.pick(100, 1_000, 3_000), size.pick(0.2, 3.0, 5.0)
    freeze_imported_heap()
    snapshots, events = workload(n)
    messages = sum(isinstance(e, MessageSent) for e in events)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        ours_db, naive_db, wal_db = Path(tmp, "ours.db"), Path(tmp, "naive.db"), Path(tmp, "naive-wal.db")
        # Alternate which side goes first, so a slow patch of the machine hits both alike.
        if rep % 2:
            naive = run_naive(naive_db, events[:naive_n], budget=budget)
            ours = run_pipeline(ours_db, snapshots, events)
        else:
            ours = run_pipeline(ours_db, snapshots, events)
            naive = run_naive(naive_db, events[:naive_n], budget=budget)
        naive_wal = run_naive(wal_db, events[:naive_n], budget=budget, wal=True)
        committed = _committed_messages(ours_db)
        if committed != messages:
            raise AssertionError(f"core_pipeline: {committed} messages committed, {messages} sent")
    return Sample(value=n / ours, baseline=naive, notes={"events": n, "naive_wal_events_per_s": naive_wal})


# -- the same pipeline on PostgreSQL -------------------------------------------------------------


@contextmanager
def _postgres(cache: Path) -> Iterator[str]:
    """A fresh database for one repetition: on ``BENCH_DATABASE_URL`` / ``PYTEST_POSTGRES_URL``'s
    server, else on a throwaway server (tests/pg.py) started here; ``Unavailable`` says why not."""
    from tests import pg  # the throwaway-server helper lives with the tests

    directory: Path | None = None
    server = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("PYTEST_POSTGRES_URL")
    if not server:
        directory = Path(tempfile.mkdtemp(prefix="leaderboard-bench-pg-"))
        try:
            server = pg.start(directory)
        except pg.Unavailable:
            pg.stop(directory)
            raise
    name = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        yield pg.with_database(server, name)
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        if directory is not None:
            pg.stop(directory)


def _committed_messages_postgres(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT COALESCE(SUM(messages), 0) FROM activity").fetchone()[0])  # type: ignore[index]


def postgres_sample(size: Size, cache: Path, rep: int = 0) -> Sample:
    """``core_pipeline_postgres``: events/s on PostgreSQL, against the same pipeline on SQLite."""
    from tests import pg

    n = size.pick(1_000, 30_000, 60_000)
    freeze_imported_heap()
    snapshots, events = workload(n)
    messages = sum(isinstance(e, MessageSent) for e in events)
    try:
        with _postgres(cache) as url, tempfile.TemporaryDirectory(dir=cache) as tmp:
            sqlite_db = Path(tmp, "ours.db")
            if rep % 2:
                on_sqlite = run_pipeline(sqlite_db, snapshots, events)
                on_postgres = run_pipeline(url, snapshots, events)
            else:
                on_postgres = run_pipeline(url, snapshots, events)
                on_sqlite = run_pipeline(sqlite_db, snapshots, events)
            committed = _committed_messages_postgres(url)
            if committed != messages:
                raise AssertionError(
                    f"core_pipeline_postgres: {committed} messages committed, {messages} sent"
                )
    except pg.Unavailable as exc:
        return Sample(value=0.0, skipped=f"no PostgreSQL server: {exc}")
    return Sample(value=n / on_postgres, baseline=n / on_sqlite, notes={"events": n})
