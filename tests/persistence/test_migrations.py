"""Every migration runs on a database holding data at the previous version, and keeps that data."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlite_utils

from persistence import schema
from persistence.dialect import PgDatabase, is_postgres, schema_version, set_schema_version
from persistence.errors import StoreInaccessible
from persistence.schema import MIGRATIONS, SCHEMA_VERSION, migrate
from persistence.store import Store

ANCHOR = 1_767_225_600.0
# Tables a later migration removes on purpose: v7 ``voice_sessions`` (never read); v10
# ``seen_messages``, whose ids move to ``seen_batches`` (the tests read them back through the store).
DROPPED = {"voice_sessions", "seen_messages"}
OLD_ID = (2**63 - 1).to_bytes(8, "big")  # a ``seen_batches`` row's ids: 8 bytes each, big-endian


def at_version(path: Path, version: int) -> sqlite_utils.Database:
    """A database built by the first ``version`` migrations, with rows in every table they made."""
    db = sqlite_utils.Database(sqlite3.connect(path), execute_plugins=False)
    for step in MIGRATIONS[:version]:
        with db.atomic():
            step(db)
    db.execute(f"PRAGMA user_version = {version}")
    month = 2_592_000
    rows = {
        "guilds": {"guild_id": 1, "name": "g", "icon_url": None, "period_anchor": ANCHOR,
                   "period_seconds": month},
        "activity": {"guild_id": 1, "period": 0, "user_id": 10, "messages": 7, "voice_ms": 65_000},
        "members": {"guild_id": 1, "user_id": 10, "name": "Ada", "updated_at": ANCHOR},
        "seen_messages": {"message_id": 99, "at": ANCHOR},
        "voice_sessions": {"guild_id": 1, "user_id": 10, "session_no": 1, "state": "{}",
                           "counted_until": ANCHOR},
        "boards": {"guild_id": 1, "kind": "messages", "channel_id": 5, "message_id": 6, "content_hash": "h",
                   "posted_at": ANCHOR, "edited_at": ANCHOR},
        "guild_config": {"guild_id": 1, "config": "{}", "updated_at": ANCHOR},
        "audit": {"id": 1, "guild_id": 1, "user_id": 10, "action": "set", "detail": "x", "at": ANCHOR},
        "period_archive": {"guild_id": 1, "period": 0, "started_at": ANCHOR, "ended_at": ANCHOR + 1,
                           "archived_at": ANCHOR + 2, "top_messages": "[]", "top_voice": "[]", "users": 0},
        "board_posts": {"guild_id": 1, "kind": "voice", "channel_id": 5, "nonce": "n"},
        "board_stale": {"guild_id": 1, "kind": "messages", "channel_id": 5, "message_id": 4},
        "forgotten": {"guild_id": 1, "user_id": 11, "at": ANCHOR},
        "seen_batches": {"newest_at": ANCHOR, "message_ids": (99).to_bytes(8, "big")},
    }  # fmt: skip
    with db.atomic():
        for table, row in rows.items():
            if db[table].exists():
                db[table].insert(row)
    return db


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
def test_migrating_from_each_version_keeps_the_data(tmp_path: Path, version: int) -> None:
    path = tmp_path / f"v{version}.db"
    db = at_version(path, version)
    before = {t: list(db[t].rows) for t in db.table_names()}
    assert migrate(db) == version
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert not DROPPED & set(db.table_names())
    for table, rows in before.items():
        if table in DROPPED:
            continue
        after = list(db[table].rows)
        assert len(after) == len(rows), table
        for old, new in zip(rows, after, strict=True):
            assert {k: new[k] for k in old} == old, table  # old columns keep their values
    db.close()
    store = Store(path)  # and the bot opens it and reads the old totals
    assert store.message_counts_sync(1, 0) == {10: 7}
    assert store.voice_seconds_sync(1, 0) == {10: 65.0}
    assert store.recent_message_ids_sync() == [99]
    store.close()


def test_a_failing_migration_leaves_the_previous_version_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = at_version(tmp_path / "v1.db", 1)

    def broken(db: sqlite_utils.Database) -> None:
        db["voice_sessions"].create({"guild_id": int}, pk="guild_id")
        raise RuntimeError("disk trouble halfway through")

    monkeypatch.setattr("persistence.schema.MIGRATIONS", (MIGRATIONS[0], broken, *MIGRATIONS[2:]))
    with pytest.raises(RuntimeError, match="halfway"):
        migrate(db)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    assert "voice_sessions" not in db.table_names()
    assert next(iter(db["activity"].rows))["messages"] == 7


def test_v9_adds_empty_history_and_the_old_totals_stay(tmp_path: Path) -> None:
    """History starts at the upgrade: the totals from before have no days, and new writes do."""
    from datetime import date

    from domain.checkpoints import MessageBatch
    from persistence.history import guild_days_sync, history_since_sync

    db = at_version(tmp_path / "v8.db", 8)
    assert migrate(db) == 8
    assert {"daily_members", "daily_channels"} <= set(db.table_names())
    db.close()
    store = Store(tmp_path / "v8.db")
    assert store.message_counts_sync(1, 0) == {10: 7}
    assert history_since_sync(store, 1) is None
    at = int(ANCHOR) + 3_600
    store.apply_messages_sync(MessageBatch({(1, 10, at): 2}, ((500, at),), {}))
    assert store.message_counts_sync(1, 0) == {10: 9}
    day = date(2026, 1, 1)
    assert history_since_sync(store, 1) == day
    assert [d.messages for d in guild_days_sync(store, 1, day, day)] == [2]
    store.close()


def test_v7_drops_the_write_only_voice_sessions_and_keeps_the_voice_time(tmp_path: Path) -> None:
    db = at_version(tmp_path / "v6.db", 6)
    assert db["voice_sessions"].count == 1
    assert migrate(db) == 6
    assert "voice_sessions" not in db.table_names()
    db.close()
    store = Store(tmp_path / "v6.db")
    assert store.voice_seconds_sync(1, 0) == {10: 65.0}  # the session's counted time is in activity
    store.close()


# -- both engines: the same versions, the same data kept ---------------------------------------------

ROWS: dict[str, dict[str, object]] = {
    "guilds": {"guild_id": 1, "name": "g", "icon_url": None, "period_anchor": ANCHOR,
               "period_seconds": 2_592_000},
    "activity": {"guild_id": 1, "period": 0, "user_id": 10, "messages": 7, "voice_ms": 65_000},
    "members": {"guild_id": 1, "user_id": 10, "name": "Ada", "updated_at": ANCHOR},
    "seen_messages": {"message_id": 2**63 - 1, "at": ANCHOR},  # Discord ids are 64-bit
    "voice_sessions": {"guild_id": 1, "user_id": 10, "session_no": 1, "state": "{}", "counted_until": ANCHOR},
    "boards": {"guild_id": 1, "kind": "messages", "channel_id": 5, "message_id": 6, "content_hash": "h",
               "posted_at": ANCHOR, "edited_at": ANCHOR},
    "guild_config": {"guild_id": 1, "config": "{}", "updated_at": ANCHOR},
    "audit": {"guild_id": 1, "user_id": 10, "action": "set", "detail": "x", "at": ANCHOR},
    "period_archive": {"guild_id": 1, "period": 0, "started_at": ANCHOR, "ended_at": ANCHOR + 1,
                       "archived_at": ANCHOR + 2, "top_messages": "[]", "top_voice": "[]", "users": 0},
    "board_posts": {"guild_id": 1, "kind": "voice", "channel_id": 5, "nonce": "n"},
    "board_stale": {"guild_id": 1, "kind": "messages", "channel_id": 5, "message_id": 4},
    "forgotten": {"guild_id": 1, "user_id": 11, "at": ANCHOR},
    "daily_members": {"guild_id": 1, "day": 20_454, "user_id": 10, "period": 0, "messages": 7},
    "daily_channels": {"guild_id": 1, "day": 20_454, "channel_id": 5, "messages": 7},
    "seen_batches": {"newest_at": ANCHOR, "message_ids": OLD_ID},
}  # fmt: skip


def _open(target: Path | str) -> Any:
    if isinstance(target, Path):
        return sqlite_utils.Database(sqlite3.connect(target), execute_plugins=False)
    return PgDatabase(target)


def _tables(db: Any) -> set[str]:
    if is_postgres(db):
        sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    return {name for (name,) in db.execute(sql).fetchall()} - {"schema_version"}


def _rows(db: Any, table: str) -> list[dict[str, object]]:
    cursor = db.execute(f"SELECT * FROM {table} ORDER BY 1, 2")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
def test_each_migration_keeps_the_data_on_both_engines(db_target: Path | str, version: int) -> None:
    """The database at ``version`` (built by the first migrations) with a row in every table it has,
    migrated to the current version: every old column keeps its value, and the store reads it."""
    db = _open(db_target)
    assert migrate(db, to=version) == 0
    assert schema_version(db) == version
    with db.atomic():
        for table in sorted(_tables(db)):
            row = ROWS[table]
            db.execute(
                f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()),
            )
    before = {t: _rows(db, t) for t in _tables(db)}
    assert migrate(db) == version
    assert schema_version(db) == SCHEMA_VERSION
    assert not DROPPED & _tables(db)
    for table, rows in before.items():
        if table in DROPPED:
            continue
        after = _rows(db, table)
        assert len(after) == len(rows), table
        for old, new in zip(rows, after, strict=True):
            assert {k: new[k] for k in old} == old, table
    db.close()
    store = Store(db_target)
    assert store.message_counts_sync(1, 0) == {10: 7}
    assert store.voice_seconds_sync(1, 0) == {10: 65.0}
    assert store.recent_message_ids_sync() == [2**63 - 1]
    store.close()


def test_a_failing_postgresql_migration_leaves_the_previous_version_intact(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = PgDatabase(pg_url)
    migrate(db, to=1)
    db.execute("INSERT INTO activity (guild_id, period, user_id, messages) VALUES (1, 0, 10, 7)")
    broken = (
        "CREATE TABLE voice_sessions (guild_id BIGINT PRIMARY KEY)",
        "SELECT no_such_function()",
    )
    monkeypatch.setattr("persistence.schema._PG_MIGRATIONS", (schema._PG_MIGRATIONS[0], broken))
    with pytest.raises(psycopg.Error, match="no_such_function"):
        migrate(db)
    assert schema_version(db) == 1
    assert "voice_sessions" not in _tables(db)
    assert _rows(db, "activity")[0]["messages"] == 7
    db.close()


def test_a_newer_postgresql_schema_is_refused(pg_url: str) -> None:
    db = PgDatabase(pg_url)
    migrate(db)
    set_schema_version(db, SCHEMA_VERSION + 1)
    db.close()
    with pytest.raises(StoreInaccessible, match="newer than this bot"):
        Store(pg_url)
