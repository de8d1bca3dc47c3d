"""The one place that knows the schema: versioned migrations, the same versions on both engines.

SQLite keys them by ``PRAGMA user_version``, PostgreSQL by a ``schema_version`` table
(``persistence.dialect``). Each version is one step with a body per engine: SQLite's are the
released ``sqlite_utils`` calls (never edited), PostgreSQL's the same tables as DDL text with
BIGINT for Discord ids (64-bit) and DOUBLE PRECISION for times.

Each migration takes the database from version ``i`` to ``i + 1`` and runs inside the same
transaction as the version bump, so a crash mid-migration leaves the previous version intact.
Never edit a released migration; append a new one.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable
from typing import Any

import sqlite_utils

from persistence.dialect import is_postgres, schema_version, set_schema_version


def _v1_messages(db: sqlite_utils.Database) -> None:
    """Guild period layout, per-period per-user totals, last-known names, message dedupe window."""
    db["guilds"].create(
        {"guild_id": int, "name": str, "icon_url": str, "period_anchor": float, "period_seconds": int},
        pk="guild_id",
        not_null=["period_anchor", "period_seconds"],
    )
    db["activity"].create(
        {"guild_id": int, "period": int, "user_id": int, "messages": int, "voice_ms": int},
        pk=("guild_id", "period", "user_id"),
        not_null=["messages", "voice_ms"],
        defaults={"messages": 0, "voice_ms": 0},
    )
    db["activity"].create_index(["guild_id", "period", "messages"], index_name="activity_by_messages")
    db["activity"].create_index(["guild_id", "period", "voice_ms"], index_name="activity_by_voice")
    db["members"].create(
        {"guild_id": int, "user_id": int, "name": str, "updated_at": float},
        pk=("guild_id", "user_id"),
    )
    db["seen_messages"].create({"message_id": int, "at": float}, pk="message_id")
    db["seen_messages"].create_index(["at"], index_name="seen_messages_by_age")


def _v2_voice_sessions(db: sqlite_utils.Database) -> None:
    """Open voice sessions: each one's machine state, so its seconds and its mark commit together."""
    db["voice_sessions"].create(
        {"guild_id": int, "user_id": int, "session_no": int, "state": str, "counted_until": float},
        pk=("guild_id", "user_id"),
        not_null=["session_no", "state", "counted_until"],
    )


def _v3_boards(db: sqlite_utils.Database) -> None:
    """Posted boards (one message per guild and kind, edited in place) and per-guild settings."""
    db["boards"].create(
        {
            "guild_id": int,
            "kind": str,  # "messages" | "voice"
            "channel_id": int,
            "message_id": int,
            "content_hash": str,  # of the last embed sent, so unchanged boards are not edited
            "posted_at": float,  # when this message was created (edits to old messages are limited)
            "edited_at": float,
        },
        pk=("guild_id", "kind"),
    )
    db["guild_config"].create({"guild_id": int, "config": str, "updated_at": float}, pk="guild_id")
    db["audit"].create(
        {"id": int, "guild_id": int, "user_id": int, "action": str, "detail": str, "at": float}, pk="id"
    )
    db["audit"].create_index(["guild_id", "at"], index_name="audit_by_guild")


def _v4_period_archive(db: sqlite_utils.Database) -> None:
    """One row per finished period: written once, in the same transaction as the reset it records."""
    db["period_archive"].create(
        {
            "guild_id": int,
            "period": int,
            "started_at": float,
            "ended_at": float,
            "archived_at": float,
            "top_messages": str,  # JSON [[user_id, messages], ...] top 10
            "top_voice": str,  # JSON [[user_id, voice_ms], ...] top 10
            "users": int,  # members with any activity in the period
        },
        pk=("guild_id", "period"),
    )


def _v5_period_base(db: sqlite_utils.Database) -> None:
    """An admin reset starts a new period early: the period number at the anchor moves with it."""
    db["guilds"].add_column("period_base", int, not_null_default=0)


