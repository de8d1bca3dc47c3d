"""/healthz and /metrics through real HTTP on loopback (hypercorn's Trio worker, a raw socket client)."""

from __future__ import annotations

import io
import json
import logging
import sqlite3
import threading
from pathlib import Path

import pytest
import trio

from bot_entry.logs import REDACTED, configure_logging
from bot_entry.metrics import Metrics
from bot_entry.ops_http import (
    Check,
    HealthReport,
    OpsServerError,
    actor_checks,
    checkpoint_check,
    db_writable_check,
    gateway_check,
    serve_ops,
)
from persistence.store import BUSY_SECONDS, Store


class FakeHealth:
    def __init__(self, *checks: Check) -> None:
        self.checks = checks
        self.hang = False

    async def health(self) -> HealthReport:
        if self.hang:
            await trio.sleep_forever()
        return HealthReport(self.checks)


class FakeCounts:
    def events_received(self) -> dict[str, int]:
        return {"MESSAGE_CREATE": 12, "GUILD_CREATE": 1}

    def events_routed(self) -> int:
        return 13

    def actor_restarts(self) -> dict[str, int]:
        return {"message_counter": 2}

    def queue_depths(self) -> dict[str, int]:
        return {"gateway": 3, "message_counter": 0}


async def get(port: int, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request over a plain TCP stream; the server closes after answering."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        request = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        await stream.send_all(request.encode())
        data = b""
        while chunk := await stream.receive_some():
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
    return int(status_line.split()[1]), headers, body


@pytest.fixture
async def served(nursery: trio.Nursery) -> tuple[int, FakeHealth, Metrics]:
    health = FakeHealth(gateway_check(True), *actor_checks({"message_counter": True}))
    metrics = Metrics()
    port = await nursery.start(
        lambda task_status: serve_ops(health, metrics, task_status=task_status, health_timeout=0.2)
    )
    return port, health, metrics


async def test_healthz_is_200_with_every_check_when_all_is_well(
    served: tuple[int, FakeHealth, Metrics],
) -> None:
    port, _, _ = served
    status, headers, body = await get(port, "/healthz")
    assert status == 200
    assert headers["content-type"] == "application/json"
    report = json.loads(body)
    assert report["status"] == "ok" and report["problems"] == []
    assert report["checks"]["gateway"] == {"ok": True, "detail": "connected"}
    assert report["checks"]["actor:message_counter"]["ok"] is True


async def test_healthz_is_503_and_says_what_is_wrong(served: tuple[int, FakeHealth, Metrics]) -> None:
    port, health, _ = served
    health.checks = (
        gateway_check(False),
        *actor_checks({"message_counter": False, "publisher": True}),
        Check("database", False, "not writable: database is locked"),
    )
    status, _, body = await get(port, "/healthz")
    assert status == 503
    report = json.loads(body)
    assert report["status"] == "unhealthy"
    assert report["problems"] == [
        "gateway: not connected to Discord",
        "actor:message_counter: not running",
        "database: not writable: database is locked",
    ]


async def test_healthz_that_does_not_answer_is_503(served: tuple[int, FakeHealth, Metrics]) -> None:
    port, health, _ = served
    health.hang = True
    status, _, body = await get(port, "/healthz")
    assert status == 503
    assert json.loads(body)["problems"] == ["health: no answer within 0.2s"]


async def test_metrics_serves_prometheus_text(served: tuple[int, FakeHealth, Metrics]) -> None:
    port, _, metrics = served
    metrics.watch(FakeCounts())
    metrics.checkpoint_done("message_counter", 0.004, at=100.0)
    metrics.board_edited("messages")
    metrics.rate_limited("edit_board")
    status, headers, body = await get(port, "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=")
    text = body.decode()
    assert 'leaderboard_events_received_total{type="MESSAGE_CREATE"} 12.0' in text
    assert "leaderboard_events_routed_total 13.0" in text
    assert 'leaderboard_actor_restarts_total{actor="message_counter"} 2.0' in text
    assert 'leaderboard_queue_depth{queue="gateway"} 3.0' in text
    assert 'leaderboard_checkpoint_seconds_count{actor="message_counter"} 1.0' in text
    assert 'leaderboard_board_edits_total{board="messages"} 1.0' in text
    assert 'leaderboard_discord_rate_limited_total{action="edit_board"} 1.0' in text


async def test_other_paths_and_methods_are_refused(served: tuple[int, FakeHealth, Metrics]) -> None:
    port, _, _ = served
    assert (await get(port, "/"))[0] == 404
    assert (await get(port, "/healthz", "POST"))[0] == 405
    status, _, body = await get(port, "/healthz", "HEAD")
    assert status == 200 and body == b""


async def test_a_taken_port_fails_with_a_line_naming_the_setting(
    served: tuple[int, FakeHealth, Metrics],
) -> None:
    port, health, metrics = served
    with pytest.raises(OpsServerError, match=rf"OPS_HOST/OPS_PORT: cannot listen on 127.0.0.1:{port}"):
        await serve_ops(health, metrics, port=port)


def test_checkpoint_age_fails_only_while_changes_wait() -> None:
    assert checkpoint_check(100.0, since=0.0, now=200.0, max_age=30, pending=False).ok
    assert checkpoint_check(190.0, since=0.0, now=200.0, max_age=30, pending=True).ok
    stale = checkpoint_check(100.0, since=0.0, now=200.0, max_age=30, pending=True)
    assert not stale.ok and stale.detail == "last checkpoint 100.0s ago, changes waiting (limit 30s)"
    assert checkpoint_check(None, since=190.0, now=200.0, max_age=30, pending=True).ok
    assert not checkpoint_check(None, since=100.0, now=200.0, max_age=30, pending=True).ok


async def test_database_check_sees_a_lock_held_by_another_connection(tmp_path: Path) -> None:
    store = Store(tmp_path / "bot.db")
    try:
        assert await db_writable_check(store) == Check("database", True, "writable")
        other = sqlite3.connect(tmp_path / "bot.db", check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
        try:
            check = await db_writable_check(store)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert not check.ok and check.detail == "not writable: database is locked"
        assert await db_writable_check(store) == Check("database", True, "writable")
        assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] == BUSY_SECONDS * 1000  # restored
    finally:
        store.close()


async def test_database_check_does_not_wait_for_a_stuck_writer(tmp_path: Path) -> None:
    store = Store(tmp_path / "bot.db")
    release = threading.Event()
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(store.call, release.wait)  # the writer thread is busy
            await trio.testing.wait_all_tasks_blocked()
            check = await db_writable_check(store, within=0.2)
            release.set()
        assert check == Check("database", False, "writer busy for over 0.2s (locked by another process?)")
    finally:
        release.set()
        store.close()


async def test_the_token_is_in_no_response_and_no_log_line(nursery: trio.Nursery) -> None:
    token = "MTA5ODc2NTQzMjEwOTg3NjU0.GhIjKl.abcdefghijklmnopqrstuvwxyzABCDEFGHIJK"
    configured = "the-configured-token-0123456789"
    out = io.StringIO()
    configure_logging("DEBUG", "json", secrets=[configured], stream=out)
    health = FakeHealth(Check("gateway", False, f"login failed with {configured}, then {token}"))
    metrics = Metrics()
    metrics.watch(FakeCounts())
    port = await nursery.start(lambda task_status: serve_ops(health, metrics, task_status=task_status))
    _, _, healthz = await get(port, "/healthz")
    _, _, scraped = await get(port, "/metrics")
    logging.getLogger("bot_entry.gateway").error("login failed with %s", configured)
    for text in (healthz.decode(), scraped.decode(), out.getvalue()):
        assert configured not in text and token not in text
    assert json.loads(healthz)["problems"] == [f"gateway: login failed with {REDACTED}, then {REDACTED}"]
    assert (
        f'"url": "http://127.0.0.1:{port}"' in out.getvalue()
        and "leaderboard_events_routed_total" in scraped.decode()
    )


def test_a_report_while_starting_says_so_and_is_still_not_ok() -> None:
    starting = HealthReport((gateway_check(False, starting=True),), starting=True)
    assert not starting.ok
    assert starting.to_json()["status"] == "starting"
    assert starting.problems() == ["gateway: starting: not connected to Discord yet"]
    lost = HealthReport((gateway_check(False),))
    assert lost.to_json()["status"] == "unhealthy" and lost.problems() == [
        "gateway: not connected to Discord"
    ]
