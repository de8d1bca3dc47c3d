"""Data rights: the CSV export of every period, and forgetting a member in one transaction."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from domain.checkpoints import MessageBatch, VoiceBatch
from domain.periods import DAY, day_floor
from persistence.export import HEADER, export_csv_sync, export_rows_sync, forget_member_sync
from persistence.store import Store

G, OTHER = 7, 8
T0 = 1_790_000_000.0  # 2026-09-21T14:13:20Z; the guild's periods start at midnight
ANCHOR = day_floor(T0)
ADA, BO, EVIL, ADMIN = 101, 102, 103, 900


def seeded(db_target: Path | str) -> Store:
    """Period 0 (archived by an early reset) and period 1 (current), plus another guild."""
    store = Store(db_target, default_period_days=30)
    names = {(G, ADA): ("Ada", T0), (G, BO): ('Bo, "the" one', T0), (G, EVIL): ('=HYPERLINK("x")', T0)}
    store.apply_messages_sync(
        MessageBatch(
            {(G, ADA, int(T0)): 5, (G, BO, int(T0)): 2, (G, EVIL, int(T0)): 1, (OTHER, ADA, int(T0)): 9},
            (),
            names,
        )
    )
    store.apply_voice_sync(VoiceBatch(((G, BO, T0, T0 + 90.5),)))
    store.reset_early_sync(G, T0 + 3_600, ADMIN)  # period 0 ends now; period 1 starts
    later = T0 + 7_200
    store.apply_messages_sync(MessageBatch({(G, ADA, int(later)): 3}, (), {}))
    store.apply_voice_sync(VoiceBatch(((G, ADA, later, later + 60),)))
    return store


def test_export_has_one_row_per_member_and_period_with_status_and_bounds(db_target: Path | str) -> None:
    store = seeded(db_target)
    now = T0 + 8_000
    text = export_csv_sync(store, G, now)
    rows = list(csv.reader(io.StringIO(text)))
    reset_at = "2026-09-21T15:13:20Z"
    current_end = "2026-10-21T15:13:20Z"
    assert rows == [
        list(HEADER),
        ["0", "archived", "2026-09-21T00:00:00Z", reset_at, str(ADA), "Ada", "5", "0.000"],
        ["0", "archived", "2026-09-21T00:00:00Z", reset_at, str(BO), 'Bo, "the" one', "2", "90.500"],
        ["0", "archived", "2026-09-21T00:00:00Z", reset_at, str(EVIL), '\'=HYPERLINK("x")', "1", "0.000"],
        ["1", "current", reset_at, current_end, str(ADA), "Ada", "3", "60.000"],
    ]
    assert text.endswith("\r\n") and text.count("\r\n") == 5
    assert all(row[4] != str(OTHER) for row in rows), "another guild's data never leaks in"
    store.close()


def test_export_of_a_guild_with_no_activity_is_just_the_header(db_target: Path | str) -> None:
    store = Store(db_target)
    assert export_csv_sync(store, G, T0) == ",".join(HEADER) + "\r\n"
    assert export_rows_sync(store, G, T0) == []
    store.close()


def test_a_finished_period_not_yet_archived_is_marked_finished(db_target: Path | str) -> None:
    store = Store(db_target, default_period_days=1)
    store.apply_messages_sync(MessageBatch({(G, ADA, int(T0)): 1}, (), {}))
    rows = export_rows_sync(store, G, ANCHOR + DAY + 5)  # a boundary passed; the reset clock's grace runs
    assert [row[:2] for row in rows] == [("0", "finished")]
    store.close()


def db_rows(store: Store, table: str, user_id: int) -> int:
    return store.db.execute(
        f"SELECT COUNT(*) FROM {table} WHERE guild_id = ? AND user_id = ?", [G, user_id]
    ).fetchone()[0]


def test_forget_deletes_the_members_rows_scrubs_archives_and_audits(db_target: Path | str) -> None:
    store = seeded(db_target)
    gone = forget_member_sync(store, G, BO, ADMIN, T0 + 9_000)
    assert (gone.activity_rows, gone.names, gone.archives) == (1, 1, 1)
    for table in ("activity", "members"):
        assert db_rows(store, table, BO) == 0, table
    archive = store.archive_sync(G, 0)
    assert archive is not None
    assert [u for u, _ in archive["top_messages"]] == [ADA, EVIL]
    assert archive["top_voice"] == []
    assert db_rows(store, "activity", ADA) == 2, "other members keep everything"
    audit = store.db.execute(
        "SELECT user_id, action, detail, at FROM audit WHERE action = 'forget'"
    ).fetchall()
    detail = f"member {BO}: 1 period totals, 1 name deleted; "
    detail += "removed from 1 archived top lists"
    assert audit == [(ADMIN, "forget", detail, T0 + 9_000)]
    assert all(row[4] != str(BO) for row in export_rows_sync(store, G, T0 + 9_000))
    store.close()


def test_forget_is_one_transaction(db_target: Path | str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = seeded(db_target)

    def disk_full(*args: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store, "audit_sync", disk_full)  # fails after every delete was issued
    with pytest.raises(sqlite3.OperationalError):
        forget_member_sync(store, G, BO, ADMIN, T0 + 9_000)
    assert db_rows(store, "activity", BO) == 1 and db_rows(store, "members", BO) == 1
    archive = store.archive_sync(G, 0)
    assert archive is not None and [u for u, _ in archive["top_voice"]] == [BO]
    store.close()


def test_forgetting_someone_unknown_still_records_the_request(db_target: Path | str) -> None:
    store = seeded(db_target)
    gone = forget_member_sync(store, G, 55555, ADMIN, T0)
    assert (gone.activity_rows, gone.names, gone.archives) == (0, 0, 0)
    (count,) = store.db.execute("SELECT COUNT(*) FROM audit WHERE action = 'forget'").fetchone()
    assert count == 1
    store.close()


def test_archived_top_lists_stay_valid_json(db_target: Path | str) -> None:
    store = seeded(db_target)
    forget_member_sync(store, G, ADA, ADMIN, T0)
    for raw in store.db.execute("SELECT top_messages, top_voice FROM period_archive").fetchone():
        assert isinstance(json.loads(raw), list)
    store.close()


def test_after_a_forget_the_store_refuses_everything_of_the_member_from_before_it(
    db_target: Path | str,
) -> None:
    """Whatever an actor or a command still held when the forget ran (an unflushed batch, voice
    time since the last checkpoint, a name fetched a moment earlier) can never bring the member
    back; what they do after the forget counts, and the rule survives a restart."""
    store = seeded(db_target)
    at = T0 + 9_000
    forget_member_sync(store, G, BO, ADMIN, at)
    before, after = int(at) - 5, int(at) + 5
    store.apply_messages_sync(
        MessageBatch(
            {(G, BO, before): 4, (G, BO, after): 1, (G, ADA, before): 2}, (), {(G, BO): ("Bo", at - 1)}
        )
    )
    store.apply_voice_sync(VoiceBatch(((G, BO, at - 60, at + 30),), {(G, BO): ("Bo in voice", at - 2)}))
    store.remember_names_sync([((G, BO), ("Bo fetched", at - 3))])
    assert store.message_counts_sync(G)[BO] == 1 and store.voice_seconds_sync(G)[BO] == 30.0
    assert store.message_counts_sync(G)[ADA] == 5 + 3 + 2  # other members are untouched
    assert db_rows(store, "members", BO) == 0
    store.remember_names_sync([((G, BO), ("Bo again", at + 60))])  # learned after the forget: kept
    assert db_rows(store, "members", BO) == 1
    store.close()

    reopened = Store(db_target)
    reopened.apply_messages_sync(MessageBatch({(G, BO, before): 7}, (), {}))
    assert reopened.message_counts_sync(G)[BO] == 1
    reopened.close()
