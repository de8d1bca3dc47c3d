"""The running bot answers /healthz and /metrics over real HTTP (real clock: real sockets and threads)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import trio

from domain.clock import WallClock
from tests.harness import running_bot, settings_for, simulator, wait_until


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def get(port: int, path: str) -> tuple[int, str]:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


async def test_healthz_and_metrics_on_a_running_bot(aio_loop: object, tmp_path: Path) -> None:
    clock = WallClock.real()
    port = free_port()
    settings = settings_for(tmp_path / "lb.db", OPS_PORT=str(port))
    async with (
        simulator(clock, seed=31, members=6) as scenario,
        running_bot(scenario.sim, settings, clock) as app,
    ):
        assert app.ops_port == port
        for member in scenario.humans:
            scenario.say(member)
        await wait_until(lambda: app.gateway.received["MESSAGE_CREATE"] >= 6, what="messages")
        status, body = await get(port, "/healthz")
        report = json.loads(body)
        assert status == 200, report
        metrics_status, metrics = await get(port, "/metrics")
    assert metrics_status == 200
    assert 'type="MESSAGE_CREATE"' in metrics
    line = next(x for x in metrics.splitlines() if 'type="MESSAGE_CREATE"' in x and not x.startswith("#"))
    assert float(line.rsplit(" ", 1)[1]) >= 6
    assert scenario.sim.token not in metrics and scenario.sim.token not in body
