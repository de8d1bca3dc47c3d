"""Everything that differs between the two engines, in one place; the rest of the SQL is written once.

SQLite is the embedded default (a file, nothing to install); PostgreSQL is chosen by a
``postgresql://`` URL. Both are reached through the same small API the store's functions already
use: ``db.execute(sql, params)`` / ``db.executemany`` / ``db.atomic()`` / ``db.conn`` (for SQLite
a ``sqlite_utils.Database`` over one ``sqlite3`` connection; for PostgreSQL ``PgDatabase`` below,
one psycopg connection). SQL is written with SQLite's ``?`` / ``?N`` marks and in the subset both
engines accept (conflict targets named, ``ON CONFLICT DO NOTHING``, subqueries aliased, ``HAVING``
on the aggregate); ``PgDatabase`` translates the marks once per statement text.

What differs, and only here: opening and its errors, which errors are passing (locked/busy vs a
lost connection or a serialization failure), bulk rows (multi-row ``VALUES`` of bound
parameters vs ``unnest`` over typed arrays), ``INDEXED BY`` (SQLite only), the insertion-order column
(``rowid`` vs an identity ``seq``), the schema version (``PRAGMA user_version`` vs a table) and the
stop's short lock wait.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any

import psycopg
import psycopg.errors
from psycopg.adapt import Loader

from persistence.errors import StoreBusy, StoreFull, StoreUnavailable

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SQLITE_SCHEME = "sqlite:///"
CONNECT_TIMEOUT_SECONDS = 5
# A lost PostgreSQL connection is reopened on a later call, no sooner than this after the last
# failed try, doubling up to the cap: callers hold their batches meanwhile (StoreUnavailable).
RECONNECT_FIRST_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 30.0
STOP_LOCK_TIMEOUT_MS = 1_000


def target(value: str | Path) -> str | Path:
    """A database setting as the store takes it: a ``Path`` (SQLite) or a PostgreSQL URL.

    ``sqlite:///relative.db`` and ``sqlite:////absolute.db`` name a file; a bare path is a file too.
    """
    if isinstance(value, Path):
        return value
    if value.startswith(POSTGRES_SCHEMES):
        return value
    if value.startswith(SQLITE_SCHEME):
        return Path(value[len(SQLITE_SCHEME) :])
    if "://" in value:
        raise ValueError(f"unknown database scheme in {redact(value)!r} (sqlite:/// or postgresql://)")
    return Path(value)


def redact(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def is_postgres(db: object) -> bool:
    return isinstance(db, PgDatabase)


# -- passing errors ---------------------------------------------------------------------------------


def passing(exc: BaseException) -> StoreUnavailable | None:
    """The engine's passing failures as the store's own kinds (None: not passing, let it raise)."""
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc)
        if "full" in text:
            return StoreFull(text)
        if "locked" in text or "busy" in text:
            return StoreBusy(text)
        return StoreUnavailable(text)
    if isinstance(exc, psycopg.errors.DiskFull):
        return StoreFull(str(exc))
    if isinstance(
        exc,
        psycopg.errors.SerializationFailure
        | psycopg.errors.DeadlockDetected
        | psycopg.errors.LockNotAvailable
        | psycopg.errors.QueryCanceled,
    ):
        return StoreBusy(str(exc).strip())
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return StoreUnavailable(f"PostgreSQL connection lost ({str(exc).strip()}); reconnecting")
    return None


# -- PostgreSQL -------------------------------------------------------------------------------------


class _NumberLoader(Loader):
    """``SUM`` over BIGINT is NUMERIC in PostgreSQL: whole numbers come back as ``int`` like SQLite's."""

    def load(self, data: Any) -> int | float:
        text = bytes(data)
        return float(text) if b"." in text or b"e" in text.lower() else int(text)


@lru_cache(maxsize=2048)
def _pg_sql(sql: str) -> tuple[str, bool]:
    """SQLite's ``?`` / ``?N`` marks as psycopg's ``%s`` / ``%(pN)s``; True when numbered."""
    sql = sql.replace("%", "%%")
    if re.search(r"\?\d", sql):
        return re.sub(r"\?(\d+)", r"%(p\1)s", sql), True
    return sql.replace("?", "%s"), False


def _pg_params(params: Sequence[object] | None, numbered: bool) -> Sequence[object] | dict[str, object]:
    params = () if params is None else params
    if numbered:
        return {f"p{i}": value for i, value in enumerate(params, 1)}
    return tuple(params)


