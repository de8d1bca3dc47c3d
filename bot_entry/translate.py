"""Gateway payloads (JSON dicts) -> our frozen events. The border where untrusted data is checked.

Why raw payloads and not disnake's objects: disnake builds a ``Message`` only with its channel cache
in place and raises on malformed data, deep in its websocket loop; here every field is checked and
a bad payload becomes one ``MalformedPayload`` that the gateway logs and skips.
"""

from __future__ import annotations

from typing import Any

from attrs import evolve

from domain.events import GuildSnapshot, MessageSent, ReactionAdded, VoiceStateChanged

# Message types that are people talking: DEFAULT and REPLY. Everything else (joins, pins, boosts,
# thread starters, command invocations...) is a system message and does not count.
TALK_TYPES = frozenset({0, 19})
VOICE_CHANNEL_TYPES = frozenset({2, 13})
TEXT_CHANNEL_TYPES = frozenset({0, 5, 15})  # text, announcement, forum
# Announcement, public and private threads; a forum post is a public thread whose parent is the forum.
THREAD_TYPES = frozenset({10, 11, 12})
CDN = "https://cdn.discordapp.com"


class MalformedPayload(ValueError):
    """A gateway payload we cannot trust; the message says which field."""


def _id(data: dict[str, Any], key: str) -> int:
    """A snowflake as Discord writes it: ASCII digits (or an int), 1 .. 2**64 - 1.

    Anything else (' 12', '1_2', Arabic-Indic digits) is refused, so one id has one spelling.
    """
    raw = data.get(key)
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise MalformedPayload(f"{key}: expected a snowflake, got {type(raw).__name__}")
    if isinstance(raw, str) and not (raw.isascii() and raw.isdigit() and len(raw) <= 20):
        raise MalformedPayload(f"{key}: {_short(raw)} is not a snowflake")
    value = int(raw)
    if not 0 < value < 2**64:
        raise MalformedPayload(f"{key}: {_short(value)} is out of range")
    return value


