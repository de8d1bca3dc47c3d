"""All-time board reads: ``persistence.queries``' rank and page, summed over every period.

Same rules as the per-period queries (competition ranks, members above zero only, ties listed by
user id, ``Rank`` and ``Standing`` results), so a command shows "all time" exactly like a period.
Unlike a period these cannot use the covering indexes: each call sums the guild's ``activity``
rows, linear in them; fine for commands, which a member runs by hand.
"""

from __future__ import annotations

import sqlite3

from domain.kinds import BoardKind
from persistence.queries import COLUMNS, Rank, Standing
from persistence.store import Store


def _connection(source: sqlite3.Connection | Store) -> sqlite3.Connection:
    return source.db.conn if isinstance(source, Store) else source


def _totals(col: str) -> str:
    # ``col`` comes from ``COLUMNS`` only, never from callers.
    return (
        f"SELECT user_id, SUM({col}) AS total FROM activity WHERE guild_id = ?1 "
        f"GROUP BY user_id HAVING SUM({col}) > 0"
    )


def rank_all_time(
    source: sqlite3.Connection | Store, guild_id: int, user_id: int, board: BoardKind | str
) -> Rank:
    conn = _connection(source)
    col = COLUMNS[BoardKind(board)]
    totals = _totals(col)
    (value,) = conn.execute(
        f"SELECT COALESCE(SUM({col}), 0) FROM activity WHERE guild_id = ? AND user_id = ?",
        (guild_id, user_id),
    ).fetchone()
    above, ranked = conn.execute(
        f"SELECT (SELECT COUNT(*) FROM ({totals}) AS t WHERE total > ?2), "
        f"(SELECT COUNT(*) FROM ({totals}) AS t)",
        (guild_id, value),
    ).fetchone()
    if value <= 0:
        return Rank(None, 0, ranked)
    return Rank(above + 1, value, ranked)


def top_all_time(
    source: sqlite3.Connection | Store,
    guild_id: int,
    board: BoardKind | str,
    limit: int = 10,
    offset: int = 0,
) -> list[Standing]:
    if limit <= 0 or offset < 0:
        return []
    conn = _connection(source)
    totals = _totals(COLUMNS[BoardKind(board)])
    rows = conn.execute(
        f"SELECT t.user_id, t.total, m.name FROM ({totals}) AS t "
        "LEFT JOIN members AS m ON m.guild_id = ?1 AND m.user_id = t.user_id "
        "ORDER BY t.total DESC, t.user_id LIMIT ?2 OFFSET ?3",
        (guild_id, limit, offset),
    ).fetchall()
    if not rows:
        return []
    (above,) = conn.execute(
        f"SELECT COUNT(*) FROM ({totals}) AS t WHERE total > ?2", (guild_id, rows[0][1])
    ).fetchone()
    page: list[Standing] = []
    current = above + 1
    for i, (user_id, value, name) in enumerate(rows):
        if i and value != rows[i - 1][1]:
            current = offset + i + 1
        page.append(Standing(current, user_id, value, name))
    return page
