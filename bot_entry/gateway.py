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

Shards: the client is always disnake's ``AutoShardedInteractionBot`` (one shard is the one-shard
case), running ``SHARD_IDS`` of ``SHARD_COUNT`` in this process, every shard feeding the same
channel. A shard's drop is its own ``ConnectionLost(shard_id)`` and its RESUMED its own
``ConnectionResumed(shard_id)``; each ``GuildSnapshot`` says which shard carries the guild, so an
outage holds only that shard's guilds. IDENTIFYs honour Discord's ``session_start_limit``: one per
``IDENTIFY_INTERVAL`` in each ``max_concurrency`` bucket (``shard_id % max_concurrency``), buckets
in parallel; too few session starts left refuses the start with one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
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
from disnake.gateway import DiscordWebSocket, ReconnectWebSocket
from disnake.shard import EventItem, EventType, Shard

from bot_entry import translate
from bot_entry.config import check_shard_ids
from bot_entry.loop_drain import drain_ready_callbacks
from domain.backoff import Backoff
from domain.clock import WallClock
from domain.events import ConnectionLost, ConnectionResumed, Event, MessageSent
from domain.shards import identify_slot, shard_of
from domain.units import exact_seconds  # reset_after is in milliseconds

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


class GatewayUnavailable(RuntimeError):
    """Discord kept failing the login (5xx, network), or a shard's connection, through every
    bounded retry."""


class SessionStartsExhausted(RuntimeError):
    """Discord's ``session_start_limit`` has fewer IDENTIFYs left than this process has shards."""


# What the operator does about a refused close code, when there is something to do.
REFUSED_CLOSE_ADVICE = {
    4010: "; SHARD_IDS must be below SHARD_COUNT",
    4011: "; a shard carries more than 2,500 guilds: set SHARD_COUNT to a larger number "
    "(or SHARD_COUNT=auto, what Discord recommends)",
}


def _refused(code: int) -> str:
    advice = REFUSED_CLOSE_ADVICE.get(code, "")
    return f"the Discord gateway closed the connection with {code} ({REFUSED_CLOSE_CODES[code]}){advice}"


# Discord lets each max_concurrency bucket IDENTIFY once per 5 seconds.
IDENTIFY_INTERVAL = 5.0
# A process running some of the shards IDENTIFYs in wall-clock slots this long (the interval and a
# margin for two processes' start-up jitter), each bucket's shards by turn: see identify_slot.
IDENTIFY_SLOT = IDENTIFY_INTERVAL + 0.5
# A shard's first connection (websocket, HELLO, IDENTIFY): at most 180 s a try (disnake's), 8 tries
# 1 s doubling to 60 s apart; disnake alone retries every 5 s for ever.
SHARD_CONNECT_BACKOFF = Backoff(attempts=8, first=1.0, cap=60.0)
SHARD_CONNECT_TIMEOUT = 180.0


@define(frozen=True)
class ShardStatus:
    """One shard as /healthz and /metrics show it."""

    shard_id: int
    connected: bool  # identified or resumed, and its websocket open now
    latency: float | None  # HEARTBEAT to ACK, seconds (None: not measured yet)
    guilds: int
    last_event_at: float | None  # the wall time of the last dispatch it carried


