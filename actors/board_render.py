"""Leaderboard rendering: totals and names in, a Discord embed (a JSON-able dict) out.

Theory of operation: everything that decides how a board looks lives here, and nothing here does I/O or
reads a clock; the publisher passes `updated_at` and `next_reset_at` in. Names come from Discord users and
are hostile input, so every name goes through `escape_name` before it reaches the embed, and every render
is checked against Discord's embed limits before it is returned: a board that Discord rejects is a board
that silently stops updating.

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

import unicodedata
from datetime import UTC, datetime

from attrs import define, field, validators

from domain.guild_settings import DEFAULT_ARROW, DEFAULT_COLOUR, MAX_ARROW
from domain.kinds import BoardKind

__all__ = [
    "BoardEntry",
    "BoardStyle",
    "BoardView",
    "check_limits",
    "embed_length",
    "escape_name",
    "format_count",
    "format_voice",
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


# --- Names ------------------------------------------------------------------------------------------

_ZWSP = "\u200b"
_ZWJ = "\u200d"
_ZWNJ = "\u200c"
# Backslash-escaped so Discord shows them literally (it honours `\` before any punctuation).
_MARKDOWN = frozenset("\\*_~|>#-`[]")
# Letters that render as nothing; a name made only of these reads as blank.
_BLANK_LOOKALIKES = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_MAX_MARKS = 2  # more combining marks than this on one base character is zalgo
_UNKNOWN = "Unknown member"


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch) in ("Mn", "Me")


def _clean(name: str) -> str:
    """Normalise a raw name to plain visible text: no controls, no bidi tricks, no zalgo, one-line."""
    out: list[str] = []
    marks, has_base = 0, False
    for ch in unicodedata.normalize("NFC", name):
        cat = unicodedata.category(ch)
        if ch.isspace() or cat in ("Zs", "Zl", "Zp") or ch in _BLANK_LOOKALIKES:
            # Newlines, tabs and every kind of space collapse to one space.
            if out and out[-1] != " ":
                out.append(" ")
            marks, has_base = 0, False
            continue
        if cat in ("Cc", "Cs"):
            continue  # control characters; lone surrogates cannot even be sent as UTF-8
        if cat == "Cf":
            # Bidi overrides/isolates, LRM/RLM, zero-width spaces, BOM: invisible, often abusive.
            # ZWJ/ZWNJ (emoji sequences, Persian) and tag characters (subdivision flags) stay, and do not
            # end a run of marks, so they cannot be used to stack zalgo past the cap.
            if ch in (_ZWJ, _ZWNJ) or "\U000e0020" <= ch <= "\U000e007f":
                out.append(ch)
            continue
        if _is_mark(ch):
            # A mark with no base (start, or after a space) or past the cap is dropped.
            if not has_base or marks >= _MAX_MARKS:
                continue
            marks += 1
        else:
            marks = 0
            has_base = True
        out.append(ch)
    return "".join(out).strip(" ")


def _extends_cluster(prev: str, ch: str) -> bool:
    """Whether `ch` belongs to the same visible character as the one before it (approximate graphemes)."""
    cat = unicodedata.category(ch)
    return (
        cat in ("Mn", "Me", "Mc")
        or ch in (_ZWJ, _ZWNJ)
        or prev == _ZWJ
        or "\U0001f3fb" <= ch <= "\U0001f3ff"  # skin tones
        or "\U000e0020" <= ch <= "\U000e007f"  # tag characters
    )


def _clusters(text: str) -> list[str]:
    """Split into approximate grapheme clusters so truncation never cuts an emoji or an accent."""
    clusters: list[str] = []
    for ch in text:
        if clusters and _extends_cluster(clusters[-1][-1], ch):
            clusters[-1] += ch
        elif (
            clusters
            and len(clusters[-1]) == 1
            and "\U0001f1e6" <= ch <= "\U0001f1ff"
            and "\U0001f1e6" <= clusters[-1] <= "\U0001f1ff"
        ):
            clusters[-1] += ch  # two regional indicators make one flag
        else:
            clusters.append(ch)
    return clusters


def _escape_cluster(text: str, start: int, end: int) -> str:
    """Escape every character of the cluster `text[start:end]` (a joiner can pull punctuation into one)."""
    out: list[str] = []
    for i in range(start, end):
        ch = text[i]
        if ch in _MARKDOWN:
            out.append("\\" + ch)
        elif ch in "@<" or (ch == ":" and text.startswith("//", i + 1)):
            # A zero-width space right after the `@`/`<` stops Discord parsing `@everyone`, `<@123>`,
            # `<#1>`, `<@&1>`, `<t:1>`; after the `:` it stops `https://` being auto-linked.
            out.append(ch + _ZWSP)
        else:
            out.append(ch)
    return "".join(out)


def escape_name(name: str, max_len: int = 32) -> str:
    """Make an untrusted display name safe to show in an embed: it renders as the text the member chose,
    never as markdown, a link or a mention, on one line, at most `max_len` characters (escapes included).
    """
    if max_len < 1:
        raise ValueError(f"max_len must be at least 1, got {max_len}")
    text = _clean(name)
    if not any(not ch.isspace() and unicodedata.category(ch) != "Cf" for ch in text):
        text = ""  # only joiners or tag characters left: nothing a reader could see
    clusters = _clusters(text)
    units: list[str] = []
    start = 0
    for cluster in clusters:
        units.append(_escape_cluster(text, start, start + len(cluster)))
        start += len(cluster)
    escaped = "".join(units)
    if not escaped:
        escaped, units = _UNKNOWN, list(_UNKNOWN)
    if len(escaped) <= max_len:
        return escaped
    # Keep whole units (an escape is never split from what it escapes) and leave room for the ellipsis.
    kept: list[str] = []
    size = 0
    for unit in units:
        if size + len(unit) > max_len - 1:
            break
        kept.append(unit)
        size += len(unit)
    return "".join(kept).rstrip(" ") + "…"


# --- The board --------------------------------------------------------------------------------------

_TITLES = {BoardKind.MESSAGES: "Message Leaderboard", BoardKind.VOICE: "Voice Leaderboard"}
_EMPTY = {
    BoardKind.MESSAGES: "No messages counted yet this period — start chatting!",
    BoardKind.VOICE: "No voice time yet this period — hop into a voice channel!",
}


def _utc(epoch: float) -> datetime:
    # Always UTC, whatever the host TZ: the board is shared by members in every time zone.
    return datetime.fromtimestamp(epoch, tz=UTC)


def _footer(view: BoardView) -> str:
    text = f"Updated {_utc(view.updated_at):%Y-%m-%d %H:%M} UTC"
    if view.next_reset_at is not None:
        text += f" · Next reset {_utc(view.next_reset_at):%Y-%m-%d}"
    return text


def _ranked_lines(view: BoardView) -> list[str]:
    named = [(entry, escape_name(entry.name)) for entry in view.entries]
    # Deterministic order: the publisher skips an edit when nothing changed, so equal totals give equal text.
    named.sort(key=lambda pair: (-pair[0].value, pair[1].casefold(), pair[0].user_id))
    lines: list[str] = []
    rank = view.offset + 1
    for i, (entry, name) in enumerate(named[: view.limit]):
        if i and entry.value != named[i - 1][0].value:
            rank = view.offset + i + 1
        lines.append(f"{view.style.arrow} **#{rank}** {name} — {_format_value(view.kind, entry.value)}")
    return lines


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
