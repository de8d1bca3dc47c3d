"""Member names as boards show them: hostile display names in, one safe line of embed text out."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.names import escape_name
from tests.actors.test_board_render import BIDI, MARKDOWN, NAMES, ZWSP


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("Aria", "Aria"),
        ("  spaced   out  ", "spaced out"),
        ("**bold**", r"\*\*bold\*\*"),
        ("xX_Sniper_Xx", r"xX\_Sniper\_Xx"),
        ("~~s~~ ||p|| `c`", r"\~\~s\~\~ \|\|p\|\| \`c\`"),
        ("> # - quote", r"\> \# \- quote"),
        ("back\\slash*", r"back\\slash\*"),
        ("@everyone", "@\u200beveryone"),
        ("@here", "@\u200bhere"),
        ("<@123>", "<\u200b@\u200b123\\>"),
        ("<#1>", "<\u200b\\#1\\>"),
        ("<@&1>", "<\u200b@\u200b&1\\>"),
        ("[x](https://e.io)", "\\[x\\](https:\u200b//e.io)"),
        ("two\nlines\r\nhere\ttab", "two lines here tab"),
        ("\u202eevil\u202c", "evil"),
        ("\u2066a\u2069\u200eb\u200f", "ab"),
        ("Z\u0338\u0321\u0322\u031b\u0317a", "Z\u0338\u0321a"),
        ("e\u0301", "é"),  # NFC composes, so an accent is not counted as zalgo
        ("", "Unknown member"),
        ("   \n\t ", "Unknown member"),
        ("\u200b\u200b", "Unknown member"),
        ("\u3164\u2800", "Unknown member"),
        ("\u202e", "Unknown member"),
        ("\u0301\u0301", "Unknown member"),  # marks with nothing to sit on
        ("\u200d \u200c", "Unknown member"),  # joiners alone are invisible too
        ("A" * 33, "A" * 31 + "…"),
        ("A" * 32, "A" * 32),
        ("Ada Lovelace and friends forever!", "Ada Lovelace and friends foreve…"),
        ("Ada Lovelace and friends     x" + "y" * 10, "Ada Lovelace and friends x" + "yyyyy…"),
    ],
)
def test_escape_name(raw: str, escaped: str) -> None:
    assert escape_name(raw) == escaped


def test_escape_name_truncates_whole_units() -> None:
    # An escape is never split from its character, an emoji never split from its joiners or modifiers.
    assert escape_name("ab*cd", max_len=4) == "ab…"
    assert escape_name("👩\u200d👩\u200d👧 family", max_len=6) == "👩\u200d👩\u200d👧…"
    assert escape_name("🇬🇧🇫🇷🇩🇪", max_len=5) == "🇬🇧🇫🇷…"
    assert escape_name("word " + "x" * 40, max_len=6) == "word…"
    assert escape_name("Unknown", max_len=1) == "…"
    assert escape_name("", max_len=8) == "Unknown…"


def test_escape_name_rejects_a_useless_max_len() -> None:
    with pytest.raises(ValueError, match="max_len"):
        escape_name("x", max_len=0)


def _unescaped_markdown(text: str) -> list[str]:
    found, i = [], 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] in MARKDOWN:
            found.append(text[i])
        i += 1
    return found


@settings(deadline=None, max_examples=300)
@given(name=NAMES, max_len=st.integers(min_value=1, max_value=64))
def test_escape_name_properties(name: str, max_len: int) -> None:
    out = escape_name(name, max_len)
    assert 1 <= len(out) <= max_len
    assert "\n" not in out and "\r" not in out and "\t" not in out
    assert not BIDI & set(out)
    assert _unescaped_markdown(out) == []
    assert all(out[i + 1] == ZWSP for i, ch in enumerate(out) if ch in "@<")
    assert out == out.strip()
    assert any(not ch.isspace() and unicodedata.category(ch) not in ("Cf", "Mn", "Me") for ch in out)
    assert "://" not in out


def test_a_name_shown_again_is_not_escaped_again_and_the_cache_is_bounded() -> None:
    """Every render of a board escapes the same ten names; at a start of thousands of guilds that
    per-character Unicode work was a visible share of the bot's CPU (issue 17's profile)."""
    from actors.names import ESCAPED_CACHE

    name = "**Zoë** @everyone \u202e"
    first = escape_name(name)
    before = escape_name.cache_info()
    assert escape_name(name) == first  # the same answer, from the cache
    after = escape_name.cache_info()
    assert after.hits == before.hits + 1 and after.misses == before.misses
    assert after.maxsize == ESCAPED_CACHE
    with pytest.raises(ValueError, match="max_len"):
        escape_name(name, 0)  # a refusal is never cached as an answer
    with pytest.raises(ValueError, match="max_len"):
        escape_name(name, 0)
