"""The gateway adapter: the real disnake client under trio-asyncio, feeding a Trio channel.

disnake parses each gateway frame and calls a parser by event name. We replace the parsers we
need with translators (``bot_entry.translate``) and wrap every other parser so a malformed payload
is logged and skipped instead of killing the websocket loop. Events are handed to Trio with a
synchronous ``send_nowait`` (the fast path, measured in DESIGN.md); only when the channel is full
does the websocket stop reading until the backlog drains (backpressure, never a drop).

Threads follow their parent channel's rules: the gateway learns each channel's parent from
GUILD_CREATE (``channels`` and ``threads``), CHANNEL_CREATE, THREAD_CREATE and THREAD_LIST_SYNC, and
fills ``MessageSent.parent_channel_id``. A message in a channel it has not seen waits in the backlog
(the websocket reads nothing meanwhile, so order is kept) for one bounded REST lookup, whose answer
is cached; if Discord cannot answer, the message goes on marked ``parent_unknown``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

import aiohttp
import disnake
import trio
import trio_asyncio
from attrs import define, evolve
from cachetools import LRUCache, TTLCache
from disnake.ext import commands

from bot_entry import translate
from bot_entry.loop_drain import drain_ready_callbacks
from domain.backoff import Backoff
from domain.clock import WallClock
from domain.events import ConnectionLost, ConnectionResumed, Event, MessageSent

log = logging.getLogger(__name__)

Parser = Callable[[Any], None]
# A Discord outage at login: 1 s doubling to 60 s, 40 tries (about 35 minutes), then the process
# stops with the last reason (a supervisor such as systemd starts it again).
LOGIN_BACKOFF = Backoff(attempts=40, first=1.0, cap=60.0)
# Channel -> parent: every channel and active thread the bot has seen, bounded (an evicted thread
# costs one more lookup). A lookup Discord could not answer is not retried for a while.
PARENT_CACHE_SIZE = 200_000
UNRESOLVED_CACHE_SIZE, UNRESOLVED_TTL = 10_000, 300.0
# One lookup: at most 3 tries of at most 10 s each, 0.5 s and 1 s apart (about 31 s at worst).
LOOKUP_BACKOFF = Backoff(attempts=3, first=0.5)
LOOKUP_TIMEOUT = 10.0


@define(frozen=True)
class _Unresolved:
    """A message whose channel the bot has not seen: it waits in the backlog for the lookup."""

    event: MessageSent


# Gateway close codes after which reconnecting cannot help (Discord's "do not reconnect" list).
REFUSED_CLOSE_CODES = {
    4004: "authentication failed; check DISCORD_TOKEN",
    4010: "invalid shard",
    4011: "sharding required",
    4012: "invalid API version",
    4013: "invalid intents",
    4014: "disallowed intents",
}


class LoginRejected(RuntimeError):
    """Discord refused to log the bot in (retrying cannot help); the message says how."""


def _refused(code: int) -> str:
    return f"the Discord gateway closed the connection with {code} ({REFUSED_CLOSE_CODES[code]})"


def intents() -> disnake.Intents:
    """Only what counting needs: guilds, guild messages (no content), voice states and reactions."""
    wanted = disnake.Intents.none()
    wanted.guilds = True
    wanted.guild_messages = True
    wanted.voice_states = True
    wanted.guild_reactions = True  # daily history: reactions added (not privileged)
    return wanted


class GatewayUnavailable(RuntimeError):
    """Discord kept failing the login (5xx, network) through every bounded retry."""


class Gateway:
    def __init__(self, events: trio.MemorySendChannel[Event], clock: WallClock) -> None:
        self.events = events
        self.clock = clock
        self.ready = trio.Event()
        self.received: Counter[str] = Counter()
        self.malformed: Counter[str] = Counter()
        self._backlog: deque[Event | _Unresolved] = deque()
        self.parents: LRUCache[int, int | None] = LRUCache(maxsize=PARENT_CACHE_SIZE)
        self._unresolved: TTLCache[int, bool] = TTLCache(
            maxsize=UNRESOLVED_CACHE_SIZE, ttl=UNRESOLVED_TTL, timer=clock.now
        )
        self.parent_lookups: Counter[str] = Counter()  # "found" | "failed" (metrics, tests)
        # An InteractionBot: a Client that also registers and dispatches slash commands.
        # Registration is per guild and ours (bot_entry.commands); disnake's own sync would add the
        # commands globally too, and overwrite a guild's commands with nothing.
        self.client = commands.InteractionBot(
            intents=intents(),
            command_sync_flags=commands.CommandSyncFlags.none(),
            gateway_params=disnake.GatewayParams(encoding="json", zlib=False),
            max_messages=None,
            chunk_guilds_at_startup=False,
            member_cache_flags=disnake.MemberCacheFlags.none(),
        )
        self.client.event(self.on_ready)
        self._install_parsers()
        self._report_disconnects()

    @property
    def connected(self) -> bool:
        """Ready once, and the websocket is open now (health checks read this)."""
        ws = self.client.ws
        return self.ready.is_set() and ws is not None and ws.open and not self.client.is_closed()

    async def on_ready(self) -> None:
        log.info("gateway: connected as %s", self.client.user)
        self.ready.set()

    # -- running --------------------------------------------------------------------------------

    async def run(self, token: str, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect and pump events until cancelled; then close the client and the event channel."""
        drain_ready_callbacks()  # a burst of frames: no Trio scheduler pass per asyncio callback
        async with self.events, trio.open_nursery() as nursery:
            nursery.start_soon(self._run_client, token)
            await self.ready.wait()
            task_status.started()

    async def _run_client(self, token: str) -> None:
        """Log in and connect; a Discord outage at login (5xx, network) is retried with backoff.

        Once connected, disnake reconnects by itself. A refused login (a bad token, any 4xx, a
        gateway close code such as 4004) is not retried: it raises ``LoginRejected``, whose
        message is the operator's one line.
        """
        why = ""
        try:
            for wait in LOGIN_BACKOFF.waits():
                if wait:
                    log.warning("gateway: could not log in (%s); retrying in %.0f s", why, wait)
                    await trio_asyncio.aio_as_trio(self.client.http.close)()  # the failed attempt's session
                    await trio.sleep(wait)
                try:
                    await trio_asyncio.aio_as_trio(self.client.start)(token)
                    return
                except disnake.LoginFailure as exc:  # disnake's word for a 401 on /users/@me
                    raise LoginRejected("Discord rejected the token (401)") from exc
                except disnake.PrivilegedIntentsRequired as exc:  # disnake's word for a 4014 close
                    raise LoginRejected(_refused(4014)) from exc
                except disnake.ConnectionClosed as exc:
                    if exc.code not in REFUSED_CLOSE_CODES:
                        raise
                    raise LoginRejected(_refused(exc.code)) from exc
                except disnake.HTTPException as exc:
                    if exc.status < 500:
                        raise LoginRejected(f"Discord answered {exc.status} ({exc.text or exc})") from exc
                    why = f"Discord answered {exc.status}"
                except (aiohttp.ClientError, OSError, disnake.GatewayNotFound) as exc:
                    why = f"{type(exc).__name__}: {exc}"  # GatewayNotFound: a 5xx on /gateway/bot
            raise GatewayUnavailable(f"could not log in after {LOGIN_BACKOFF.attempts} tries: {why}")
        finally:
            with trio.CancelScope(shield=True):
                await trio_asyncio.aio_as_trio(self.client.close)()

    # -- parsers --------------------------------------------------------------------------------

    def _install_parsers(self) -> None:
        parsers: dict[str, Parser] = self.client._connection.parsers
        original = dict(parsers)
        for name, parse in original.items():
            parsers[name] = self._guarded(name, parse)
        # disnake's own MESSAGE_CREATE parse is skipped: we keep no message cache.
        parsers["MESSAGE_CREATE"] = self._guarded("MESSAGE_CREATE", self._message_create)
        # Reactions feed the daily history only; disnake's parse (its message cache) is skipped.
        parsers["MESSAGE_REACTION_ADD"] = self._guarded("MESSAGE_REACTION_ADD", self._reaction_add)
        parsers["VOICE_STATE_UPDATE"] = self._guarded(
            "VOICE_STATE_UPDATE", self._also(self._voice_state_update, original["VOICE_STATE_UPDATE"])
        )
        parsers["GUILD_CREATE"] = self._guarded(
            "GUILD_CREATE", self._also(self._guild_create, original["GUILD_CREATE"])
        )
        parsers["RESUMED"] = self._guarded("RESUMED", self._also(self._resumed, original["RESUMED"]))
        for name in ("CHANNEL_CREATE", "THREAD_CREATE", "THREAD_UPDATE"):
            parsers[name] = self._guarded(name, self._also(self._channel_seen, original[name]))
        parsers["THREAD_LIST_SYNC"] = self._guarded(
            "THREAD_LIST_SYNC", self._also(self._channels_seen, original["THREAD_LIST_SYNC"])
        )

    def _report_disconnects(self) -> None:
        """Tell the pipeline the moment the websocket closes (voice sessions hold from there).

        disnake only announces it as the ``disconnect`` event, whose listeners run as asyncio tasks
        later; wrapping ``dispatch`` puts ``ConnectionLost`` in the channel before anything the next
        connection brings.
        """
        dispatch = self.client.dispatch

        def dispatch_and_report(event_name: str, *args: Any, **kwargs: Any) -> None:
            if event_name == "disconnect":
                # Shutting down, the pipeline may have stopped listening already: nothing to hold.
                with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
                    self._push(ConnectionLost(self.clock.now()))
            dispatch(event_name, *args, **kwargs)

        self.client.dispatch = dispatch_and_report  # type: ignore[method-assign]

    def _guarded(self, name: str, parse: Parser) -> Parser:
        def guarded(data: Any) -> None:
            self.received[name] += 1
            try:
                parse(data)
            except Exception as exc:
                self.malformed[name] += 1
                log.warning("gateway: skipped a malformed %s payload: %s", name, exc)

        return guarded

    @staticmethod
    def _also(ours: Parser, theirs: Parser) -> Parser:
        def both(data: Any) -> None:
            ours(data)
            theirs(data)

        return both

    def _message_create(self, data: Any) -> None:
        event = translate.message_sent(data, self.clock.now())
        if event is None:
            return
        try:
            parent = self.parents[event.channel_id]
        except KeyError:
            if event.channel_id in self._unresolved:  # looked up lately and Discord could not say
                self._push(evolve(event, parent_unknown=True))
                return
            self._backlog.append(_Unresolved(event))
            self._hold_reads_until_drained()
            return
        self._push(event if parent is None else evolve(event, parent_channel_id=parent))

    def _channel_seen(self, data: Any) -> None:
        channel_id, parent = translate.channel_parent(data)
        self.parents[channel_id] = parent

    def _channels_seen(self, data: Any) -> None:
        self.parents.update(translate.channel_parents(data))

    async def _resolve(self, event: MessageSent) -> MessageSent:
        """Fill in the parent of a message's unseen channel: one bounded REST lookup, cached."""
        channel_id = event.channel_id
        if channel_id not in self.parents and channel_id not in self._unresolved:
            await self._look_up(channel_id)
        if channel_id in self.parents:
            parent = self.parents[channel_id]
            return event if parent is None else evolve(event, parent_channel_id=parent)
        return evolve(event, parent_unknown=True)

    async def _look_up(self, channel_id: int) -> None:
        """GET /channels/{id} on the asyncio side; tries bounded by ``LOOKUP_BACKOFF``."""
        why = "no answer"
        for wait in LOOKUP_BACKOFF.waits():
            if wait:
                await asyncio.sleep(wait)
            try:
                data = await asyncio.wait_for(self.client.http.get_channel(channel_id), LOOKUP_TIMEOUT)
                found, parent = translate.channel_parent(data)
                if found != channel_id:
                    raise translate.MalformedPayload(f"asked for channel {channel_id}, got {found}")
            except disnake.HTTPException as exc:
                why = f"Discord answered {exc.status}"
                if exc.status < 500:
                    break  # 403 (no access), 404 (deleted): asking again will not help
            except (aiohttp.ClientError, OSError, TimeoutError, translate.MalformedPayload) as exc:
                why = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # never let a lookup break the websocket's read loop
                why = f"{type(exc).__name__}: {exc}"
                break
            else:
                self.parents[channel_id] = parent
                self.parent_lookups["found"] += 1
                return
        self.parent_lookups["failed"] += 1
        self._unresolved[channel_id] = True
        log.warning(
            "gateway: could not look up channel %d (%s); its messages count only where no channel is "
            "excluded",
            channel_id,
            why,
        )

    def _reaction_add(self, data: Any) -> None:
        event = translate.reaction_added(data, self.clock.now())
        if event is not None:
            self._push(evolve(event, parent_channel_id=self.parents.get(event.channel_id)))

    def _voice_state_update(self, data: Any) -> None:
        self._push(translate.voice_state_changed(data, self.clock.now()))

    def _guild_create(self, data: Any) -> None:
        self.parents.update(translate.channel_parents(data))
        snapshot = translate.guild_snapshot(data, self.clock.now())
        if snapshot is not None:
            self._push(snapshot)

    def _resumed(self, data: Any) -> None:
        self._push(ConnectionResumed(self.clock.now()))

    # -- handing events to Trio -------------------------------------------------------------------

    def push(self, event: Event) -> None:
        """Hand ``event`` to the pipeline (for the slash commands; same path as gateway events)."""
        self._push(event)

    def _push(self, event: Event) -> None:
        if not self._backlog:
            try:
                self.events.send_nowait(event)
                return
            except trio.WouldBlock:
                pass
        self._backlog.append(event)
        self._hold_reads_until_drained()

    async def drain(self) -> None:
        """Hand the backlog over in order (asyncio side), looking up the parents it waits for.

        The websocket calls this before it reads each frame once something is held back; a test
        that plays frames into the parsers by hand calls it after each one, as the websocket would.
        """
        while self._backlog:
            item = self._backlog[0]
            if isinstance(item, _Unresolved):
                item = self._backlog[0] = await self._resolve(item.event)
            await trio_asyncio.trio_as_aio(self.events.send)(item)
            self._backlog.popleft()

    def _hold_reads_until_drained(self) -> None:
        """Make the current websocket drain our backlog before it reads the next frame."""
        ws = self.client.ws
        if ws is None or getattr(ws, "_drains_backlog", False):
            return
        read_next = ws.poll_event

        async def poll_event() -> None:
            await self.drain()
            await read_next()

        ws.poll_event = poll_event  # type: ignore[method-assign]
        ws._drains_backlog = True  # type: ignore[attr-defined]
