"""Checking what people type into slash commands, before anything is stored or queried.

Pure: raw option values in, clean values (or an ``Invalid`` naming each offending value) out. The
guild's channels, roles and emoji arrive as plain data (``GuildFacts``, built from the gateway's
cache by the command layer), so every rule is tested without Discord. Options are hostile input:
every message echoes a value through ``shown``, so markdown or a mention never renders or pings.

Rules, in the order ``config_changes`` applies them:
- board channels: a text or announcement channel of this guild (a board is one message in it);
- arrow: one unicode emoji, or a custom emoji of this guild written ``<:name:id>`` / ``<a:name:id>``;
- colour ``#RRGGBB``; update interval 10 s .. 1 day; period 1 .. 365 days; anchor an ISO date (UTC);
- exclusions: any channel of this guild but a category (threads follow their parent); any role
  but @everyone; at most ``MAX_EXCLUSIONS`` of each;
- message cooldown 0 .. 1 hour.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from attrs import define, field, fields

from actors.board_render import escape_name
from domain.guild_config import GuildConfig
from domain.kinds import BoardKind

MIN_INTERVAL = 10.0
MAX_INTERVAL = 86_400.0
MAX_PERIOD_DAYS = 365
MAX_COOLDOWN = 3_600.0
MAX_EXCLUSIONS = 100
MAX_PAGE = 100_000
DISCORD_EPOCH = 1_420_070_400.0  # 2015-01-01: nothing to count before Discord existed
LATEST_ANCHOR = 4_102_444_800.0  # 2100-01-01
MAX_ARROW = 100  # BoardStyle's limit


class Invalid(ValueError):
    """One or more option values are refused; the message names each value and says what is allowed."""


class Period(enum.Enum):
    CURRENT = "current"
    PREVIOUS = "previous"
    ALL_TIME = "all-time"


def shown(value: object, max_len: int = 60, *, prefix: str = "") -> str:
    """A value as safe text to echo in a reply: quoted, markdown and mentions escaped, one line.

    ``prefix`` goes in front unescaped (``#`` before a channel name); never pass ``@``.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        digits = format(value, "g") if isinstance(value, float) else str(value)
        return f"“{digits if len(digits) <= max_len else digits[: max_len - 1] + '…'}”"
    escaped = escape_name(str(value), max_len)
    if escaped == escape_name(""):  # nothing visible (escape_name's stand-in for a blank name)
        return "an empty value"
    return f"“{prefix}{escaped}”"


# -- members' options ------------------------------------------------------------------------------


def parse_board(value: str) -> BoardKind:
    try:
        return BoardKind(value)
    except ValueError:
        raise Invalid(f"board {shown(value)} does not exist: choose messages or voice") from None


def parse_period(value: str) -> Period:
    try:
        return Period(value)
    except ValueError:
        raise Invalid(f"period {shown(value)} does not exist: choose current, previous or all-time") from None


def parse_page(value: int) -> int:
    if not 1 <= value <= MAX_PAGE:
        raise Invalid(f"page {shown(value)} is out of range: pages run from 1 to {MAX_PAGE:,}")
    return value


# -- numbers, colours, dates -------------------------------------------------------------------------


def _number(what: str, value: float, low: float, high: float, unit: str) -> float:
    if not math.isfinite(value):
        raise Invalid(f"{what} {shown(value)} is not a number")
    if not low <= value <= high:
        raise Invalid(f"{what} {shown(value)} is out of range: it must be {low:g} to {high:g} {unit}")
    return float(value)


def parse_interval(value: float) -> float:
    return _number("update interval", value, MIN_INTERVAL, MAX_INTERVAL, "seconds")


def parse_cooldown(value: float) -> float:
    return _number("message cooldown", value, 0, MAX_COOLDOWN, "seconds")


def parse_period_days(value: int) -> int:
    if not 1 <= value <= MAX_PERIOD_DAYS:
        raise Invalid(f"period length {shown(value)} is out of range: it must be 1 to {MAX_PERIOD_DAYS} days")
    return int(value)


_COLOUR = re.compile(r"#?([0-9a-fA-F]{6})")


def parse_colour(value: str) -> int:
    match = _COLOUR.fullmatch(value.strip())
    if match is None:
        raise Invalid(f"colour {shown(value)} is not a colour: write it as #RRGGBB, e.g. #571173")
    return int(match.group(1), 16)


def parse_anchor(value: str) -> float:
    """An ISO 8601 date or date-time; without a time zone it is UTC."""
    raw = value.strip()
    try:
        if len(raw) > 40:
            raise ValueError(raw)
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise Invalid(
            f"period anchor {shown(value)} is not a date: write YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    at = moment.timestamp()
    if not DISCORD_EPOCH <= at < LATEST_ANCHOR:
        raise Invalid(f"period anchor {shown(value)} is out of range: it must be between 2015 and 2100")
    return at


# -- emoji ---------------------------------------------------------------------------------------------

_CUSTOM_EMOJI = re.compile(r"<(a?):([A-Za-z0-9_]{2,32}):([0-9]{15,21})>")
_ZWJ, _VS15, _VS16, _KEYCAP = "\u200d", "\ufe0e", "\ufe0f", "\u20e3"
_BLACK_FLAG = "\U0001f3f4"  # subdivision flags: black flag + tag characters
# Code points that are emoji on their own (Unicode's emoji data, condensed; the supplementary
# pictograph blocks are taken whole, so emoji newer than this Python's Unicode tables pass).
_EMOJI_RANGES = (
    (0x00A9, 0x00A9), (0x00AE, 0x00AE), (0x203C, 0x203C), (0x2049, 0x2049), (0x2122, 0x2122),
    (0x2139, 0x2139), (0x2194, 0x2199), (0x21A9, 0x21AA), (0x231A, 0x231B), (0x2328, 0x2328),
    (0x23CF, 0x23CF), (0x23E9, 0x23F3), (0x23F8, 0x23FA), (0x24C2, 0x24C2), (0x25AA, 0x25AB),
    (0x25B6, 0x25B6), (0x25C0, 0x25C0), (0x25FB, 0x25FE), (0x2600, 0x27BF), (0x2934, 0x2935),
    (0x2B05, 0x2B07), (0x2B1B, 0x2B1C), (0x2B50, 0x2B50), (0x2B55, 0x2B55), (0x3030, 0x3030),
    (0x303D, 0x303D), (0x3297, 0x3297), (0x3299, 0x3299), (0x1F000, 0x1FAFF),
)  # fmt: skip


def _regional(ch: str) -> bool:
    return "\U0001f1e6" <= ch <= "\U0001f1ff"


def _pictographic(ch: str) -> bool:
    return not _regional(ch) and any(low <= ord(ch) <= high for low, high in _EMOJI_RANGES)


def is_unicode_emoji(text: str) -> bool:
    """Whether ``text`` is exactly one emoji: a pictograph with its modifiers, a ZWJ sequence,
    a flag (two regional indicators) or a keycap."""
    if not text or len(text) > 40:
        return False
    if len(text) == 2 and all(_regional(ch) for ch in text):
        return True
    if text[0] in "0123456789#*" and text[1:] in (_KEYCAP, _VS16 + _KEYCAP):
        return True
    for part in text.split(_ZWJ):
        if not part or not _pictographic(part[0]):
            return False
        for ch in part[1:]:
            skin_tone = "\U0001f3fb" <= ch <= "\U0001f3ff"
            tag = "\U000e0020" <= ch <= "\U000e007f" and part[0] == _BLACK_FLAG
            if ch not in (_VS15, _VS16) and not skin_tone and not tag:
                return False
    return True


class EmojiFact(NamedTuple):
    name: str
    animated: bool


def parse_arrow(value: str, emojis: Mapping[int, EmojiFact]) -> str:
    text = value.strip()
    custom = _CUSTOM_EMOJI.fullmatch(text)
    if custom is not None:
        animated, name, emoji_id = custom.group(1) == "a", custom.group(2), int(custom.group(3))
        known = emojis.get(emoji_id)
        if known is None:
            raise Invalid(f"arrow {shown(value)} is not an emoji of this server")
        if known != (name, animated):
            raise Invalid(
                f"arrow {shown(value)} does not match this server's emoji {shown(known.name)}: "
                "pick it from the emoji picker"
            )
        return text
    if is_unicode_emoji(text) and len(text) <= MAX_ARROW:
        return text
    raise Invalid(
        f"arrow {shown(value)} is not an emoji: use one unicode emoji (like ➡️) "
        "or a custom emoji of this server (<:name:id>)"
    )


# -- the guild's channels and roles ---------------------------------------------------------------------


class ChannelKind(enum.Enum):
    TEXT = "text"
    ANNOUNCEMENT = "announcement"
    FORUM = "forum"
    VOICE = "voice"
    STAGE = "stage"
    CATEGORY = "category"
    THREAD = "thread"
    OTHER = "other"


BOARD_KINDS = frozenset({ChannelKind.TEXT, ChannelKind.ANNOUNCEMENT})


class ChannelRef(NamedTuple):
    """A channel as an option named it: its id and the name the interaction carried (untrusted)."""

    id: int
    name: str


class RoleRef(NamedTuple):
    id: int
    name: str


@define(frozen=True)
class GuildFacts:
    """What the gateway told us about the guild the command runs in (the truth; options may lie)."""

    guild_id: int
    channels: Mapping[int, ChannelKind] = field(factory=dict)
    roles: frozenset[int] = frozenset()
    emojis: Mapping[int, EmojiFact] = field(factory=dict)


def _channel_label(channel: ChannelRef) -> str:
    return shown(channel.name, prefix="#")


def board_channel(what: str, channel: ChannelRef, facts: GuildFacts) -> int:
    kind = facts.channels.get(channel.id)
    if kind is None:
        raise Invalid(f"{what} {_channel_label(channel)} is not a channel of this server")
    if kind not in BOARD_KINDS:
        raise Invalid(f"{what} {_channel_label(channel)} is a {kind.value} channel: choose a text channel")
    return channel.id


def excludable_channel(channel: ChannelRef, facts: GuildFacts) -> int:
    kind = facts.channels.get(channel.id)
    if kind is None:
        raise Invalid(f"excluded channel {_channel_label(channel)} is not a channel of this server")
    if kind is ChannelKind.CATEGORY:
        raise Invalid(
            f"excluded channel {_channel_label(channel)} is a category: exclude its channels one by one"
        )
    return channel.id


def excludable_role(role: RoleRef, facts: GuildFacts) -> int:
    if role.id == facts.guild_id:
        raise Invalid(
            f"excluded role {shown('@everyone')} would exclude every member: exclude channels instead"
        )
    if role.id not in facts.roles:
        raise Invalid(f"excluded role {shown('@' + role.name)} is not a role of this server")
    return role.id


# -- /lbconfig set -----------------------------------------------------------------------------------------


@define(frozen=True)
class SetOptions:
    """The options of ``/lbconfig set`` as given (None: not given)."""

    message_board_channel: ChannelRef | None = None
    voice_board_channel: ChannelRef | None = None
    arrow: str | None = None
    colour: str | None = None
    update_interval: float | None = None
    period_days: int | None = None
    period_anchor: str | None = None
    count_deafened: bool | None = None
    count_muted: bool | None = None
    count_alone: bool | None = None
    exclude_channel: ChannelRef | None = None
    include_channel: ChannelRef | None = None
    exclude_role: RoleRef | None = None
    include_role: RoleRef | None = None
    message_cooldown: float | None = None
    hide_departed: bool | None = None

    def given(self) -> bool:
        return any(getattr(self, a.name) is not None for a in fields(SetOptions))


def config_changes(current: GuildConfig, options: SetOptions, facts: GuildFacts) -> dict[str, Any]:
    """The ``GuildConfig`` fields to change, only those whose value actually changes.

    Every option is checked, and all problems are reported together: an admin fixes them in one go,
    and nothing is stored unless everything is valid.
    """
    if not options.given():
        raise Invalid("nothing to change: give at least one option")
    changes: dict[str, Any] = {}
    problems: list[str] = []

    def check(key: str, parse: Any, *args: Any) -> None:
        try:
            changes[key] = parse(*args)
        except Invalid as exc:
            problems.append(str(exc))

    o = options
    if o.message_board_channel is not None:
        check(
            "message_board_channel_id", board_channel, "message board channel", o.message_board_channel, facts
        )
    if o.voice_board_channel is not None:
        check("voice_board_channel_id", board_channel, "voice board channel", o.voice_board_channel, facts)
    if o.arrow is not None:
        check("arrow", parse_arrow, o.arrow, facts.emojis)
    if o.colour is not None:
        check("colour", parse_colour, o.colour)
    if o.update_interval is not None:
        check("update_interval", parse_interval, o.update_interval)
    if o.period_days is not None:
        check("period_days", parse_period_days, o.period_days)
    if o.period_anchor is not None:
        check("period_anchor", parse_anchor, o.period_anchor)
    for flag in ("count_deafened", "count_muted", "count_alone", "hide_departed"):
        if getattr(o, flag) is not None:
            changes[flag] = bool(getattr(o, flag))
    if o.message_cooldown is not None:
        check("message_cooldown", parse_cooldown, o.message_cooldown)

    channels = set(current.excluded_channels)
    if o.exclude_channel is not None:
        try:
            channels.add(excludable_channel(o.exclude_channel, facts))
        except Invalid as exc:
            problems.append(str(exc))
    if o.include_channel is not None:
        if o.include_channel.id in channels:
            channels.discard(o.include_channel.id)
        else:
            problems.append(f"channel {_channel_label(o.include_channel)} is not excluded")
    roles = set(current.excluded_roles)
    if o.exclude_role is not None:
        try:
            roles.add(excludable_role(o.exclude_role, facts))
        except Invalid as exc:
            problems.append(str(exc))
    if o.include_role is not None:
        if o.include_role.id in roles:
            roles.discard(o.include_role.id)
        else:
            problems.append(f"role {shown('@' + o.include_role.name)} is not excluded")
    if len(channels) > MAX_EXCLUSIONS or len(roles) > MAX_EXCLUSIONS:
        problems.append(f"at most {MAX_EXCLUSIONS} channels and {MAX_EXCLUSIONS} roles can be excluded")
    changes["excluded_channels"] = frozenset(channels)
    changes["excluded_roles"] = frozenset(roles)

    if problems:
        raise Invalid("\n".join(problems))
    return {key: value for key, value in changes.items() if getattr(current, key) != value}
