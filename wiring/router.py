"""The router: one task that reads gateway events and hands each to the actor that owns it.

Messages go to the message counter. Voice changes update the guild's voice picture
(``GuildVoice``) and become ``PresenceChanged`` events for every user they affect; the router
spawns a voice-session actor when a user enters voice and ends it when they leave. A
``GuildSnapshot`` (every GUILD_CREATE, so also after a reconnect) reconciles that picture: users
no longer in voice end at their last checkpoint, users found in voice start fresh sessions.

A gateway outage (``ConnectionLost``) is one shard's: it holds the voice sessions of the guilds that
shard carries (``GuildSnapshot.shard_id``) until it ends: at that shard's ``ConnectionResumed``
(after Discord's replay), or at each guild's next ``GuildSnapshot`` after a re-IDENTIFY. The
guilds of the other shards go on counting. The sessions decide about the outage's time
(``voice_machine.hold``).

A ``GuildConfigured`` (from ``/lbconfig``, in the same stream) is applied in order with the voice
changes around it and forwarded to every actor that keeps a copy: the message counter, the reset
clock and the publisher. Snapshots go to the reset clock and the publisher too. The router keeps
its own copy of each guild's config.

It holds no counts and does no I/O; sending to a full mailbox waits (backpressure), it never
drops. When the gateway's channel closes, the router closes every mailbox so actors flush and stop.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Callable

import trio
from attrs import define, field

from actors.leaderboard_publisher import Request as PublisherMessage
from actors.message_counter import CounterMessage
from actors.reset_clock import ResetClockMessage
from actors.voice_machine import Presence
from actors.voice_presence import GuildVoice
from actors.voice_session import OutageBegan, OutageEnded, PresenceChanged, SessionEvent
from domain.events import (
    ConnectionLost,
    ConnectionResumed,
    Event,
    GuildSnapshot,
    MessageSent,
    ReactionAdded,
    VoiceStateChanged,
)
from domain.guild_config import GuildConfig, GuildConfigs, VoicePolicy
from domain.messages import GuildConfigured
from supervisor.inbox import SessionInbox
from supervisor.mailbox import Mailbox, Sender
from supervisor.supervisor import ChildSpec, Supervisor

log = logging.getLogger(__name__)

SESSION_INBOX = 64
YIELD_EVERY = 256  # routed events between two scheduler passes of the router
AT_LAST_MARK = 0.0  # a leave stamped before any mark ends the session at its last checkpoint

COUNTED = (MessageSent, ReactionAdded)  # what goes to the message counter as it is

VoiceSpawner = Callable[[tuple[int, int, int]], ChildSpec]


@define
class Router:
    messages: Mailbox[CounterMessage]
    voice_supervisor: Supervisor
    spawn_voice: VoiceSpawner
    configs: GuildConfigs = field(factory=lambda: GuildConfigs(GuildConfig()))  # the router's own copy
    # Told of every snapshot and config change (the reset clock; the publisher, which drops what it
    # cannot take at once: a full inbox means it has a round to do anyway).
    reset_clock: Mailbox[ResetClockMessage] | None = None
    publisher: Sender[PublisherMessage] | None = None
    guilds: dict[int, GuildVoice] = field(factory=dict)
    sessions: dict[tuple[int, int], Mailbox[SessionEvent]] = field(factory=dict)
    in_outage: set[int] = field(
        factory=set
    )  # guilds whose voice sessions hold since their shard's ConnectionLost
    routed: int = 0
    unknown_guild_events: int = 0
    _seq: itertools.count[int] = field(factory=itertools.count)
    _session_numbers: itertools.count[int] = field(factory=lambda: itertools.count(1))
    # Each guild's voice policy, with the config it was made from (so a config replaced by anyone
    # holding ``configs`` is seen at once): one policy object per config, not one per change.
    _policies: dict[int, tuple[GuildConfig, VoicePolicy]] = field(factory=dict)

    async def run(self, events: trio.MemoryReceiveChannel[Event]) -> None:
        try:
            async with events:
                await self._pump(events)
        finally:
            self.messages.close()
            for mailbox in self.sessions.values():
                mailbox.close()
            self.sessions.clear()

    async def _pump(self, events: trio.MemoryReceiveChannel[Event]) -> None:
        """Take queued events without a scheduler pass each; wait only when there are none, and let
        the actors run every ``YIELD_EVERY`` events.

        Messages and reactions (most events) take a short path: no ``route`` call, no ``match``,
        and a synchronous put into the counter's inbox while it has room (the same checks as
        ``route``). A full inbox sends the event through ``route``, which waits: backpressure.
        Voice changes take ``route``'s steps without the ``match``, and put each presence into its
        session's inbox synchronously while it has room (profile, issue 18 round 4).
        """
        take, guilds = events.receive_nowait, self.guilds
        put_message, deliver = self.messages.sender.send_nowait, self._deliver_nowait
        taken = 0
        while True:
            try:
                event = take()
            except trio.WouldBlock:
                event = None  # wait outside the handler (it would keep the exception alive)
            except trio.EndOfChannel:
                return
            if event is None:
                try:
                    event = await events.receive()
                except trio.EndOfChannel:
                    return
            taken += 1
            if isinstance(event, COUNTED) and event.guild_id in guilds:
                try:
                    put_message(event)
                    self.routed += 1
                    full = False
                except trio.WouldBlock:
                    full = True
                if full:
                    await self.route(event)  # waits for room: backpressure, never a drop
            elif type(event) is VoiceStateChanged and event.guild_id in guilds:
                # ``route``'s case without its ``match`` and, while inboxes have room, no coroutine
                for user_id, presence in guilds[event.guild_id].apply(event):
                    waiting = deliver(event.guild_id, user_id, presence, event.at)
                    if waiting is not None:
                        await self._deliver_waiting(*waiting)
                self.routed += 1
            else:
                await self.route(event)
            if taken % YIELD_EVERY == 0:
                await trio.lowlevel.checkpoint()

    async def route(self, event: Event) -> None:
        match event:
            case GuildSnapshot():
                await self._snapshot(event)
            case MessageSent() | ReactionAdded() if event.guild_id in self.guilds:
                await self.messages.send(event)
            case VoiceStateChanged() if event.guild_id in self.guilds:
                await self._voice_changed(self.guilds[event.guild_id], event)
            case GuildConfigured():
                await self._configured(event)
            case ConnectionLost():
                await self._outage_began(event.shard_id, event.at)
            case ConnectionResumed():
                for guild_id in sorted(self.in_outage):
                    if self.guilds[guild_id].shard_id == event.shard_id:
                        await self._outage_ended(guild_id, event.at)
            case MessageSent() | VoiceStateChanged() | ReactionAdded():
                self.unknown_guild_events += 1
                log.warning("router: skipped %s for unknown guild %s", type(event).__name__, event.guild_id)
                return
            case _:
                log.warning("router: no route for %r", event)
                return
        self.routed += 1

    def presence(self, guild_id: int, user_id: int) -> Presence | None:
        guild = self.guilds.get(guild_id)
        return guild.presence_of(user_id) if guild else None

    async def _tell(self, message: GuildSnapshot | GuildConfigured) -> None:
        if self.reset_clock is not None:
            await self.reset_clock.send(message)
        if self.publisher is not None:
            with contextlib.suppress(trio.ClosedResourceError):  # shutting down: its last round is done
                self.publisher.send_nowait(message)  # merges with a queued one: never full

    async def _snapshot(self, snapshot: GuildSnapshot) -> None:
        await self._tell(snapshot)
        guild = self.guilds.setdefault(snapshot.guild_id, GuildVoice(snapshot.guild_id))
        config = self.configs.get(snapshot.guild_id)
        guild.excluded, guild.excluded_roles = config.excluded_channels, config.excluded_roles
        for user_id, presence in guild.reconcile(snapshot):
            at = snapshot.at if presence.channel_id is not None else AT_LAST_MARK
            await self._deliver(snapshot.guild_id, user_id, presence, at)
        if snapshot.guild_id in self.in_outage:
            await self._outage_ended(snapshot.guild_id, snapshot.at)

    async def _outage_began(self, shard_id: int, at: float) -> None:
        """Hold the sessions of the guilds ``shard_id`` carries; those of other shards go on."""
        held = {guild_id for guild_id, guild in self.guilds.items() if guild.shard_id == shard_id}
        self.in_outage |= held
        for (guild_id, _), mailbox in list(self.sessions.items()):
            if guild_id in held:
                await mailbox.send(OutageBegan(at, next(self._seq)))

    async def _outage_ended(self, guild_id: int, at: float) -> None:
        """Every session in the guild has its up-to-date presence now; the outage is over for it."""
        self.in_outage.discard(guild_id)
        for (session_guild, _), mailbox in list(self.sessions.items()):
            if session_guild == guild_id:
                await mailbox.send(OutageEnded(at, next(self._seq)))

    async def _configured(self, event: GuildConfigured) -> None:
        """Every actor with a copy gets the new one; voice sessions re-evaluate from ``at``."""
        self.configs.set(event.guild_id, event.config)
        await self.messages.send(event)
        await self._tell(event)
        if event.guild_id in self.guilds:
            await self._config_changed(event.guild_id, event.at)

    async def _config_changed(self, guild_id: int, at: float) -> None:
        """Excluded channels or voice policy changed: every session re-evaluates from ``at``."""
        guild = self.guilds[guild_id]
        config = self.configs.get(guild_id)
        guild.excluded, guild.excluded_roles = config.excluded_channels, config.excluded_roles
        guild.told.clear()
        for user_id, presence in guild.reconcile_in_place():
            await self._deliver(guild_id, user_id, presence, at)

    async def _voice_changed(self, guild: GuildVoice, event: VoiceStateChanged) -> None:
        """Only the users whose presence changed hear of it (``GuildVoice.apply``); often just one."""
        for user_id, presence in guild.apply(event):
            await self._deliver(event.guild_id, user_id, presence, event.at)

    async def _deliver(self, guild_id: int, user_id: int, presence: Presence, at: float) -> None:
        waiting = self._deliver_nowait(guild_id, user_id, presence, at)
        if waiting is not None:
            await self._deliver_waiting(*waiting)

    def _deliver_nowait(
        self, guild_id: int, user_id: int, presence: Presence, at: float
    ) -> tuple[tuple[int, int], Mailbox[SessionEvent], PresenceChanged] | None:
        """Hand ``presence`` to the user's session (starting one, or ending it at a leave) without a
        coroutine while its inbox has room, the usual case; else what ``_deliver_waiting`` must send."""
        config = self.configs.get(guild_id)
        policy = self._policies.get(guild_id)
        if policy is None or policy[0] is not config:  # ``voice_policy`` makes a new one each call
            policy = self._policies[guild_id] = (config, config.voice_policy)
        change = PresenceChanged(presence, at, next(self._seq), policy[1])
        user = (guild_id, user_id)
        mailbox = self.sessions.get(user)
        if mailbox is None:
            if presence.channel_id is not None:
                key = (guild_id, user_id, next(self._session_numbers))
                # ``SessionInbox(...)``, not ``SessionInbox[SessionEvent](...)``: the subscripted
                # class is a typing alias whose call costs more than the inbox (profile).
                mailbox = SessionInbox(f"voice:{guild_id}:{user_id}", capacity=SESSION_INBOX)
                mailbox.sender.send_nowait(change)
                self.sessions[user] = mailbox
                self.voice_supervisor.start_child_soon(self.spawn_voice(key), mailbox)
            return None
        try:
            mailbox.sender.send_nowait(change)
        except trio.WouldBlock:
            return user, mailbox, change  # wait outside the handler (it would keep the exception alive)
        if presence.channel_id is None:
            mailbox.close()
            del self.sessions[user]
        return None

    async def _deliver_waiting(
        self, user: tuple[int, int], mailbox: Mailbox[SessionEvent], change: PresenceChanged
    ) -> None:
        """The session's inbox was full: wait for room (backpressure, never a drop), then as above."""
        await mailbox.send(change)
        if change.presence.channel_id is None:
            mailbox.close()
            del self.sessions[user]
