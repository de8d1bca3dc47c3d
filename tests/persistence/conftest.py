"""The persistence tests run once per engine: ``conn`` is a migrated connection of either."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
import sqlite_utils

from persistence.dialect import PgDatabase
from persistence.schema import migrate


@pytest.fixture
def sqlite_conn() -> Iterator[sqlite3.Connection]:
    """A migrated in-memory SQLite connection (tests of SQLite's own plans use only this one)."""
    conn = sqlite3.connect(":memory:")
    migrate(sqlite_utils.Database(conn))
    yield conn
    conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def conn(request: pytest.FixtureRequest) -> Iterator[sqlite3.Connection | PgDatabase]:
    """A migrated connection, once per engine (the same small API: execute, executemany)."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_conn")
        return
    db = PgDatabase(request.getfixturevalue("pg_url"))
    migrate(db)
    yield db
    db.close()
