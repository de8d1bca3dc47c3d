"""Data rights: a guild's totals as CSV (every period, current and archived), and forgetting a member.

Both run in the store's writer thread (``await store.call(export_csv_sync, store, ...)``). The export
is a read (``/lbexport`` first fetches the members ``unnamed_members_sync`` lists and stores their
names); ``forget_member_sync`` deletes everything stored about one member of one guild and
records who asked, in one transaction, so a crash can leave neither half-deleted data nor a
deletion without its audit row.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from attrs import define

from domain.units import seconds_text
from domain.windows import day_date
from persistence.history import forget_member_days_sync
from persistence.store import Store

# A member with no name the bot knows (stored, seen, or fetched): they left before the bot learned it.
UNKNOWN_MEMBER = "unknown member (left)"
HEADER = ("period", "status", "started_at", "ended_at", "user_id", "name", "messages", "voice_seconds")
# A cell starting with one of these is a formula in Excel or LibreOffice ("CSV injection"); names
# are chosen by members, so such a name is written with a leading apostrophe.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@define(frozen=True)
class Forgotten:
    """What ``forget_member_sync`` removed."""

    activity_rows: int  # per-period totals
    names: int  # last-known name rows
    archives: int  # archived top-10 lists the member was taken out of
    days: int = 0  # daily history rows


def _iso(at: float | None) -> str:
    if at is None:
        return ""
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def safe_cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def unnamed_members_sync(store: Store, guild_id: int) -> list[int]:
    """Members with activity in ``guild_id`` and no stored name (the export fetches these first)."""
    return [
        user_id
        for (user_id,) in store.db.execute(
            "SELECT DISTINCT a.user_id FROM activity AS a LEFT JOIN members AS m "
            "ON m.guild_id = a.guild_id AND m.user_id = a.user_id "
            "WHERE a.guild_id = ? AND m.name IS NULL AND (a.messages > 0 OR a.voice_ms > 0) "
            "ORDER BY a.user_id",
            (guild_id,),
        )
    ]


def export_rows_sync(store: Store, guild_id: int, at: float) -> list[tuple[str, ...]]:
    """One row per member and period with any activity, periods oldest first, members by id.

    ``name`` is the last-known name stored (from messages, voice, or a member fetch), else
    ``UNKNOWN_MEMBER``: never blank.

    ``status`` is ``current`` (still counting), ``archived`` (reset and archived) or ``finished``
    (ended, its archive not written yet: the reset clock waits a short grace after a boundary).
    """
    spec = store.period_spec_sync(guild_id, at)
    current = spec.index_at(at)
    conn = store.db.conn
    archived = {
        period: (started, ended)
        for period, started, ended in conn.execute(
            "SELECT period, started_at, ended_at FROM period_archive WHERE guild_id = ?", (guild_id,)
        )
    }
    rows: list[tuple[str, ...]] = []
    for period, user_id, messages, voice_ms, name in conn.execute(
        "SELECT a.period, a.user_id, a.messages, a.voice_ms, m.name FROM activity AS a "
        "LEFT JOIN members AS m ON m.guild_id = a.guild_id AND m.user_id = a.user_id "
        "WHERE a.guild_id = ? AND (a.messages > 0 OR a.voice_ms > 0) ORDER BY a.period, a.user_id",
        (guild_id,),
    ):
        if period in archived:
            status, (started, ended) = "archived", archived[period]
        else:
            status = "current" if period == current else "finished" if period < current else "future"
            started, ended = spec.start_of(period), spec.end_of(period)
        rows.append(
            (
                str(period),
                status,
                _iso(started),
                _iso(ended),
                str(user_id),
                safe_cell(name or UNKNOWN_MEMBER),
                str(messages),
                seconds_text(voice_ms),
            )
        )
    return rows


HISTORY_HEADER = ("day", "period", "user_id", "name", "messages", "voice_seconds", "reactions")
CHANNEL_HEADER = ("day", "channel_id", "messages")


def export_history_rows_sync(store: Store, guild_id: int) -> list[tuple[str, ...]]:
    """The daily history: one row per UTC day, period and member, oldest day first. A day an
    early reset split has one row for each period. History starts at the upgrade to schema v9."""
    rows: list[tuple[str, ...]] = []
    for day, period, user_id, messages, voice_ms, reactions, name in store.db.execute(
        "SELECT d.day, d.period, d.user_id, d.messages, d.voice_ms, d.reactions, m.name "
        "FROM daily_members AS d LEFT JOIN members AS m ON m.guild_id = d.guild_id AND m.user_id = d.user_id "
        "WHERE d.guild_id = ? ORDER BY d.day, d.period, d.user_id",
        (guild_id,),
    ):
        rows.append(
            (
                day_date(day).isoformat(),
                str(period),
                str(user_id),
                safe_cell(name or UNKNOWN_MEMBER),
                str(messages),
                seconds_text(voice_ms),
                str(reactions),
            )
        )
    return rows


def export_history_csv_sync(store: Store, guild_id: int) -> str:
    """The daily history as CSV: members' days, then a blank line and each channel's days."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HISTORY_HEADER)
    writer.writerows(export_history_rows_sync(store, guild_id))
    writer.writerow(())
    writer.writerow(CHANNEL_HEADER)
    writer.writerows(
        (day_date(day).isoformat(), str(channel_id), str(n))
        for day, channel_id, n in store.db.execute(
            "SELECT day, channel_id, messages FROM daily_channels WHERE guild_id = ? "
            "ORDER BY day, channel_id",
            (guild_id,),
        )
    )
    return out.getvalue()


def export_csv_sync(store: Store, guild_id: int, at: float) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(export_rows_sync(store, guild_id, at))
    return out.getvalue()


def forget_member_sync(store: Store, guild_id: int, user_id: int, by_user: int, at: float) -> Forgotten:
    """Delete ``user_id``'s data in ``guild_id`` (totals, daily history, name, archived top lists), record the
    deletion in the audit table, and note when the member was forgotten so that nothing of theirs
    from before ``at`` is ever written again (whatever an actor still held), in one transaction.

    The audit row keeps the member's id (what was deleted, by whom, when) and nothing else.
    """
    db = store.db
    with db.atomic():
        where = "WHERE guild_id = ? AND user_id = ?"
        args = (guild_id, user_id)
        activity = db.execute(f"DELETE FROM activity {where}", args).rowcount
        names = db.execute(f"DELETE FROM members {where}", args).rowcount
        days = forget_member_days_sync(db.conn, guild_id, user_id)
        archives = 0
        for period, top_messages, top_voice in db.execute(
            "SELECT period, top_messages, top_voice FROM period_archive WHERE guild_id = ?", (guild_id,)
        ).fetchall():
            tops = [json.loads(top_messages), json.loads(top_voice)]
            kept = [[entry for entry in top if entry[0] != user_id] for top in tops]
            if kept != tops:
                archives += 1
                db.execute(
                    "UPDATE period_archive SET top_messages = ?, top_voice = ? "
                    "WHERE guild_id = ? AND period = ?",
                    (json.dumps(kept[0]), json.dumps(kept[1]), guild_id, period),
                )
        detail = (
            f"member {user_id}: {activity} period totals, {names} name deleted; "
            f"removed from {archives} archived top lists"
        )
        store.audit_sync(guild_id, by_user, "forget", detail, at)
        store.record_forgotten_sync(guild_id, user_id, at)
    store.forgotten_committed(guild_id, user_id, at)  # what actors still hold from before is refused
    return Forgotten(activity, names, archives, days)