def _v6_board_cleanup(db: sqlite_utils.Database) -> None:
    """What a kill must not forget about boards: a post in flight (Discord dedupes its nonce) and
    old board messages still to delete."""
    db["board_posts"].create(
        {"guild_id": int, "kind": str, "channel_id": int, "nonce": str},
        pk=("guild_id", "kind"),
        not_null=["channel_id", "nonce"],
    )
    db["board_stale"].create(
        {"guild_id": int, "kind": str, "channel_id": int, "message_id": int},
        pk=("channel_id", "message_id"),
        not_null=["guild_id", "kind"],
    )


def _v7_drop_voice_sessions(db: sqlite_utils.Database) -> None:
    """Open voice sessions are not stored any more: the table was written on every flush and never
    read. Seconds and marks commit with ``activity`` alone; after a process crash a session ends at
    its last flush and the next GUILD_CREATE opens fresh ones, so its rows held nothing to resume."""
    db["voice_sessions"].drop(ignore=True)


def _v8_forgotten(db: sqlite_utils.Database) -> None:
    """When each forgotten member was forgotten: the store refuses anything of theirs from before
    that moment (counts, voice time, names), whichever actor or command still held it in memory."""
    db["forgotten"].create(
        {"guild_id": int, "user_id": int, "at": float}, pk=("guild_id", "user_id"), not_null=["at"]
    )


def _v9_daily_history(db: sqlite_utils.Database) -> None:
    """Daily history: per (guild, UTC day, user, period) messages, voice and reactions, and per
    (guild, UTC day, channel) messages. Written in the same transactions as ``activity``, so sums of
    days agree with the totals; the period is part of the key because an early reset splits a day.
    ``day`` is the UTC day number (days since 1970-01-01). History starts at this migration: older
    totals have no days (the reads say from which day history is kept). WITHOUT ROWID: the rows
    live in their primary key's b-tree, one b-tree fewer to update on every flush."""
    db.execute(
        "CREATE TABLE daily_members (guild_id INTEGER NOT NULL, day INTEGER NOT NULL, "
        "user_id INTEGER NOT NULL, period INTEGER NOT NULL, messages INTEGER NOT NULL DEFAULT 0, "
        "voice_ms INTEGER NOT NULL DEFAULT 0, reactions INTEGER NOT NULL DEFAULT 0, "
        "PRIMARY KEY (guild_id, day, user_id, period)) WITHOUT ROWID"
    )
    # One member's days (``member_days_sync``, the rank card's chart) without scanning the guild's.
    db.execute("CREATE INDEX daily_members_by_member ON daily_members (guild_id, user_id, day)")
    db.execute(
        "CREATE TABLE daily_channels (guild_id INTEGER NOT NULL, day INTEGER NOT NULL, "
        "channel_id INTEGER NOT NULL, messages INTEGER NOT NULL DEFAULT 0, "
        "PRIMARY KEY (guild_id, day, channel_id)) WITHOUT ROWID"
    )


_V10_CHUNK = 1_000  # old ids per new row (oldest first): the window lets them go a chunk at a time


def _v10_seen_batches(db: sqlite_utils.Database) -> None:
    """The dedupe window as one row per committed batch (``persistence.seen``): its ids packed as
    big-endian 64-bit integers, and the newest receive time among them (what the prune reads), in
    place of one row plus one index entry per message. The old rows move over in chunks of
    ``_V10_CHUNK``, oldest first, each with its newest time, so none leaves the window earlier."""
    db.execute("CREATE TABLE seen_batches (newest_at REAL NOT NULL, message_ids BLOB NOT NULL)")
    db.execute("CREATE INDEX seen_batches_by_age ON seen_batches (newest_at)")
    rows = db.execute("SELECT message_id, COALESCE(at, 0) FROM seen_messages ORDER BY 2, 1").fetchall()
    for i in range(0, len(rows), _V10_CHUNK):
        chunk = rows[i : i + _V10_CHUNK]
        db.execute(
            "INSERT INTO seen_batches (newest_at, message_ids) VALUES (?, ?)",
            [chunk[-1][1], struct.pack(f">{len(chunk)}Q", *(m for m, _ in chunk))],
        )
    db["seen_messages"].drop()


