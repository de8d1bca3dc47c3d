"""The simulated Discord's state: guilds, channels, members, voice states, messages, commands.

Payload builders follow today's API documentation (v10), because disnake 2.12 reads current fields
(a role's ``colors`` object, a member's ``flags``). Ids are real snowflakes built from the
simulator's clock, so ``created_at`` on the bot side is meaningful.

Nothing here does I/O or sends events: the server (REST and gateway) changes the world through
these methods and then dispatches what Discord would dispatch.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from attrs import define, field

DISCORD_EPOCH_MS = 1_420_070_400_000
TEXT, VOICE, CATEGORY, ANNOUNCEMENT, PUBLIC_THREAD, PRIVATE_THREAD, STAGE = 0, 2, 4, 5, 11, 12, 13
THREAD_TYPES = frozenset({10, PUBLIC_THREAD, PRIVATE_THREAD})
# Channels a message can be posted in (text-in-voice included, as on Discord).
MESSAGEABLE_TYPES = frozenset({TEXT, VOICE, ANNOUNCEMENT, STAGE, *THREAD_TYPES})

# Message types (https://discord.com/developers/docs/resources/message#message-object-message-types)
DEFAULT_MESSAGE, CHAT_INPUT_COMMAND = 0, 20
# Message flags
SUPPRESS_EMBEDS, EPHEMERAL, LOADING = 1 << 2, 1 << 6, 1 << 7
# Permission bits the REST routes check for the bot (https://discord.com/developers/docs/topics/permissions)
VIEW_CHANNEL, SEND_MESSAGES, EMBED_LINKS = 1 << 10, 1 << 11, 1 << 14
# Intents a bot needs approval for (GUILD_MEMBERS, GUILD_PRESENCES, MESSAGE_CONTENT).
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)
EVERYONE_PERMISSIONS = "1071698660929"

Json = dict[str, Any]

_MENTION = re.compile(r"<@!?(\d{15,21})>")


def snowflake_ms(snowflake: int | str) -> int:
    """The creation time (Unix ms) encoded in a snowflake."""
    return (int(snowflake) >> 22) + DISCORD_EPOCH_MS


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def voice_state_payload(guild: SimGuild, member: SimMember, channel_id: int | None, **flags: bool) -> Json:
    """VOICE_STATE_UPDATE as ``DiscordSim.set_voice`` dispatches it: ``member`` in ``channel_id``
    (None: left voice) with the given mute/deaf/suppress flags (public so tests build the same)."""
    return {
        "guild_id": str(guild.guild_id),
        "channel_id": None if channel_id is None else str(channel_id),
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


@define
class SimMember:
    user_id: int
    username: str
    global_name: str | None = None
    nick: str | None = None
    bot: bool = False
    roles: list[int] = field(factory=list)
    avatar: str | None = None  # the avatar's hash; its bytes are ``World.avatars[hash]``

    def user_payload(self) -> Json:
        return {
            "id": str(self.user_id),
            "username": self.username,
            "global_name": self.global_name,
            "discriminator": "0",
            "avatar": self.avatar,
            "bot": self.bot,
        }

    def member_payload(self, *, with_user: bool = True) -> Json:
        payload: Json = {
            "nick": self.nick,
            "roles": [str(r) for r in self.roles],
            "joined_at": "2026-01-01T00:00:00+00:00",
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "communication_disabled_until": None,
            "flags": 0,
            "avatar": None,
        }
        if with_user:
            payload["user"] = self.user_payload()
        return payload


@define
class SimChannel:
    channel_id: int
    guild_id: int
    name: str
    type: int = TEXT
    parent_id: int | None = None
    # Member overwrites as Discord lists them; the REST routes refuse what they deny the bot
    # (50001, 50013), see ``DiscordSim.deny_bot``. Role overwrites are not modelled.
    permission_overwrites: list[Json] = field(factory=list)

    def denied(self, user_id: int) -> int:
        """The permission bits this channel's overwrites deny ``user_id``."""
        bits = 0
        for overwrite in self.permission_overwrites:
            if overwrite["type"] == 1 and overwrite["id"] == str(user_id):
                bits |= int(overwrite["deny"])
        return bits

    def payload(self) -> Json:
        payload: Json = {
            "id": str(self.channel_id),
            "guild_id": str(self.guild_id),
            "name": self.name,
            "type": self.type,
            "position": 0,
            "permission_overwrites": [dict(o) for o in self.permission_overwrites],
            "parent_id": str(self.parent_id) if self.parent_id else None,
            "nsfw": False,
        }
        if self.type in (TEXT, ANNOUNCEMENT):
            payload |= {"topic": None, "last_message_id": None, "rate_limit_per_user": 0}
        if self.type in (VOICE, STAGE):
            payload |= {"bitrate": 64_000, "user_limit": 0, "rtc_region": None}
        if self.type in THREAD_TYPES:
            del payload["permission_overwrites"]
            payload |= {
                "owner_id": str(self.guild_id),
                "member_count": 1,
                "message_count": 0,
                "total_message_sent": 0,
                "rate_limit_per_user": 0,
                "thread_metadata": {
                    "archived": False,
                    "auto_archive_duration": 10080,
                    "archive_timestamp": "2026-01-01T00:00:00+00:00",
                    "locked": False,
                },
            }
        return payload


