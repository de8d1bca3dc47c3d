"""The store: migrations, one-transaction batches, period keys, bad files left untouched."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from domain.checkpoints import MessageBatch
from domain.periods import DAY
from persistence.errors import StoreError
from persistence.schema import SCHEMA_VERSION
from persistence.store import Store

T0 = 1_767_225_600.0 + 3_600  # 2026-01-01T01:00Z


def batch(counts: dict[tuple[int, int, int], int], ids: tuple[tuple[int, float], ...] = ()) -> MessageBatch:
    return MessageBatch(counts=counts, message_ids=ids, names={})


def test_new_file_is_migrated_to_the_current_version(tmp_path: Path) -> None:
    store = Store(tmp_path / "lb.db")
    store.close()
    with sqlite3.connect(tmp_path / "lb.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_counts_land_in_the_period_of_their_timestamp(db_target: Path | str) -> None:
    store = Store(db_target, default_period_days=30)
    t_next = int(T0 + 30 * DAY)  # the guild's anchor is midnight of first sight, so this is period 1
    store.apply_messages_sync(batch({(1, 10, int(T0)): 3, (1, 10, t_next): 2, (1, 11, int(T0)): 1}))
    assert store.message_counts_sync(1, 0) == {10: 3, 11: 1}
    assert store.message_counts_sync(1, 1) == {10: 2}
    assert store.message_counts_sync(1) == {10: 5, 11: 1}
    store.close()


def test_a_batch_that_fails_midway_writes_nothing(
    db_target: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(db_target)
    store.apply_messages_sync(batch({(1, 10, int(T0)): 1}, ((500, T0),)))

    def disk_full(names: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store, "_remember_names", disk_full)  # fails after counts and ids were written
    with pytest.raises(sqlite3.OperationalError):
        store.apply_messages_sync(batch({(1, 10, int(T0)): 5}, ((501, T0),)))
    assert store.message_counts_sync(1) == {10: 1}
    assert store.recent_message_ids_sync() == [500]
    store.close()


def test_dedupe_window_survives_reopening(db_target: Path | str) -> None:
    store = Store(db_target)
    store.apply_messages_sync(batch({(1, 10, int(T0)): 2}, ((500, T0), (501, T0 + 1))))
    store.close()
    assert Store(db_target).recent_message_ids_sync() == [500, 501]


def test_a_corrupt_file_stops_with_a_clear_error_and_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "lb.db"
    junk = b"this is not a database" * 100
    path.write_bytes(junk)
    with pytest.raises(StoreError, match="left untouched"):
        Store(path)
    assert path.read_bytes() == junk


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lb.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match="newer than this bot"):
        Store(path)


def test_a_batch_keeps_64_bit_ids_exact_times_and_adds_to_existing_counts(
    db_target: Path | str,
) -> None:
    """The batch goes in as multi-row statements and its ids as one packed row per batch:
    snowflakes near 2**63 and float times must come back exactly, and a second batch adds to the
    first."""
    store = Store(db_target)
    big_guild, big_user = 2**63 - 1, 1_402_040_735_958_470_776
    times = [T0 + n * 1e-5 + 0.123456789 for n in range(3)]
    ids = ((2**63 - 2, times[0]), (2**62 + 1, times[1]), (1_402_040_735_958_470_777, times[2]))
    store.apply_messages_sync(batch({(big_guild, big_user, int(T0)): 2, (1, 10, int(T0)): 1}, ids))
    store.apply_messages_sync(batch({(big_guild, big_user, int(T0)): 3}, ((500, T0),)))
    assert store.message_counts_sync(big_guild) == {big_user: 5}
    assert store.message_counts_sync(1) == {10: 1}
    # Oldest batch first (by its newest receive time: T0 is before ``times``), each in its order.
    assert store.recent_message_ids_sync() == [500, *(i for i, _ in ids)]
    stored = {at for (at,) in store.db.execute("SELECT newest_at FROM seen_batches").fetchall()}
    assert stored == {times[2], T0}
    store.close()


@pytest.mark.parametrize("guilds", [3, 200])  # one by one, and one GROUP BY for many
def test_guilds_since_gives_each_new_guild_with_its_layout_and_last_archive(
    tmp_path: Path, guilds: int
) -> None:
    store = Store(tmp_path / "lb.db")
    specs = {g: store.period_spec_sync(g, 40 * DAY) for g in range(1, guilds + 1)}
    store.archive_period_sync(1, 0, specs[1].end_of(0), 80 * DAY)
    store.archive_period_sync(1, 1, specs[1].end_of(1), 80 * DAY)
    everything = store.guilds_since_sync(0)
    assert everything == [(g, specs[g], 1 if g == 1 else None) for g in range(1, guilds + 1)]
    assert store.guilds_since_sync(guilds) == []
    new = store.period_spec_sync(guilds + 1, 50 * DAY)
    assert store.guilds_since_sync(guilds) == [(guilds + 1, new, None)]
    store.close()
    reopened = Store(tmp_path / "lb.db")  # the same order after a restart
    assert [g for g, _, _ in reopened.guilds_since_sync(0)] == list(range(1, guilds + 2))
    reopened.close()
