"""What the commands say: pure text and embed builders, and the buttons' custom ids.

No I/O and no disnake: values in, strings and JSON-able embed dicts out, so every reply is tested
in a few lines. Names and option values are untrusted and always pass through ``escape_name`` /
``shown``; channel and role ids come from our own validated config and are shown as mentions,
which embeds render as names and never ping.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from attrs import define

from actors.board_render import format_count, format_voice
from bot_entry.commands.validation import MAX_PAGE
from domain.guild_config import GuildConfig
from domain.guild_settings import BY_NAME, GUILD_SETTINGS, mentions, utc_minute
from domain.kinds import BoardKind
from domain.units import whole_seconds
from domain.windows import Span, Window
from persistence.queries import Rank

PAGE_SIZE = 10


def utc_day(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d")


def pages(total: int) -> int:
    return max(1, -(-total // PAGE_SIZE))


# -- leaderboard pages -----------------------------------------------------------------------------

_PAGE_ID = re.compile(r"lb:(messages|voice):(all|-?[0-9]{1,9}|w[0-9]{1,7}-[0-9]{1,7}):([0-9]{1,6})")
MAX_WINDOW_DAYS = 31  # a forged button asking for a longer span of days is not one of ours


@define(frozen=True)
class PageRef:
    """A page of a board, carried in a button's custom id so paging needs no server-side state.

    The period is stored as its number, so paging an old reply after a reset stays on the period
    the reply showed.
    """

    board: BoardKind
    period: int | None  # None: all time (or a window of days, below)
    page: int
    days: tuple[int, int] | None = None  # a window of UTC days (first, last day numbers), kept as asked

    def custom_id(self) -> str:
        period = "all" if self.period is None else str(self.period)
        if self.days is not None:
            period = f"w{self.days[0]}-{self.days[1]}"
        return f"lb:{self.board.value}:{period}:{self.page}"

    @classmethod
    def parse(cls, custom_id: str) -> PageRef | None:
        """The page a (possibly forged) custom id asks for; None if it is not one of ours or out of range."""
        match = _PAGE_ID.fullmatch(custom_id)
        if match is None:
            return None
        page = int(match.group(3))
        if not 1 <= page <= MAX_PAGE:
            return None
        which = match.group(2)
        if which.startswith("w"):
            first, last = (int(n) for n in which[1:].split("-"))
            if not 0 <= last - first < MAX_WINDOW_DAYS:
                return None
            return cls(BoardKind(match.group(1)), None, page, (first, last))
        period = None if which == "all" else int(which)
        return cls(BoardKind(match.group(1)), period, page)


def period_label(period: int | None, current: int, started_at: float | None) -> str:
    if period is None:
        return "All time"
    if period == current:
        return f"Current period (since {utc_day(started_at)})" if started_at is not None else "Current period"
    if period == current - 1:
        return "Previous period"
    return f"Period {period}"


def window_label(window: Window) -> str:
    """A day window's name in a reply (the period windows keep ``period_label``)."""
    return {Window.TODAY: "Today", Window.DAYS_7: "Last 7 days", Window.DAYS_30: "Last 30 days"}[window]


def page_header(
    label: str, page: int, total: int, you: Rank | None, board: BoardKind, span: Span | None = None
) -> str:
    """The reply's first line: which board, which page, the exact UTC span, and the viewer."""
    parts = [f"**{label}** · page {page} of {pages(total)}"]
    if span is not None:
        parts.append(span.text())
    if you is not None:
        parts.append(f"you: {_standing(you, board)}")
    return " · ".join(parts)


def page_buttons(ref: PageRef, total: int) -> list[dict[str, Any]]:
    """Previous/Next as plain button specs (label, custom_id, disabled); none when one page holds all."""
    last = pages(total)
    if last <= 1 and ref.page <= 1:
        return []
    # A page past the end (asked for by number) goes back to the last page, not one before it.
    previous = PageRef(ref.board, ref.period, min(ref.page - 1, last), ref.days)
    following = PageRef(ref.board, ref.period, ref.page + 1, ref.days)
    # Disabled buttons still need distinct ids; these parse as no page at all.
    return [
        {
            "label": "Previous",
            "custom_id": previous.custom_id() if ref.page > 1 else "lb:none:previous",
            "disabled": ref.page <= 1,
        },
        {
            "label": "Next",
            "custom_id": following.custom_id() if ref.page < last else "lb:none:next",
            "disabled": ref.page >= last,
        },
    ]