class ShardedBot(commands.AutoShardedInteractionBot):
    """disnake's sharded bot, launching only our shards, in buckets, within the session limit.

    disnake's own ``launch_shards`` compares ``remaining`` with every shard of the bot (not those
    this process runs) and IDENTIFYs one shard per 5 s whatever ``max_concurrency`` allows; this
    launches each bucket's shards in order and the buckets side by side, and
    ``before_identify_hook`` spaces the IDENTIFYs of a bucket (re-IDENTIFYs too) on the loop's
    clock (Trio's under trio-asyncio, so tests run it on a MockClock). A re-IDENTIFY after the
    launch also waits ``IDENTIFY_INTERVAL`` first, as disnake does (Discord asks for 1 to 5 s
    after an INVALID_SESSION). A process running only some of the shards (SHARD_IDS) IDENTIFYs in
    wall-clock slots (``identify_slot``): other processes on the token may be starting too.
    """

    def __init__(
        self, *, wanted_ids: tuple[int, ...] | None, wall: Callable[[], float] = time.time, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)  # shard_ids only once the count is known (auto asks Discord)
        self.wanted_ids = wanted_ids
        self.max_concurrency = 1
        self._next_identify: dict[int, float] = {}
        self._launching = False
        # Running some of the shards: other processes run the rest and may start at the same time,
        # so IDENTIFYs go in wall-clock slots (``domain.shards.identify_slot``), shared by all.
        self._wall = wall
        self._slotted = False

    async def _fill_owners(self) -> None:
        """disnake asks for the app's owners in a task of its own at login; a start refused right
        after the login (too few session starts, SHARD_IDS) closes the client under that task:
        its failure then is the refusal's echo, not news."""
        try:
            await super()._fill_owners()
        except Exception:
            if not self.is_closed():
                raise

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        loop = asyncio.get_running_loop()
        bucket = (shard_id or 0) % self.max_concurrency
        now = loop.time()
        earliest = now if self._launching else now + IDENTIFY_INTERVAL
        slot = max(earliest, self._next_identify.get(bucket, earliest))
        if self._slotted and self.shard_count is not None:
            wall_now = self._wall()
            at = identify_slot(
                wall_now + (slot - now), shard_id or 0, self.shard_count, self.max_concurrency, IDENTIFY_SLOT
            )
            slot = now + (at - wall_now)
        self._next_identify[bucket] = slot + IDENTIFY_INTERVAL  # reserved before waiting: no race
        if slot > now:
            try:
                await asyncio.sleep(slot - now)
            except asyncio.CancelledError:
                # A stop during the wait: disnake's ``Shard.reidentify`` swallows this, and its
                # ``connect`` loop would then wait for the next shard event for ever. Tell the loop
                # to end, so the stop completes (the cancellation still goes on up from here).
                self._end_connect_loop()
                raise

    def _end_connect_loop(self) -> None:
        queue: asyncio.Queue[EventItem] = self._AutoShardedClient__queue  # type: ignore[attr-defined]
        queue.put_nowait(EventItem(EventType.clean_close, None, None))  # type: ignore[arg-type]

    async def launch_shards(self, *, ignore_session_start_limit: bool = False) -> None:
        params = self.gateway_params
        recommended, gateway, limit = await self.http.get_bot_gateway(
            encoding=params.encoding, zlib=params.zlib
        )
        self.session_start_limit = disnake.SessionStartLimit(limit)
        counted_by = "SHARD_COUNT"
        if self.shard_count is None:
            self.shard_count, counted_by = recommended, "Discord's recommended count (SHARD_COUNT=auto)"
        check_shard_ids(self.wanted_ids, self.shard_count, counted_by=counted_by)
        ids = list(self.wanted_ids) if self.wanted_ids is not None else list(range(self.shard_count))
        self.shard_ids = ids
        self._connection.shard_count = self.shard_count
        self._connection.shard_ids = ids
        starts = self.session_start_limit
        self.max_concurrency = max(1, starts.max_concurrency)
        self._slotted = len(set(ids)) < self.shard_count
        if starts.remaining < len(ids):
            raise SessionStartsExhausted(
                f"Discord allows {starts.remaining} more session starts (of {starts.total} a day) and "
                f"this process runs {len(ids)} shards; the limit resets in "
                f"{exact_seconds(starts.reset_after):.0f} s: start the bot again then"
            )
        log.info(
            "gateway: running shards %s of %d (max_concurrency %d)",
            ids,
            self.shard_count,
            self.max_concurrency,
        )
        buckets: dict[int, list[int]] = {}
        for shard_id in ids:
            buckets.setdefault(shard_id % self.max_concurrency, []).append(shard_id)

        async def launch_bucket(shard_ids: list[int]) -> None:
            for shard_id in shard_ids:
                await self.launch_shard(gateway, shard_id, initial=shard_id == ids[0])

        self._launching = True
        try:
            await asyncio.gather(*(launch_bucket(b) for b in buckets.values()))
        finally:
            self._launching = False
        self._connection.shards_launched.set()

    async def launch_shard(self, gateway: str, shard_id: int, *, initial: bool = False) -> None:
        """disnake's ``launch_shard`` with its retries bounded (``SHARD_CONNECT_BACKOFF``)."""
        why = ""
        for wait in SHARD_CONNECT_BACKOFF.waits():
            if wait:
                log.warning(
                    "gateway: shard %d could not connect (%s); retrying in %.0f s", shard_id, why, wait
                )
                await asyncio.sleep(wait)
            try:
                connecting = DiscordWebSocket.from_client(
                    self, initial=initial, gateway=gateway, shard_id=shard_id
                )
                ws = await asyncio.wait_for(connecting, timeout=SHARD_CONNECT_TIMEOUT)
            except disnake.ConnectionClosed as exc:
                if exc.code in REFUSED_CLOSE_CODES:
                    raise  # the operator's one line (``Gateway._run_client``)
                why = f"closed with {exc.code}"
                continue
            except (
                aiohttp.ClientError,
                OSError,
                TimeoutError,
                disnake.HTTPException,
                ReconnectWebSocket,
            ) as exc:
                why = f"{type(exc).__name__}: {exc}"
                continue
            # What disnake's own launch_shard does next: keep reading the shard while others connect.
            shard = Shard(ws, self, self._AutoShardedClient__queue.put_nowait)  # type: ignore[attr-defined]
            self._AutoShardedClient__shards[shard_id] = shard  # type: ignore[attr-defined]
            shard.launch()
            return
        raise GatewayUnavailable(
            f"shard {shard_id} could not connect after {SHARD_CONNECT_BACKOFF.attempts} tries: {why}"
        )


