"""Checking what people type into slash commands, before anything is stored or queried.

Pure: raw option values in, clean values (or an ``Invalid`` naming each offending value) out. The
guild's channels, roles and emoji arrive as plain data (``GuildFacts``, built from the gateway's
cache by the command layer), so every rule is tested without Discord. Options are hostile input:
every message echoes a value through ``shown``, so markdown or a mention never renders or pings.

The rules of each setting's value (bounds, colour, emoji, dates) are the guild settings table's
(``domain.guild_settings``), the same rules the operator's defaults pass, with the same sentence;
this module adds what only the server can tell, in the order ``config_changes`` applies them:
- board channels: a text or announcement channel of this guild (a board is one message in it);
- arrow: a custom emoji must be one of this guild's, written as the picker writes it;
- exclusions: any channel of this guild but a category (threads follow their parent); any role
  but @everyone; at most ``MAX_EXCLUSIONS`` of each.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, NamedTuple

from attrs import define, field, fields

from actors.board_render import escape_name
from domain.guild_config import GuildConfig
from domain.guild_settings import BY_NAME, CUSTOM_EMOJI, GUILD_SETTINGS, MAX_EXCLUSIONS
from domain.guild_settings import is_unicode_emoji as is_unicode_emoji  # the table's rule, re-exported
from domain.kinds import BoardKind
from domain.setting import Refused

MAX_PAGE = 100_000


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


# -- the guild settings: the table's rules (the same the environment's defaults pass) -----------------


def _refused(name: str, value: object, refused: Refused) -> Invalid:
    return Invalid(f"{BY_NAME[name].subject} {shown(value)} {refused.reason}")


def setting_value(name: str, value: object) -> Any:
    """A ``/lbconfig set`` value for the guild setting ``name``, by the table's rule."""
    try:
        return BY_NAME[name].accept(value)
    except Refused as refused:
        raise _refused(name, value, refused) from None


def parse_interval(value: float) -> float:
    return float(setting_value("update_interval", value))


def parse_cooldown(value: float) -> float:
    return float(setting_value("message_cooldown", value))


def parse_period_days(value: int) -> int:
    return int(setting_value("period_days", value))


def parse_colour(value: str) -> int:
    return int(setting_value("colour", value))


def parse_anchor(value: str) -> float:
    """An ISO 8601 date or date-time; without a time zone it is UTC."""
    return float(setting_value("period_anchor", value))


# -- emoji ---------------------------------------------------------------------------------------------


class EmojiFact(NamedTuple):
    name: str
    animated: bool


def parse_arrow(value: str, emojis: Mapping[int, EmojiFact]) -> str:
    """The table's rule, then what only the server knows: a custom emoji must be one of its own."""
    text = str(setting_value("arrow", value))
    custom = CUSTOM_EMOJI.fullmatch(text)
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


EXCLUSIONS = frozenset({"excluded_channels", "excluded_roles"})


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
    web_page: bool | None = None

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
    for setting in GUILD_SETTINGS:  # the table's order, so problems are listed as /lbconfig show lists them
        if setting.name in EXCLUSIONS:
            continue  # added and removed one at a time, below
        (option,) = setting.options
        value = getattr(o, option.name)
        if value is None:
            continue
        if isinstance(value, ChannelRef):
            check(setting.name, board_channel, setting.subject, value, facts)
        elif setting.name == "arrow":
            check(setting.name, parse_arrow, value, facts.emojis)
        else:
            check(setting.name, setting_value, setting.name, value)

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
