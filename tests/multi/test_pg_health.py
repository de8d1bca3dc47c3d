"""/healthz on PostgreSQL: the database check probes the server through the store; a lost server
shows as an outage with its age, past the bound as "not taking new work", and the store reconnects
by itself once the server is back."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import trio

from bot_entry.app_health import DatabaseOutage, database_check, database_probe
from bot_entry.ops_http import Check
from persistence.store import Store
from tests import pg


def pg_ctl(directory: Path, *args: str) -> None:
    pg._run([str(pg.bindir() / "pg_ctl"), "-D", str(directory / "data"), *args])


@pytest.fixture
def own_server() -> Iterator[tuple[Path, str]]:
    """A server of this test's own, so it can be stopped and started again."""
    directory = Path(tempfile.mkdtemp(prefix="leaderboard-pg-health-"))
    try:
        url = pg.start(directory)
    except pg.Unavailable as exc:
        pg.stop(directory)
        pytest.skip(f"PostgreSQL cannot be started here: {exc}")
    yield directory, url
    pg.stop(directory)


async def test_probe_is_writable_and_a_killed_connection_is_reopened(pg_url: str) -> None:
    store = await trio.to_thread.run_sync(Store, pg_url)
    try:
        assert await database_probe(store) == Check("database", True, "writable")
        with psycopg.connect(pg_url, autocommit=True) as admin:  # the server drops the bot's session
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        lost = await database_probe(store)
        assert not lost.ok and lost.detail.startswith("not reachable:")
        assert await database_probe(store) == Check("database", True, "writable")  # reconnected
    finally:
        store.close()


async def test_a_stopped_server_is_an_outage_with_its_age_then_recovers(own_server: tuple[Path, str]) -> None:
    directory, url = own_server
    store = await trio.to_thread.run_sync(Store, url)
    outage = DatabaseOutage()
    try:
        assert await database_probe(store) == Check("database", True, "writable")
        await trio.to_thread.run_sync(pg_ctl, directory, "-m", "fast", "-w", "stop")
        first = database_check(await database_probe(store), outage, 100.0, 30.0, pending=5)
        later = database_check(await database_probe(store), outage, 131.0, 30.0, pending=5)
        assert not first.ok and "unreachable for 0 s (5 events held in memory)" in first.detail
        assert (
            not later.ok and "unreachable for 31 s" in later.detail and "not taking new work" in later.detail
        )
        port = (directory / "port").read_text()
        options = f"-k {directory} -p {port} -c listen_addresses=127.0.0.1"
        start = ("-o", options, "-l", str(directory / "log"), "-w", "start")
        await trio.to_thread.run_sync(pg_ctl, directory, *start)
        for _ in range(300):  # the store's backoff (0.5 s doubling, capped) tries again by itself
            if (check := await database_probe(store)).ok:
                break
            await trio.sleep(0.2)
        assert database_check(check, outage, 140.0, 30.0, pending=0) == Check("database", True, "writable")
    finally:
        store.close()