class PgDatabase:
    """One psycopg connection behind the store's small database API (see the module docstring).

    Autocommit outside ``atomic()``, like the SQLite store's statements outside a transaction;
    ``atomic()`` nests with savepoints. A lost connection raises ``StoreUnavailable`` (through
    ``passing``); ``reopen_if_lost`` connects again on a later call, with backoff.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._raw: psycopg.Connection[Any] | None = None
        self._delay = RECONNECT_FIRST_SECONDS
        self._next_try = 0.0
        self._stopping = False
        self._raw = self._connect()

    def _connect(self) -> psycopg.Connection[Any]:
        raw = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS)
        raw.adapters.register_loader("numeric", _NumberLoader)
        if self._stopping:
            raw.execute(f"SET lock_timeout = {STOP_LOCK_TIMEOUT_MS}")
        return raw

    @property
    def conn(self) -> PgDatabase:
        return self

    @property
    def raw(self) -> psycopg.Connection[Any]:
        if self._raw is None or self._raw.closed:
            raise StoreUnavailable(f"PostgreSQL connection to {redact(self.url)} is closed; reconnecting")
        return self._raw

    def reopen_if_lost(self, now: float) -> None:
        """Before each call: a lost connection is opened again, at most once per backoff step."""
        if self._raw is not None and not self._raw.closed and not self._raw.broken:
            return
        if now < self._next_try:
            raise StoreUnavailable(
                f"PostgreSQL at {redact(self.url)} is unreachable; next try in {self._next_try - now:.1f} s"
            )
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        try:
            self._raw = self._connect()
        except psycopg.Error as exc:
            self._next_try = now + self._delay
            self._delay = min(self._delay * 2, RECONNECT_MAX_SECONDS)
            raise StoreUnavailable(
                f"PostgreSQL at {redact(self.url)} is unreachable ({str(exc).strip()}); "
                f"next try in {self._next_try - now:.1f} s"
            ) from exc
        self._delay = RECONNECT_FIRST_SECONDS
        self._next_try = 0.0

    def execute(self, sql: str, params: Sequence[object] | None = None) -> psycopg.Cursor[Any]:
        text, numbered = _pg_sql(sql)
        return self.raw.execute(text, _pg_params(params, numbered))  # type: ignore[arg-type]

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        text, numbered = _pg_sql(sql)
        batch = [_pg_params(row, numbered) for row in rows]
        if batch:
            with self.raw.cursor() as cur:
                cur.executemany(text, batch)  # type: ignore[arg-type]

    @contextmanager
    def atomic(self) -> Iterator[PgDatabase]:
        with self.raw.transaction():
            yield self

    def __enter__(self) -> PgDatabase:  # ``with conn:`` as with sqlite3: one transaction
        self._tx = self.raw.transaction()
        self._tx.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        tx, self._tx = self._tx, None
        tx.__exit__(*exc)  # type: ignore[arg-type]

    def stopping(self) -> None:
        self._stopping = True
        self.execute(f"SET lock_timeout = {STOP_LOCK_TIMEOUT_MS}")

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()


# -- statements that differ -------------------------------------------------------------------------

_PG_TYPES = {int: "bigint", float: "float8", str: "text"}


# SQLite: rows per multi-row statement, largest first. A few fixed sizes, so the connection's statement
# cache holds a handful of texts per table instead of one per batch length.
_CHUNKS = (256, 64, 16, 4, 1)
_SQLITE_MIN_VARIABLES = 999  # SQLite's bound on ``?`` per statement before 3.32 (32,766 since)


def insert_rows(
    db: Any, head: str, types: Sequence[type], rows: Sequence[Sequence[object]], tail: str = ""
) -> None:
    """``{head} <rows> {tail}``, e.g. head ``INSERT INTO t (a, b)`` and tail ``ON CONFLICT (a) DO
    UPDATE ...``, in as few statements as possible: PostgreSQL reads the whole batch from one typed
    array per column (``unnest``); SQLite takes the rows as multi-row ``VALUES`` of bound parameters,
    up to 256 rows a statement (one statement steps with the GIL released; reading the rows out of a
    JSON array instead cost more than the upsert itself, about 0.4 us per column and row).

    Each statement must touch a row once (PostgreSQL refuses an upsert that does it twice): the
    callers' rows are keyed by the conflict target."""
    if not rows:
        return
    if is_postgres(db):
        columns = [[kind(row[i]) for row in rows] for i, kind in enumerate(types)]
        arrays = ", ".join(f"?::{_PG_TYPES[kind]}[]" for kind in types)
        db.execute(f"{head} SELECT * FROM unnest({arrays}) {tail}", columns)
        return
    width = len(types)
    limit = (
        db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        if isinstance(db, sqlite3.Connection)
        else _SQLITE_MIN_VARIABLES
    )
    done, total = 0, len(rows)
    for size in _CHUNKS:
        if size * width > limit and size > 1:
            continue
        sql = _values_sql(head, width, size, tail)
        while total - done >= size:
            db.execute(sql, list(chain.from_iterable(rows[done : done + size])))
            done += size


@lru_cache(maxsize=256)
def _values_sql(head: str, width: int, rows: int, tail: str) -> str:
    one = "(" + ", ".join("?" * width) + ")"
    return f"{head} VALUES {', '.join([one] * rows)} {tail}"


def indexed_by(db: object, index: str) -> str:
    """SQLite without statistics picks the wrong index for some reads; PostgreSQL plans by its own."""
    return "" if is_postgres(db) else f"INDEXED BY {index}"


def insertion_order(db: object) -> str:
    """The column rows sort by in insertion order: SQLite's ``rowid``, a PostgreSQL identity ``seq``."""
    return "seq" if is_postgres(db) else "rowid"


def schema_version(db: Any) -> int:
    if is_postgres(db):
        # Read only: the table is created by ``set_schema_version``, inside the migration's locked
        # transaction (two processes creating it at once collide in PostgreSQL's catalog).
        if db.execute("SELECT to_regclass('schema_version')").fetchone()[0] is None:
            return 0
        row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return 0 if row[0] is None else int(row[0])
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def set_schema_version(db: Any, version: int) -> None:
    if is_postgres(db):
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        db.execute("DELETE FROM schema_version")
        db.execute("INSERT INTO schema_version (version) VALUES (?)", [version])
    else:
        db.execute(f"PRAGMA user_version = {version}")


def stopping(db: Any, busy_ms: int) -> None:
    """The bot is stopping: wait at most ``busy_ms`` for another writer's lock from now on."""
    if is_postgres(db):
        db.stopping()
    else:
        db.execute(f"PRAGMA busy_timeout = {busy_ms}")
