"""Daily history: what each member did per UTC day, and each channel's messages per day.

Writes come from the store's batch transactions only (``Store.apply_messages_sync``,
``Store.apply_voice_sync``): the same transaction that adds to ``activity`` adds to the days, so
sums of days always agree with the period and all-time totals (for the days history holds).

Reads take the ``Store`` or its ``sqlite3.Connection`` and run in the store's thread
(``await store.call(guild_days_sync, store, guild_id, first, last)``). Every read is a range of
an index: ``daily_members``' primary key ``(guild_id, day, ...)`` for a guild's days and window
boards, ``daily_members_by_member (guild_id, user_id, day)`` for one member's days (named with
``INDEXED BY``: without statistics SQLite would rather range over the guild's days); the test
``test_every_history_read_uses_an_index`` checks each plan.

History starts at schema v9 (older totals have no days) and keeps ``HISTORY_DAYS`` days: the
prune deletes older days a small batch per transaction, so the writer never waits long for it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Protocol

import trio

from domain.history import DayActivity
from domain.kinds import BoardKind
from domain.units import whole_seconds
from domain.windows import date_number, day_date
from persistence.dialect import indexed_by, insert_rows
from persistence.queries import COLUMNS, Rank, Standing, standings_page

DEFAULT_HISTORY_DAYS = 400
PRUNE_BATCH = 500  # rows deleted per transaction: a few milliseconds of the writer at most

# (guild, day, user, period) -> (messages, voice_ms, reactions)
MemberDays = Mapping[tuple[int, int, int, int], Sequence[int]]
# (guild, day, channel) -> messages
ChannelDays = Mapping[tuple[int, int, int], int]


class HasDb(Protocol):
    @property
    def db(self) -> object: ...


def _conn(source: sqlite3.Connection | object) -> sqlite3.Connection:
    """The connection of a ``Store`` (anything with ``db``), or ``source`` itself (either engine's)."""
    db = getattr(source, "db", None)
    return source if db is None else db.conn  # type: ignore[return-value]


# -- writes (inside the store's batch transactions) -------------------------------------------------


def add_days_sync(conn: sqlite3.Connection, members: MemberDays, channels: ChannelDays) -> None:
    """Add a batch's days; the caller's transaction commits them with the totals (multi-row
    statements, like the totals: ``dialect.insert_rows``)."""
    insert_rows(
        conn,
        "INSERT INTO daily_members (guild_id, day, user_id, period, messages, voice_ms, reactions)",
        (int,) * 7,
        [(*key, *values) for key, values in members.items()],
        "ON CONFLICT (guild_id, day, user_id, period) DO UPDATE SET "
        "messages = daily_members.messages + excluded.messages, "
        "voice_ms = daily_members.voice_ms + excluded.voice_ms, "
        "reactions = daily_members.reactions + excluded.reactions",
    )
    insert_rows(
        conn,
        "INSERT INTO daily_channels (guild_id, day, channel_id, messages)",
        (int,) * 4,
        [(*key, n) for key, n in channels.items()],
        "ON CONFLICT (guild_id, day, channel_id) "
        "DO UPDATE SET messages = daily_channels.messages + excluded.messages",
    )


def forget_member_days_sync(conn: sqlite3.Connection, guild_id: int, user_id: int) -> int:
    """Delete a member's days (``/lbforget``; the store's ``forgotten`` guard keeps them gone).
    Channel days hold no member and stay."""
    return conn.execute(
        "DELETE FROM daily_members WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
    ).rowcount


# -- reads ------------------------------------------------------------------------------------------


def _days(first: date, last: date) -> range:
    return range(date_number(first), date_number(last) + 1)


def _filled(rows: Iterable[tuple[int, int, int, int]], first: date, last: date) -> list[DayActivity]:
    found = {day: (m, v, r) for day, m, v, r in rows}
    return [
        DayActivity(day_date(d), found[d][0], whole_seconds(found[d][1]), found[d][2])
        if d in found
        else DayActivity(day_date(d))
        for d in _days(first, last)
    ]


def guild_days_sync(source: object, guild_id: int, first: date, last: date) -> list[DayActivity]:
    """One entry per UTC day in ``[first, last]``, zeros where nothing happened, summed over members."""
    rows = _conn(source).execute(
        "SELECT day, SUM(messages), SUM(voice_ms), SUM(reactions) FROM daily_members "
        "WHERE guild_id = ? AND day BETWEEN ? AND ? GROUP BY day",
        (guild_id, date_number(first), date_number(last)),
    )
    return _filled(rows, first, last)


def member_days_sync(
    source: object, guild_id: int, user_id: int, first: date, last: date
) -> list[DayActivity]:
    """One entry per UTC day in ``[first, last]`` for one member, zeros where they did nothing."""
    conn = _conn(source)
    rows = conn.execute(
        "SELECT day, SUM(messages), SUM(voice_ms), SUM(reactions) FROM daily_members "
        f"{indexed_by(conn, 'daily_members_by_member')} "
        "WHERE guild_id = ? AND user_id = ? AND day BETWEEN ? AND ? GROUP BY day",
        (guild_id, user_id, date_number(first), date_number(last)),
    )
    return _filled(rows, first, last)


def channel_messages_sync(source: object, guild_id: int, first: date, last: date) -> list[tuple[int, int]]:
    """(channel, messages) over ``[first, last]``, busiest first."""
    return [
        (channel, n)
        for channel, n in _conn(source).execute(
            "SELECT channel_id, SUM(messages) AS n FROM daily_channels "
            "WHERE guild_id = ? AND day BETWEEN ? AND ? GROUP BY channel_id HAVING SUM(messages) > 0 "
            "ORDER BY n DESC, channel_id",
            (guild_id, date_number(first), date_number(last)),
        )
    ]


def history_since_sync(source: object, guild_id: int) -> date | None:
    """The first UTC day history holds for the guild (None: none yet)."""
    (day,) = (
        _conn(source).execute("SELECT MIN(day) FROM daily_members WHERE guild_id = ?", (guild_id,)).fetchone()
    )
    return None if day is None else day_date(day)


def _window_totals(col: str) -> str:
    # ``col`` comes from ``COLUMNS`` only, never from callers.
    return (
        f"SELECT user_id, SUM({col}) AS total FROM daily_members "
        f"WHERE guild_id = ?1 AND day BETWEEN ?2 AND ?3 GROUP BY user_id HAVING SUM({col}) > 0"
    )


def window_standings_sync(
    source: object,
    guild_id: int,
    kind: BoardKind | str,
    first: date,
    last: date,
    limit: int = 10,
    offset: int = 0,
) -> list[Standing]:
    """A board page over the days ``[first, last]``: same ranks and tie order as ``queries.top``
    (values as stored: messages, or voice milliseconds)."""
    if limit <= 0 or offset < 0:
        return []
    conn = _conn(source)
    totals = _window_totals(COLUMNS[BoardKind(kind)])
    span = (guild_id, date_number(first), date_number(last))
    rows = conn.execute(
        f"SELECT user_id, total FROM ({totals}) AS t ORDER BY total DESC, user_id LIMIT ?4 OFFSET ?5",
        (*span, limit, offset),
    ).fetchall()
    if not rows:
        return []
    (above,) = conn.execute(
        f"SELECT COUNT(*) FROM ({totals}) AS t WHERE total > ?4", (*span, rows[0][1])
    ).fetchone()
    return standings_page(conn, guild_id, rows, above, offset)


def window_rank_sync(
    source: object, guild_id: int, user_id: int, kind: BoardKind | str, first: date, last: date
) -> Rank:
    """``user_id``'s competition rank on ``kind`` over the days ``[first, last]``."""
    conn = _conn(source)
    col = COLUMNS[BoardKind(kind)]
    totals = _window_totals(col)
    span = (guild_id, date_number(first), date_number(last))
    (value,) = conn.execute(
        f"SELECT COALESCE(SUM({col}), 0) FROM daily_members {indexed_by(conn, 'daily_members_by_member')} "
        "WHERE guild_id = ?1 AND user_id = ?4 AND day BETWEEN ?2 AND ?3",
        (*span, user_id),
    ).fetchone()
    above, ranked = conn.execute(
        f"SELECT (SELECT COUNT(*) FROM ({totals}) AS t WHERE total > ?4), "
        f"(SELECT COUNT(*) FROM ({totals}) AS t)",
        (*span, value),
    ).fetchone()
    if value <= 0:
        return Rank(None, 0, ranked)
    return Rank(above + 1, value, ranked)


# -- retention --------------------------------------------------------------------------------------


def prune_batch_sync(source: object, guild_id: int, before: date, limit: int = PRUNE_BATCH) -> int:
    """Delete at most ``limit`` of the guild's rows (of each table) from days before ``before``, in
    one short transaction; returns how many went (fewer than ``limit`` of both: the guild is done)."""
    conn = _conn(source)
    cutoff = date_number(before)
    with conn:
        members = conn.execute(
            "DELETE FROM daily_members WHERE (guild_id, day, user_id, period) IN "
            "(SELECT guild_id, day, user_id, period FROM daily_members "
            "WHERE guild_id = ? AND day < ? LIMIT ?)",
            (guild_id, cutoff, limit),
        ).rowcount
        channels = conn.execute(
            "DELETE FROM daily_channels WHERE (guild_id, day, channel_id) IN "
            "(SELECT guild_id, day, channel_id FROM daily_channels WHERE guild_id = ? AND day < ? LIMIT ?)",
            (guild_id, cutoff, limit),
        ).rowcount
    return max(members, channels)


class Caller(Protocol):
    async def call(self, fn: object, *args: object) -> object: ...


async def prune_history(
    store: Caller, source: object, guild_ids: Iterable[int], before: date, batch: int = PRUNE_BATCH
) -> int:
    """Delete every guild's days before ``before``, one small transaction per call into the store,
    so flushes queued behind the prune wait for one batch at most. Returns the rows deleted."""
    deleted = 0
    for guild_id in guild_ids:
        while True:
            n = await store.call(prune_batch_sync, source, guild_id, before, batch)
            assert isinstance(n, int)
            deleted += n
            if n < batch:
                break
            await trio.lowlevel.checkpoint()
    return deleted
