"""/healthz's database check names how long the database has been out of reach, and past the bound
that the bot has stopped taking new work (back-pressure, nothing dropped)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot_entry.app_health import DatabaseOutage, database_check
from bot_entry.ops_http import Check, db_writable_check
from persistence.store import Store

DOWN = Check("database", False, "not writable: database is locked")
UP = Check("database", True, "writable")


def test_outage_age_counts_from_the_first_failed_probe_and_clears_on_success() -> None:
    outage = DatabaseOutage()
    assert outage.observe(True, 100.0) is None
    assert outage.observe(False, 110.0) == 0.0
    assert outage.observe(False, 125.0) == 15.0
    assert outage.observe(True, 126.0) is None
    assert outage.observe(False, 200.0) == 0.0  # a new outage starts from zero


def test_check_names_the_age_and_past_the_bound_says_work_has_stopped() -> None:
    outage = DatabaseOutage()
    first = database_check(DOWN, outage, 1000.0, 30.0, pending=0)
    assert first == Check(
        "database", False, "not writable: database is locked; unreachable for 0 s (nothing held in memory)"
    )
    within = database_check(DOWN, outage, 1020.0, 30.0, pending=12)
    assert (
        within.detail == "not writable: database is locked; unreachable for 20 s (12 events held in memory)"
    )
    past = database_check(DOWN, outage, 1031.0, 30.0, pending=12)
    assert not past.ok
    assert past.detail == (
        "not writable: database is locked; unreachable for 31 s (12 events held in memory); over the 30 s "
        "bound: not taking new work (the gateway stops reading once the queues are full; nothing is dropped)"
    )
    assert database_check(UP, outage, 1040.0, 30.0, pending=0) == UP
    assert outage.since is None


async def test_a_real_lock_held_past_the_bound_shows_on_the_check(tmp_path: Path) -> None:
    store = Store(tmp_path / "bot.db")
    outage = DatabaseOutage()
    other = sqlite3.connect(tmp_path / "bot.db", check_same_thread=False)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
        first = database_check(await db_writable_check(store), outage, 0.0, 5.0, pending=3)
        later = database_check(await db_writable_check(store), outage, 6.0, 5.0, pending=3)
        other.execute("ROLLBACK")
        after = database_check(await db_writable_check(store), outage, 7.0, 5.0, pending=0)
    finally:
        other.close()
        store.close()
    assert (
        not first.ok and "unreachable for 0 s" in first.detail and "not taking new work" not in first.detail
    )
    assert not later.ok and "unreachable for 6 s" in later.detail and "not taking new work" in later.detail
    assert after == UP
