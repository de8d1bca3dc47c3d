"""Read-only leaderboard queries: a member's rank, and a page of a board.

Ranks are competition ranks over one guild's period, value descending: members with equal values
share a rank and the next rank skips (1, 2, 2, 4). Only members with a value above zero are ranked
on a board (someone who only talked in voice is not last on the message board; they are absent).

Why counts and not a window function: ``RANK() OVER`` sorts the whole guild for every question.
Here a rank is two ``COUNT(*)`` range scans of the covering indexes ``activity_by_messages`` /
``activity_by_voice`` ``(guild_id, period, value)``: one over the members above, one over the ranked
members at or below, so together they visit each ranked member's index entry once and never touch
the table. The cost is linear in the guild's ranked members for the period (45-65 ns each on
the benchmark machine: BENCHMARKS.md), independent of the rest of the database.

Every function takes a ``sqlite3.Connection`` or the ``Store``; on the Trio side call them through
``store.call`` (the store's one connection lives in its worker thread).
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any, NamedTuple

from domain.kinds import BoardKind

if TYPE_CHECKING:  # at run time the store is told by its ``db``: ``persistence.history`` imports
    from persistence.store import Store  # this module, and the store imports history

# The stored column of each board (voice is kept in milliseconds). Column names come from this
# table only, never from callers, so formatting them into SQL is safe.
COLUMNS = {BoardKind.MESSAGES: "messages", BoardKind.VOICE: "voice_ms"}
NAME_CHUNK = 500


class Rank(NamedTuple):
    """Where one member stands; ``rank`` is None when they have nothing on this board yet."""

    rank: int | None
    value: int  # messages, or voice milliseconds as stored
    total_ranked: int  # members with a value above zero on this board and period


class Standing(NamedTuple):
    """One line of a board page."""

    rank: int
    user_id: int
    value: int  # messages, or voice milliseconds as stored
    name: str | None  # last-known display name from ``members``; None if never stored


def _connection(source: sqlite3.Connection | Store) -> sqlite3.Connection:
    """The connection of a ``Store``, or ``source`` itself (either engine's connection)."""
    db = getattr(source, "db", None)
    return source if db is None else db.conn  # type: ignore[return-value]


def _column(board: BoardKind | str) -> str:
    return COLUMNS[BoardKind(board)]


def rank(
    source: sqlite3.Connection | Store, guild_id: int, period: int, user_id: int, board: BoardKind | str
) -> Rank:
    """``user_id``'s competition rank on ``board`` in ``guild_id``'s ``period``."""
    conn = _connection(source)
    col = _column(board)
    row = conn.execute(
        f"SELECT {col} FROM activity WHERE guild_id = ? AND period = ? AND user_id = ?",
        (guild_id, period, user_id),
    ).fetchone()
    value = row[0] if row else 0
    if value <= 0:
        (total,) = conn.execute(
            f"SELECT COUNT(*) FROM activity WHERE guild_id = ? AND period = ? AND {col} > 0",
            (guild_id, period),
        ).fetchone()
        return Rank(None, 0, total)
    above, at_or_below = conn.execute(
        f"SELECT (SELECT COUNT(*) FROM activity WHERE guild_id = ?1 AND period = ?2 AND {col} > ?3), "
        f"(SELECT COUNT(*) FROM activity WHERE guild_id = ?1 AND period = ?2 AND {col} > 0 AND {col} <= ?3)",
        (guild_id, period, value),
    ).fetchone()
    return Rank(above + 1, value, above + at_or_below)


def top(
    source: sqlite3.Connection | Store,
    guild_id: int,
    period: int,
    board: BoardKind | str,
    limit: int = 10,
    offset: int = 0,
) -> list[Standing]:
    """Ranked members ``offset`` .. ``offset + limit - 1`` of ``board``, best first.

    Members tied on a value are listed by user id, so pages never overlap or skip anyone. Each
    line carries its true rank, also on later pages (a tie across a page boundary keeps its rank).
    """
    if limit <= 0 or offset < 0:
        return []
    conn = _connection(source)
    col = _column(board)
    where = f"guild_id = ?1 AND period = ?2 AND {col} > 0"
    # The value at position ``offset`` and how many rank above it, from the covering index only,
    # so a deep page does not read the table rows it skips.
    first = conn.execute(
        f"SELECT {col} FROM activity WHERE {where} ORDER BY {col} DESC LIMIT 1 OFFSET ?3",
        (guild_id, period, offset),
    ).fetchone()
    if first is None:
        return []
    (above,) = conn.execute(  # one lower bound only, so SQLite seeks to it instead of filtering
        f"SELECT COUNT(*) FROM activity WHERE guild_id = ?1 AND period = ?2 AND {col} > ?3",
        (guild_id, period, first[0]),
    ).fetchone()
    rows = conn.execute(
        f"SELECT user_id, {col} FROM activity WHERE {where} AND {col} <= ?3 "
        f"ORDER BY {col} DESC, user_id LIMIT ?4 OFFSET ?5",
        (guild_id, period, first[0], limit, offset - above),
    ).fetchall()
    return standings_page(conn, guild_id, rows, above, offset)


def standings_page(conn: Any, guild_id: int, rows: list[Any], above: int, offset: int) -> list[Standing]:
    """A page of ``(user_id, value)`` rows, ordered by value, as standings: competition ranks
    (ties share the first rank; ``above`` members rank above the page's first value) and the
    stored names. Shared by the period boards and the day windows (``persistence.history``)."""
    names = names_sync(conn, guild_id, [user_id for user_id, _ in rows])
    page: list[Standing] = []
    current = above + 1
    for i, (user_id, value) in enumerate(rows):
        if i and value != rows[i - 1][1]:
            current = offset + i + 1
        page.append(Standing(current, user_id, value, names.get(user_id)))
    return page


def names_sync(conn: sqlite3.Connection, guild_id: int, user_ids: list[int]) -> dict[int, str]:
    """Last-known stored names of ``user_ids`` (those the bot never learned are absent)."""
    names: dict[int, str] = {}
    for start in range(0, len(user_ids), NAME_CHUNK):  # SQLite caps the number of parameters
        chunk = user_ids[start : start + NAME_CHUNK]
        marks = ",".join("?" * len(chunk))
        names.update(
            conn.execute(
                f"SELECT user_id, name FROM members WHERE guild_id = ? AND user_id IN ({marks})",
                (guild_id, *chunk),
            )
        )
    return names
