"""A loopback Discord: a real websocket gateway and real REST over aiohttp on 127.0.0.1.

The real disnake client connects to it exactly as it would to Discord (``Route.BASE`` points here
and ``/gateway/bot`` returns our websocket URL), so tests, the demo and the benchmarks exercise the
bot's real network code. ``DiscordSim`` is the one public face: lifecycle, the driving methods
that make users act (``send_message``, ``set_voice``, ``interact``...), and handles on the parts
(``world`` state, ``limits`` rate limits, ``faults`` injection).

Driving methods are synchronous and only queue frames, so they can be called from Trio or
asyncio code in the same thread. The simulator's time is ``world``'s clock only (delays use
``asyncio.sleep``, which follows Trio's clock under trio-asyncio).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiohttp import web

from discord_sim import interactions
from discord_sim.faults import Faults
from discord_sim.gateway import Gateway, GatewaySession
from discord_sim.ratelimit import RateLimits
from discord_sim.rest import Rest
from discord_sim.rest.base import MAX_UPLOAD
from discord_sim.rules import SimRules
from discord_sim.world import (
    PUBLIC_THREAD,
    Json,
    SimChannel,
    SimGuild,
    SimInteraction,
    SimMember,
    World,
    voice_state_payload,
)

__all__ = ["DiscordSim", "GatewaySession", "SimRules"]

MAX_REQUEST = MAX_UPLOAD + 1024 * 1024


class DiscordSim:
    def __init__(
        self,
        world: World | None = None,
        *,
        token: str = "sim-token",
        heartbeat_ms: int = 41_250,
        rules: SimRules | None = None,
    ) -> None:
        self.world = world or World(lambda: int(time.time() * 1000))
        self.token = token
        self.heartbeat_ms = heartbeat_ms
        self.limits = RateLimits()
        # How long a POST's nonce deduplicates (Discord: "the past few minutes"); set from ``rules``.
        self.nonce_window_ms: int
        self.gateway = Gateway(self.world, token, heartbeat_ms, lambda: self.gateway_url)
        self.faults = Faults(self.gateway)
        self._rest = Rest(self)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.rules = rules or SimRules()

    @property
    def rules(self) -> SimRules:
        """The invented rules as they are now (``rules.py``); each lives in the part it governs."""
        return SimRules(
            old_message_edits=self.limits.old_message_edits,
            nonce_window_ms=self.nonce_window_ms,
            heartbeat_timeout=self.gateway.heartbeat_timeout,
            resume_window_ms=self.gateway.resume_window_ms,
        )

    @rules.setter
    def rules(self, rules: SimRules) -> None:
        self.limits.old_message_edits = rules.old_message_edits
        self.nonce_window_ms = rules.nonce_window_ms
        self.gateway.heartbeat_timeout = rules.heartbeat_timeout
        self.gateway.resume_window_ms = rules.resume_window_ms

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        # Room for Discord's largest upload plus its JSON: the REST layer then answers 413 as Discord does.
        app = web.Application(middlewares=[self._rest.middleware], client_max_size=MAX_REQUEST)
        app.router.add_get("/gateway", self.gateway.handle)
        self._rest.install(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        for connection in list(self.gateway.connections):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.ws.close(code=1001, message=b"Going away"), 1.0)
            connection.abort()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def sessions(self) -> list[GatewaySession]:
        """Identified sessions with a live connection."""
        return [s for s in self.gateway.sessions.values() if s.connected and s.identified]

    @property
    def identified(self) -> asyncio.Event:
        """Set once any client has identified."""
        return self.gateway.identified

    @property
    def on_identify(self) -> list[Callable[[GatewaySession], None]]:
        return self.gateway.on_identify

    # -- driving: messages ----------------------------------------------------------------------

    def dispatch(self, event: str, data: Json) -> None:
        """Send a dispatch event to every session whose intents ask for it."""
        self.gateway.dispatch(event, data)

    def send_raw(self, event: str, data: Any) -> None:
        """Dispatch a payload as-is (malformed ones included), for bad-input tests."""
        self.gateway.send_raw(event, data)

    def send_message(
        self,
        channel: SimChannel,
        author: SimMember,
        content: str = "hello",
        *,
        webhook: bool = False,
        message_type: int = 0,
        embeds: list[Json] | None = None,
    ) -> Json:
        payload = self.world.message_payload(
            channel, author, content, webhook=webhook, message_type=message_type, embeds=embeds
        )
        self.world.store_message(payload)
        self.dispatch("MESSAGE_CREATE", payload)
        return payload

    def add_reaction(self, message: Json, member: SimMember, emoji: str = "\N{THUMBS UP SIGN}") -> Json:
        """``member`` reacts to ``message`` (a payload ``send_message`` returned)."""
        payload = self.world.reaction_payload(message, member, emoji)
        self.dispatch("MESSAGE_REACTION_ADD", payload)
        return payload

    def edit_message(self, channel: SimChannel, message_id: int, content: str) -> Json:
        """The author edits a message (MESSAGE_UPDATE with the whole message)."""
        message = self.world.messages[channel.channel_id][message_id]
        self.world.apply_edit(message, {"content": content})
        self.dispatch("MESSAGE_UPDATE", message)
        return message

    def delete_message(self, channel: SimChannel, message_id: int) -> None:
        self.world.messages.get(channel.channel_id, {}).pop(message_id, None)
        self.dispatch(
            "MESSAGE_DELETE",
            {"id": str(message_id), "channel_id": str(channel.channel_id), "guild_id": str(channel.guild_id)},
        )

    def delete_messages(self, channel: SimChannel, message_ids: Iterable[int]) -> None:
        """A moderator purges messages (one MESSAGE_DELETE_BULK)."""
        ids = list(message_ids)
        stored = self.world.messages.get(channel.channel_id, {})
        for message_id in ids:
            stored.pop(message_id, None)
        self.dispatch(
            "MESSAGE_DELETE_BULK",
            {
                "ids": [str(i) for i in ids],
                "channel_id": str(channel.channel_id),
                "guild_id": str(channel.guild_id),
            },
        )

    # -- driving: voice, members, channels, guilds ----------------------------------------------

    def set_voice(
        self, guild: SimGuild, member: SimMember, channel: SimChannel | None, **flags: bool
    ) -> Json:
        """Move ``member`` into ``channel`` (None: leave voice) with the given mute/deaf flags,
        update the guild's ``voice_states`` (sent in GUILD_CREATE) and dispatch VOICE_STATE_UPDATE."""
        state = voice_state_payload(guild, member, channel.channel_id if channel else None, **flags)
        if channel is None:
            guild.voice_states.pop(member.user_id, None)
        else:
            guild.voice_states[member.user_id] = {k: v for k, v in state.items() if k != "member"}
        self.dispatch("VOICE_STATE_UPDATE", state)
        return state

    def add_member(self, guild: SimGuild, member: SimMember) -> Json:
        guild.members[member.user_id] = member
        payload = member.member_payload() | {
            "guild_id": str(guild.guild_id),
            "joined_at": self.world.iso_now(),
        }
        self.dispatch("GUILD_MEMBER_ADD", payload)
        return payload

    def update_member(self, guild: SimGuild, member: SimMember, **changes: Any) -> Json:
        """Change ``nick``, ``global_name``, ``username`` or ``roles``; GUILD_MEMBER_UPDATE."""
        for key, value in changes.items():
            setattr(member, key, value)
        payload = member.member_payload() | {"guild_id": str(guild.guild_id)}
        self.dispatch("GUILD_MEMBER_UPDATE", payload)
        return payload

    def remove_member(self, guild: SimGuild, member: SimMember) -> Json:
        """The member leaves (or is kicked): out of voice first, then GUILD_MEMBER_REMOVE."""
        if member.user_id in guild.voice_states:
            self.set_voice(guild, member, None)
        guild.members.pop(member.user_id, None)
        payload = {"guild_id": str(guild.guild_id), "user": member.user_payload()}
        self.dispatch("GUILD_MEMBER_REMOVE", payload)
        return payload

    def create_thread(
        self, parent: SimChannel, name: str, *, owner: SimMember | None = None, type: int = PUBLIC_THREAD
    ) -> SimChannel:
        guild = self.world.guilds[parent.guild_id]
        thread = SimChannel(self.world.new_id(), guild.guild_id, name, type, parent.channel_id)
        guild.channels[thread.channel_id] = thread
        payload = thread.payload() | {"newly_created": True}
        if owner is not None:
            payload["owner_id"] = str(owner.user_id)
        self.dispatch("THREAD_CREATE", payload)
        return thread

    def create_channel(
        self, guild: SimGuild, name: str, type: int = 0, parent_id: int | None = None
    ) -> SimChannel:
        channel = SimChannel(self.world.new_id(), guild.guild_id, name, type, parent_id)
        guild.channels[channel.channel_id] = channel
        self.dispatch("CHANNEL_CREATE", channel.payload())
        return channel

    def deny_bot(self, channel: SimChannel, permissions: int) -> None:
        """An admin denies the bot ``permissions`` (bits, ``world.SEND_MESSAGES``...) in ``channel``
        with a member overwrite (0 removes it): CHANNEL_UPDATE. From then on REST answers as
        Discord does: 50001 Missing Access without VIEW_CHANNEL, 50013 Missing Permissions for a
        post without SEND_MESSAGES or a post or edit with embeds without EMBED_LINKS."""
        bot = str(self.world.bot.user_id)
        kept = [o for o in channel.permission_overwrites if not (o["type"] == 1 and o["id"] == bot)]
        if permissions:
            kept.append({"id": bot, "type": 1, "allow": "0", "deny": str(permissions)})
        channel.permission_overwrites = kept
        self.dispatch("CHANNEL_UPDATE", channel.payload())

    def join_guild(self, guild: SimGuild) -> None:
        """The bot is added to ``guild``, or the guild comes back after an outage: GUILD_CREATE."""
        joined = guild.guild_id not in self.gateway.outages
        self.gateway.outages.discard(guild.guild_id)
        self.world.guilds[guild.guild_id] = guild
        guild.members.setdefault(self.world.bot.user_id, self.world.bot)
        self.gateway.dispatch_guild_create(guild, joined=joined)

    def leave_guild(self, guild: SimGuild, *, unavailable: bool = False) -> None:
        """The bot is removed from ``guild`` (GUILD_DELETE), or the guild has an outage
        (``unavailable``: it stays in the world and ``join_guild`` brings it back)."""
        payload: Json = {"id": str(guild.guild_id)}
        if unavailable:
            payload["unavailable"] = True
            self.gateway.outages.add(guild.guild_id)
        else:
            self.world.guilds.pop(guild.guild_id, None)
        self.dispatch("GUILD_DELETE", payload)

    # -- driving: interactions ------------------------------------------------------------------

    def interact(
        self,
        guild: SimGuild,
        member: SimMember,
        channel: SimChannel,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        permissions: str | int | None = None,
    ) -> SimInteraction:
        """``member`` runs the slash command ``/name`` (``"group sub"`` for subcommands).

        ``options`` maps option names to values (members and channels may be given as objects);
        ``permissions`` is the member's permission integer (default: @everyone's). Raises
        ``LookupError`` if the bot has not registered the command, ``PermissionError`` if its
        ``default_member_permissions`` hide it from this member. Watch the answer on the
        returned ``SimInteraction`` (also ``world.interactions[id]``).
        """
        interaction = interactions.command_interaction(
            self.world, guild, member, channel, name, options, permissions=permissions
        )
        self.dispatch("INTERACTION_CREATE", interaction.payload)
        return interaction

    def click(
        self,
        guild: SimGuild,
        member: SimMember,
        message: Json,
        custom_id: str,
        *,
        values: list[str] | None = None,
        permissions: str | int | None = None,
    ) -> SimInteraction:
        """``member`` clicks the button (or picks ``values`` in the select menu) ``custom_id``."""
        interaction = interactions.component_interaction(
            self.world, guild, member, message, custom_id, values=values, permissions=permissions
        )
        self.dispatch("INTERACTION_CREATE", interaction.payload)
        return interaction
