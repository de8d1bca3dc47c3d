"""The gateway: Discord's websocket protocol, server side.

Theory of operation (https://discord.com/developers/docs/events/gateway): a *session* is what
IDENTIFY creates (READY gives its id); a *connection* is one websocket. A session outlives its
connections: events dispatched while it is disconnected are kept, numbered, and replayed when a
new connection RESUMEs with the last sequence number it saw. A client closing with 1000/1001,
or an INVALID_SESSION without ``resumable``, ends the session.

Every connection gets HELLO, must heartbeat (op 1) at the interval HELLO gives, and is answered
with op 11. If a client falls silent for a whole interval the server asks for a heartbeat (op 1),
as Discord may; past ``heartbeat_timeout`` intervals of silence (an invented rule, see
``rules.py``) it closes the connection (4000, resumable). Asking matters under a mock clock:
disnake heartbeats from a thread on real time, but answers an op 1 at once, so virtual hours
pass without a spurious timeout.

A guild READY lists as unavailable (an outage) gets GUILD_DELETE ``{id, unavailable: true}``
right after READY instead of a GUILD_CREATE, as Discord sends for a guild that "was already
unavailable".

With ``compress=zlib-stream`` in the URL every frame goes out as binary through one zlib stream,
each ending with a Z_SYNC_FLUSH (the ``00 00 ff ff`` suffix clients wait for).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import zlib
from collections import deque
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web
from attrs import define, field

from discord_sim.rules import SimRules
from discord_sim.world import Json, SimGuild, World

log = logging.getLogger(__name__)

DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE_UPDATE, VOICE_STATE_UPDATE, RESUME = 0, 1, 2, 3, 4, 6
RECONNECT, REQUEST_GUILD_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 7, 8, 9, 10, 11
CLIENT_OPS = frozenset({HEARTBEAT, IDENTIFY, PRESENCE_UPDATE, VOICE_STATE_UPDATE, RESUME, 8, 31})

INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_VOICE_STATES = 1 << 7
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_GUILD_MESSAGE_REACTIONS = 1 << 10
INTENT_MESSAGE_CONTENT = 1 << 15
EVENT_INTENTS = {
    "GUILD_CREATE": INTENT_GUILDS,
    "GUILD_UPDATE": INTENT_GUILDS,
    "GUILD_DELETE": INTENT_GUILDS,
    "CHANNEL_CREATE": INTENT_GUILDS,
    "CHANNEL_UPDATE": INTENT_GUILDS,
    "CHANNEL_DELETE": INTENT_GUILDS,
    "THREAD_CREATE": INTENT_GUILDS,
    "THREAD_UPDATE": INTENT_GUILDS,
    "THREAD_DELETE": INTENT_GUILDS,
    "GUILD_MEMBER_ADD": INTENT_GUILD_MEMBERS,
    "GUILD_MEMBER_UPDATE": INTENT_GUILD_MEMBERS,
    "GUILD_MEMBER_REMOVE": INTENT_GUILD_MEMBERS,
    "VOICE_STATE_UPDATE": INTENT_VOICE_STATES,
    "MESSAGE_CREATE": INTENT_GUILD_MESSAGES,
    "MESSAGE_UPDATE": INTENT_GUILD_MESSAGES,
    "MESSAGE_DELETE": INTENT_GUILD_MESSAGES,
    "MESSAGE_DELETE_BULK": INTENT_GUILD_MESSAGES,
    "MESSAGE_REACTION_ADD": INTENT_GUILD_MESSAGE_REACTIONS,
}
# Fields Discord empties in messages for a bot without MESSAGE_CONTENT (unless it is mentioned).
CONTENT_FIELDS = {"content": "", "embeds": [], "attachments": [], "components": []}
CLIENT_ENDS_SESSION = frozenset({1000, 1001})
DEFAULT_REPLAY_LIMIT = 100_000


@define(frozen=True)
class Frame:
    """An outbox item: one payload, serialised when it was sent (later changes to the objects
    it came from do not leak into it, as on Discord). ``seq`` is set for dispatches."""

    seq: int | None
    text: str


@define(frozen=True)
class Close:
    """An outbox item: close the websocket with this code."""

    code: int
    message: str


@define(eq=False)
class Connection:
    """One websocket: its outbound queue, optional zlib stream, and heartbeat bookkeeping."""

    ws: web.WebSocketResponse
    transport: asyncio.BaseTransport | None
    compressor: Any = None  # zlib compressobj when the client asked for zlib-stream
    outbox: asyncio.Queue[Frame | Close | None] = field(factory=asyncio.Queue)
    last_heartbeat_ms: int = 0
    session: GatewaySession | None = None
    closed_by_server: bool = False

    def send(self, op: int, data: Any) -> None:
        self.outbox.put_nowait(Frame(None, json.dumps({"op": op, "d": data})))

    def close(self, code: int, message: str) -> None:
        self.outbox.put_nowait(Close(code, message))

    def abort(self) -> None:
        """Drop the TCP connection without a close frame, like a network failure."""
        if self.transport is not None:
            self.transport.abort()
        self.outbox.put_nowait(None)


@define(eq=False)
class GatewaySession:
    """One Discord session: sequence numbers and the history a RESUME replays."""

    session_id: str = field(factory=lambda: secrets.token_hex(16))
    intents: int = 0
    seq: int = 0
    identified: bool = False
    connection: Connection | None = None
    detached_ms: int = 0  # when the last connection ended (while ``connection`` is None)
    history: deque[Frame] = field(factory=lambda: deque(maxlen=DEFAULT_REPLAY_LIMIT))

    @property
    def connected(self) -> bool:
        return self.connection is not None

    def push(self, event: str, data: Any) -> None:
        self.seq += 1
        frame = Frame(self.seq, json.dumps({"op": DISPATCH, "t": event, "s": self.seq, "d": data}))
        self.history.append(frame)
        if self.connection is not None:
            self.connection.outbox.put_nowait(frame)

    def forget_until(self, seq: int) -> None:
        """The client has seen ``seq``: frames up to it will never be replayed."""
        while self.history and self.history[0].seq <= seq:
            self.history.popleft()

    def can_replay_from(self, seq: int) -> bool:
        return seq >= self.seq or bool(self.history and self.history[0].seq <= seq + 1)


class Gateway:
    def __init__(self, world: World, token: str, heartbeat_ms: int, url: Callable[[], str]) -> None:
        self.world = world
        self.token = token
        self.heartbeat_ms = heartbeat_ms
        self._url = url
        self.sessions: dict[str, GatewaySession] = {}  # every resumable session, by id
        self.connections: list[Connection] = []
        self.identified = asyncio.Event()
        self.on_identify: list[Callable[[GatewaySession], None]] = []
        self._drop_countdown: int | None = None
        self.connects = 0  # websockets accepted so far (a reconnecting client adds one each time)
        self.outages: set[int] = set()  # guilds READY lists as unavailable, with no GUILD_CREATE
        # Invented rules (rules.py): how long a disconnected session can still be resumed, and
        # how many intervals of silence close a connection (None: heartbeats are not enforced).
        self.resume_window_ms = SimRules().resume_window_ms
        self.heartbeat_timeout: float | None = SimRules().heartbeat_timeout

    # -- fan-out (synchronous) ------------------------------------------------------------------

    def dispatch(self, event: str, data: Json) -> None:
        """Send a dispatch event to every session whose intents ask for it (connected or not)."""
        needed = EVENT_INTENTS.get(event, 0)
        for session in self._live_sessions():
            if session.identified and (session.intents & needed) == needed:
                session.push(event, self._view(session, event, data))

    def dispatch_guild_create(self, guild: SimGuild, *, joined: bool) -> None:
        """GUILD_CREATE for a guild the bot just joined (no ``unavailable`` key, which is how
        clients tell a join from a guild coming back after an outage)."""
        for session in self._live_sessions():
            if session.identified and session.intents & INTENT_GUILDS:
                payload = self._guild_create(session, guild)
                if joined:
                    del payload["unavailable"]
                session.push("GUILD_CREATE", payload)

    def send_raw(self, event: str, data: Any) -> None:
        """Dispatch ``data`` as-is to every identified session (malformed payloads included)."""
        for session in self._live_sessions():
            if session.identified:
                session.push(event, data)

    def _live_sessions(self) -> list[GatewaySession]:
        """Sessions still resumable; those disconnected for too long are forgotten."""
        expired = self._now() - self.resume_window_ms
        for session in [s for s in self.sessions.values() if s.connection is None]:
            if session.detached_ms < expired:
                del self.sessions[session.session_id]
        return list(self.sessions.values())

    def _view(self, session: GatewaySession, event: str, data: Json) -> Json:
        """What this session may see of ``data`` (MESSAGE_CONTENT is privileged)."""
        if event not in ("MESSAGE_CREATE", "MESSAGE_UPDATE") or session.intents & INTENT_MESSAGE_CONTENT:
            return data
        bot = str(self.world.bot.user_id)
        if data.get("author", {}).get("id") == bot or any(
            m.get("id") == bot for m in data.get("mentions", [])
        ):
            return data
        return {**data, **{k: v for k, v in CONTENT_FIELDS.items() if k in data}} | (
            {"poll": None} if "poll" in data else {}
        )

    def _guild_create(self, session: GatewaySession, guild: SimGuild) -> Json:
        return guild.create_payload(
            all_members=bool(session.intents & INTENT_GUILD_MEMBERS), bot_id=self.world.bot.user_id
        )

    # -- faults (synchronous) -------------------------------------------------------------------

    def drop_all(self) -> int:
        connections = list(self.connections)
        for connection in connections:
            connection.abort()
        return len(connections)

    def drop_after(self, frames: int) -> None:
        self._drop_countdown = frames
        if frames <= 0:
            self._drop_countdown = None
            self.drop_all()

    def request_reconnect(self) -> None:
        for connection in list(self.connections):
            connection.send(RECONNECT, None)
            # Discord closes the socket itself if the client does not (resumable close code).
            connection.close(4000, "Reconnect requested")

    def invalidate_sessions(self, *, resumable: bool) -> None:
        for connection in list(self.connections):
            if connection.session is not None and not resumable:
                self.sessions.pop(connection.session.session_id, None)
            connection.send(INVALID_SESSION, resumable)

    # -- the websocket --------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        compress = request.query.get("compress") == "zlib-stream"
        connection = Connection(
            ws, request.transport, zlib.compressobj() if compress else None, last_heartbeat_ms=self._now()
        )
        self.connections.append(connection)
        self.connects += 1
        writer = asyncio.ensure_future(self._write(connection))
        watchdog = asyncio.ensure_future(self._watch_heartbeats(connection))
        connection.send(HELLO, {"heartbeat_interval": self.heartbeat_ms})
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    if msg.type is WSMsgType.BINARY:
                        connection.close(4002, "Error while decoding payload.")
                    break
                try:
                    frame = json.loads(msg.data)
                except ValueError:
                    connection.close(4002, "Error while decoding payload.")
                    break
                self._receive(connection, frame)
        finally:
            watchdog.cancel()
            connection.outbox.put_nowait(None)
            with contextlib.suppress(Exception):
                await writer
            self._detach(connection, ws.close_code)
        return ws

    def _detach(self, connection: Connection, close_code: int | None) -> None:
        if connection in self.connections:
            self.connections.remove(connection)
        session = connection.session
        if session is None or session.connection is not connection:
            return
        session.connection = None
        session.detached_ms = self._now()
        if close_code in CLIENT_ENDS_SESSION and not connection.closed_by_server:
            self.sessions.pop(session.session_id, None)

    async def _write(self, connection: Connection) -> None:
        ws = connection.ws
        while (item := await connection.outbox.get()) is not None:
            if ws.closed:
                return
            try:
                if isinstance(item, Close):
                    connection.closed_by_server = True
                    await ws.close(code=item.code, message=item.message.encode())
                    return
                if connection.compressor is not None:
                    data = connection.compressor.compress(item.text.encode())
                    await ws.send_bytes(data + connection.compressor.flush(zlib.Z_SYNC_FLUSH))
                else:
                    await ws.send_str(item.text)
            except (ConnectionError, RuntimeError):
                return
            if item.seq is not None and self._drop_countdown is not None:
                self._drop_countdown -= 1
                if self._drop_countdown <= 0:
                    self._drop_countdown = None
                    self.drop_all()

    async def _watch_heartbeats(self, connection: Connection) -> None:
        interval_ms = self.heartbeat_ms
        while True:
            await asyncio.sleep(interval_ms / 1000)
            if self.heartbeat_timeout is None:  # read each time: a test may switch it mid-run
                continue
            silent = self._now() - connection.last_heartbeat_ms
            if silent > self.heartbeat_timeout * interval_ms:
                log.info("gateway: no heartbeat for %d ms; closing", silent)
                connection.close(4000, "Heartbeat timed out")
                return
            if silent >= interval_ms:
                connection.send(HEARTBEAT, None)

    def _now(self) -> int:
        return self.world.now_ms()

    # -- what the client sends ------------------------------------------------------------------

    def _receive(self, connection: Connection, frame: Any) -> None:
        op = frame.get("op") if isinstance(frame, dict) else None
        data = frame.get("d") if isinstance(frame, dict) else None
        session = connection.session
        if op not in CLIENT_OPS:
            connection.close(4001, "Unknown opcode.")
        elif op == HEARTBEAT:
            connection.last_heartbeat_ms = self._now()
            if session is not None and isinstance(data, int):
                session.forget_until(data)
            connection.send(HEARTBEAT_ACK, None)
        elif op in (IDENTIFY, RESUME) and session is not None:
            connection.close(4005, "Already authenticated.")
        elif op == IDENTIFY:
            self._identify(connection, data if isinstance(data, dict) else {})
        elif op == RESUME:
            self._resume(connection, data if isinstance(data, dict) else {})
        elif session is None:
            connection.close(4003, "Not authenticated.")
        elif op == REQUEST_GUILD_MEMBERS and isinstance(data, dict):
            self._members_chunk(session, data)

    def _identify(self, connection: Connection, data: Json) -> None:
        if data.get("token") != self.token:
            connection.close(4004, "Authentication failed.")
            return
        intents = int(data.get("intents", 0))
        if intents & ~self.world.approved_intents & (1 << 1 | 1 << 8 | 1 << 15):
            connection.close(4014, "Disallowed intent(s).")
            return
        session = GatewaySession(intents=intents, identified=True, connection=connection)
        connection.session = session
        self.sessions[session.session_id] = session
        ready = {
            "v": 10,
            "user": self.world.bot.user_payload() | {"verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(g), "unavailable": True} for g in self.world.guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self._url(),
            "application": {"id": str(self.world.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "user_settings": {},
            "geo_ordered_rtc_regions": [],
        }
        if "shard" in data:
            ready["shard"] = data["shard"]
        session.push("READY", ready)
        if intents & INTENT_GUILDS:
            for guild in self.world.guilds.values():
                if guild.guild_id not in self.outages:
                    session.push("GUILD_CREATE", self._guild_create(session, guild))
                else:
                    session.push("GUILD_DELETE", {"id": str(guild.guild_id), "unavailable": True})
        self.identified.set()
        for callback in self.on_identify:
            callback(session)

    def _resume(self, connection: Connection, data: Json) -> None:
        self._live_sessions()
        session = self.sessions.get(str(data.get("session_id")))
        seq = data.get("seq") if isinstance(data.get("seq"), int) else 0
        if session is None or data.get("token") != self.token or not session.can_replay_from(seq):
            connection.send(INVALID_SESSION, False)
            return
        if session.connection is not None:  # a half-open old connection: Discord drops it
            old = session.connection
            old.session = None
            old.abort()
        session.connection = connection
        connection.session = session
        for frame in session.history:
            if frame.seq > seq:
                connection.outbox.put_nowait(frame)
        session.push("RESUMED", {"_trace": ["discord-sim"]})

    def _members_chunk(self, session: GatewaySession, data: Json) -> None:
        guild = self.world.guilds.get(int(data.get("guild_id", 0)))
        if guild is None:
            return
        query = str(data.get("query") or "").lower()
        wanted = {int(u) for u in data.get("user_ids") or []}
        if wanted:
            members = [m for m in guild.members.values() if m.user_id in wanted]
        else:
            members = [m for m in guild.members.values() if m.username.lower().startswith(query)]
        members = members[: int(data.get("limit") or 0) or None]
        chunk: Json = {
            "guild_id": str(guild.guild_id),
            "members": [m.member_payload() for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
        }
        if "nonce" in data:
            chunk["nonce"] = data["nonce"]
        session.push("GUILD_MEMBERS_CHUNK", chunk)
