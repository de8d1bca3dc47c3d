"""Backups: consistent online copies of the database, kept to a count, and a careful restore.

Why the SQLite backup API in one step: the database is in WAL mode, where a reader never blocks
the writer, so copying every page in one read transaction gives a consistent snapshot (the state
at one commit) while the bot keeps writing. A stepwise copy would restart each time the bot wrote.

A backup is written under a temporary name, checked (``PRAGMA integrity_check``), switched to
``journal_mode=DELETE`` so it is one self-contained file, and only then renamed to its final
name ``<db stem>-YYYYMMDDTHHMMSSZ.db``: a file with that name is always a whole, checked backup.

With PostgreSQL (``DATABASE_URL=postgresql://...``) a backup is ``pg_dump`` in its custom format,
``<database>-YYYYMMDDTHHMMSSZ.dump``, written the same way (temporary name, renamed when whole);
``pg_restore`` puts one back (the command is printed, never run by the bot: it replaces data).

Restore never destroys anything: it verifies the backup first, refuses while another connection
(the running bot) has the database open unless forced, and moves the current file aside as
``<name>.replaced-<timestamp>`` before putting the copy in its place.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import trio

from domain.clock import WallClock
from persistence.file_access import any_lock_held
from persistence.schema import SCHEMA_VERSION

log = logging.getLogger(__name__)

_STAMP = "%Y%m%dT%H%M%SZ"
_STAMP_RE = r"\d{8}T\d{6}Z(?:-\d+)?"


class BackupError(RuntimeError):
    """A backup or restore could not be done; the message says why and what to do."""


def default_backup_dir(db_path: Path) -> Path:
    return db_path.parent / "backups"


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime(_STAMP)


def _backups(backup_dir: Path, stem: str, suffix: str) -> list[Path]:
    """The backups named ``<stem>-<stamp>[-<serial>]<suffix>`` in ``backup_dir``, oldest first (the
    name sorts by time, then by serial): one lister for both engines' files."""
    if not backup_dir.is_dir():
        return []
    pattern = re.compile(rf"{re.escape(stem)}-({_STAMP_RE}){re.escape(suffix)}")

    def key(path: Path) -> tuple[str, int]:
        match = pattern.fullmatch(path.name)
        assert match is not None
        stamp, _, serial = match.group(1).partition("-")
        return stamp, int(serial or 0)

    return sorted((p for p in backup_dir.iterdir() if pattern.fullmatch(p.name)), key=key)


def _new_target(backup_dir: Path, stem: str, suffix: str, now: float) -> Path:
    """A backup's name for ``now`` that no file has yet: two backups within one second keep both."""
    stamp = _stamp(now)
    final = backup_dir / f"{stem}-{stamp}{suffix}"
    serial = 1
    while final.exists():
        final = backup_dir / f"{stem}-{stamp}-{serial}{suffix}"
        serial += 1
    return final


def _log_written(final: Path, started: float, removed: list[Path]) -> None:
    log.info(
        "backup written: %s",
        final,
        extra={
            "path": str(final),
            "bytes": final.stat().st_size,
            "seconds": round(time.perf_counter() - started, 3),
            "removed": [p.name for p in removed],
        },
    )