# -- /rank ---------------------------------------------------------------------------------------


def _value(board: BoardKind, value: int) -> str:
    if board is BoardKind.VOICE:
        return format_voice(whole_seconds(value))  # voice is stored in milliseconds
    return f"{format_count(value)} {'message' if value == 1 else 'messages'}"


def _standing(rank: Rank, board: BoardKind) -> str:
    if rank.rank is None:
        return f"not ranked yet ({_value(board, 0)})"
    return f"#{rank.rank} of {format_count(rank.total_ranked)} · {_value(board, rank.value)}"


def voice_rules(config: GuildConfig, afk_channel_id: int | None) -> list[str]:
    """Which voice time counts in this guild, in words, so nobody wonders where their time went."""
    rules = [
        "Deafened time counts here." if config.count_deafened else "Deafened time does not count here.",
        "Muted time counts here (stage listeners too)."
        if config.count_muted
        else "Muted time does not count here (stage listeners neither).",
        "Time alone in a voice channel counts here."
        if config.count_alone
        else "Time alone in a voice channel (bots are no company) does not count here.",
    ]
    if afk_channel_id is not None:
        rules.append(f"Time in the AFK channel <#{afk_channel_id}> never counts.")
    if config.excluded_channels:
        rules.append(f"Time and messages in {mentions('#', config.excluded_channels)} do not count.")
    if config.message_cooldown:
        rules.append(f"Messages less than {config.message_cooldown:g} s apart count once.")
    return rules


def rank_embed(
    name: str,
    config: GuildConfig,
    afk_channel_id: int | None,
    period_ranks: dict[BoardKind, Rank],
    all_time_ranks: dict[BoardKind, Rank],
    window: str = "This period",
    span: Span | None = None,
) -> dict[str, Any]:
    """``period_ranks`` are the asked window's (``window`` names it; the period by default), and
    ``span`` the exact UTC dates they cover (shown as the description)."""

    def both(ranks: dict[BoardKind, Rank]) -> str:
        return "\n".join(
            f"{label}: {_standing(ranks[board], board)}"
            for board, label in ((BoardKind.MESSAGES, "Messages"), (BoardKind.VOICE, "Voice"))
        )

    embed: dict[str, Any] = {
        "title": f"Rank of {name}",
        "color": config.colour,
        "fields": [
            {"name": window, "value": both(period_ranks), "inline": False},
            {"name": "All time", "value": both(all_time_ranks), "inline": False},
            {"name": "Voice rules here", "value": "\n".join(voice_rules(config, afk_channel_id))[:1024]},
        ],
    }
    if span is not None:
        embed["description"] = f"{window}: {span.text()}"
    return embed


# -- /lbconfig ---------------------------------------------------------------------------------------


def describe_value(key: str, value: Any) -> str:
    """One config value as an admin reads it (the guild settings table says how)."""
    return BY_NAME[key].display(value)


LABELS = {setting.name: setting.label for setting in GUILD_SETTINGS}


def config_embed(config: GuildConfig, period_started: float, next_reset: float) -> dict[str, Any]:
    lines = [f"**{LABELS[key]}**: {describe_value(key, getattr(config, key))}" for key in LABELS]
    lines.append(
        f"The current period started {utc_minute(period_started)}; next reset {utc_minute(next_reset)}."
    )
    return {"title": "Leaderboard settings", "color": config.colour, "description": "\n".join(lines)}


PERIOD_FIELDS = frozenset({"period_days", "period_anchor"})


def describe_changes(before: GuildConfig, changes: dict[str, Any]) -> str:
    lines = [
        f"**{LABELS[key]}**: {describe_value(key, getattr(before, key))} → {describe_value(key, value)}"
        for key, value in changes.items()
    ]
    if PERIOD_FIELDS & changes.keys():
        lines.append(
            "The current period keeps its end; a new period length or anchor applies from the next reset."
        )
    return "\n".join(lines)


def audit_detail(before: GuildConfig, changes: dict[str, Any]) -> str:
    """The audit row's text: each field with its old and new value (ids as numbers)."""

    def plain(value: Any) -> Any:
        return sorted(value) if isinstance(value, frozenset) else value

    return "; ".join(
        f"{key}: {plain(getattr(before, key))!r} -> {plain(value)!r}" for key, value in changes.items()
    )
