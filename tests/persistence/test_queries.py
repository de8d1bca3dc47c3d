"""Rank and board queries: competition ranks, pagination, boards kept apart, the indexes used."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlite_utils
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.kinds import BoardKind
from persistence.queries import Rank, Standing, rank, top
from persistence.schema import migrate
from persistence.store import Store

G, P = 7, 3  # the guild and period most tests look at


def put(
    conn: sqlite3.Connection, rows: dict[int, tuple[int, int]], guild_id: int = G, period: int = P
) -> None:
    """``rows``: user -> (messages, voice_ms)."""
    conn.executemany(
        "INSERT INTO activity (guild_id, period, user_id, messages, voice_ms) VALUES (?, ?, ?, ?, ?)",
        [(guild_id, period, user, m, v) for user, (m, v) in rows.items()],
    )


def oracle(values: dict[int, int]) -> list[Standing]:
    """Competition ranking by brute force: rank = 1 + how many have strictly more."""
    ranked = sorted(((v, u) for u, v in values.items() if v > 0), key=lambda p: (-p[0], p[1]))
    return [Standing(1 + sum(w > v for w, _ in ranked), u, v, None) for v, u in ranked]


def test_ties_share_a_rank_and_the_next_rank_skips(conn: sqlite3.Connection) -> None:
    put(conn, {1: (50, 0), 2: (30, 0), 3: (30, 0), 4: (30, 0), 5: (10, 0), 6: (10, 0), 7: (1, 0)})
    assert [s.rank for s in top(conn, G, P, BoardKind.MESSAGES)] == [1, 2, 2, 2, 5, 5, 7]
    assert rank(conn, G, P, 3, BoardKind.MESSAGES) == Rank(2, 30, 7)
    assert rank(conn, G, P, 6, "messages") == Rank(5, 10, 7)
    assert rank(conn, G, P, 7, BoardKind.MESSAGES) == (7, 1, 7)  # unpacks like a row


def test_members_with_nothing_on_a_board_are_not_ranked_on_it(conn: sqlite3.Connection) -> None:
    put(conn, {1: (5, 0), 2: (0, 60_000), 3: (2, 1_000)})
    assert rank(conn, G, P, 2, BoardKind.MESSAGES) == Rank(None, 0, 2)
    assert rank(conn, G, P, 99, BoardKind.MESSAGES) == Rank(None, 0, 2)  # never seen
    assert rank(conn, G, P, 1, BoardKind.VOICE) == Rank(None, 0, 2)
    assert rank(conn, G, P, 2, BoardKind.VOICE) == Rank(1, 60_000, 2)
    assert [s.user_id for s in top(conn, G, P, BoardKind.MESSAGES)] == [1, 3]
    assert [s.user_id for s in top(conn, G, P, BoardKind.VOICE)] == [2, 3]


def test_other_guilds_and_periods_do_not_count(conn: sqlite3.Connection) -> None:
    put(conn, {1: (5, 0), 2: (3, 0)})
    put(conn, {3: (100, 0)}, guild_id=G + 1)
    put(conn, {4: (100, 0)}, period=P - 1)
    put(conn, {5: (100, 0)}, period=P + 1)
    assert rank(conn, G, P, 2, BoardKind.MESSAGES) == Rank(2, 3, 2)
    assert [s.user_id for s in top(conn, G, P, BoardKind.MESSAGES)] == [1, 2]
    assert top(conn, G, P + 7, BoardKind.MESSAGES) == []
    assert rank(conn, G + 9, P, 1, BoardKind.MESSAGES) == Rank(None, 0, 0)


def test_a_tie_across_a_page_boundary_keeps_its_true_rank(conn: sqlite3.Connection) -> None:
    put(conn, {10: (9, 0), 11: (5, 0), 12: (5, 0), 13: (5, 0), 14: (5, 0), 15: (1, 0)})
    first = top(conn, G, P, BoardKind.MESSAGES, limit=3)
    second = top(conn, G, P, BoardKind.MESSAGES, limit=3, offset=3)
    assert [(s.rank, s.user_id) for s in first] == [(1, 10), (2, 11), (2, 12)]
    assert [(s.rank, s.user_id) for s in second] == [(2, 13), (2, 14), (6, 15)]
    assert top(conn, G, P, BoardKind.MESSAGES, limit=3, offset=6) == []
    assert top(conn, G, P, BoardKind.MESSAGES, limit=0) == []


def test_names_come_from_the_last_known_name(conn: sqlite3.Connection) -> None:
    put(conn, {1: (5, 0), 2: (3, 0)})
    conn.execute("INSERT INTO members (guild_id, user_id, name, updated_at) VALUES (?, 1, 'Ada', 0)", [G])
    conn.execute("INSERT INTO members (guild_id, user_id, name, updated_at) VALUES (?, 2, 'Bo', 0)", [G + 1])
    assert top(conn, G, P, BoardKind.MESSAGES) == [Standing(1, 1, 5, "Ada"), Standing(2, 2, 3, None)]


def test_store_is_accepted_in_place_of_a_connection(tmp_path: Path) -> None:
    store = Store(tmp_path / "lb.db")
    try:
        put(store.db.conn, {1: (5, 0), 2: (8, 0)})
        assert rank(store, G, P, 1, BoardKind.MESSAGES) == Rank(2, 5, 2)
        assert [s.user_id for s in top(store, G, P, BoardKind.MESSAGES)] == [2, 1]
    finally:
        store.close()


@pytest.mark.parametrize(
    ("board", "index"), [("messages", "activity_by_messages"), ("voice", "activity_by_voice")]
)
def test_rank_counts_come_from_the_covering_index(
    sqlite_conn: sqlite3.Connection, board: str, index: str
) -> None:
    """The whole speed argument: the counts never read the table (see BENCHMARKS.md)."""
    put(sqlite_conn, {u: (u % 13, u % 7 * 1000) for u in range(1, 500)})
    statements: list[str] = []
    sqlite_conn.set_trace_callback(statements.append)
    rank(sqlite_conn, G, P, 5, board)
    top(sqlite_conn, G, P, board, limit=10, offset=100)
    sqlite_conn.set_trace_callback(None)
    counts = [s for s in statements if "COUNT(*)" in s]
    assert counts
    for sql in counts:
        plan = " ".join(row[3] for row in sqlite_conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
        assert f"COVERING INDEX {index}" in plan, plan
        assert "SCAN activity" not in plan, plan


values_st = st.dictionaries(st.integers(1, 40), st.integers(0, 6), max_size=30)


@settings(max_examples=200, deadline=None)
@given(
    values=values_st,
    limit=st.integers(1, 8),
    offset=st.integers(0, 35),
    board=st.sampled_from(list(BoardKind)),
)
def test_rank_and_pages_agree_with_a_brute_force_oracle(
    values: dict[int, int], limit: int, offset: int, board: BoardKind
) -> None:
    conn = sqlite3.connect(":memory:")
    migrate(sqlite_utils.Database(conn))
    rows = {u: (v, 0) if board is BoardKind.MESSAGES else (0, v) for u, v in values.items()}
    put(conn, rows)
    expected = oracle(values)
    assert top(conn, G, P, board, limit=limit, offset=offset) == expected[offset : offset + limit]
    by_user = {s.user_id: s for s in expected}
    for user in range(1, 41):
        standing = by_user.get(user)
        want = (
            Rank(standing.rank, standing.value, len(expected)) if standing else Rank(None, 0, len(expected))
        )
        assert rank(conn, G, P, user, board) == want
    conn.close()


def test_the_first_page_reads_a_page_not_the_board(sqlite_conn: sqlite3.Connection) -> None:
    """A count with two lower bounds (``> 0`` and ``> v``) makes SQLite filter the whole board."""
    put(sqlite_conn, {u: (u, 0) for u in range(1, 5_001)})
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    sqlite_conn.set_progress_handler(count, 10)  # called every 10 virtual-machine instructions
    page = top(sqlite_conn, G, P, BoardKind.MESSAGES, limit=3)
    sqlite_conn.set_progress_handler(None, 0)
    assert [s.user_id for s in page] == [5_000, 4_999, 4_998]
    assert steps[0] * 10 < 2_000  # about 15,000 when every index entry is visited
