"""rank_query_p99: p99 latency of a /rank answer (``persistence.queries.rank``) on 1,000,000 rows.

The database is ``benchmarks.big_db`` (100 guilds of 1,000 to 37,000 members, all in the current
period). Each question is a member drawn uniformly over the rows (so members of big guilds ask
more often, as they would), one in ten a member with no row at all, on the messages or the voice
board. Each answer is timed as the command would wait for it: through ``Store.call``, i.e. the hop
to the store's worker thread and back included.

Baseline, same repetition, same store: the usual SQL for a rank, a ``RANK() OVER`` window over the
guild's period, filtered to the member (fewer questions: it is slow). The notes add the p99 of our
query in the largest guild alone, which is the figure that grows with guild size, and the p99 of
the worker thread's CPU time per query, which leaves out waiting for a core on a busy machine.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import trio

from benchmarks import big_db
from benchmarks.common import Sample, Size, profiled
from domain.kinds import BoardKind
from persistence.queries import COLUMNS, Rank, rank
from persistence.store import Store

SEED = 40
WARM_UP = 50

Question = tuple[int, int, BoardKind]


def window_rank(conn: sqlite3.Connection, guild_id: int, period: int, user_id: int, board: BoardKind) -> Rank:
    """The baseline: rank the whole guild's period with a window function, keep one member."""
    col = COLUMNS[board]
    row = conn.execute(
        f"SELECT r, {col}, t FROM (SELECT user_id, {col}, RANK() OVER (ORDER BY {col} DESC) AS r, "
        f"COUNT(*) OVER () AS t FROM activity WHERE guild_id = ? AND period = ? AND {col} > 0) "
        "WHERE user_id = ?",
        (guild_id, period, user_id),
    ).fetchone()
    return Rank(*row) if row else Rank(None, 0, -1)


def questions(
    layout: big_db.Layout, n: int, rng: random.Random, *, guild: int | None = None
) -> list[Question]:
    out = []
    for _ in range(n):
        if guild is None:
            guild_id, user_id = layout.member_at(rng.randrange(layout.rows))
        else:
            guild_id, user_id = (
                layout.guild_id(guild),
                layout.user_id(guild, rng.randrange(layout.sizes[guild])),
            )
        if rng.random() < 0.1:
            user_id = big_db.USER_BASE - 1 - rng.randrange(10**6)  # never seen: unranked
        out.append((guild_id, user_id, rng.choice(list(BoardKind))))
    return out


async def _latencies(
    store: Store,
    query: Callable[..., Rank],
    asked: list[Question],
    period: int,
    cpu: list[float] | None = None,
) -> list[float]:
    """Wall seconds per answer through ``store.call``; ``cpu`` gets the worker thread's CPU seconds."""

    def timed(guild_id: int, user_id: int, board: BoardKind) -> float:
        start = time.thread_time()
        query(store.db.conn, guild_id, period, user_id, board)
        return time.thread_time() - start

    out = []
    for guild_id, user_id, board in asked:
        start = time.perf_counter()
        used = await store.call(timed, guild_id, user_id, board)
        out.append(time.perf_counter() - start)
        if cpu is not None:
            cpu.append(used)
    return out


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def sample(size: Size, cache: Path, rep: int = 0) -> Sample:
    rows = size.pick(20_000, 1_000_000, 1_000_000)
    path, layout = big_db.cached(cache, rows)
    rng = random.Random(SEED + rep)
    ours_q = questions(layout, size.pick(300, 2_000, 3_000), rng)
    base_q = questions(layout, size.pick(20, 30, 50), rng)
    largest = questions(layout, size.pick(100, 300, 300), rng, guild=len(layout.sizes) - 1)
    store = Store(path)
    cpu: list[float] = []
    try:

        async def measure() -> tuple[list[float], list[float], list[float]]:
            await _latencies(store, rank, ours_q[:WARM_UP], layout.period)
            with profiled("rank_query_p99: ours"):
                ours = await _latencies(store, rank, ours_q, layout.period, cpu)
            base = await _latencies(store, window_rank, base_q, layout.period)
            big = await _latencies(store, rank, largest, layout.period)
            return ours, base, big

        ours, base, big = trio.run(measure)
        for guild_id, user_id, board in ours_q[:10]:  # the answers are right, not just fast
            got, want = (
                rank(store, guild_id, layout.period, user_id, board),
                window_rank(store.db.conn, guild_id, layout.period, user_id, board),
            )
            if got != want and not (got.rank is None and want.total_ranked == -1):
                raise AssertionError(f"rank {got} != window {want} for {(guild_id, user_id, board)}")
    finally:
        store.close()
    ms = 1000.0
    return Sample(
        value=p99(ours) * ms,
        baseline=p99(base) * ms,
        notes={
            "median_ms": sorted(ours)[len(ours) // 2] * ms,
            "query_cpu_p99_ms": p99(cpu) * ms,  # the query's own CPU: what an idle machine would show
            "largest_guild_p99_ms": p99(big) * ms,
            "largest_guild_members": layout.sizes[-1],
            "questions": len(ours),
        },
    )
