"""Daily history: written with the totals, split at midnights and resets, read by index, pruned
in small batches, forgotten with the member."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest
import trio

from domain.checkpoints import MessageBatch, VoiceBatch
from domain.history import DayActivity
from domain.kinds import BoardKind
from domain.periods import DAY
from domain.windows import date_number, day_start
from persistence import history, queries
from persistence.all_time import rank_all_time
from persistence.export import UNKNOWN_MEMBER, export_history_csv_sync, forget_member_sync
from persistence.history import (
    channel_messages_sync,
    guild_days_sync,
    history_since_sync,
    member_days_sync,
    prune_batch_sync,
    prune_history,
    window_rank_sync,
    window_standings_sync,
)
from persistence.queries import Rank, Standing
from persistence.store import Store

G = 1
D0 = date(2026, 1, 1)
T0 = day_start(date_number(D0))  # 2026-01-01T00:00:00Z


@pytest.fixture
def store(db_target: Path | str) -> Store:
    s = Store(db_target)
    s.period_spec_sync(G, T0)  # periods start at D0
    return s


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Store:
    """SQLite only: the tests of SQLite's query plans."""
    s = Store(tmp_path / "h.db")
    s.period_spec_sync(G, T0)
    return s


def messages(*rows: tuple[int, float, int], channel: int = 50) -> MessageBatch:
    """rows: (user, at, n)."""
    counts = {(G, u, int(at)): n for u, at, n in rows}
    channels = {(G, u, int(at), channel): n for u, at, n in rows}
    ids = tuple((i, at) for i, (_, at, _) in enumerate(rows, start=1_000 + int(rows[0][1])))
    return MessageBatch(counts, ids, {}, channels)


def test_guild_and_member_days_fill_every_day_with_zeros(store: Store) -> None:
    store.apply_messages_sync(messages((10, T0 + 5, 2), (11, T0 + 2 * DAY + 1, 3)))
    store.apply_voice_sync(VoiceBatch(((G, 10, T0 + DAY + 10, T0 + DAY + 70),)))
    days = guild_days_sync(store, G, D0, D0 + timedelta(days=3))
    assert days == [
        DayActivity(D0, 2, 0, 0),
        DayActivity(D0 + timedelta(days=1), 0, 60, 0),
        DayActivity(D0 + timedelta(days=2), 3, 0, 0),
        DayActivity(D0 + timedelta(days=3)),
    ]
    assert member_days_sync(store.db.conn, G, 10, D0, D0 + timedelta(days=2)) == [
        DayActivity(D0, 2),
        DayActivity(D0 + timedelta(days=1), 0, 60),
        DayActivity(D0 + timedelta(days=2)),
    ]
    assert member_days_sync(store, G, 99, D0, D0) == [DayActivity(D0)]
    assert channel_messages_sync(store, G, D0, D0 + timedelta(days=2)) == [(50, 5)]
    assert history_since_sync(store, G) == D0
    assert history_since_sync(store, 2) is None


def test_a_voice_session_across_midnight_credits_each_day_its_part(store: Store) -> None:
    midnight = T0 + DAY
    store.apply_voice_sync(VoiceBatch(((G, 10, midnight - 90.25, midnight + 30.5),)))
    first, second = member_days_sync(store, G, 10, D0, D0 + timedelta(days=1))
    assert (first.voice_seconds, second.voice_seconds) == (90, 30)
    ms = store.db.execute("SELECT SUM(voice_ms) FROM daily_members").fetchone()[0]
    assert ms == store.db.execute("SELECT SUM(voice_ms) FROM activity").fetchone()[0] == 120_750


def test_an_early_reset_splits_the_day_between_the_periods(store: Store) -> None:
    reset_at = T0 + 3 * DAY + 3_600
    old = store.reset_early_sync(G, reset_at, by_user=99)
    # flushed after the reset: a batch and an interval from both sides of it
    store.apply_messages_sync(messages((10, reset_at - 10, 4), (10, reset_at + 10, 6)))
    store.apply_voice_sync(VoiceBatch(((G, 10, reset_at - 100, reset_at + 80),)))
    rows = store.db.execute(
        "SELECT period, messages, voice_ms FROM daily_members WHERE user_id = 10 ORDER BY period"
    ).fetchall()
    day = date_number(D0) + 3
    assert store.db.execute("SELECT DISTINCT day FROM daily_members").fetchall() == [(day,)]
    for period, m, v in rows:  # each period's part of the day equals that period's totals
        assert (m, v) == store.db.execute(
            "SELECT messages, voice_ms FROM activity WHERE guild_id = ? AND period = ? AND user_id = 10",
            (G, period),
        ).fetchone()
    assert [p for p, _, _ in rows] == [old, old + 1]
    assert rows[0][1:] == (4, 100_000) and rows[1][1:] == (6, 80_000)


