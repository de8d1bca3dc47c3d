"""What the running bot's /healthz says while it is still logging in (real HTTP, real clock)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import trio
from attrs import evolve

from bot_entry.app import BotApp
from bot_entry.config import Secret
from domain.clock import WallClock
from tests.harness import settings_for, wait_until

CLOSED_PORT_API = "http://127.0.0.1:9/api/v10"  # the login never succeeds: the bot stays "starting"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def get(port: int, path: str) -> tuple[int, dict[str, object]]:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


async def test_healthz_says_starting_until_the_first_connection(aio_loop: object, tmp_path: Path) -> None:
    port = free_port()
    settings = evolve(settings_for(tmp_path / "lb.db", OPS_PORT=str(port)), token=Secret("not-a-real-token"))
    app = BotApp(settings, WallClock.real(), api_base=CLOSED_PORT_API)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(app.run)
            await wait_until(lambda: app.ops_port is not None and app.pipeline.store is not None)
            status, report = await get(port, "/healthz")
            app.stop()
    assert status == 503
    assert report["status"] == "starting"
    assert report["checks"]["gateway"] == {"ok": False, "detail": "starting: not connected to Discord yet"}  # type: ignore[index]