# PostgreSQL's text of each version (same tables, columns, keys and indexes as SQLite's).
_PG_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE guilds (guild_id BIGINT PRIMARY KEY, name TEXT, icon_url TEXT, "
        "period_anchor DOUBLE PRECISION NOT NULL, period_seconds BIGINT NOT NULL)",
        "CREATE TABLE activity (guild_id BIGINT, period BIGINT, user_id BIGINT, "
        "messages BIGINT NOT NULL DEFAULT 0, voice_ms BIGINT NOT NULL DEFAULT 0, "
        "PRIMARY KEY (guild_id, period, user_id))",
        "CREATE INDEX activity_by_messages ON activity (guild_id, period, messages)",
        "CREATE INDEX activity_by_voice ON activity (guild_id, period, voice_ms)",
        "CREATE TABLE members (guild_id BIGINT, user_id BIGINT, name TEXT, "
        "updated_at DOUBLE PRECISION, PRIMARY KEY (guild_id, user_id))",
        "CREATE TABLE seen_messages (message_id BIGINT PRIMARY KEY, at DOUBLE PRECISION)",
        "CREATE INDEX seen_messages_by_age ON seen_messages (at)",
    ),
    (
        "CREATE TABLE voice_sessions (guild_id BIGINT, user_id BIGINT, session_no BIGINT NOT NULL, "
        "state TEXT NOT NULL, counted_until DOUBLE PRECISION NOT NULL, PRIMARY KEY (guild_id, user_id))",
    ),
    (
        "CREATE TABLE boards (guild_id BIGINT, kind TEXT, channel_id BIGINT, message_id BIGINT, "
        "content_hash TEXT, posted_at DOUBLE PRECISION, edited_at DOUBLE PRECISION, "
        "PRIMARY KEY (guild_id, kind))",
        "CREATE TABLE guild_config (guild_id BIGINT PRIMARY KEY, config TEXT, updated_at DOUBLE PRECISION)",
        "CREATE TABLE audit (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, guild_id BIGINT, "
        "user_id BIGINT, action TEXT, detail TEXT, at DOUBLE PRECISION)",
        "CREATE INDEX audit_by_guild ON audit (guild_id, at)",
    ),
    (
        "CREATE TABLE period_archive (guild_id BIGINT, period BIGINT, started_at DOUBLE PRECISION, "
        "ended_at DOUBLE PRECISION, archived_at DOUBLE PRECISION, top_messages TEXT, top_voice TEXT, "
        "users BIGINT, PRIMARY KEY (guild_id, period))",
    ),
    ("ALTER TABLE guilds ADD COLUMN period_base BIGINT NOT NULL DEFAULT 0",),
    (
        "CREATE TABLE board_posts (guild_id BIGINT, kind TEXT, channel_id BIGINT NOT NULL, "
        "nonce TEXT NOT NULL, PRIMARY KEY (guild_id, kind))",
        # ``seq``: insertion order, what SQLite's rowid gives (``dialect.insertion_order``).
        "CREATE TABLE board_stale (guild_id BIGINT NOT NULL, kind TEXT NOT NULL, channel_id BIGINT, "
        "message_id BIGINT, seq BIGINT GENERATED ALWAYS AS IDENTITY, PRIMARY KEY (channel_id, message_id))",
    ),
    ("DROP TABLE IF EXISTS voice_sessions",),
    (
        "CREATE TABLE forgotten (guild_id BIGINT, user_id BIGINT, at DOUBLE PRECISION NOT NULL, "
        "PRIMARY KEY (guild_id, user_id))",
    ),
    (
        "CREATE TABLE daily_members (guild_id BIGINT NOT NULL, day BIGINT NOT NULL, "
        "user_id BIGINT NOT NULL, period BIGINT NOT NULL, messages BIGINT NOT NULL DEFAULT 0, "
        "voice_ms BIGINT NOT NULL DEFAULT 0, reactions BIGINT NOT NULL DEFAULT 0, "
        "PRIMARY KEY (guild_id, day, user_id, period))",
        "CREATE INDEX daily_members_by_member ON daily_members (guild_id, user_id, day)",
        "CREATE TABLE daily_channels (guild_id BIGINT NOT NULL, day BIGINT NOT NULL, "
        "channel_id BIGINT NOT NULL, messages BIGINT NOT NULL DEFAULT 0, "
        "PRIMARY KEY (guild_id, day, channel_id))",
    ),
    (
        "CREATE TABLE seen_batches (newest_at DOUBLE PRECISION NOT NULL, message_ids BYTEA NOT NULL)",
        "CREATE INDEX seen_batches_by_age ON seen_batches (newest_at)",
        # ``int8send``: the id's 8 bytes, big-endian; chunks of ``_V10_CHUNK`` as in SQLite's ``_v10``.
        "INSERT INTO seen_batches (newest_at, message_ids) "
        "SELECT MAX(at), string_agg(int8send(message_id), ''::bytea ORDER BY at, message_id) "
        "FROM (SELECT message_id, COALESCE(at, 0) AS at, "
        f"(ROW_NUMBER() OVER (ORDER BY COALESCE(at, 0), message_id) - 1) / {_V10_CHUNK} AS chunk "
        "FROM seen_messages) AS old GROUP BY chunk",
        "DROP TABLE seen_messages",
    ),
)