def test_window_boards_rank_like_the_period_boards(store: Store) -> None:
    store.apply_messages_sync(messages((10, T0 + 1, 5), (11, T0 + DAY, 3), (12, T0 + DAY + 5, 3)))
    store.apply_messages_sync(messages((13, T0 + 10 * DAY, 9)))  # outside the window below
    last = D0 + timedelta(days=6)
    page = window_standings_sync(store, G, BoardKind.MESSAGES, D0, last)
    assert page == [Standing(1, 10, 5, None), Standing(2, 11, 3, None), Standing(2, 12, 3, None)]
    assert window_standings_sync(store, G, "messages", D0, last, 2, 1) == page[1:]
    assert window_rank_sync(store, G, 12, BoardKind.MESSAGES, D0, last) == Rank(2, 3, 3)
    assert window_rank_sync(store, G, 13, BoardKind.MESSAGES, D0, last) == Rank(None, 0, 3)
    assert window_rank_sync(store, G, 10, BoardKind.VOICE, D0, last) == Rank(None, 0, 0)
    # the whole history equals the all-time board
    everything = (D0, D0 + timedelta(days=30))
    for user in (10, 11, 12, 13):
        assert window_rank_sync(store, G, user, BoardKind.MESSAGES, *everything) == rank_all_time(
            store, G, user, BoardKind.MESSAGES
        )


def test_reactions_are_kept_by_day_and_stay_out_of_the_totals(store: Store) -> None:
    batch = MessageBatch({}, (), {}, reactions={(G, 10, int(T0) + 7): 2})
    store.apply_messages_sync(batch)
    assert guild_days_sync(store, G, D0, D0) == [DayActivity(D0, 0, 0, 2)]
    assert store.message_counts_sync(G) == {}


def test_a_forgotten_members_days_are_deleted_and_stay_gone(store: Store) -> None:
    store.apply_messages_sync(messages((10, T0 + 5, 2), (11, T0 + 6, 1)))
    late = MessageBatch({(G, 10, int(T0) + 8): 1}, (), {}, reactions={(G, 10, int(T0) + 8): 1})
    forget_member_sync(store, G, 10, by_user=99, at=T0 + 9)
    store.apply_messages_sync(late)  # counted before the forget, flushed after it: refused
    store.apply_voice_sync(VoiceBatch(((G, 10, T0 + 1, T0 + 9),)))
    assert member_days_sync(store, G, 10, D0, D0) == [DayActivity(D0)]
    assert guild_days_sync(store, G, D0, D0) == [DayActivity(D0, 1)]
    store.apply_messages_sync(MessageBatch({(G, 10, int(T0) + 20): 1}, (), {}))  # after: counts
    assert member_days_sync(store, G, 10, D0, D0) == [DayActivity(D0, 1)]


def test_the_daily_export_lists_members_and_channels_days_and_a_forget_empties_the_member(
    store: Store,
) -> None:
    store.apply_messages_sync(messages((10, T0 + 5, 2), (11, T0 + DAY + 6, 1)))
    store.apply_voice_sync(VoiceBatch(((G, 10, T0 + 10, T0 + 71.5),), {(G, 10): ("=cmd", T0)}))
    text = export_history_csv_sync(store, G)
    members, channels = text.split("\r\n\r\n")
    assert members.split("\r\n") == [
        "day,period,user_id,name,messages,voice_seconds,reactions",
        "2026-01-01,0,10,'=cmd,2,61.500,0",
        f"2026-01-02,0,11,{UNKNOWN_MEMBER},1,0.000,0",
    ]
    assert channels.split("\r\n") == ["day,channel_id,messages", "2026-01-01,50,2", "2026-01-02,50,1", ""]
    gone = forget_member_sync(store, G, 10, by_user=99, at=T0 + 2 * DAY)
    assert gone.days == 1
    assert "2026-01-01,0,10" not in export_history_csv_sync(store, G)


