"""Guarantees both engines keep when more than one process uses a database, and what a lost
PostgreSQL connection does: a passing ``StoreUnavailable``, a reconnect with backoff, nothing lost."""

from __future__ import annotations

import tempfile
from pathlib import Path

import psycopg
import pytest
import trio

from domain.checkpoints import MessageBatch
from persistence import dialect
from persistence.errors import StoreUnavailable
from persistence.store import Store
from tests import pg

G, T0, DAY = 7, 1_767_225_600.0, 86_400


def batch(*counts: tuple[int, float, int]) -> MessageBatch:
    return MessageBatch({(G, user, int(at)): n for user, at, n in counts}, (), {})


def archives(store: Store) -> list[tuple[int, int]]:
    return [tuple(r) for r in store.db.execute("SELECT guild_id, period FROM period_archive").fetchall()]


def test_two_processes_racing_a_period_archive_give_exactly_one(db_target: Path | str) -> None:
    """Store A checks "not archived yet"; before it inserts, store B (another connection, as in a
    handover) archives the same period and commits. A then finds B's row: False, one archive."""
    first, second = Store(db_target, default_period_days=1), Store(db_target, default_period_days=1)
    first.period_spec_sync(G, T0)
    first.apply_messages_sync(batch((10, T0 + 5, 3)))
    second.period_spec_sync(G, T0)
    results: list[bool] = []

    def other_process_archives(step: str) -> None:
        if step == "checked":
            results.append(second.archive_period_sync(G, 0, T0 + DAY, T0 + DAY + 1))

    if isinstance(db_target, Path):
        # SQLite: one writer at a time, so the interleaving cannot happen inside a transaction;
        # B archives first and A's whole transaction comes after it.
        results.append(second.archive_period_sync(G, 0, T0 + DAY, T0 + DAY + 1))
        results.append(first.archive_period_sync(G, 0, T0 + DAY, T0 + DAY + 2))
    else:
        results.append(first.archive_period_sync(G, 0, T0 + DAY, T0 + DAY + 2, other_process_archives))
    assert results == [True, False]
    assert archives(first) == archives(second) == [(G, 0)]
    (archived_at,) = first.db.execute("SELECT archived_at FROM period_archive").fetchone()
    assert archived_at == T0 + DAY + 1  # B's row, untouched by A


def test_a_lost_connection_is_passing_and_reopened_with_backoff(pg_url: str) -> None:
    store = Store(pg_url)
    store.period_spec_sync(G, T0)

    async def main() -> None:
        await store.apply_messages(batch((10, T0 + 5, 1)))
        backend = store.db.execute("SELECT pg_backend_pid()").fetchone()[0]
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [backend])
        with pytest.raises(StoreUnavailable, match="connection lost"):
            await store.apply_messages(batch((10, T0 + 6, 2)))
        await store.apply_messages(batch((10, T0 + 6, 2)))  # the batch the caller kept, retried
        assert await store.call(store.message_counts_sync, G, 0) == {10: 3}

    trio.run(main)


def test_an_unreachable_server_is_tried_again_only_after_the_backoff(pg_url: str) -> None:
    store = Store(pg_url)
    db = store.db
    db.close()
    db.url = "postgresql://postgres@127.0.0.1:1/nothing"  # nothing listens on port 1
    with pytest.raises(StoreUnavailable, match="unreachable"):
        db.reopen_if_lost(100.0)
    with pytest.raises(StoreUnavailable, match=r"next try in 0\.5 s"):
        db.reopen_if_lost(100.0)  # within the backoff: not even tried
    with pytest.raises(StoreUnavailable, match=r"next try in 1\.0 s"):
        db.reopen_if_lost(100.0 + dialect.RECONNECT_FIRST_SECONDS)  # tried again, the wait doubles
    db.url = pg_url
    db.reopen_if_lost(200.0)
    assert db.execute("SELECT 1").fetchone() == (1,)


def test_a_postgresql_restart_mid_activity_loses_nothing() -> None:
    """A real restart (pg_ctl restart -m fast) between two flushes: the flush that meets the dead
    connection fails as passing, its batch is kept and written after the reconnect; every count
    the caller was told was written is there, exactly once."""
    directory = Path(tempfile.mkdtemp(prefix="leaderboard-pg-restart-"))
    try:
        url = pg.start(directory)
    except pg.Unavailable as exc:
        pg.stop(directory)
        pytest.skip(f"PostgreSQL cannot be started here: {exc}")
    try:
        store = Store(url)
        store.period_spec_sync(G, T0)

        async def main() -> None:
            written = 0
            for i in range(40):
                pending = batch((10 + i % 5, T0 + i, 1))
                if i == 20:
                    await trio.to_thread.run_sync(pg.restart, directory)
                for _attempt in range(50):  # what the batch writer does: keep it, retry, bounded
                    try:
                        await store.apply_messages(pending)
                        break
                    except StoreUnavailable:
                        await trio.sleep(0.1)
                else:
                    raise AssertionError("never reconnected")
                written += 1
            assert written == 40
            counts = await store.call(store.message_counts_sync, G, 0)
            assert counts == {10 + u: 8 for u in range(5)}

        trio.run(main)
    finally:
        pg.stop(directory)


def test_processes_opening_a_new_postgresql_database_at_once_migrate_it_once(pg_url: str) -> None:
    """Two bot processes started together on an empty database (compose starts both at once):
    each migrates under the advisory lock, neither collides creating the version table."""
    import threading

    opened: list[Store] = []
    failures: list[BaseException] = []
    start = threading.Barrier(4)

    def open_store() -> None:
        start.wait()
        try:
            opened.append(Store(pg_url))
        except BaseException as exc:  # recorded for the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert len(opened) == 4
    (versions,) = opened[0].db.execute("SELECT COUNT(*) FROM schema_version").fetchone()
    assert versions == 1
