"""The simulated Discord's state: guilds, channels, members, voice states, messages, REST log.

Payload builders follow today's API documentation (v10), because disnake 2.12 reads current fields
(a role's ``colors`` object, a member's ``flags``). Ids are real snowflakes built from the
simulator's clock, so ``created_at`` on the bot side is meaningful.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from attrs import define, field

DISCORD_EPOCH_MS = 1_420_070_400_000
TEXT, VOICE, CATEGORY, PUBLIC_THREAD, STAGE = 0, 2, 4, 11, 13

Json = dict[str, Any]


@define
class SimMember:
    user_id: int
    username: str
    global_name: str | None = None
    nick: str | None = None
    bot: bool = False

    def user_payload(self) -> Json:
        return {
            "id": str(self.user_id),
            "username": self.username,
            "global_name": self.global_name,
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
        }

    def member_payload(self, *, with_user: bool = True) -> Json:
        payload: Json = {
            "nick": self.nick,
            "roles": [],
            "joined_at": "2026-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
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

    def payload(self) -> Json:
        payload: Json = {
            "id": str(self.channel_id),
            "guild_id": str(self.guild_id),
            "name": self.name,
            "type": self.type,
            "position": 0,
            "permission_overwrites": [],
            "parent_id": str(self.parent_id) if self.parent_id else None,
            "nsfw": False,
        }
        if self.type in (VOICE, STAGE):
            payload |= {"bitrate": 64_000, "user_limit": 0, "rtc_region": None}
        if self.type == PUBLIC_THREAD:
            payload |= {
                "owner_id": str(self.guild_id),
                "member_count": 1,
                "message_count": 0,
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
            "permissions": "1071698660929",
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }

    def create_payload(self) -> Json:
        """GUILD_CREATE as sent on (re)connect: the whole guild, with who is in voice."""
        return {
            "id": str(self.guild_id),
            "name": self.name,
            "icon": self.icon,
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
            "system_channel_id": None,
            "system_channel_flags": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "joined_at": "2026-01-01T00:00:00+00:00",
            "large": False,
            "unavailable": False,
            "member_count": len(self.members),
            "members": [m.member_payload() for m in self.members.values()],
            "channels": [c.payload() for c in self.channels.values() if c.type != PUBLIC_THREAD],
            "threads": [c.payload() for c in self.channels.values() if c.type == PUBLIC_THREAD],
            "voice_states": [dict(v) for v in self.voice_states.values()],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
        }


class World:
    """Everything the simulated Discord knows; mutated only by the server and the scenario driver."""

    def __init__(self, now_ms: Callable[[], int]) -> None:
        self._now_ms = now_ms
        self._counter = itertools.count()
        self.bot = SimMember(self.new_id(), "leaderboard-bot", "Leaderboard", bot=True)
        self.application_id = self.new_id()
        self.guilds: dict[int, SimGuild] = {}
        self.messages: dict[int, dict[int, Json]] = {}
        self.rest_calls: list[tuple[str, str, Json | None]] = []

    def new_id(self) -> int:
        """A snowflake: milliseconds since Discord's epoch, then a counter (unique, increasing)."""
        return ((self._now_ms() - DISCORD_EPOCH_MS) << 22) | (next(self._counter) & 0x3FFFFF)

    def channel(self, channel_id: int) -> SimChannel | None:
        for guild in self.guilds.values():
            if channel_id in guild.channels:
                return guild.channels[channel_id]
        return None

    def iso_now(self) -> str:
        from datetime import UTC, datetime

        return datetime.fromtimestamp(self._now_ms() / 1000, tz=UTC).isoformat()

    def message_payload(
        self,
        channel: SimChannel,
        author: SimMember,
        content: str = "",
        *,
        webhook: bool = False,
        message_type: int = 0,
        embeds: list[Json] | None = None,
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
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": embeds or [],
            "pinned": False,
            "type": message_type,
            "flags": 0,
        }
        if webhook:
            payload["webhook_id"] = str(self.new_id())
        else:
            payload["member"] = author.member_payload(with_user=False)
        return payload
