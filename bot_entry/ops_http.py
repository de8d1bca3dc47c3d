"""The operator's HTTP endpoint: ``/healthz`` and ``/metrics`` on a local port.

Why hypercorn: it is a maintained ASGI server with a native Trio worker (``hypercorn.trio.serve``),
so the endpoint is one more task in the app's nursery, parsed by h11 rather than by hand, and
cancelled with it. The app behind it is a few lines of ASGI with no framework; the per-server web
pages (``web.app``, Starlette) are mounted beside it on the same server when the bot passes them.

``/healthz`` asks a ``HealthSource`` (the app) for a ``HealthReport``: a list of named checks, each
ok or not with a sentence saying why. All ok: 200; any failing, or no answer within
``HEALTH_TIMEOUT`` seconds: 503. The body is JSON in both cases. ``/metrics`` serves the Prometheus
text format of a ``Metrics`` registry.

The check builders below (gateway, actors, checkpoint age, database writable) are what the app
combines into its report; the doctor reuses ``Check`` for its own findings.
"""

from __future__ import annotations

import json
import logging
import socket
import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any, Protocol

import trio
from attrs import define
from hypercorn.config import Config
from hypercorn.trio import serve

from bot_entry.logs import redactor
from bot_entry.metrics import CONTENT_TYPE, Metrics
from persistence.store import Store

log = logging.getLogger(__name__)
# hypercorn's own start-up chatter ("Running on ... CTRL + C to quit") is noise here; keep its warnings.
_hypercorn_log = logging.getLogger(f"{__name__}.hypercorn")
_hypercorn_log.setLevel(logging.WARNING)

HEALTH_TIMEOUT = 5.0
DB_PROBE_TIMEOUT = 2.0
DB_PROBE_BUSY_MS = 100

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


# -- what a health report is ----------------------------------------------------------------------


@define(frozen=True)
class Check:
    """One named finding: ``ok`` or not, and a sentence for the operator."""

    name: str
    ok: bool
    detail: str


@define(frozen=True)
class HealthReport:
    """The checks, and whether the bot is still starting (not yet connected to Discord once).

    A starting bot is not healthy (503) but not broken either: its status says ``starting``.
    """

    checks: tuple[Check, ...]
    starting: bool = False

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def problems(self) -> list[str]:
        return [f"{c.name}: {c.detail}" for c in self.checks if not c.ok]

    def to_json(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "starting" if self.starting else "unhealthy",
            "problems": self.problems(),
            "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in self.checks},
        }


class HealthSource(Protocol):
    """What ``/healthz`` asks; the app implements it. Should answer within ``HEALTH_TIMEOUT``."""

    async def health(self) -> HealthReport: ...


# -- the checks the app combines --------------------------------------------------------------------


def gateway_check(connected: bool, detail: str | None = None, *, starting: bool = False) -> Check:
    """``starting``: the bot has not been connected yet (it is logging in), as opposed to lost."""
    if detail is None:
        lost = "starting: not connected to Discord yet" if starting else "not connected to Discord"
        detail = "connected" if connected else lost
    return Check("gateway", connected, detail)


def actor_checks(alive: Mapping[str, bool]) -> list[Check]:
    """One check per supervised actor: is its task running (not crashed and waiting to restart)?"""
    return [
        Check(f"actor:{name}", up, "running" if up else "not running") for name, up in sorted(alive.items())
    ]


def checkpoint_check(
    last_at: float | None, since: float, now: float, max_age: float, *, pending: bool
) -> Check:
    """Is anything waiting to be written for longer than ``max_age`` seconds?

    ``last_at`` is when the last checkpoint committed (``None``: none yet; then the age counts
    from ``since``, the app's start). An idle bot has nothing to write, so an old checkpoint only
    fails the check while ``pending`` (some actor holds or is queueing unwritten changes).
    """
    age = now - (since if last_at is None else last_at)
    shown = "no checkpoint yet" if last_at is None else f"last checkpoint {age:.1f}s ago"
    if pending and age > max_age:
        return Check("checkpoint", False, f"{shown}, changes waiting (limit {max_age:g}s)")
    return Check("checkpoint", True, shown)


def probe_writable_sync(conn: sqlite3.Connection, busy_ms: int = DB_PROBE_BUSY_MS) -> str | None:
    """``None`` if a write transaction can start now, else why not (runs in the writer thread).

    Takes and releases the write lock (``BEGIN IMMEDIATE`` then ``ROLLBACK``; nothing is written),
    waiting at most ``busy_ms`` for another process's lock instead of the store's long timeout.
    """
    if conn.in_transaction:
        return None  # only the writer thread gets here, so the open transaction is ours
    (old,) = conn.execute("PRAGMA busy_timeout").fetchone()
    conn.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return None
    except sqlite3.Error as exc:
        return str(exc)
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(old)}")


