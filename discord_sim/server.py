"""A loopback Discord: a real websocket gateway and real REST over aiohttp on 127.0.0.1.

The real disnake client connects to it exactly as it would to Discord (``Route.BASE`` points here
and ``/gateway/bot`` returns our websocket URL), so tests, the demo and the benchmarks exercise the
bot's real network code. Driving methods (``send_message``, ``dispatch``...) are synchronous and
only queue frames, so they can be called from Trio or asyncio code in the same thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from discord_sim.world import Json, SimChannel, SimGuild, SimMember, World

log = logging.getLogger(__name__)

HELLO, HEARTBEAT, IDENTIFY, RESUME, RECONNECT, INVALID_SESSION, HEARTBEAT_ACK, DISPATCH = (
    10,
    1,
    2,
    6,
    7,
    9,
    11,
    0,
)
INTENT_GUILDS, INTENT_VOICE_STATES, INTENT_GUILD_MESSAGES, INTENT_MESSAGE_CONTENT = (
    1 << 0,
    1 << 7,
    1 << 9,
    1 << 15,
)
EVENT_INTENTS = {
    "MESSAGE_CREATE": INTENT_GUILD_MESSAGES,
    "MESSAGE_UPDATE": INTENT_GUILD_MESSAGES,
    "MESSAGE_DELETE": INTENT_GUILD_MESSAGES,
    "VOICE_STATE_UPDATE": INTENT_VOICE_STATES,
    "GUILD_CREATE": INTENT_GUILDS,
    "GUILD_DELETE": INTENT_GUILDS,
    "CHANNEL_CREATE": INTENT_GUILDS,
    "THREAD_CREATE": INTENT_GUILDS,
}


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON with Content-Type exactly ``application/json`` (disnake ignores the body otherwise)."""
    return web.Response(
        body=json.dumps(payload).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def error(status: int, message: str, code: int = 0) -> web.Response:
    return json_response({"message": message, "code": code}, status)


class GatewaySession:
    """One bot connection: sequence numbers, an outbound queue, and history for RESUME."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.session_id = secrets.token_hex(16)
        self.seq = 0
        self.intents = 0
        self.identified = False
        self.outbox: asyncio.Queue[Json | None] = asyncio.Queue()
        self.history: list[Json] = []

    def push(self, event: str, data: Json) -> None:
        self.seq += 1
        frame = {"op": DISPATCH, "t": event, "s": self.seq, "d": data}
        self.history.append(frame)
        self.outbox.put_nowait(frame)


class DiscordSim:
    def __init__(
        self, world: World | None = None, *, token: str = "sim-token", heartbeat_ms: int = 41_250
    ) -> None:
        self.world = world or World(lambda: int(time.time() * 1000))
        self.token = token
        self.heartbeat_ms = heartbeat_ms
        self.sessions: list[GatewaySession] = []
        self._detached: dict[str, GatewaySession] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.identified = asyncio.Event()
        self.on_identify: list[Callable[[GatewaySession], None]] = []

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/api/v10/gateway/bot", self._gateway_bot)
        app.router.add_get("/api/v10/gateway", self._gateway_bot)
        app.router.add_get("/api/v10/users/@me", self._users_me)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        for session in self.sessions:
            session.outbox.put_nowait(None)
            with contextlib.suppress(Exception):
                await session.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # -- driving (synchronous: only queues frames) ----------------------------------------------

    def dispatch(self, event: str, data: Json) -> None:
        """Send a dispatch event to every identified session whose intents ask for it."""
        needed = EVENT_INTENTS.get(event, 0)
        for session in self.sessions:
            if session.identified and (session.intents & needed) == needed:
                payload = data
                if event == "MESSAGE_CREATE" and not session.intents & INTENT_MESSAGE_CONTENT:
                    payload = {**data, "content": ""}
                session.push(event, payload)

    def send_message(
        self,
        channel: SimChannel,
        author: SimMember,
        content: str = "hello",
        *,
        webhook: bool = False,
        message_type: int = 0,
    ) -> Json:
        payload = self.world.message_payload(
            channel, author, content, webhook=webhook, message_type=message_type
        )
        self.world.messages.setdefault(channel.channel_id, {})[int(payload["id"])] = payload
        self.dispatch("MESSAGE_CREATE", payload)
        return payload

    def set_voice(
        self, guild: SimGuild, member: SimMember, channel: SimChannel | None, **flags: bool
    ) -> Json:
        """Move ``member`` into ``channel`` (None: leave voice) with the given mute/deaf flags,
        update the guild's ``voice_states`` (sent in GUILD_CREATE) and dispatch VOICE_STATE_UPDATE."""
        state: Json = {
            "guild_id": str(guild.guild_id),
            "channel_id": str(channel.channel_id) if channel else None,
            "user_id": str(member.user_id),
            "member": member.member_payload(),
            "session_id": f"voice-{member.user_id}",
            "deaf": flags.get("deaf", False),
            "mute": flags.get("mute", False),
            "self_deaf": flags.get("self_deaf", False),
            "self_mute": flags.get("self_mute", False),
            "self_video": False,
            "suppress": flags.get("suppress", False),
            "request_to_speak_timestamp": None,
        }
        if channel is None:
            guild.voice_states.pop(member.user_id, None)
        else:
            guild.voice_states[member.user_id] = {k: v for k, v in state.items() if k != "member"}
        self.dispatch("VOICE_STATE_UPDATE", state)
        return state

    def send_raw(self, event: str, data: Any) -> None:
        """Dispatch a payload as-is (malformed ones included), for bad-input tests."""
        for session in self.sessions:
            if session.identified:
                session.push(event, data)

    # -- REST -----------------------------------------------------------------------------------

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bot {self.token}"

    def _record(self, request: web.Request, body: Json | None = None) -> None:
        self.world.rest_calls.append((request.method, request.path, body))

    async def _gateway_bot(self, request: web.Request) -> web.Response:
        self._record(request)
        if not self._authorised(request):
            return error(401, "401: Unauthorized")
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return json_response({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})

    async def _users_me(self, request: web.Request) -> web.Response:
        self._record(request)
        if not self._authorised(request):
            return error(401, "401: Unauthorized")
        return json_response(self.world.bot.user_payload())

    async def _not_found(self, request: web.Request) -> web.Response:
        self._record(request)
        return error(404, "404: Not Found")

    # -- gateway --------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        session = GatewaySession(ws)
        writer = asyncio.ensure_future(self._write(session))
        await ws.send_json({"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_ms}})
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    break
                session = await self._receive(session, json.loads(msg.data))
        finally:
            session.outbox.put_nowait(None)
            await writer
            if session in self.sessions:
                self.sessions.remove(session)
                self._detached[session.session_id] = session
        return ws

    async def _write(self, session: GatewaySession) -> None:
        while (frame := await session.outbox.get()) is not None:
            if session.ws.closed:
                return
            await session.ws.send_str(json.dumps(frame))

    async def _receive(self, session: GatewaySession, frame: Json) -> GatewaySession:
        op = frame.get("op")
        if op == HEARTBEAT:
            session.outbox.put_nowait({"op": HEARTBEAT_ACK, "d": None})
        elif op == IDENTIFY:
            if frame["d"].get("token") != self.token:
                await session.ws.close(code=4004, message=b"Authentication failed.")
                return session
            session.intents = int(frame["d"].get("intents", 0))
            self._identify(session)
        elif op == RESUME:
            return self._resume(session, frame["d"])
        return session

    def _identify(self, session: GatewaySession) -> None:
        session.identified = True
        self.sessions.append(session)
        ready = {
            "v": 10,
            "user": self.world.bot.user_payload() | {"verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(g), "unavailable": True} for g in self.world.guilds],
            "session_id": session.session_id,
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.world.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
        }
        session.push("READY", ready)
        if session.intents & INTENT_GUILDS:
            for guild in self.world.guilds.values():
                session.push("GUILD_CREATE", guild.create_payload())
        self.identified.set()
        for callback in self.on_identify:
            callback(session)

    def _resume(self, session: GatewaySession, data: Json) -> GatewaySession:
        old = self._detached.pop(data.get("session_id", ""), None)
        if old is None or data.get("token") != self.token:
            session.outbox.put_nowait({"op": INVALID_SESSION, "d": False})
            return session
        old.ws, old.outbox = session.ws, session.outbox
        old.identified = True
        self.sessions.append(old)
        for frame in old.history:
            if frame["s"] > int(data.get("seq") or 0):
                old.outbox.put_nowait(frame)
        old.push("RESUMED", {})
        return old
