"""A database as a large deployment leaves it: 1,000,000 activity rows across 100 guilds.

Shared by rank_query_p99 and recovery_time, built once per ``just bench`` run with executemany in
one transaction and cached in the run's temporary directory. Layout (all seeded):

- guild sizes grow geometrically from 1/1000 of the rows to about 38 times that (about 1,000 to
  38,000 members for 1,000,000 rows), so some guilds are large, as on Discord; every row is in the
  current period, the worst case for a rank query;
- each member has messages (85%, a heavy tail of counts, many ties) and/or voice time (40%);
- one ``members`` name per row and 100,000 recent message ids (the dedupe window, in batches of
  1,000 as the counter commits them: schema v10), as a killed process leaves them (open voice
  sessions are not stored: schema v7).
"""

from __future__ import annotations

import bisect
import itertools
import os
import random
import sqlite3
import time
from pathlib import Path

import sqlite_utils
from attrs import define

from domain.periods import DAY, DEFAULT_PERIOD_DAYS, day_floor
from persistence.schema import migrate
from persistence.seen import pack_ids

GUILDS = 100
GROWTH = 1.037  # each guild this much bigger than the last: 1 : ~38 from smallest to largest
SEED = 30
GUILD_BASE = 400_000_000_000_000_000
USER_BASE = 300_000_000_000_000_000


@define(frozen=True)
class Layout:
    """Which guild holds which members: guild ``i`` has users ``user_id(i, 0 .. sizes[i] - 1)``."""

    rows: int
    sizes: tuple[int, ...]
    period: int = 0

    @classmethod
    def of(cls, rows: int) -> Layout:
        weights = [GROWTH**i for i in range(GUILDS)]
        sizes = [max(1, int(rows * w / sum(weights))) for w in weights]
        sizes[-1] += rows - sum(sizes)
        return cls(rows, tuple(sizes))

    @staticmethod
    def guild_id(index: int) -> int:
        return GUILD_BASE + index

    @staticmethod
    def user_id(guild_index: int, member: int) -> int:
        return USER_BASE + guild_index * 10_000_000 + member

    def member_at(self, row: int) -> tuple[int, int]:
        """(guild id, user id) of the ``row``-th row, so a uniform row is a uniform member."""
        starts = list(itertools.accumulate(self.sizes, initial=0))
        index = bisect.bisect_right(starts, row) - 1
        return self.guild_id(index), self.user_id(index, row - starts[index])


def _activity(layout: Layout, rng: random.Random) -> itertools.chain[tuple[int, int, int, int, int]]:
    def guild(index: int, size: int) -> list[tuple[int, int, int, int, int]]:
        rows = []
        for member in range(size):
            messages = int(rng.paretovariate(1.16)) if rng.random() < 0.85 else 0
            voice_ms = int(rng.paretovariate(1.1) * 60_000) if rng.random() < 0.40 else 0
            if not messages and not voice_ms:
                messages = 1  # a row exists because the member did something
            rows.append(
                (layout.guild_id(index), layout.period, layout.user_id(index, member), messages, voice_ms)
            )
        return rows

    return itertools.chain.from_iterable(guild(i, n) for i, n in enumerate(layout.sizes))


def build(path: Path, rows: int) -> Layout:
    """Write the database to ``path`` (atomically: a half-built file is never left there)."""
    layout = Layout.of(rows)
    rng = random.Random(SEED)
    now = time.time()
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    conn = sqlite3.connect(partial)
    migrate(sqlite_utils.Database(conn))
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-512000")  # keep the indexes in memory while they grow
    with conn:
        anchor = day_floor(now) - 10 * DAY  # period 0 is the current one
        conn.executemany(
            "INSERT INTO guilds (guild_id, name, period_anchor, period_seconds) VALUES (?, ?, ?, ?)",
            [(layout.guild_id(i), f"guild {i}", anchor, DEFAULT_PERIOD_DAYS * DAY) for i in range(GUILDS)],
        )
        conn.executemany("INSERT INTO activity VALUES (?, ?, ?, ?, ?)", _activity(layout, rng))
        conn.executemany(
            "INSERT INTO members (guild_id, user_id, name, updated_at) VALUES (?, ?, ?, ?)",
            (
                (layout.guild_id(i), layout.user_id(i, m), f"member {m}", now)
                for i, size in enumerate(layout.sizes)
                for m in range(size)
            ),
        )
        recent = [(10**17 + k, now - 3_000 + k * 0.03) for k in range(min(100_000, rows // 10))]
        conn.executemany(
            "INSERT INTO seen_batches (newest_at, message_ids) VALUES (?, ?)",
            (
                (chunk[-1][1], pack_ids([m for m, _ in chunk]))
                for chunk in (recent[i : i + 1_000] for i in range(0, len(recent), 1_000))
            ),
        )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    os.replace(partial, path)
    return layout


def cached(cache: Path, rows: int) -> tuple[Path, Layout]:
    """The run's copy of the database with ``rows`` activity rows, built on first use."""
    path = cache / f"big-{rows}.db"
    if not path.exists():
        build(path, rows)
    return path, Layout.of(rows)
