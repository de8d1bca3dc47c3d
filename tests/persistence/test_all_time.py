"""All-time rank and pages: the per-period rules, summed over periods, checked against an oracle."""

from __future__ import annotations

import sqlite3

import sqlite_utils
from hypothesis import given
from hypothesis import strategies as st

from domain.kinds import BoardKind
from persistence.all_time import rank_all_time, top_all_time
from persistence.queries import Rank, Standing
from persistence.schema import migrate

G = 7


def put(conn: sqlite3.Connection, rows: list[tuple[int, int, int, int]], guild_id: int = G) -> None:
    """``rows``: (period, user, messages, voice_ms)."""
    conn.executemany(
        "INSERT INTO activity (guild_id, period, user_id, messages, voice_ms) VALUES (?, ?, ?, ?, ?)",
        [(guild_id, *row) for row in rows],
    )


def oracle(totals: dict[int, int]) -> list[Standing]:
    ranked = sorted(((v, u) for u, v in totals.items() if v > 0), key=lambda p: (-p[0], p[1]))
    return [Standing(1 + sum(1 for w, _ in ranked if w > v), u, v, None) for v, u in ranked]


def test_sums_over_periods_with_shared_ranks_and_names(conn: sqlite3.Connection) -> None:
    put(conn, [(0, 1, 5, 0), (1, 1, 5, 1_000), (0, 2, 10, 0), (1, 3, 3, 0), (2, 3, 7, 0), (0, 4, 0, 9_000)])
    put(conn, [(0, 1, 99, 99)], guild_id=8)  # another guild
    conn.execute("INSERT INTO members (guild_id, user_id, name, updated_at) VALUES (?, 2, 'Bo', 0)", (G,))
    assert top_all_time(conn, G, BoardKind.MESSAGES) == [
        Standing(1, 1, 10, None),
        Standing(1, 2, 10, "Bo"),
        Standing(1, 3, 10, None),
    ]
    assert rank_all_time(conn, G, 3, BoardKind.MESSAGES) == Rank(1, 10, 3)
    assert rank_all_time(conn, G, 4, BoardKind.MESSAGES) == Rank(None, 0, 3), "voice only: not on this board"
    assert rank_all_time(conn, G, 4, "voice") == Rank(1, 9_000, 2)
    assert rank_all_time(conn, G, 12345, "voice") == Rank(None, 0, 2)
    assert top_all_time(conn, G, "voice", limit=1, offset=1) == [Standing(2, 1, 1_000, None)]
    assert top_all_time(conn, G, "voice", limit=0) == top_all_time(conn, G, "voice", offset=-1) == []


@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(1, 30), st.integers(0, 6), st.integers(0, 3)),
        max_size=60,
        unique_by=lambda r: (r[0], r[1]),
    ),
    st.integers(1, 7),
    st.integers(0, 35),
)
def test_pages_and_ranks_match_the_oracle(
    rows: list[tuple[int, int, int, int]], limit: int, offset: int
) -> None:
    conn = sqlite3.connect(":memory:")
    migrate(sqlite_utils.Database(conn))
    put(conn, rows)
    for board, index in ((BoardKind.MESSAGES, 2), (BoardKind.VOICE, 3)):
        totals: dict[int, int] = {}
        for row in rows:
            totals[row[1]] = totals.get(row[1], 0) + row[index]
        want = oracle(totals)
        assert top_all_time(conn, G, board, limit, offset) == want[offset : offset + limit]
        by_user = {s.user_id: s for s in want}
        for user in range(1, 31):
            got = rank_all_time(conn, G, user, board)
            standing = by_user.get(user)
            assert got == (
                Rank(standing.rank, standing.value, len(want)) if standing else Rank(None, 0, len(want))
            )
    conn.close()