async def db_writable_check(store: Store, *, within: float = DB_PROBE_TIMEOUT) -> Check:
    """Can the store write right now? Waits at most ``within`` seconds for its busy writer thread."""
    with trio.move_on_after(within):
        problem = await store.call(probe_writable_sync, store.db.conn)
        if problem is None:
            return Check("database", True, "writable")
        return Check("database", False, f"not writable: {problem}")
    return Check("database", False, f"writer busy for over {within:g}s (locked by another process?)")


# -- the ASGI app ---------------------------------------------------------------------------------


ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class OpsApp:
    """Two routes, GET (and HEAD) only; everything else is 404 or 405. With ``web`` (the per-server
    pages, ``web.app``), the paths under ``web_prefixes`` are that app's."""

    def __init__(
        self,
        health: HealthSource,
        metrics: Metrics,
        *,
        health_timeout: float = HEALTH_TIMEOUT,
        web: ASGIApp | None = None,
        web_prefixes: tuple[str, ...] = (),
    ):
        self.health = health
        self.metrics = metrics
        self.health_timeout = health_timeout
        self.web = web
        self.web_prefixes = web_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if self.web is not None and path.startswith(self.web_prefixes):
            await self.web(scope, receive, send)
            return
        if path not in ("/healthz", "/metrics"):
            status, body, content_type = 404, b"not found\n", "text/plain; charset=utf-8"
        elif method not in ("GET", "HEAD"):
            status, body, content_type = 405, b"method not allowed\n", "text/plain; charset=utf-8"
        elif path == "/metrics":
            status, body, content_type = 200, self.metrics.exposition(), CONTENT_TYPE
        else:
            status, body = await self._healthz()
            content_type = "application/json"
        headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
        if path == "/healthz":
            headers.append((b"cache-control", b"no-store"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})

    async def _healthz(self) -> tuple[int, bytes]:
        report: HealthReport | None = None
        with trio.move_on_after(self.health_timeout):
            try:
                report = await self.health.health()
            except Exception as exc:
                log.exception("healthz: the health source failed")
                report = HealthReport((Check("health", False, f"health check failed: {exc!r}"),))
        if report is None:
            report = HealthReport((Check("health", False, f"no answer within {self.health_timeout:g}s"),))
        body = redactor.text(json.dumps(report.to_json(), sort_keys=True)) + "\n"
        return (200 if report.ok else 503), body.encode()


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


# -- serving ----------------------------------------------------------------------------------------


class OpsServerError(RuntimeError):
    """The endpoint cannot listen (port taken, bad host); the message names the setting."""


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _listening_socket(host: str, port: int) -> socket.socket:
    """Bind here rather than inside hypercorn, so a taken port is one clear error before start."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OpsServerError(
            f"OPS_HOST/OPS_PORT: cannot listen on {_bind(host, port)} ({exc.strerror or exc}); "
            "choose another OPS_PORT, or 0 to turn the endpoint off"
        ) from None
    return sock


async def serve_ops(
    health: HealthSource,
    metrics: Metrics,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    health_timeout: float = HEALTH_TIMEOUT,
    web: ASGIApp | None = None,
    web_prefixes: tuple[str, ...] = (),
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``/healthz`` and ``/metrics`` until cancelled; ``started()`` with the bound port.

    ``port=0`` lets the system pick a free port (tests); the app passes ``OPS_PORT`` and does not
    start this at all when that setting is 0. A port that cannot be bound raises ``OpsServerError``
    before ``started()``, so start-up fails with a line naming the setting.
    """
    sock = _listening_socket(host, port)
    bound = int(sock.getsockname()[1])
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]  # hypercorn takes the socket over (and closes it)
    config.accesslog = None
    config.errorlog = _hypercorn_log  # through our pipeline, not a handler of its own
    config.graceful_timeout = 1.0
    config.include_server_header = False
    app = OpsApp(health, metrics, health_timeout=health_timeout, web=web, web_prefixes=web_prefixes)
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(serve, app, config, mode="asgi"))
        url = f"http://{_bind(host, bound)}"
        log.info("ops endpoint listening on %s (/healthz, /metrics)", url, extra={"url": url})
        task_status.started(bound)
