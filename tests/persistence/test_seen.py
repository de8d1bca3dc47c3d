"""The dedupe window (``persistence.seen``): one row per batch, and exactly as safe as one row per id.

A restarted counter loads the window's ids; a message delivered again after the restart must find
its id there for as long as the old one-row-per-id rule kept it (received within the last
``SEEN_MESSAGE_WINDOW_SECONDS`` of the newest write).
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import sqlite_utils
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.message_tally import MessageTally, Skip
from domain.checkpoints import MessageBatch
from domain.events import MessageSent
from persistence.dialect import PgDatabase
from persistence.schema import migrate
from persistence.seen import SEEN_MESSAGE_WINDOW_SECONDS as WINDOW
from persistence.seen import pack_ids, unpack_ids
from persistence.store import Store

T0 = 1_767_225_600.0 + 3_600  # 2026-01-01T01:00Z
G, U, C = 1, 10, 5


def ids_batch(*pairs: tuple[int, float]) -> MessageBatch:
    return MessageBatch(counts={}, message_ids=pairs, names={})


def message(message_id: int, at: float) -> MessageSent:
    return MessageSent(G, C, message_id, U, "Ada", at)


def test_ids_pack_as_big_endian_64_bit_integers() -> None:
    ids = (1, 2**63 - 1, 2**64 - 1, 1_402_040_735_958_470_777)
    assert pack_ids(ids)[:8] == b"\0\0\0\0\0\0\0\1"  # what PostgreSQL's int8send writes
    assert unpack_ids(pack_ids(ids)) == ids
    assert unpack_ids(pack_ids(())) == ()


def test_each_batch_of_ids_is_one_row_read_back_oldest_batch_first(db_target: Path | str) -> None:
    store = Store(db_target)
    store.apply_messages_sync(ids_batch((30, T0 + 5), (10, T0 + 6), (20, T0 + 7)))
    store.apply_messages_sync(ids_batch((5, T0 + 2)))  # received earlier (put back after a failure)
    store.apply_messages_sync(ids_batch())  # no ids: no row
    assert store.db.execute("SELECT COUNT(*) FROM seen_batches").fetchone()[0] == 2
    assert store.recent_message_ids_sync() == [5, 30, 10, 20]
    store.close()


def test_a_message_delivered_again_after_a_restart_is_not_counted_twice(db_target: Path | str) -> None:
    """Counted, committed, the process restarts: the new counter's tally skips the redelivery for
    the whole window (59 minutes later still), and only a message older than it counts again."""
    store = Store(db_target)
    tally = MessageTally()
    assert tally.add(message(1_000, T0)) is None  # received an hour before the newest: leaves
    store.apply_messages_sync(tally.take_batch())
    assert tally.add(message(1_001, T0 + 60)) is None
    store.apply_messages_sync(tally.take_batch())
    assert tally.add(message(1_002, T0 + WINDOW + 30)) is None
    store.apply_messages_sync(tally.take_batch())
    store.close()

    store = Store(db_target)  # the restart
    tally = MessageTally.resume(store.recent_message_ids_sync())
    assert tally.add(message(1_002, T0 + WINDOW + 40)) is Skip.DUPLICATE
    assert tally.add(message(1_001, T0 + WINDOW + 40)) is Skip.DUPLICATE  # 59 minutes after it came
    assert tally.add(message(1_000, T0 + WINDOW + 40)) is None  # out of the window, as before
    store.apply_messages_sync(tally.take_batch())
    assert store.message_counts_sync(G) == {U: 4}
    store.close()


# Batches of (id, received at): times drift forward with jitter (a put-back batch arrives late).
batches_strategy = st.lists(
    st.lists(st.tuples(st.floats(-600, 3_000), st.floats(0, 30)), min_size=0, max_size=6),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(batches_strategy)
def test_the_window_keeps_every_id_the_one_row_per_id_rule_kept(
    steps: list[list[tuple[float, float]]],
) -> None:
    """Oracle: the old table, one row per id, ``DELETE ... WHERE at < newest - window`` after each
    batch. Every id it keeps is kept; every id kept came in a batch whose newest time is inside the
    last write's window."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp, "lb.db"))
        oracle: dict[int, float] = {}
        batch_newest: dict[int, float] = {}
        clock, next_id, cutoff = T0, 1, -float("inf")
        for step in steps:
            pairs = []
            for advance, jitter in step:
                clock += advance
                pairs.append((next_id, clock - jitter))
                next_id += 1
            store.apply_messages_sync(ids_batch(*pairs))
            if pairs:
                newest = max(at for _, at in pairs)
                oracle.update(pairs)
                oracle = {i: at for i, at in oracle.items() if at >= newest - WINDOW}
                batch_newest.update((i, newest) for i, _ in pairs)
                cutoff = newest - WINDOW
            kept = store.recent_message_ids_sync()
            assert set(oracle) <= set(kept)
            assert all(batch_newest[i] >= cutoff for i in kept)
            assert len(kept) == len(set(kept))
        store.close()


# -- the migration from one row per id (v9) --------------------------------------------------------


def _at_v9(target: Path | str) -> Any:
    if isinstance(target, Path):
        db: Any = sqlite_utils.Database(sqlite3.connect(target), execute_plugins=False)
    else:
        db = PgDatabase(target)
    migrate(db, to=9)
    return db


def test_v10_moves_the_old_ids_into_batches_and_lets_none_go_early(db_target: Path | str) -> None:
    """2,500 ids, one row each at v9 (two at the same time, one id near 2**63): after v10 three
    rows of up to 1,000 ids, oldest first, read back in the old order (by time, then id); the next
    write's prune keeps every id the old rule kept."""
    old = [(2**63 - 1 if k == 1_234 else 10**17 + 7 * k, T0 + k - (k == 7)) for k in range(2_500)]
    db = _at_v9(db_target)
    with db.atomic():
        for message_id, at in reversed(old):
            db.execute("INSERT INTO seen_messages (message_id, at) VALUES (?, ?)", [message_id, at])
    migrate(db)
    assert db.execute("SELECT COUNT(*) FROM seen_batches").fetchone()[0] == 3
    db.close()
    store = Store(db_target)
    in_order = [m for m, _ in sorted(old, key=lambda row: (row[1], row[0]))]
    assert store.recent_message_ids_sync() == in_order
    newest = T0 + 1_500 + WINDOW  # the old rule would keep the ids received from T0 + 1,500 on
    store.apply_messages_sync(ids_batch((10**18, newest)))
    kept = store.recent_message_ids_sync()
    assert set(kept) >= {m for m, at in old if at >= newest - WINDOW} | {10**18}
    assert kept[:1] == [in_order[1_000]]  # the first chunk (all before T0 + 1,000) is gone
    store.close()
