"""Member names as a board shows them: an untrusted display name in, safe embed text out.

Theory of operation: names come from Discord users and are hostile input (markdown, mentions,
links, bidi tricks, zalgo, blank lookalikes, 10,000-character strings). ``escape_name`` turns any
of them into one line of plain visible text that renders as what the member chose, never as
markup, within a length budget, cutting only between whole visible characters. Pure: used by the
posted boards, ``/leaderboard``, ``/rank`` and the admin commands alike.
"""

from __future__ import annotations

import functools
import unicodedata

__all__ = ["UNKNOWN", "escape_name"]


_ZWSP = "\u200b"
_ZWJ = "\u200d"
_ZWNJ = "\u200c"
# Backslash-escaped so Discord shows them literally (it honours `\` before any punctuation).
_MARKDOWN = frozenset("\\*_~|>#-`[]")
# Letters that render as nothing; a name made only of these reads as blank.
_BLANK_LOOKALIKES = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_MAX_MARKS = 2  # more combining marks than this on one base character is zalgo
UNKNOWN = "Unknown member"
# Escaped names kept: every render of a board escapes the same few names again (each board shows
# ten, and a start of thousands of guilds renders thousands of boards), so a bounded cache of the
# pure answer saves the per-character Unicode work; a name not in it is escaped as before.
ESCAPED_CACHE = 65_536


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


@functools.lru_cache(maxsize=ESCAPED_CACHE)
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
        escaped, units = UNKNOWN, list(UNKNOWN)
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
