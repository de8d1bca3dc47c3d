"""The one place that knows the schema: versioned migrations keyed by ``PRAGMA user_version``.

Each migration takes the database from version ``i`` to ``i + 1`` and runs inside the same
transaction as the version bump, so a crash mid-migration leaves the previous version intact.
Never edit a released migration; append a new one.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils


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
)
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: sqlite_utils.Database) -> int:
    """Bring ``db`` to ``SCHEMA_VERSION``; returns the version it started at."""
    start = db.execute("PRAGMA user_version").fetchone()[0]
    if start > SCHEMA_VERSION:
        raise RuntimeError(
            f"database schema version {start} is newer than this bot ({SCHEMA_VERSION}); upgrade the bot"
        )
    for version in range(start, SCHEMA_VERSION):
        with db.atomic():
            MIGRATIONS[version](db)
            db.execute(f"PRAGMA user_version = {version + 1}")
    return start
