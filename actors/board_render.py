"""Leaderboard rendering: totals and names in, a Discord embed (a JSON-able dict) out.

Theory of operation: everything that decides how a board looks lives here, and nothing here does I/O or
reads a clock; the publisher passes `updated_at` and `next_reset_at` in. Names come from Discord users and
are hostile input, so every name goes through `escape_name` (`actors.names`) before it reaches the embed,
and every render is checked against Discord's embed limits before it is returned: a board that Discord
rejects is a board that silently stops updating.

Decisions:
- "Bold title": Discord renders an embed's `title` in bold, so the title is the plain text
  "Message Leaderboard" / "Voice Leaderboard" with no `**` markup.
- `guild_name` is carried for callers (logs, alt text) but not rendered: the seed look has no author line,
  and the guild icon thumbnail already says which server the board belongs to.
- Ties share a rank (standard competition ranking: 1, 2, 2, 4). On a page with `offset > 0` ranks are
  counted within the page, so a tie across the page boundary shows the later rank.
- Lengths are counted in code points (Python `len`), as Discord counts embed characters.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from attrs import define, field, validators

from actors.names import escape_name
from domain.guild_settings import DEFAULT_ARROW, DEFAULT_COLOUR, MAX_ARROW
from domain.kinds import BoardKind

__all__ = [
    "BoardEntry",
    "BoardStyle",
    "BoardView",
    "board_title",
    "check_limits",
    "content_hash",
    "embed_length",
    "empty_text",
    "escape_name",  # re-exported for the commands; it lives in ``actors.names``
    "format_count",
    "format_value",
    "format_voice",
    "is_board",
    "ranked",
    "render_board",
]


@define(frozen=True)
class BoardStyle:
    """Per-guild look. Validated here so a bad config cannot produce an embed Discord rejects."""

    # Defaults and limits are the guild settings table's (``domain.guild_settings``).
    colour: int = field(default=DEFAULT_COLOUR, validator=[validators.ge(0), validators.le(0xFFFFFF)])
    arrow: str = field(default=DEFAULT_ARROW, validator=validators.max_len(MAX_ARROW))


@define(frozen=True)
class BoardEntry:
    user_id: int
    name: str  # raw display name as Discord gives it; untrusted
    value: int  # messages, or voice seconds


@define(frozen=True)
class BoardView:
    """Everything one render needs, built by the publisher."""

    kind: BoardKind
    entries: tuple[BoardEntry, ...]  # any order, any length; render sorts and keeps the top `limit`
    guild_name: str
    guild_icon_url: str | None
    updated_at: float  # UTC epoch seconds
    next_reset_at: float | None  # UTC epoch seconds
    style: BoardStyle = field(factory=BoardStyle)
    limit: int = field(default=10, validator=validators.ge(1))
    # Ranks start at offset+1; the caller has already sliced `entries` for this page.
    offset: int = field(default=0, validator=validators.ge(0))


# --- Discord's embed limits -------------------------------------------------------------------------

TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELDS_LIMIT = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
AUTHOR_NAME_LIMIT = 256
TOTAL_LIMIT = 6000


def embed_length(embed: dict) -> int:
    """Characters Discord counts towards the 6000 total: title, description, fields, footer, author."""
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    for f in embed.get("fields") or ():
        total += len(f.get("name") or "") + len(f.get("value") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    return total


def check_limits(embed: dict) -> None:
    """Raise ValueError naming the first Discord embed limit this embed breaks."""

    def over(what: str, size: int, limit: int) -> None:
        if size > limit:
            raise ValueError(f"embed {what} is {size} characters; Discord's limit is {limit}")

    over("title", len(embed.get("title") or ""), TITLE_LIMIT)
    over("description", len(embed.get("description") or ""), DESCRIPTION_LIMIT)
    fields = embed.get("fields") or ()
    if len(fields) > FIELDS_LIMIT:
        raise ValueError(f"embed has {len(fields)} fields; Discord's limit is {FIELDS_LIMIT} fields")
    for i, f in enumerate(fields):
        over(f"field {i} name", len(f.get("name") or ""), FIELD_NAME_LIMIT)
        over(f"field {i} value", len(f.get("value") or ""), FIELD_VALUE_LIMIT)
    over("footer text", len((embed.get("footer") or {}).get("text") or ""), FOOTER_LIMIT)
    over("author name", len((embed.get("author") or {}).get("name") or ""), AUTHOR_NAME_LIMIT)
    over("total length", embed_length(embed), TOTAL_LIMIT)


# --- Numbers ----------------------------------------------------------------------------------------


def format_count(n: int) -> str:
    """Thousands separators, whatever the host locale: 1,234,567."""
    return f"{n:,}"


def format_voice(seconds: int) -> str:
    """Hours and minutes, minutes floored: 12h 05m. Hours never roll into days, so boards compare by eye."""
    sign = "-" if seconds < 0 else ""  # a negative total is a bug upstream; show it rather than crash
    hours, rest = divmod(abs(int(seconds)), 3600)
    return f"{sign}{hours}h {rest // 60:02d}m"


def _format_value(kind: BoardKind, value: int) -> str:
    if kind is BoardKind.VOICE:
        return format_voice(value)
    return f"{format_count(value)} {'message' if value == 1 else 'messages'}"


# --- The board --------------------------------------------------------------------------------------

_TITLES = {BoardKind.MESSAGES: "Message Leaderboard", BoardKind.VOICE: "Voice Leaderboard"}
_EMPTY = {
    BoardKind.MESSAGES: "No messages counted yet this period — start chatting!",
    BoardKind.VOICE: "No voice time yet this period — hop into a voice channel!",
}


def _utc(epoch: float) -> datetime:
    # Always UTC, whatever the host TZ: the board is shared by members in every time zone.
    return datetime.fromtimestamp(epoch, tz=UTC)


_UPDATED = "Updated "  # the footer's first word: with the title, what marks a message as a board


def _reset_note(view: BoardView) -> str:
    return "" if view.next_reset_at is None else f" · Next reset {_utc(view.next_reset_at):%Y-%m-%d}"


def _footer(view: BoardView) -> str:
    return f"{_UPDATED}{_utc(view.updated_at):%Y-%m-%d %H:%M} UTC{_reset_note(view)}"


def ranked(view: BoardView) -> list[tuple[int, BoardEntry, str]]:
    """The board's lines in the order and with the ranks it shows: (rank, entry, escaped name).

    The web page (``web``) shows the same lines from here, with the raw name HTML-escaped instead.
    """
    named = [(entry, escape_name(entry.name)) for entry in view.entries]
    # Deterministic order: the publisher skips an edit when nothing changed, so equal totals give equal text.
    named.sort(key=lambda pair: (-pair[0].value, pair[1].casefold(), pair[0].user_id))
    lines: list[tuple[int, BoardEntry, str]] = []
    rank = view.offset + 1
    for i, (entry, name) in enumerate(named[: view.limit]):
        if i and entry.value != named[i - 1][0].value:
            rank = view.offset + i + 1
        lines.append((rank, entry, name))
    return lines


def board_title(kind: BoardKind) -> str:
    return _TITLES[kind]


def empty_text(kind: BoardKind) -> str:
    return _EMPTY[kind]


def format_value(kind: BoardKind, value: int) -> str:
    """A line's value as the board shows it: "1,234 messages", "12h 05m"."""
    return _format_value(kind, value)