MIGRATIONS: tuple[Callable[[sqlite_utils.Database], None], ...] = (
    _v1_messages,
    _v2_voice_sessions,
    _v3_boards,
    _v4_period_archive,
    _v5_period_base,
    _v6_board_cleanup,
    _v7_drop_voice_sessions,
    _v8_forgotten,
    _v9_daily_history,
    _v10_seen_batches,
)
SCHEMA_VERSION = len(MIGRATIONS)
assert len(_PG_MIGRATIONS) == SCHEMA_VERSION, "every version has its PostgreSQL text"
# Two processes starting together on one PostgreSQL database migrate one after the other.
_PG_MIGRATION_LOCK = 0x1EADB0A4D


def _step(db: Any, version: int) -> None:
    if is_postgres(db):
        for statement in _PG_MIGRATIONS[version]:
            db.execute(statement)
    else:
        MIGRATIONS[version](db)


def migrate(db: Any, to: int = SCHEMA_VERSION) -> int:
    """Bring ``db`` (SQLite's ``sqlite_utils.Database`` or a ``PgDatabase``) to version ``to``
    (tests stop earlier); returns the version it started at.

    On PostgreSQL the whole migration holds a session advisory lock, taken before the version is
    read: two processes starting together migrate one after the other, and the second reads the
    version in a transaction that begins after the first one's commit (a transaction that had
    already looked for the version table would not see it appear)."""
    postgres = is_postgres(db)
    if postgres:
        db.execute("SELECT pg_advisory_lock(?)", [_PG_MIGRATION_LOCK])
    try:
        start = schema_version(db)
        if start > SCHEMA_VERSION:
            raise RuntimeError(
                f"database schema version {start} is newer than this bot ({SCHEMA_VERSION}); upgrade the bot"
            )
        for version in range(start, to):
            with db.atomic():
                _step(db, version)
                set_schema_version(db, version + 1)
    finally:
        if postgres:  # a lost connection has released it already; never hide the first error
            with contextlib.suppress(Exception):
                db.execute("SELECT pg_advisory_unlock(?)", [_PG_MIGRATION_LOCK])
    return start
