"""The rank card: a PNG of one fixed size whatever the name, with the accent bar and a background
corner where the layout puts them; hostile names are drawn as text and cut by rendered width."""

from __future__ import annotations

import io
from datetime import date

import pytest
from PIL import Image

from domain.history import DayActivity
from pictures.chart import daily_series
from pictures.rank_card import (
    ACCENT_BAR,
    AVATAR,
    AVATAR_AT,
    BACKGROUND,
    ELLIPSIS,
    SIZE,
    RankCard,
    _font,
    clean_name,
    fit_text,
    format_voice,
    render_rank_card,
)

LAST = date(2026, 9, 21)
DAYS = daily_series([DayActivity(date(2026, 9, d), d * 3, d * 420) for d in range(1, 22)], LAST)
AVATAR_CENTRE = (AVATAR_AT[0] + AVATAR // 2, AVATAR_AT[1] + AVATAR // 2)

HOSTILE = {
    "arabic": "مرحبا بالعالم هذا اسم طويل جدا جدا جدا جدا جدا جدا جدا جدا جدا جدا",
    "hebrew": "שלום עולם, זה שם ארוך מאוד מאוד מאוד מאוד מאוד מאוד מאוד מאוד",
    "mixed direction": "abc שלום 123 مرحبا def",
    "emoji": "🎉🔥 party 👩‍👩‍👧‍👦🏳️‍🌈👍🏽 " * 6,
    "zalgo": "Z̷̢̛̛̛̛a̸̧̛l̶̨g̴̢o̵̢" + "\u0301" * 300,
    "150 characters": "x" * 150,
    "150 wide characters": "W" * 150,
    "markdown and html": "**bold** <b>hi</b> @everyone `code` [link](https://x.y) <script>",
    "controls and a lone surrogate": "\u202eevil\ud800\x00\x1b[31mred\u2066",
    "empty": "",
    "only whitespace": " \t\n\u3000",
    "cjk": "非常に長い名前" * 20,
}


def card(name: str = "Ada Lovelace", **changes: object) -> RankCard:
    fields: dict[str, object] = {
        "display_name": name,
        "avatar": None,
        "message_rank": 3,
        "messages": 1234,
        "voice_rank": 5,
        "voice_seconds": 43_500,
        "days": DAYS,
    }
    return RankCard(**(fields | changes))  # type: ignore[arg-type]


def decoded(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    image.load()
    return image.convert("RGB")


def png_of(colour: tuple[int, int, int], size: tuple[int, int] = (64, 64)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def test_a_card_is_a_png_of_the_fixed_size() -> None:
    image = decoded(render_rank_card(card()))
    assert image.size == SIZE == (934, 282)


@pytest.mark.parametrize("name", list(HOSTILE.values()), ids=list(HOSTILE))
def test_every_hostile_name_renders_at_the_fixed_size(name: str) -> None:
    image = decoded(render_rank_card(card(name)))
    assert image.size == SIZE
    assert image.getpixel((SIZE[0] - 1, 0)) == BACKGROUND


def test_the_corners_are_background_and_the_left_edge_is_the_accent() -> None:
    image = decoded(render_rank_card(card()))
    for corner in ((SIZE[0] - 1, 0), (SIZE[0] - 1, SIZE[1] - 1)):
        assert image.getpixel(corner) == BACKGROUND
    for y in (0, SIZE[1] // 2, SIZE[1] - 1):
        assert image.getpixel((ACCENT_BAR // 2, y)) == (0x57, 0x11, 0x73)
    assert image.getpixel((ACCENT_BAR + 2, 2)) == BACKGROUND


def test_the_accent_is_the_guilds_colour() -> None:
    image = decoded(render_rank_card(card(accent=0x1ABC9C)))
    assert image.getpixel((ACCENT_BAR // 2, SIZE[1] // 2)) == (0x1A, 0xBC, 0x9C)


def test_an_avatar_is_drawn_in_the_disc() -> None:
    image = decoded(render_rank_card(card(avatar=png_of((200, 30, 30)))))
    assert image.getpixel(AVATAR_CENTRE) == (200, 30, 30)
    assert image.getpixel(AVATAR_AT) == BACKGROUND  # the disc's bounding-box corner is outside it


@pytest.mark.parametrize(
    "avatar",
    [None, b"", b"not a picture", png_of((1, 2, 3))[:40]],
    ids=["none", "empty", "garbage", "truncated"],
)
def test_no_avatar_or_a_broken_one_is_the_placeholder(avatar: bytes | None) -> None:
    image = decoded(render_rank_card(card("!", avatar=avatar)))  # "!": a "?" in the disc
    placeholder = decoded(render_rank_card(card("!")))
    assert image.tobytes() == placeholder.tobytes()
    assert image.getpixel((AVATAR_AT[0] + 30, AVATAR_CENTRE[1])) == (0x57, 0x11, 0x73)


def test_an_avatar_too_large_to_be_one_is_not_decoded() -> None:
    out = io.BytesIO()
    Image.new("1", (5000, 5000)).save(out, "PNG")  # 25 Mpx, a few kB compressed
    image = decoded(render_rank_card(card(avatar=out.getvalue())))
    assert image.getpixel((AVATAR_AT[0] + 30, AVATAR_CENTRE[1])) == (0x57, 0x11, 0x73)


def test_the_same_card_gives_the_same_bytes() -> None:
    assert render_rank_card(card()) == render_rank_card(card())


def test_a_card_with_no_history_renders() -> None:
    assert decoded(render_rank_card(card(days=[], message_rank=None, voice_rank=None))).size == SIZE


# -- names -----------------------------------------------------------------------------------------


def test_a_long_name_is_cut_by_rendered_width_with_an_ellipsis() -> None:
    font = _font("DejaVuSans-Bold.ttf", 34)
    narrow, wide = fit_text("i" * 150, font, 600), fit_text("W" * 150, font, 600)
    assert narrow.endswith(ELLIPSIS) and wide.endswith(ELLIPSIS)
    assert font.getlength(narrow) <= 600 and font.getlength(wide) <= 600
    assert len(narrow) > 2 * len(wide), "a cut by width keeps more narrow letters than wide ones"
    assert fit_text("Ada", font, 600) == "Ada"


def test_a_cut_never_splits_a_character() -> None:
    font = _font("DejaVuSans-Bold.ttf", 34)
    family = "👩\u200d👩\u200d👧\u200d👦"
    for width in range(20, 400, 7):
        cut = fit_text(family * 20, font, width).removesuffix(ELLIPSIS)
        assert len(cut) % len(family) == 0, (width, cut)
        accented = fit_text("e\u0301\u0323" * 60, font, width).removesuffix(ELLIPSIS)
        assert len(accented) % 3 == 0, (width, accented)


def test_clean_name_drops_what_must_not_be_drawn() -> None:
    assert clean_name("\u202eevil\ud800\x00\u2066 name") == "evil name"
    assert clean_name("a" + "\u0301" * 50) == "a\u0301\u0301"
    assert clean_name("  two   spaces\t\nhere ") == "two spaces here"
    assert clean_name("👩\u200d👧") == "👩\u200d👧", "joiners shape emoji: they stay"
    assert clean_name("x" * 1000) == "x" * 256


def test_voice_is_hours_and_minutes_floored() -> None:
    assert format_voice(43_500) == "12h 05m"
    assert format_voice(59) == "0h 00m"
    assert format_voice(-5) == "0h 00m"
