"""Backups: consistent while another connection writes, kept to a count, on a schedule; restore."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path

import pytest
import trio

from bot_entry.logs import configure_logging
from domain.checkpoints import MessageBatch
from domain.clock import WallClock
from persistence import backup as backup_module
from persistence.backup import (
    BackupError,
    backup_now,
    backup_time,
    check_integrity,
    list_backups,
    restore,
    run_backups,
)
from persistence.store import Store

GUILD, USER = 1402040735958470776, 1402040735958470777
T0 = 1_790_000_000.0


def make_db(path: Path, messages: int) -> None:
    """A real bot database (schema by the store) with ``messages`` counted for one user."""
    store = Store(path)
    try:
        store.apply_messages_sync(
            MessageBatch(counts={(GUILD, USER, int(T0)): messages}, message_ids=((1, T0),), names={})
        )
    finally:
        store.close()


def messages_in(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT COALESCE(SUM(messages), 0) FROM activity").fetchone()[0]
    finally:
        conn.close()


def test_backup_is_a_consistent_snapshot_while_another_connection_writes(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    make_db(db, 0)
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE ledger (id INTEGER PRIMARY KEY, amount INTEGER)")
        conn.execute("CREATE TABLE total (n INTEGER, rows INTEGER)")
        conn.execute("INSERT INTO total VALUES (0, 0)")
    stop = threading.Event()
    committed = [0]

    def writer() -> None:  # another process's connection: every transaction keeps total == sum(ledger)
        conn = sqlite3.connect(db, timeout=5)
        try:
            while not stop.is_set() and committed[0] < 200_000:
                with conn:
                    conn.execute("INSERT INTO ledger (amount) VALUES (3)")
                    conn.execute("UPDATE total SET n = n + 3, rows = rows + 1")
                committed[0] += 1
        finally:
            conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    seen = []
    try:
        for i in range(5):
            while committed[0] < 50 * (i + 1):  # let the writer commit between backups
                stop.wait(0.001)
            before = committed[0]
            path = backup_now(db, tmp_path / "backups", keep=10, now=T0 + i)
            after = committed[0]
            with sqlite3.connect(path) as copy:
                n, rows = copy.execute("SELECT n, rows FROM total").fetchone()
                ledger_rows, ledger_sum = copy.execute("SELECT COUNT(*), SUM(amount) FROM ledger").fetchone()
            assert check_integrity(path) == "ok"
            assert (rows, n) == (ledger_rows, ledger_sum)  # one commit's state, never half of one
            assert before <= rows <= after + 1
            seen.append(rows)
    finally:
        stop.set()
        thread.join()
    assert seen == sorted(seen) and seen[0] < seen[-1]
    assert [p.name for p in list_backups(db, tmp_path / "backups")] == [
        f"bot-20260921T1413{20 + i}Z.db" for i in range(5)
    ]
    assert not list((tmp_path / "backups").glob(".*"))  # no partial files left
    assert not list((tmp_path / "backups").glob("*-wal"))  # each backup is one self-contained file


def test_retention_keeps_the_newest(tmp_path: Path) -> None:
    db, backups = tmp_path / "bot.db", tmp_path / "backups"
    make_db(db, 1)
    for hour in range(5):
        backup_now(db, backups, keep=3, now=T0 + hour * 3600)
    twin = backup_now(db, backups, keep=3, now=T0 + 4 * 3600)  # same second: kept apart, newest
    names = [p.name for p in list_backups(db, backups)]
    assert names == ["bot-20260921T171320Z.db", "bot-20260921T181320Z.db", "bot-20260921T181320Z-1.db"]
    assert twin.name == names[-1]
    assert backup_time(twin) == T0 + 4 * 3600
    (backups / "other-20260921T171320Z.db").write_bytes(b"")  # another database's: not ours to prune
    backup_now(db, backups, keep=1, now=T0 + 5 * 3600)
    assert sorted(p.name for p in backups.iterdir()) == [
        "bot-20260921T191320Z.db",
        "other-20260921T171320Z.db",
    ]


def test_restore_round_trip_keeps_the_replaced_database(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    make_db(db, 7)
    backup = backup_now(db, tmp_path / "backups", keep=3, now=T0)
    make_db(db, 5)  # later writes: 12 in total
    assert messages_in(db) == 12
    aside = restore(backup, db, now=T0 + 60)
    assert aside == tmp_path / "bot.db.replaced-20260921T141420Z"
    assert messages_in(db) == 7
    assert messages_in(aside) == 12  # nothing is destroyed by a restore
    store = Store(db)  # the bot opens the restored file as usual
    try:
        assert store.message_counts_sync(GUILD) == {USER: 7}
    finally:
        store.close()


def test_restore_refuses_a_database_that_is_open_unless_forced(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    make_db(db, 7)
    backup = backup_now(db, tmp_path / "backups", keep=3, now=T0)
    make_db(db, 1)
    running = Store(db)  # the bot has it open
    try:
        with pytest.raises(BackupError, match=r"open in another process .* --force"):
            restore(backup, db)
        assert messages_in(db) == 8
        restore(backup, db, force=True)
        assert messages_in(db) == 7
    finally:
        running.close()


def test_restore_refuses_a_damaged_backup_and_touches_nothing(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    make_db(db, 7)
    good = backup_now(db, tmp_path / "backups", keep=3, now=T0)
    damaged = tmp_path / "damaged.db"
    data = bytearray(good.read_bytes())
    data[len(data) // 2 :] = b"\xff" * (len(data) - len(data) // 2)  # second half of the pages trashed
    damaged.write_bytes(bytes(data))
    before = db.read_bytes()
    with pytest.raises(BackupError, match="not a usable backup: integrity check says"):
        restore(damaged, db)
    with pytest.raises(BackupError, match="no backup file"):
        restore(tmp_path / "missing.db", db)
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backups", "bot.db", "damaged.db"]


def test_restore_replaces_a_corrupt_database_and_keeps_the_corrupt_file(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    make_db(db, 7)
    backup = backup_now(db, tmp_path / "backups", keep=3, now=T0)
    db.write_bytes(b"not a database at all " * 200)
    aside = restore(backup, db, now=T0)
    assert messages_in(db) == 7
    assert aside is not None and aside.read_bytes() == b"not a database at all " * 200


# Scheduled runs use a MockClock moved by hand (no autojump): the backups run in a worker thread,
# and an autojump clock would race ahead while the thread works. Hangs fail via the timeout mark.


@pytest.mark.timeout(60)
async def test_scheduled_backups_follow_the_clock_and_survive_restarts(
    tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    db, backups, hour = tmp_path / "bot.db", tmp_path / "backups", 3600.0
    make_db(db, 3)
    clock = WallClock.starting_at(T0)
    done, taken = trio.open_memory_channel[tuple[Path, float]](10)

    def on_backup(path: Path, at: float) -> None:
        done.send_nowait((path, at))

    async with trio.open_nursery() as nursery:
        await nursery.start(partial(run_backups, db, hour, 10, clock, on_backup=on_backup))
        times = [(await taken.receive())[1]]  # one at once: there was none
        for _ in range(2):
            mock_clock.jump(hour)
            times.append((await taken.receive())[1])
        nursery.cancel_scope.cancel()
    assert times == [T0, T0 + hour, T0 + 2 * hour]
    assert [backup_time(p) for p in list_backups(db, backups)] == times

    async with trio.open_nursery() as nursery:  # a restart right after the last backup
        await nursery.start(partial(run_backups, db, hour, 10, clock, backups, on_backup=on_backup))
        await trio.testing.wait_all_tasks_blocked()
        mock_clock.jump(hour)
        path, at = await taken.receive()
        nursery.cancel_scope.cancel()
    assert at == T0 + 3 * hour  # no backup just for starting: the hourly rhythm goes on
    assert backup_time(path) == at and len(list_backups(db, backups)) == 4


@pytest.mark.timeout(60)
async def test_a_failed_scheduled_backup_is_logged_and_retried(
    tmp_path: Path, mock_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    db = tmp_path / "bot.db"
    make_db(db, 1)
    attempts: list[float] = []

    def flaky_backup(*args: object, now: float, **kwargs: object) -> Path:
        attempts.append(now)
        if len(attempts) == 1:
            raise OSError(28, "No space left on device")
        return backup_now(*args, now=now, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(backup_module, "backup_now", flaky_backup)
    clock = WallClock.starting_at(T0)
    done, taken = trio.open_memory_channel[tuple[Path, float]](10)
    async with trio.open_nursery() as nursery:
        await nursery.start(
            partial(run_backups, db, 60.0, 3, clock, on_backup=lambda p, at: done.send_nowait((p, at)))
        )
        mock_clock.jump(60)
        path, at = await taken.receive()  # the task outlived the failure and tried again on time
        nursery.cancel_scope.cancel()
    assert attempts == [T0, T0 + 60] and at == T0 + 60 and check_integrity(path) == "ok"
    failure = json.loads(out.getvalue().splitlines()[0])
    assert (
        failure["event"]
        == "scheduled backup failed; will try again in 60s: [Errno 28] No space left on device"
    )
    assert failure["level"] == "error" and failure["error"] == "[Errno 28] No space left on device"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="lock bytes are read the Linux way")
def test_restore_over_a_corrupt_database_still_refuses_while_another_process_has_it(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    make_db(db, 7)
    backup = backup_now(db, tmp_path / "backups", keep=3, now=T0)
    db.write_bytes(b"not a database at all " * 200)
    holder = subprocess.Popen(  # what SQLite in another process does: a shared lock on its lock bytes
        [
            sys.executable,
            "-c",
            "import fcntl, sys; f = open(sys.argv[1], 'rb+'); "
            "fcntl.lockf(f, fcntl.LOCK_SH, 510, 0x40000002); print('locked', flush=True); sys.stdin.read()",
            str(db),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(BackupError, match="open in another process"):
            restore(backup, db)
    finally:
        holder.communicate("", timeout=10)
    restore(backup, db)
    assert messages_in(db) == 7