def _short(value: object, limit: int = 40) -> str:
    """A bad value for a log line: its repr, cut short (one hostile payload, one short line)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def _optional_id(data: dict[str, Any], key: str) -> int | None:
    return None if data.get(key) is None else _id(data, key)


def _dict(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise MalformedPayload(f"{what}: expected an object, got {type(data).__name__}")
    return data


def _flag(data: dict[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool | None):
        raise MalformedPayload(f"{key}: expected a boolean, got {type(value).__name__}")
    return bool(value)


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise MalformedPayload(f"{key}: expected a string, got {type(value).__name__}")
    return value


def _roles(member: dict[str, Any] | None) -> frozenset[int]:
    raw = (member or {}).get("roles") or []
    if not isinstance(raw, list):
        raise MalformedPayload(f"member.roles: expected a list, got {type(raw).__name__}")
    return frozenset(_id({"role": r}, "role") for r in raw)


def display_name(user: dict[str, Any], member: dict[str, Any] | None) -> str:
    """Server nickname, else global display name, else username (what members see in the app)."""
    nick = _text(member, "nick") if member else None
    return nick or _text(user, "global_name") or _text(user, "username") or ""


def message_sent(data: Any, at: float) -> MessageSent | None:
    """MESSAGE_CREATE -> MessageSent; None for messages outside guilds (DMs are not counted)."""
    data = _dict(data, "MESSAGE_CREATE")
    if data.get("guild_id") is None:
        return None
    author = _dict(data.get("author"), "author")
    member = data.get("member")
    message_type = data.get("type", 0)
    if isinstance(message_type, bool) or not isinstance(message_type, int):
        raise MalformedPayload(f"type: expected an integer, got {type(message_type).__name__}")
    return MessageSent(
        guild_id=_id(data, "guild_id"),
        channel_id=_id(data, "channel_id"),
        message_id=_id(data, "id"),
        author_id=_id(author, "id"),
        author_name=display_name(author, _dict(member, "member") if member is not None else None),
        at=at,
        author_bot=_flag(author, "bot"),
        webhook=data.get("webhook_id") is not None,
        system=_flag(author, "system") or message_type not in TALK_TYPES,
        author_roles=_roles(_dict(member, "member") if member is not None else None),
    )


def reaction_added(data: Any, at: float) -> ReactionAdded | None:
    """MESSAGE_REACTION_ADD -> ReactionAdded; None outside guilds. Discord sends the reacting
    member (with its user) and, since 2024, ``message_author_id``."""
    data = _dict(data, "MESSAGE_REACTION_ADD")
    if data.get("guild_id") is None:
        return None
    member = _dict(data["member"], "member") if data.get("member") is not None else None
    user = _dict(member.get("user"), "member.user") if member is not None and "user" in member else {}
    emoji = _dict(data.get("emoji"), "emoji")
    emoji_key = str(_id(emoji, "id")) if emoji.get("id") is not None else _text(emoji, "name")
    if not emoji_key:
        raise MalformedPayload("emoji: neither an id nor a name")
    return ReactionAdded(
        guild_id=_id(data, "guild_id"),
        channel_id=_id(data, "channel_id"),
        message_id=_id(data, "message_id"),
        user_id=_id(data, "user_id"),
        emoji=emoji_key[:100],
        at=at,
        message_author_id=_optional_id(data, "message_author_id"),
        user_bot=_flag(user, "bot"),
        roles=_roles(member),
    )


def voice_state_changed(data: Any, at: float, guild_id: int | None = None) -> VoiceStateChanged:
    """VOICE_STATE_UPDATE (or one entry of GUILD_CREATE ``voice_states``) -> VoiceStateChanged."""
    data = _dict(data, "VOICE_STATE_UPDATE")
    member = data.get("member")
    member = _dict(member, "member") if member is not None else None
    user = _dict(member.get("user"), "member.user") if member and member.get("user") is not None else {}
    return VoiceStateChanged(
        guild_id=guild_id if guild_id is not None else _id(data, "guild_id"),
        user_id=_id(data, "user_id"),
        channel_id=_optional_id(data, "channel_id"),
        at=at,
        member_name=display_name(user, member) if user else "",
        self_mute=_flag(data, "self_mute"),
        self_deaf=_flag(data, "self_deaf"),
        mute=_flag(data, "mute"),
        deaf=_flag(data, "deaf"),
        suppress=_flag(data, "suppress"),
        bot=_flag(user, "bot") if user else False,
        roles=_roles(member),
    )


def _channel_ids(channels: list[Any], types: frozenset[int]) -> frozenset[int]:
    ids = set()
    for channel in channels:
        if not isinstance(channel, dict):
            continue
        kind = channel.get("type")
        if isinstance(kind, bool) or not isinstance(kind, int):
            raise MalformedPayload(f"channels[].type: expected an integer, got {type(kind).__name__}")
        if kind in types:
            ids.add(_id(channel, "id"))
    return frozenset(ids)


def guild_snapshot(data: Any, at: float) -> GuildSnapshot | None:
    """GUILD_CREATE -> GuildSnapshot; None for an unavailable guild (outage: nothing to learn)."""
    data = _dict(data, "GUILD_CREATE")
    if data.get("unavailable"):
        return None
    guild_id = _id(data, "id")
    channels = data.get("channels") or []
    states = data.get("voice_states") or []
    if not isinstance(channels, list) or not isinstance(states, list):
        raise MalformedPayload("channels/voice_states: expected lists")
    icon = _text(data, "icon")
    bots = {
        _id(_dict(m.get("user"), "member.user"), "id")
        for m in data.get("members") or []
        if isinstance(m, dict) and isinstance(m.get("user"), dict) and m["user"].get("bot")
    }
    voice_states = tuple(
        voice_state_changed(state, at, guild_id) for state in states if _dict(state, "voice_state")
    )
    return GuildSnapshot(
        guild_id=guild_id,
        name=_text(data, "name") or "",
        at=at,
        icon_url=f"{CDN}/icons/{guild_id}/{icon}.png" if icon else None,
        afk_channel_id=_optional_id(data, "afk_channel_id"),
        voice_channel_ids=_channel_ids(channels, VOICE_CHANNEL_TYPES),
        text_channel_ids=_channel_ids(channels, TEXT_CHANNEL_TYPES),
        voice_states=tuple(evolve(s, bot=s.bot or s.user_id in bots) for s in voice_states),
    )


def channel_parent(data: Any) -> tuple[int, int | None]:
    """A channel or thread payload -> (its id, the channel whose rules it follows).

    A thread (a forum post too) follows its parent channel, so excluding a channel excludes its
    threads; any other channel follows itself (None). Categories do not pass their rules down.
    """
    data = _dict(data, "channel")
    kind = data.get("type")
    if isinstance(kind, bool) or not isinstance(kind, int):
        raise MalformedPayload(f"channel.type: expected an integer, got {type(kind).__name__}")
    return _id(data, "id"), _id(data, "parent_id") if kind in THREAD_TYPES else None


def channel_parents(data: Any) -> dict[int, int | None]:
    """GUILD_CREATE or THREAD_LIST_SYNC -> channel id -> the channel whose rules it follows.

    Reads ``channels`` and ``threads``. An entry that cannot be read is left out rather than
    failing the whole payload: a channel missing here is looked up over REST when a message needs it.
    """
    data = _dict(data, "channels payload")
    parents: dict[int, int | None] = {}
    for key in ("channels", "threads"):
        entries = data.get(key) or []
        if not isinstance(entries, list):
            raise MalformedPayload(f"{key}: expected a list, got {type(entries).__name__}")
        for entry in entries:
            try:
                channel_id, parent = channel_parent(entry)
            except MalformedPayload:
                continue
            parents[channel_id] = parent
    return parents