def plan(conn: sqlite3.Connection, sql: str, args: tuple[object, ...]) -> str:
    return " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", args))


def test_every_history_read_uses_an_index(sqlite_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each read's statements, captured as they run, search an index; none scans a table."""
    store = sqlite_store
    store.apply_messages_sync(messages((10, T0 + 5, 2)))
    seen: list[tuple[str, tuple[object, ...]]] = []

    class Recording:
        def __init__(self, conn: sqlite3.Connection) -> None:
            self.conn = conn

        def execute(self, sql: str, args: tuple[object, ...] = ()) -> sqlite3.Cursor:
            seen.append((sql, tuple(args)))
            return self.conn.execute(sql, args)

        def __enter__(self) -> sqlite3.Connection:
            return self.conn.__enter__()

        def __exit__(self, *exc: object) -> None:
            self.conn.__exit__(*exc)  # type: ignore[arg-type]

    conn = store.db.conn
    monkeypatch.setattr(history, "_conn", lambda _source: Recording(conn))
    monkeypatch.setattr(queries, "names_sync", lambda *_: {})  # the names read is queries.py's
    last = D0 + timedelta(days=6)
    guild_days_sync(store, G, D0, last)
    member_days_sync(store, G, 10, D0, last)
    channel_messages_sync(store, G, D0, last)
    history_since_sync(store, G)
    window_standings_sync(store, G, BoardKind.VOICE, D0, last)
    window_rank_sync(store, G, 10, BoardKind.MESSAGES, D0, last)
    prune_batch_sync(store, G, D0)
    assert len(seen) >= 9
    member_reads = [sql for sql, _ in seen if "user_id = ?" in sql and "SUM(" in sql]
    assert len(member_reads) == 2
    for sql in member_reads:  # one member's days: their own index, not the guild's days
        assert "daily_members_by_member" in plan(conn, sql, next(a for s, a in seen if s == sql))
    for sql, args in seen:
        text = plan(conn, sql, args)
        assert "SCAN daily_" not in text, (sql, text)
        assert "USING" in text and ("INDEX" in text or "PRIMARY KEY" in text), (sql, text)
    for table in ("daily_members", "daily_channels"):  # the prune's inner select, too
        text = plan(conn, f"SELECT day FROM {table} WHERE guild_id = ? AND day < ? LIMIT 5", (G, 1))
        assert "SCAN" not in text, text


def test_prune_deletes_old_days_in_small_batches(store: Store) -> None:
    rows = [(u, T0 + d * DAY, 1) for d in range(10) for u in range(10, 30)]
    store.apply_messages_sync(messages(*rows))
    cutoff = D0 + timedelta(days=7)
    assert prune_batch_sync(store, G, cutoff, limit=50) == 50
    assert trio.run(prune_history, store, store, [G], cutoff, 50) == 140 - 50 + 0
    assert history_since_sync(store, G) == cutoff
    kept = guild_days_sync(store, G, D0, D0 + timedelta(days=9))
    assert [d.messages for d in kept] == [0] * 7 + [20] * 3
    assert [n for _, n in channel_messages_sync(store, G, D0, D0 + timedelta(days=9))] == [60]


def test_a_writer_commits_while_the_prune_runs(db_target: Path | str) -> None:
    """The prune takes the writer thread one small batch at a time: a flush that arrives while a
    long prune is under way commits before the prune ends."""
    store = Store(db_target)
    store.period_spec_sync(G, T0)
    old = [(u, T0 + d * DAY, 1) for d in range(20) for u in range(100, 400)]
    store.apply_messages_sync(messages(*old))
    cutoff = D0 + timedelta(days=19)
    events: list[str] = []

    async def main() -> None:
        async def prune() -> None:
            await prune_history(store, store, [G], cutoff, 100)
            events.append("prune done")

        async def write() -> None:
            await trio.lowlevel.checkpoint()  # let the prune start first
            await store.apply_messages(messages((7, T0 + 19 * DAY + 5, 1)))
            events.append("flush committed")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(prune)
            nursery.start_soon(write)

    trio.run(main)
    assert events == ["flush committed", "prune done"]
    assert queries.rank(store, G, 0, 7, BoardKind.MESSAGES).value == 1
    assert history_since_sync(store, G) == cutoff
    store.close()