@define
class SimGuild:
    guild_id: int
    name: str
    owner_id: int
    icon: str | None = None
    afk_channel_id: int | None = None
    channels: dict[int, SimChannel] = field(factory=dict)
    members: dict[int, SimMember] = field(factory=dict)
    voice_states: dict[int, Json] = field(factory=dict)

    def role_everyone(self) -> Json:
        return {
            "id": str(self.guild_id),
            "name": "@everyone",
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": 0,
            "permissions": EVERYONE_PERMISSIONS,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }

    def payload(self) -> Json:
        """The guild object as ``GET /guilds/{id}`` returns it (no GUILD_CREATE extras)."""
        return {
            "id": str(self.guild_id),
            "name": self.name,
            "icon": self.icon,
            "splash": None,
            "discovery_splash": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": str(self.afk_channel_id) if self.afk_channel_id else None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [self.role_everyone()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
        }

    def create_payload(self, *, all_members: bool = True, bot_id: int | None = None) -> Json:
        """GUILD_CREATE as sent on (re)connect: the whole guild, with who is in voice.

        Without the GUILD_MEMBERS intent Discord lists only the bot itself and members in voice
        (``all_members=False``); voice states in GUILD_CREATE carry no ``member`` and no
        ``guild_id`` (the guild is the one they are in), as Discord sends them.
        """
        if all_members:
            members = list(self.members.values())
        else:
            wanted = {*self.voice_states, bot_id}
            members = [m for m in self.members.values() if m.user_id in wanted]
        return self.payload() | {
            "joined_at": "2026-01-01T00:00:00+00:00",
            "large": False,
            "unavailable": False,
            "member_count": len(self.members),
            "members": [m.member_payload() for m in members],
            "channels": [c.payload() for c in self.channels.values() if c.type not in THREAD_TYPES],
            "threads": [c.payload() for c in self.channels.values() if c.type in THREAD_TYPES],
            "voice_states": [
                {k: value for k, value in v.items() if k != "guild_id"} for v in self.voice_states.values()
            ],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }


@define
class SimInteraction:
    """One INTERACTION_CREATE and everything the bot answered to it (inspect it in tests).

    ``callbacks`` holds each ``POST .../callback`` body in order; ``response_type`` is the first
    accepted one (4 message, 5 deferred message, 6 deferred update, 7 update message);
    ``original`` is the message the response created or updated (ephemeral ones included, which
    never reach ``World.messages``); ``followups`` are messages sent through the webhook.
    """

    interaction_id: int
    token: str
    type: int
    payload: Json
    created_ms: int
    channel_id: int
    guild_id: int | None
    user_id: int
    message_id: int | None = None  # the message a component belongs to
    callbacks: list[Json] = field(factory=list)
    response_type: int | None = None
    original: Json | None = None
    followups: list[Json] = field(factory=list)

    @property
    def ephemeral(self) -> bool:
        return self.original is not None and bool(self.original.get("flags", 0) & EPHEMERAL)

    @property
    def answered(self) -> bool:
        return self.response_type is not None


