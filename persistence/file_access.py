"""Can the bot write its database file, and if another process holds the write lock, which one?

Why one module for the store and ``doctor``: the doctor must predict what start-up will do, so
both judge the same facts with the same pure function (``access_problem``). The facts come from
``os.access``, which asks the kernel (a read-only mount, an immutable file), not the mode bits
that root ignores.

``write_lock_holder`` names the process holding SQLite's write lock: in WAL mode the lock is a
byte of the ``-shm`` file, otherwise the reserved byte of the database file. ``F_GETLK`` only
asks; it takes no lock and changes nothing (Linux; elsewhere it answers ``None``).
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

from attrs import define

# SQLite's POSIX lock bytes (os_unix.c): the database file's pending/reserved/shared range, and
# in the WAL index (-shm) the write lock at UNIX_SHM_BASE = 120.
DB_LOCK_OFFSET, DB_LOCK_LENGTH = 0x40000000, 512
WAL_WRITE_LOCK_OFFSET = 120


@define(frozen=True)
class PathFacts:
    """What the operating system says about a database path (gathered by ``path_facts``)."""

    path: Path
    is_dir: bool
    exists: bool
    writable: bool  # the file itself (meaningless when it does not exist)
    parent_is_dir: bool
    parent_writable: bool  # files can be created beside it: the database, its -wal and -shm


def path_facts(path: Path) -> PathFacts:
    parent = path.parent
    return PathFacts(
        path=path,
        is_dir=path.is_dir(),
        exists=path.exists(),
        writable=os.access(path, os.W_OK),
        parent_is_dir=parent.is_dir(),
        parent_writable=os.access(parent, os.W_OK | os.X_OK),
    )


def access_problem(facts: PathFacts) -> str | None:
    """Why the bot could not open ``facts.path`` for writing (a sentence), or ``None``."""
    path, parent = facts.path, facts.path.parent
    if facts.is_dir:
        return f"{path} is a directory, not a database file"
    if not facts.parent_is_dir:
        return f"{path}: its directory {parent} does not exist (create it; or is a volume not mounted?)"
    if facts.exists and not facts.writable:
        return f"{path} is read-only (the bot writes to it)"
    if not facts.parent_writable:
        what = f"{path.name}-wal and {path.name}-shm beside it" if facts.exists else "the database in it"
        return f"{path}: its directory {parent} is read-only (SQLite creates {what})"
    return None


def write_lock_holder(path: Path) -> str | None:
    """``"process 1234 (sqlite3)"`` while another process holds the write lock on ``path``, else None."""
    if not sys.platform.startswith("linux"):
        return None
    shm = path.with_name(path.name + "-shm")
    for file, offset, length in ((shm, WAL_WRITE_LOCK_OFFSET, 1), (path, DB_LOCK_OFFSET + 1, 1)):
        pid = _lock_owner(file, offset, length)
        if pid is not None:
            return _describe(pid)
    return None


def any_lock_held(path: Path) -> bool:
    """Does another process hold any of SQLite's locks (even a reader's) on the database file?"""
    return _lock_owner(path, DB_LOCK_OFFSET, DB_LOCK_LENGTH) is not None


def _lock_owner(file: Path, offset: int, length: int) -> int | None:
    """The pid holding a lock that conflicts with a write lock on these bytes (0: unknown pid).

    Linux's ``struct flock`` starts with l_type, l_whence, then two 64-bit offsets and the pid,
    which native struct alignment lays out as the C compiler does.
    """
    if not sys.platform.startswith("linux"):
        return None
    import fcntl

    layout = "hhqqi"
    try:
        with open(file, "rb") as fh:
            query = struct.pack(layout, fcntl.F_WRLCK, os.SEEK_SET, offset, length, 0)
            answer = fcntl.fcntl(fh.fileno(), fcntl.F_GETLK, query + bytes(16))
    except OSError:
        return None  # no such file (no -shm: not in WAL mode, or nobody has it open)
    kind, _whence, _start, _length, pid = struct.unpack_from(layout, answer)
    return None if kind == fcntl.F_UNLCK else pid


def _describe(pid: int) -> str:
    if pid <= 0:
        return "another process"
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return f"process {pid}"
    return f"process {pid} ({name})"