def intents() -> disnake.Intents:
    """Only what counting needs: guilds, guild messages (no content), voice states and reactions."""
    wanted = disnake.Intents.none()
    wanted.guilds = True
    wanted.guild_messages = True
    wanted.voice_states = True
    wanted.guild_reactions = True  # daily history: reactions added (not privileged)
    return wanted


class Gateway:
    def __init__(
        self,
        events: trio.MemorySendChannel[Event],
        clock: WallClock,
        *,
        shard_count: int | None = 1,
        shard_ids: tuple[int, ...] | None = None,
    ) -> None:
        self.events = events
        self.clock = clock
        self.ready = trio.Event()
        self._up: set[int] = set()  # shards identified or resumed, not dropped since
        self.last_event_at: dict[int, float] = {}  # shard -> wall time of its last dispatch
        self._drain_lock = asyncio.Lock()  # shards that wait for the backlog drain it one at a time
        self.received: Counter[str] = Counter()
        self.malformed: Counter[str] = Counter()
        self._backlog: deque[Event | _Unresolved] = deque()
        self.parents: LRUCache[int, int | None] = LRUCache(maxsize=PARENT_CACHE_SIZE)
        self._unresolved: TTLCache[int, bool] = TTLCache(
            maxsize=UNRESOLVED_CACHE_SIZE, ttl=UNRESOLVED_TTL, timer=clock.now
        )
        self.parent_lookups: Counter[str] = Counter()  # "found" | "failed" (metrics, tests)
        # A sharded InteractionBot: a Client that also dispatches slash commands. Registration is
        # ours (bot_entry.commands.registration: once, globally); disnake's own sync is off.
        self.client = ShardedBot(
            wanted_ids=shard_ids,
            wall=clock.now,
            shard_count=shard_count,
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
    def shard_count(self) -> int:
        """Shards of the bot in all (known once launched: SHARD_COUNT=auto asks Discord)."""
        return self.client.shard_count or 1

    @property
    def connected(self) -> bool:
        """Ready once, and every shard of this process connected now (health checks read this)."""
        shards = self.shards()
        return self.ready.is_set() and bool(shards) and all(s.connected for s in shards)

    def shards(self) -> list[ShardStatus]:
        """Every shard this process runs, launched or not yet (read at scrape time, not per event)."""
        launched = self.client.shards
        ids = self.client.shard_ids or sorted(launched)
        guilds: Counter[int] = Counter(g.shard_id for g in self.client.guilds)
        out = []
        for shard_id in ids:
            info = launched.get(shard_id)
            open_ = info is not None and not info.is_closed() and not self.client.is_closed()
            latency = info.latency if info is not None else None
            out.append(
                ShardStatus(
                    shard_id,
                    open_ and shard_id in self._up,
                    latency if latency is not None and math.isfinite(latency) else None,
                    guilds[shard_id],
                    self.last_event_at.get(shard_id),
                )
            )
        return out

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
                except disnake.SessionStartLimitReached as exc:  # disnake's own check, should ours miss
                    raise SessionStartsExhausted(str(exc)) from exc
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
        parsers["READY"] = self._guarded("READY", self._also(self._ready_frame, original["READY"]))
        for name in ("CHANNEL_CREATE", "THREAD_CREATE", "THREAD_UPDATE"):
            parsers[name] = self._guarded(name, self._also(self._channel_seen, original[name]))
        parsers["THREAD_LIST_SYNC"] = self._guarded(
            "THREAD_LIST_SYNC", self._also(self._channels_seen, original["THREAD_LIST_SYNC"])
        )

    def _report_disconnects(self) -> None:
        """Tell the pipeline the moment a shard's websocket closes (its guilds hold from there).

        disnake only announces it as the ``shard_disconnect`` event, whose listeners run as asyncio
        tasks later; wrapping ``dispatch`` puts ``ConnectionLost`` in the channel before anything
        the next connection brings. READY and RESUMED mark it up again (``_ready_frame``,
        ``_resumed``: the connection state's own dispatches do not pass through this wrapper).
        """
        dispatch = self.client.dispatch

        def dispatch_and_report(event_name: str, *args: Any, **kwargs: Any) -> None:
            if event_name == "shard_disconnect":
                shard_id = int(args[0] or 0)
                self._up.discard(shard_id)
                # Shutting down, the pipeline may have stopped listening already: nothing to hold.
                with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
                    self._push(ConnectionLost(self.clock.now(), shard_id=shard_id))
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
            else:
                self._note_shard(name, data)

        return guarded

    def _note_shard(self, name: str, data: Any) -> None:
        """When the shard that carried this dispatch last heard from Discord (for /healthz)."""
        with contextlib.suppress(AttributeError, TypeError, ValueError):  # parsed already: no need
            shard_id = data.get("__shard_id__")
            if shard_id is None:
                guild_id = data.get("id") if name == "GUILD_CREATE" else data.get("guild_id")
                if guild_id is None:
                    return
                shard_id = shard_of(int(guild_id), self.shard_count)
            self.last_event_at[int(shard_id)] = self.clock.now()

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
            self._push(evolve(snapshot, shard_id=shard_of(snapshot.guild_id, self.shard_count)))

    def _ready_frame(self, data: Any) -> None:
        shard_id = int(data.setdefault("__shard_id__", 0))  # one played by hand (tests): shard 0's
        self._up.add(shard_id)
        log.info("gateway: shard %d of %d identified", shard_id, self.shard_count)

    def _resumed(self, data: Any) -> None:
        shard_id = int(data.get("__shard_id__") or 0)
        self._up.add(shard_id)
        self._push(ConnectionResumed(self.clock.now(), shard_id=shard_id))

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
        if not self._backlog:
            return
        async with self._drain_lock:  # several shards may wait on one backlog: hand each item once
            while self._backlog:
                item = self._backlog[0]
                if isinstance(item, _Unresolved):
                    item = self._backlog[0] = await self._resolve(item.event)
                await trio_asyncio.trio_as_aio(self.events.send)(item)
                self._backlog.popleft()

    def _hold_reads_until_drained(self) -> None:
        """Make every shard's websocket drain our backlog before it reads its next frame.

        The backlog is one for all shards (the pipeline is one), so every shard waits for it:
        backpressure holds the whole process, and order is kept within each shard.
        """
        for info in self.client.shards.values():
            ws = info._parent.ws
            if getattr(ws, "_drains_backlog", False):
                continue
            read_next = ws.poll_event

            async def poll_event(read_next: Callable[[], Any] = read_next) -> None:
                await self.drain()
                await read_next()

            ws.poll_event = poll_event  # type: ignore[method-assign]
            ws._drains_backlog = True  # type: ignore[attr-defined]
