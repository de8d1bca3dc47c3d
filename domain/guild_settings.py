"""Every guild setting, declared once: what it is called, its default, what it accepts, how it shows.

One row per ``GuildConfig`` field (``GuildConfig`` takes its defaults from here). Two paths read a
row and no other rule exists:
- the operator's default for every guild: ``env`` in the environment or ``.env``
  (``bot_entry.config``), refused as ``NAME: 'raw' <reason>``;
- an admin's choice: ``/lbconfig set`` (``bot_entry.commands.validation``), refused as
  ``<subject> “value” <reason>``.
Both call ``parse`` (text) or ``check`` (a number Discord already typed), so they accept and refuse
exactly the same values with the same reason. What only a server can say (is this channel or custom
emoji ours?) is checked on top by the command; the environment cannot know.
The slash options (``options``), the ``/lbconfig show`` lines (``label``, ``display``) and
``.env.example`` are generated from or tested against this table.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import emoji
from attrs import define, field

from domain.setting import Number, Parse, Refused, snowflake

DEFAULT_ARROW = "<a:purp_arrow:1403295268505522187>"
DEFAULT_COLOUR = 0x571173
MAX_ARROW = 100  # a custom emoji is at most ~60 characters; the board's limit
MAX_EXCLUSIONS = 100
MAX_LISTED = 25  # excluded channels or roles shown before "and N more"
DISCORD_EPOCH = 1_420_070_400.0  # 2015-01-01: nothing to count before Discord existed
LATEST_ANCHOR = 4_102_444_800.0  # 2100-01-01


@define(frozen=True)
class Option:
    """One ``/lbconfig set`` option that changes the setting (exclusions have two: add, remove)."""

    name: str
    description: str
    max_length: int | None = None  # text options


def _same(value: Any) -> Any:
    return value


@define(frozen=True)
class GuildSetting:
    name: str  # the GuildConfig field
    label: str  # "/lbconfig show" and change summaries
    subject: str  # how a refusal names it: "update interval “5” is out of range: ..."
    default: Any
    description: str  # what it does, for people (.env.example, docs)
    display: Callable[[Any], str]
    parse: Parse  # text (environment, a text option) -> value; raises Refused(reason)
    env: str | None = None  # the operator's default for every guild; None: only /lbconfig sets it
    options: tuple[Option, ...] = ()
    number: Number | None = None  # numbers: the bounds, and the check of a typed option
    check: Callable[[Any], Any] = field(default=_same)  # a typed option value -> value

    def accept(self, value: Any) -> Any:
        """A value as a slash command delivers it: text is parsed, a number is checked."""
        if isinstance(value, str):
            return self.parse(value)
        if self.number is not None:
            return self.number.check(value)
        return self.check(value)


# -- parsers -----------------------------------------------------------------------------------------

_COLOUR = re.compile(r"#?([0-9a-fA-F]{6})")
CUSTOM_EMOJI = re.compile(r"<(a?):([A-Za-z0-9_]{2,32}):([0-9]{15,21})>")


def parse_colour(raw: str) -> int:
    match = _COLOUR.fullmatch(raw.strip())
    if match is None:
        raise Refused(f"is not a colour like #{DEFAULT_COLOUR:06x}")
    return int(match.group(1), 16)


def is_unicode_emoji(text: str) -> bool:
    """Whether ``text`` is exactly one emoji (with its modifiers, a ZWJ sequence, a flag, a keycap)."""
    return 0 < len(text) <= 40 and emoji.is_emoji(text)


def parse_arrow(raw: str) -> str:
    """One unicode emoji, or a custom emoji written ``<:name:id>`` / ``<a:name:id>``."""
    text = raw.strip()
    if CUSTOM_EMOJI.fullmatch(text) or is_unicode_emoji(text):
        return text
    raise Refused(
        "is not an emoji: use one unicode emoji (like ➡️) or a custom emoji of the server (<:name:id>)"
    )


def parse_anchor(raw: str) -> float:
    """An ISO 8601 date or date-time; without a time zone it is UTC."""
    text = raw.strip()
    try:
        if len(text) > 40:
            raise ValueError(text)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Refused("is not a date: write YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    at = moment.timestamp()
    if not DISCORD_EPOCH <= at < LATEST_ANCHOR:
        raise Refused("is out of range: it must be between 2015 and 2100")
    return at


_channel_id = snowflake("a Discord channel id")


def parse_channel_ids(raw: str) -> frozenset[int]:
    ids: set[int] = set()
    for part in raw.split(","):
        try:
            found = _channel_id(part)
        except Refused:
            raise Refused("is not a comma-separated list of channel ids") from None
        if found is not None:
            ids.add(found)
    if len(ids) > MAX_EXCLUSIONS:
        raise Refused(f"is too long: at most {MAX_EXCLUSIONS} channels can be excluded")
    return frozenset(ids)


def parse_flag(raw: str) -> bool:
    text = raw.strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise Refused("is not true or false")


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Refused("is not true or false")
    return value


def _refuse_text(raw: str) -> Any:
    raise Refused("is set with the exclude and include options, one at a time")


# -- how values show --------------------------------------------------------------------------------


def utc_minute(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _channel(channel_id: int | None) -> str:
    return f"<#{channel_id}>" if channel_id is not None else "not set"


def mentions(kind: str, ids: Iterable[int]) -> str:
    """Ids as mentions (``#`` channels, ``@&`` roles), at most ``MAX_LISTED``; embeds never ping."""
    ordered = sorted(ids)
    if not ordered:
        return "none"
    listed = [f"<{kind}{i}>" for i in ordered[:MAX_LISTED]]
    more = len(ordered) - len(listed)
    return ", ".join(listed) + (f" and {more} more" if more > 0 else "")


def _counts(flag: bool) -> str:
    return "counts" if flag else "does not count"


def _seconds(value: float) -> str:
    return f"{value:g} s"


# -- the table ----------------------------------------------------------------------------------------

INTERVAL = Number(10, 86_400, "seconds")
PERIOD_DAYS = Number(1, 365, "days", whole=True)
COOLDOWN = Number(0, 3_600, "seconds")


def _board(kind: str, env: str) -> GuildSetting:
    return GuildSetting(
        f"{kind}_board_channel_id",
        f"{kind.capitalize()} board channel",
        f"{kind} board channel",
        None,
        f"The text channel of the {kind} board (empty: no board until an admin picks one).",
        _channel,
        snowflake("a Discord channel id"),
        env=env,
        options=(Option(f"{kind}_board_channel", f"Text channel for the {kind} board"),),
    )


def _voice_flag(name: str, label: str, subject: str, default: bool, option: str) -> GuildSetting:
    return GuildSetting(
        name,
        label,
        subject,
        default,
        option + ".",
        _counts,
        parse_flag,
        options=(Option(name, option),),
        check=_flag,
    )


GUILD_SETTINGS: tuple[GuildSetting, ...] = (
    _board("message", "MESSAGE_BOARD_CHANNEL_ID"),
    _board("voice", "VOICE_BOARD_CHANNEL_ID"),
    GuildSetting(
        "arrow",
        "Arrow emoji",
        "arrow",
        DEFAULT_ARROW,
        "The emoji before every board entry: one unicode emoji or a custom emoji <:name:id>.",
        str,  # validated: a unicode emoji or a custom emoji
        parse_arrow,
        env="LEADERBOARD_ARROW_EMOJI",
        options=(
            Option(
                "arrow", "Emoji before every entry: a unicode emoji or this server's <:name:id>", MAX_ARROW
            ),
        ),
    ),
    GuildSetting(
        "colour",
        "Colour",
        "colour",
        DEFAULT_COLOUR,
        "The boards' embed colour, #RRGGBB.",
        lambda value: f"#{value:06X}",
        parse_colour,
        env="LEADERBOARD_COLOUR",
        options=(Option("colour", "Board colour as #RRGGBB", 20),),
    ),
    GuildSetting(
        "update_interval",
        "Board update interval",
        "update interval",
        60.0,
        "Boards are edited at most once per this many seconds, and only when their content changed.",
        _seconds,
        INTERVAL,
        env="LEADERBOARD_INTERVAL_SECONDS",
        options=(Option("update_interval", "Seconds between board updates (10 to 86400)"),),
        number=INTERVAL,
    ),
    GuildSetting(
        "period_days",
        "Period length",
        "period length",
        30,
        "Days in a leaderboard period.",
        lambda value: f"{value} {'day' if value == 1 else 'days'}",
        PERIOD_DAYS,
        env="PERIOD_DAYS",
        options=(Option("period_days", "Days in a period (1 to 365)"),),
        number=PERIOD_DAYS,
    ),
    GuildSetting(
        "period_anchor",
        "Period anchor",
        "period anchor",
        None,  # midnight UTC of the day the guild was first seen
        "When periods start (UTC).",
        lambda value: (
            "midnight UTC of the day the server was first seen" if value is None else utc_minute(value)
        ),
        parse_anchor,
        options=(Option("period_anchor", "When periods start: YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)", 40),),
    ),
    _voice_flag(
        "count_deafened",
        "Deafened voice time",
        "deafened voice time",
        False,
        "Count voice time while deafened",
    ),
    _voice_flag("count_muted", "Muted voice time", "muted voice time", True, "Count voice time while muted"),
    _voice_flag(
        "count_alone", "Voice time alone", "voice time alone", False, "Count voice time alone in a channel"
    ),
    GuildSetting(
        "excluded_channels",
        "Excluded channels",
        "excluded channels",
        frozenset(),
        "Channels whose messages and voice time never count (threads follow their parent).",
        lambda value: mentions("#", value),
        parse_channel_ids,
        env="EXCLUDED_CHANNEL_IDS",
        options=(
            Option("exclude_channel", "Stop counting messages and voice time in this channel"),
            Option("include_channel", "Count an excluded channel again"),
        ),
    ),
    GuildSetting(
        "excluded_roles",
        "Excluded roles",
        "excluded roles",
        frozenset(),
        "Members with these roles are not counted.",
        lambda value: mentions("@&", value),
        _refuse_text,
        options=(
            Option("exclude_role", "Stop counting members with this role"),
            Option("include_role", "Count an excluded role again"),
        ),
    ),
    GuildSetting(
        "message_cooldown",
        "Message cooldown",
        "message cooldown",
        0.0,
        "Seconds before a member's next message counts (0: off).",
        lambda value: "off" if not value else _seconds(value),
        COOLDOWN,
        options=(
            Option("message_cooldown", "Seconds before a member's next message counts (0 = off, up to 3600)"),
        ),
        number=COOLDOWN,
    ),
    GuildSetting(
        "hide_departed",
        "Members who left",
        "members who left",
        False,
        "Hide members who left from the boards.",
        lambda value: "hidden" if value else "shown",
        parse_flag,
        options=(Option("hide_departed", "Hide members who left from the boards"),),
        check=_flag,
    ),
    GuildSetting(
        "web_page",
        "Web page",
        "web page",
        False,
        "A public web page with this server's boards, chart and archive (display names only).",
        lambda value: "on" if value else "off",
        parse_flag,
        options=(Option("web_page", "Show this server's boards on a public web page"),),
        check=_flag,
    ),
)

BY_NAME: dict[str, GuildSetting] = {s.name: s for s in GUILD_SETTINGS}
BY_OPTION: dict[str, GuildSetting] = {o.name: s for s in GUILD_SETTINGS for o in s.options}
DEFAULTS: dict[str, Any] = {s.name: s.default for s in GUILD_SETTINGS}
