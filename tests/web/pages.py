"""Plumbing for the web page tests: a real bot and simulator on the real clock, an ops port, and a
small HTTP client (plain TCP, so the test reads exactly what a browser would get)."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio
from attrs import define

from bot_entry.app import BotApp
from discord_sim.crowd import Scenario
from domain.clock import WallClock
from tests.e2e.test_commands_e2e import ask
from tests.harness import db_message_counts, running_bot, settings_for, simulator, wait_until

MANAGE_GUILD = 1 << 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@define(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: str


async def get(port: int, path: str) -> Answer:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        data = b""
        with trio.fail_after(10):
            while chunk := await stream.receive_some(65536):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return Answer(int(status_line.split()[1]), headers, body.decode())


class EventStream:
    """An open ``/events`` stream, read one event at a time (chunked transfer decoded)."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = b""
        self.text = ""
        self.headers: dict[str, str] = {}

    async def _more(self) -> None:
        chunk = await self.stream.receive_some(65536)
        if not chunk:
            raise EOFError("the event stream ended")
        self.buffer += chunk

    async def _head(self) -> int:
        while b"\r\n\r\n" not in self.buffer:
            await self._more()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *lines = head.decode().split("\r\n")
        self.headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
        return int(status_line.split()[1])

    async def _decode(self) -> None:
        while True:  # one chunk: size line, data, CRLF
            while b"\r\n" not in self.buffer:
                await self._more()
            size_line, _, rest = self.buffer.partition(b"\r\n")
            size = int(size_line, 16)
            while len(rest) < size + 2:
                await self._more()
                size_line, _, rest = self.buffer.partition(b"\r\n")
            self.text += rest[:size].decode()
            self.buffer = rest[size + 2 :]
            return

    async def next(self) -> dict[str, Any]:
        """The next ``boards`` event's data (keepalive comments are skipped)."""
        while True:
            while "\n\n" not in self.text:
                await self._decode()
            event, _, self.text = self.text.partition("\n\n")
            fields = dict(line.split(": ", 1) for line in event.splitlines() if not line.startswith(":"))
            if fields.get("event") == "boards":
                return json.loads(fields["data"])


@asynccontextmanager
async def events(port: int, path: str) -> AsyncIterator[tuple[int, EventStream]]:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(
            f"GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        reader = EventStream(stream)
        status = await reader._head()
        yield status, reader


@asynccontextmanager
async def page_bot(
    tmp_path: Path, *, seed: int = 1, members: int = 12, **env: str
) -> AsyncIterator[tuple[Scenario, BotApp, int]]:
    """A running bot on the real clock with the ops endpoint (and so the pages) on a free port."""
    clock = WallClock.real()
    port = free_port()
    settings = settings_for(tmp_path / "lb.db", OPS_PORT=str(port), WEB_UPDATE_SECONDS="0.1", **env)
    async with (
        simulator(clock, seed=seed, members=members) as scenario,
        running_bot(scenario.sim, settings, clock, inline_db=False) as app,
    ):
        await wait_until(lambda: app.web.viewers() == 0 and app.web._source is not None, what="pages served")
        yield scenario, app, port


async def turn_page_on(scenario: Scenario) -> str:
    """``/lbconfig set web_page:true`` as an admin; returns the reply."""
    asked = await ask(
        scenario, scenario.humans[0], "lbconfig set", {"web_page": True}, permissions=MANAGE_GUILD
    )
    assert asked.original is not None
    return str(asked.original["content"])


async def say_and_wait(app: BotApp, scenario: Scenario, said: list[tuple[Any, int]]) -> None:
    """Members talk; returns once the bot has counted and stored it all."""
    for member, n in said:
        for _ in range(n):
            scenario.say(member)
    db, guild_id = app.settings.db_path, scenario.guild.guild_id
    await wait_until(
        lambda: db_message_counts(db, guild_id) == dict(scenario.truth), within=30, what="stored"
    )