def _ranked_lines(view: BoardView) -> list[str]:
    return [
        f"{view.style.arrow} **#{rank}** {name} — {_format_value(view.kind, entry.value)}"
        for rank, entry, name in ranked(view)
    ]


def _fit(lines: list[str], budget: int) -> str:
    """Join lines into at most `budget` characters, dropping the lowest ranks behind a count if needed.

    With the default limit of 10 this never triggers; it keeps a large `limit` from breaking the embed.
    """
    text = "\n".join(lines)
    if len(text) <= budget:
        return text
    kept = list(lines)
    while kept:
        kept.pop()
        text = "\n".join([*kept, f"…and {len(lines) - len(kept)} more"])
        if len(text) <= budget:
            return text
    return ""


def render_board(view: BoardView) -> dict:
    """Render one board as a Discord embed dict, guaranteed to be within Discord's embed limits."""
    embed: dict = {
        "title": _TITLES[view.kind],
        "color": view.style.colour,
        "footer": {"text": _footer(view)},
        "timestamp": _utc(view.updated_at).isoformat(timespec="seconds"),
    }
    if view.guild_icon_url:
        embed["thumbnail"] = {"url": view.guild_icon_url}
    lines = _ranked_lines(view)
    if lines:
        budget = min(DESCRIPTION_LIMIT, TOTAL_LIMIT - embed_length(embed))
        embed["description"] = _fit(lines, budget)
    elif view.offset:
        embed["description"] = f"No entries past #{view.offset}."
    else:
        embed["description"] = _EMPTY[view.kind]
    check_limits(embed)
    return embed


def content_hash(view: BoardView, embed: dict[str, Any] | None = None) -> str:
    """The hash of what members would see, ignoring the "Updated" time (which changes every render).

    ``embed`` is ``render_board(view)`` when the caller has it already: the board is rendered once.
    """
    if embed is None:
        embed = render_board(view)
    shown = {key: value for key, value in embed.items() if key not in ("timestamp", "footer")}
    shown["footer"] = _reset_note(view)
    return hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()[:32]


def is_board(kind: BoardKind, embed: Any) -> bool:
    """Whether an embed (as Discord returns it, untrusted) has the look of a ``kind`` board: its
    title and footer. Only for messages the bot itself wrote: a member cannot fake the author."""
    if not isinstance(embed, dict):
        return False
    footer = embed.get("footer")
    text = footer.get("text") if isinstance(footer, dict) else None
    return embed.get("title") == _TITLES[kind] and isinstance(text, str) and text.startswith(_UPDATED)
