"""``dialect.insert_rows``: a batch of any size lands once per row, in whatever statements it takes."""

from __future__ import annotations

import sqlite3

import pytest

from persistence.dialect import PgDatabase, insert_rows

HEAD = "INSERT INTO daily_members (guild_id, day, user_id, period, messages, voice_ms, reactions)"
TAIL = (
    "ON CONFLICT (guild_id, day, user_id, period) DO UPDATE SET "
    "messages = daily_members.messages + excluded.messages, "
    "voice_ms = daily_members.voice_ms + excluded.voice_ms, "
    "reactions = daily_members.reactions + excluded.reactions"
)


def rows(n: int) -> list[tuple[int, ...]]:
    return [(2**63 - 1, 20_454, 10**18 + u, 0, u, 2 * u, 3) for u in range(n)]


def stored(conn: sqlite3.Connection | PgDatabase) -> list[tuple[int, ...]]:
    found = conn.execute("SELECT * FROM daily_members ORDER BY user_id").fetchall()
    return [tuple(row) for row in found]


# 0; under the smallest chunk; each chunk size exactly; and mixes of every size (256, 64, 16, 4, 1)
@pytest.mark.parametrize("n", [0, 3, 4, 16, 64, 256, 341, 1_000])
def test_every_row_lands_once_and_a_second_batch_adds_to_it(
    conn: sqlite3.Connection | PgDatabase, n: int
) -> None:
    insert_rows(conn, HEAD, (int,) * 7, rows(n), TAIL)
    assert stored(conn) == rows(n)
    insert_rows(conn, HEAD, (int,) * 7, rows(n), TAIL)
    assert stored(conn) == [(*r[:4], 2 * r[4], 2 * r[5], 2 * r[6]) for r in rows(n)]


def test_sqlite_statements_stay_under_a_low_variable_limit(sqlite_conn: sqlite3.Connection) -> None:
    """SQLite before 3.32 allowed 999 ``?`` per statement; a build may allow fewer still."""
    sqlite_conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 30)  # 4 rows of 7 columns
    insert_rows(sqlite_conn, HEAD, (int,) * 7, rows(300), TAIL)
    assert stored(sqlite_conn) == rows(300)


def test_names_and_times_keep_their_types(conn: sqlite3.Connection | PgDatabase) -> None:
    members = [(1, 10, "Ada 'quoted' ✨", 1_767_225_600.123456789), (1, 11, "", 0.5)]
    insert_rows(
        conn, "INSERT INTO members (guild_id, user_id, name, updated_at)", (int, int, str, float), members
    )
    found = conn.execute(
        "SELECT guild_id, user_id, name, updated_at FROM members ORDER BY user_id"
    ).fetchall()
    assert [tuple(row) for row in found] == members