def _keep_newest(backups: list[Path], keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` of ``backups`` (oldest first); returns what was deleted."""
    doomed = backups[: max(0, len(backups) - keep)]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def list_backups(db_path: Path, backup_dir: Path) -> list[Path]:
    """This database's backups in ``backup_dir``, oldest first."""
    return _backups(backup_dir, db_path.stem, ".db")


def latest_backup(db_path: Path, backup_dir: Path) -> Path | None:
    backups = list_backups(db_path, backup_dir)
    return backups[-1] if backups else None


def backup_time(path: Path) -> float | None:
    """When a backup was taken (epoch seconds), read from its name."""
    match = re.search(r"-(\d{8}T\d{6}Z)(?:-\d+)?\.db$", path.name)
    if match is None:
        return None
    return datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC).timestamp()


def check_integrity(path: Path) -> str:
    """``"ok"``, or SQLite's first complaint about the file (opened read-only, never changed)."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return str(exc)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        conn.close()
    return "ok" if rows == [("ok",)] else "; ".join(str(r[0]) for r in rows[:5])


def schema_version(path: Path) -> int:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def _copy(source: Path, target: Path) -> None:
    """Copy ``source`` into a new one-file database ``target`` in one read transaction, and fsync.

    The source connection only reads. It is not opened read-only: in WAL mode that would leave
    empty -wal and -shm files behind a stopped bot's database.
    """
    src = sqlite3.connect(source)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)  # pages=-1: everything in one step, one consistent snapshot
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        src.close()
    with open(target, "rb+") as fh:
        os.fsync(fh.fileno())


def _remove_with_sidecars(path: Path) -> None:
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        p.unlink(missing_ok=True)


def _clean_up(path: Path) -> None:
    """Remove a temporary copy; failing to must not hide the error that brought us here."""
    try:
        _remove_with_sidecars(path)
    except NotADirectoryError:
        pass  # its directory is a file: nothing was ever written there
    except OSError as exc:
        log.warning("could not remove %s: %s", path, exc)


def backup_now(db_path: Path, backup_dir: Path, *, keep: int, now: float | None = None) -> Path:
    """Write one checked backup of ``db_path`` and drop all but the newest ``keep``; returns it.

    Safe while the bot writes (it takes no write lock). Blocking: Trio code runs it in a thread.
    """
    if keep < 1:
        raise ValueError("keep must be at least 1")
    if not db_path.is_file():
        raise BackupError(f"no database at {db_path} to back up")
    try:
        backup_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"cannot create the backup directory {backup_dir}: {exc.strerror or exc}") from exc
    final = _new_target(backup_dir, db_path.stem, ".db", time.time() if now is None else now)
    partial = backup_dir / f".{final.name}.partial"
    _remove_with_sidecars(partial)
    started = time.perf_counter()
    try:
        _copy(db_path, partial)
        problem = check_integrity(partial)
        if problem != "ok":
            raise BackupError(
                f"backup of {db_path} failed its integrity check ({problem}); source may be damaged"
            )
        partial.replace(final)
    except (sqlite3.Error, OSError) as exc:
        raise BackupError(f"backup of {db_path} into {backup_dir} failed: {exc}") from exc
    finally:
        _clean_up(partial)
    removed = prune(db_path, backup_dir, keep=keep)
    _log_written(final, started, removed)
    return final


def prune(db_path: Path, backup_dir: Path, *, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups of ``db_path``; returns what was deleted."""
    return _keep_newest(list_backups(db_path, backup_dir), keep)


async def run_backups(
    store_path: Path,
    every_seconds: float,
    keep: int,
    clock: WallClock,
    backup_dir: Path | None = None,
    *,
    on_backup: Callable[[Path, float], object] | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Back up ``store_path`` every ``every_seconds`` until cancelled (start it in the app's nursery).

    ``on_backup(path, taken_at)`` is called after each backup (the app updates a metric with it).

    The schedule follows the newest backup on disk, so a bot that restarts often does not make a
    backup at each start (and push good ones out of the retention count); one that was down for
    longer than the interval backs up at once. A failed backup is logged and retried next interval;
    it never stops the bot.
    """
    backup_dir = default_backup_dir(store_path) if backup_dir is None else backup_dir
    newest = latest_backup(store_path, backup_dir)
    last = backup_time(newest) if newest is not None else None
    task_status.started()
    if last is not None:
        await clock.sleep_until(last + every_seconds)
    while True:
        now = clock.now()
        try:
            path = await trio.to_thread.run_sync(
                partial(backup_now, store_path, backup_dir, keep=keep, now=now)
            )
        except (BackupError, OSError) as exc:
            log.error(
                "scheduled backup failed; will try again in %gs: %s",
                every_seconds,
                exc,
                extra={"error": str(exc)},
            )
        else:
            if on_backup is not None:
                on_backup(path, now)
        await clock.sleep_until(now + every_seconds)


# -- restore --------------------------------------------------------------------------------------


def database_in_use(db_path: Path) -> bool:
    """True while another connection (a running bot, a sqlite3 shell) has the database open.

    In WAL mode every connection that has read the database keeps a shared lock on it, so an
    exclusive lock (``locking_mode=EXCLUSIVE`` plus a transaction) is had only by a sole user.
    A file SQLite cannot read (corrupt) is judged by its lock bytes instead.
    """
    if not db_path.exists():
        return False
    conn = sqlite3.connect(db_path, timeout=0)
    try:
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return True
        return any_lock_held(db_path)
    except sqlite3.DatabaseError:
        return any_lock_held(db_path)
    finally:
        conn.close()


def restore(backup: Path, db_path: Path, *, force: bool = False, now: float | None = None) -> Path | None:
    """Put ``backup`` in place of ``db_path``; returns where the replaced database was moved.

    Verifies the backup (integrity, schema not newer than this bot) before touching anything.
    Refuses while the database is open elsewhere (stop the bot first) unless ``force``.
    """
    if not backup.is_file():
        raise BackupError(f"no backup file at {backup}")
    problem = check_integrity(backup)
    if problem != "ok":
        raise BackupError(f"{backup} is not a usable backup: integrity check says {problem}")
    version = schema_version(backup)
    if version > SCHEMA_VERSION:
        raise BackupError(
            f"{backup} has schema version {version}, newer than this bot ({SCHEMA_VERSION}); upgrade the bot"
        )
    if not force and database_in_use(db_path):
        raise BackupError(
            f"{db_path} is open in another process (is the bot running?); stop it first, "
            "or pass --force to replace the file anyway"
        )
    incoming = db_path.with_name(f".{db_path.name}.restoring")
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        _remove_with_sidecars(incoming)
        _copy(backup, incoming)  # the bot switches it to WAL when it opens it
        aside = _move_aside(db_path, _stamp(time.time() if now is None else now))
        incoming.replace(db_path)
    except (sqlite3.Error, OSError) as exc:
        raise BackupError(f"restore from {backup} failed: {exc}; {db_path} was not changed") from exc
    finally:
        _clean_up(incoming)
    log.info(
        "database %s restored from %s (replaced file kept as %s)",
        db_path,
        backup,
        aside,
        extra={"backup": str(backup), "db": str(db_path), "replaced": str(aside) if aside else None},
    )
    return aside


def _move_aside(db_path: Path, stamp: str) -> Path | None:
    """Rename the database and its WAL together (the WAL holds committed data), drop the -shm."""
    if not db_path.exists():
        return None
    aside = db_path.with_name(f"{db_path.name}.replaced-{stamp}")
    serial = 1
    while aside.exists():
        aside = db_path.with_name(f"{db_path.name}.replaced-{stamp}-{serial}")
        serial += 1
    wal = db_path.with_name(db_path.name + "-wal")
    if wal.exists():
        wal.replace(aside.with_name(aside.name + "-wal"))
    db_path.with_name(db_path.name + "-shm").unlink(missing_ok=True)
    db_path.replace(aside)
    return aside


# -- PostgreSQL: pg_dump ---------------------------------------------------------------------------

PG_DUMP_TIMEOUT = 3600.0  # seconds one pg_dump may take before it is stopped and reported
_PG_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(url: str | None) -> bool:
    return bool(url) and str(url).startswith(_PG_SCHEMES)


def _pg_parts(url: str) -> tuple[str, str | None, str]:
    """The URL without its password (safe to print and to pass in argv), the password, and the
    database's name (the backups' stem)."""
    parts = urlsplit(url)
    password = unquote(parts.password) if parts.password is not None else None
    netloc = parts.hostname or ""
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    safe = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    name = parts.path.lstrip("/") or parts.username or "postgres"
    return safe, password, re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def pg_dump_command(url: str, target: Path) -> list[str]:
    """The pg_dump that writes one backup (custom format: ``pg_restore`` reads it, table by table);
    the password is not in it (it goes in PGPASSWORD)."""
    safe, _, _ = _pg_parts(url)
    return ["pg_dump", "--format=custom", "--no-owner", f"--file={target}", f"--dbname={safe}"]


def pg_backup_target(url: str, backup_dir: Path, now: float) -> Path:
    return _new_target(backup_dir, _pg_parts(url)[2], ".dump", now)


def list_pg_backups(url: str, backup_dir: Path) -> list[Path]:
    """This database's dumps in ``backup_dir``, oldest first."""
    return _backups(backup_dir, _pg_parts(url)[2], ".dump")


def pg_backup_now(
    url: str, backup_dir: Path, *, keep: int, now: float | None = None, timeout: float = PG_DUMP_TIMEOUT
) -> Path:
    """Run pg_dump into ``backup_dir`` (under a temporary name, renamed when complete) and keep the
    newest ``keep`` dumps. Without pg_dump on the PATH it says exactly what to run instead.

    pg_dump takes one consistent snapshot (a repeatable-read transaction) while the bots write.
    """
    if keep < 1:
        raise ValueError("keep must be at least 1")
    final = pg_backup_target(url, backup_dir, time.time() if now is None else now)
    command = pg_dump_command(url, final)
    if shutil.which("pg_dump") is None:
        shown = " ".join(shlex.quote(part) for part in command)
        raise BackupError(
            "pg_dump is not installed (PostgreSQL's client tools, e.g. apt install postgresql-client); "
            f"run on a machine that has it: PGPASSWORD=... {shown}"
        )
    try:
        backup_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"cannot create the backup directory {backup_dir}: {exc.strerror or exc}") from exc
    partial = backup_dir / f".{final.name}.partial"
    command[-2] = f"--file={partial}"
    _, password, _ = _pg_parts(url)
    env = dict(os.environ) | ({"PGPASSWORD": password} if password is not None else {})
    started = time.perf_counter()
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            raise BackupError(f"pg_dump failed: {last}")
        partial.replace(final)
    except subprocess.TimeoutExpired as exc:
        raise BackupError(f"pg_dump took over {timeout:g} s and was stopped") from exc
    except OSError as exc:
        raise BackupError(f"pg_dump into {backup_dir} failed: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    removed = _keep_newest(list_pg_backups(url, backup_dir), keep)
    _log_written(final, started, removed)
    return final


def pg_restore_command(url: str, backup: Path) -> str:
    """What to run to restore a dump (every bot process stopped first)."""
    safe, _, _ = _pg_parts(url)
    target = shlex.quote(str(backup))
    return f"PGPASSWORD=... pg_restore --clean --if-exists --no-owner --dbname={shlex.quote(safe)} {target}"