class World:
    """Everything the simulated Discord knows; mutated only by the server and the scenario driver."""

    def __init__(self, now_ms: Callable[[], int]) -> None:
        self._now_ms = now_ms
        self._counter = itertools.count()
        self.bot = SimMember(self.new_id(), "leaderboard-bot", "Leaderboard", bot=True)
        self.application_id = self.new_id()
        self.guilds: dict[int, SimGuild] = {}
        # channel id -> message id -> the message as Discord would return it now
        self.messages: dict[int, dict[int, Json]] = {}
        # message id -> an ephemeral interaction response: only its user sees it, in no channel,
        # but its buttons work (a click answered with type 6 or 7 updates it in place)
        self.ephemeral: dict[int, Json] = {}
        # (method, path, body): every REST call, failed and rate-limited ones included
        self.rest_calls: list[tuple[str, str, Any]] = []
        # None: global commands; a guild id: that guild's commands. command id -> command
        self.commands: dict[int | None, dict[int, Json]] = {}
        self.interactions: dict[int, SimInteraction] = {}
        self._interaction_tokens: dict[str, SimInteraction] = {}
        self.attachments: dict[int, bytes] = {}
        self.avatars: dict[str, bytes] = {}  # avatar hash -> the picture the CDN serves for it
        # Privileged intents this application is approved for (IDENTIFY asking others gets 4014).
        self.approved_intents = PRIVILEGED_INTENTS

    # -- time and ids ---------------------------------------------------------------------------

    def now_ms(self) -> int:
        return self._now_ms()

    def new_id(self) -> int:
        """A snowflake: milliseconds since Discord's epoch, then a counter (unique, increasing)."""
        return ((self._now_ms() - DISCORD_EPOCH_MS) << 22) | (next(self._counter) & 0x3FFFFF)

    def iso_now(self) -> str:
        return iso(self._now_ms())

    # -- lookups --------------------------------------------------------------------------------

    def channel(self, channel_id: int) -> SimChannel | None:
        for guild in self.guilds.values():
            if channel_id in guild.channels:
                return guild.channels[channel_id]
        return None

    def member(self, guild_id: int, user_id: int) -> SimMember | None:
        guild = self.guilds.get(guild_id)
        return guild.members.get(user_id) if guild else None

    def user(self, user_id: int) -> SimMember | None:
        if user_id == self.bot.user_id:
            return self.bot
        for guild in self.guilds.values():
            if user_id in guild.members:
                return guild.members[user_id]
        return None

    def message(self, channel_id: int, message_id: int) -> Json | None:
        return self.messages.get(channel_id, {}).get(message_id)

    def interaction_by_token(self, token: str) -> SimInteraction | None:
        return self._interaction_tokens.get(token)

    def add_interaction(self, interaction: SimInteraction) -> SimInteraction:
        self.interactions[interaction.interaction_id] = interaction
        self._interaction_tokens[interaction.token] = interaction
        return interaction

    # -- messages -------------------------------------------------------------------------------

    def message_payload(
        self,
        channel: SimChannel,
        author: SimMember,
        content: str = "",
        *,
        webhook: bool = False,
        message_type: int = 0,
        embeds: list[Json] | None = None,
        webhook_id: int | None = None,
    ) -> Json:
        payload: Json = {
            "id": str(self.new_id()),
            "channel_id": str(channel.channel_id),
            "guild_id": str(channel.guild_id),
            "author": author.user_payload(),
            "content": content,
            "timestamp": self.iso_now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": "@everyone" in content,
            "mentions": self._mentions(channel.guild_id, content),
            "mention_roles": [],
            "attachments": [],
            "embeds": [normalise_embed(e) for e in embeds or []],
            "components": [],
            "pinned": False,
            "type": message_type,
            "flags": 0,
        }
        if webhook or webhook_id is not None:
            payload["webhook_id"] = str(webhook_id or self.new_id())
        else:
            payload["member"] = author.member_payload(with_user=False)
        return payload

    def reaction_payload(self, message: Json, member: SimMember, emoji: str = "\N{THUMBS UP SIGN}") -> Json:
        """MESSAGE_REACTION_ADD as Discord sends it in a guild: the reacting member with its user,
        the emoji (``id`` null for a unicode one) and the message's author (``message_author_id``)."""
        return {
            "user_id": str(member.user_id),
            "channel_id": message["channel_id"],
            "message_id": message["id"],
            "guild_id": message["guild_id"],
            "member": member.member_payload(with_user=True),
            "emoji": {"id": None, "name": emoji},
            "message_author_id": message["author"]["id"],
            "burst": False,
            "type": 0,
        }

    def store_message(self, payload: Json) -> Json:
        self.messages.setdefault(int(payload["channel_id"]), {})[int(payload["id"])] = payload
        return payload

    def apply_edit(self, message: Json, body: Json, attachments: list[Json] | None = None) -> Json:
        """Change ``message`` in place the way PATCH does: only the fields present in ``body``."""
        if "components" in body:
            message["components"] = body["components"] or []
        if "content" in body:
            message["content"] = body["content"] or ""
            message["mentions"] = self._mentions(int(message["guild_id"]), message["content"])
        if "embeds" in body:
            message["embeds"] = [normalise_embed(e) for e in body["embeds"] or []]
        if "flags" in body and body["flags"] is not None:
            # only SUPPRESS_EMBEDS can be changed by an edit; the rest are Discord's
            kept = message.get("flags", 0) & ~SUPPRESS_EMBEDS & ~LOADING
            message["flags"] = kept | (int(body["flags"]) & SUPPRESS_EMBEDS)
        else:
            message["flags"] = message.get("flags", 0) & ~LOADING
        if attachments is not None:
            message["attachments"] = attachments
        message["edited_timestamp"] = self.iso_now()
        return message

    def _mentions(self, guild_id: int, content: str) -> list[Json]:
        guild = self.guilds.get(guild_id)
        found = []
        for user_id in dict.fromkeys(int(m) for m in _MENTION.findall(content or "")):
            member = (guild.members.get(user_id) if guild else None) or self.user(user_id)
            if member is not None:
                found.append(member.user_payload() | {"member": member.member_payload(with_user=False)})
        return found

    # -- application commands -------------------------------------------------------------------

    def overwrite_commands(self, guild_id: int | None, commands: Iterable[Json]) -> list[Json]:
        """Bulk overwrite: a command keeps its id if one of the same name and type existed."""
        old = {(c["name"], c.get("type", 1)): c for c in self.commands.get(guild_id, {}).values()}
        fresh: dict[int, Json] = {}
        for body in commands:
            kind = body.get("type", 1)
            previous = old.get((body["name"], kind))
            command_id = int(previous["id"]) if previous else self.new_id()
            fresh[command_id] = self.command_payload(command_id, guild_id, body)
        self.commands[guild_id] = fresh
        return list(fresh.values())

    def command_payload(self, command_id: int, guild_id: int | None, body: Json) -> Json:
        kind = body.get("type", 1)
        permissions = body.get("default_member_permissions")
        payload: Json = {
            "id": str(command_id),
            "application_id": str(self.application_id),
            "version": str(self.new_id()),
            "type": kind,
            "name": body["name"],
            "name_localizations": body.get("name_localizations"),
            "description": body.get("description", "") if kind == 1 else "",
            "description_localizations": body.get("description_localizations"),
            "options": body.get("options", []) if kind == 1 else [],
            "default_member_permissions": None if permissions is None else str(permissions),
            "dm_permission": body.get("dm_permission", True),
            "nsfw": body.get("nsfw", False),
            "integration_types": body.get("integration_types", [0]),
            "contexts": body.get("contexts"),
        }
        if guild_id is not None:
            payload["guild_id"] = str(guild_id)
        return payload

    def find_command(self, guild_id: int | None, name: str, kind: int = 1) -> Json | None:
        """The command a user in ``guild_id`` would invoke: the guild's first, then global."""
        for scope in (guild_id, None):
            for command in self.commands.get(scope, {}).values():
                if command["name"] == name and command["type"] == kind:
                    return command
        return None


def normalise_embed(embed: Json) -> Json:
    """An embed as Discord stores it: type ``rich`` unless given, no null values."""
    stored = {k: v for k, v in embed.items() if v is not None}
    stored.setdefault("type", "rich")
    if "fields" in stored:
        stored["fields"] = [{"inline": False, **f} for f in stored["fields"]]
    return stored
