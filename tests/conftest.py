from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import structlog
import trio_asyncio
from hypothesis import settings

from bot_entry.logs import redactor
from domain.clock import WallClock
from tests import pg
from tests.harness import EPOCH, SCENARIO_MARKER, scenario

__all__ = ["aio_loop", "clock", "scenario"]  # ``scenario``: a started simulator (tests/harness.py)

# Property tests check behaviour, never speed: hypothesis's 200 ms deadline per example fails them
# on a loaded 2-core machine (seen: 295 ms under load). Speed belongs in `just bench`.
settings.register_profile("no-deadline", deadline=None)
settings.load_profile("no-deadline")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", SCENARIO_MARKER)


@pytest.fixture
async def aio_loop() -> AsyncIterator[object]:
    """The trio-asyncio loop disnake and the simulator run in."""
    async with trio_asyncio.open_loop() as loop:
        yield loop


@pytest.fixture
def clock(request: pytest.FixtureRequest) -> WallClock:
    """Wall time under MockClock: starts at EPOCH, jumps whenever every task is blocked.

    pytest-trio only runs a test on a mock clock that the test requests by name, so a test that
    asks for ``clock`` must also ask for ``autojump_clock``; this guard makes forgetting it loud.
    """
    if "autojump_clock" not in request.fixturenames:
        raise pytest.UsageError("request autojump_clock alongside clock, so time is virtual")
    return WallClock(offset=EPOCH)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state; put it back after each test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    hooks = sys.excepthook, threading.excepthook
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    sys.excepthook, threading.excepthook = hooks
    logging.captureWarnings(False)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    redactor.reset()


# -- PostgreSQL (tests/pg.py) ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A PostgreSQL server's URL: ``PYTEST_POSTGRES_URL`` (CI starts one), else a throwaway server
    for this session; skips (once, with the reason) when none can be started here."""
    if url := os.environ.get("PYTEST_POSTGRES_URL", "").strip():
        yield url
        return
    directory = Path(tempfile.mkdtemp(prefix="leaderboard-pg-"))
    try:
        url = pg.start(directory)
    except pg.Unavailable as exc:
        pg.stop(directory)
        pytest.skip(f"PostgreSQL cannot be started here: {exc}")
    yield url
    pg.stop(directory)


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty database on the session's server for one test, dropped afterwards."""
    import psycopg  # only PostgreSQL tests need it

    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield pg.with_database(pg_server, name)
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a test's store lives, once per engine: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "lb.db"
    url: str = request.getfixturevalue("pg_url")
    return url
