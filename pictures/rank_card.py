"""The rank card: one member's standing on both boards and their last 30 days, as a PNG.

Layout (always ``SIZE`` = 934 x 282 pixels, the usual rank-card shape, which Discord shows whole in
a chat column; RGB, no transparency):

```
|#| ( avatar )  display name, cut to fit with an ellipsis ........................ |
|#| ( 180 px )  This period (what the ranks count)  LAST 30 DAYS                  |
|#| (  disc  )  MESSAGES · RANK #3      [messages, most 39 a day] [voice, most ..] |
|#|             1,234                   bars: messages per day                    |
|#|             VOICE · RANK #5         line: voice minutes per day               |
|#|             12h 05m                 Aug 24   Aug 31   Sep 7   Sep 14   Sep 21 |
```

``#`` is the accent bar (the guild's colour, #571173 by default) down the left edge. A member
without an avatar, or whose avatar does not decode, gets a placeholder: an accent-coloured disc with
their initial.

Names are untrusted text, drawn as text (markdown and HTML mean nothing here) with the DejaVu fonts
matplotlib ships, so no font is bundled and the card looks the same wherever matplotlib installs:

- control characters, unpaired surrogates and bidirectional overrides are dropped (an override
  could move the ellipsis or reorder the rest of the line), and stacked combining marks ("zalgo")
  are capped at two per letter, so they stay inside the line;
- the name is cut by its rendered width, never by bytes or code points, and only between whole
  characters (a letter keeps its marks, an emoji its modifiers and joiners);
- right-to-left scripts (Arabic, Hebrew) are shaped and ordered when Pillow has libraqm (Pillow's
  wheels include it; it needs the system's FriBiDi); without it Pillow's basic layout draws the
  letters unshaped, left to right. Either way nothing crashes and the size holds;
- DejaVu has no colour emoji: an emoji it lacks is drawn as its missing-glyph box.

``render_rank_card`` is pure and takes tens of milliseconds: run it in a worker thread.
"""

from __future__ import annotations

import io
import os
import unicodedata
from functools import cache

import matplotlib
from attrs import define, field
from PIL import Image, ImageDraw, ImageFont, ImageOps, features

from domain.history import DayActivity
from pictures.chart import chart_rgba

SIZE = (934, 282)
BACKGROUND = (30, 31, 34)
TEXT = (240, 240, 245)
MUTED = (160, 160, 172)
ACCENT = 0x571173
ACCENT_BAR = 12  # px, the left edge
AVATAR = 180  # px, the disc's diameter
AVATAR_AT = (40, (SIZE[1] - AVATAR) // 2)
TEXT_X = 250
NAME_BOX = (TEXT_X, 22, SIZE[0] - 28)  # x, y, right edge
CHART_BOX = (560, 94, SIZE[0] - 20, SIZE[1] - 10)  # left, top, right, bottom
MAX_AVATAR_PIXELS = 4096 * 4096  # a larger "avatar" is not one; refuse before decoding it
MAX_NAME = 256  # code points kept before measuring: Discord's names are far shorter
ELLIPSIS = "…"

_FONTS = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
_LAYOUT = ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_JOINERS = frozenset("\u200c\u200d")  # ZWNJ, ZWJ: they shape the letters or emoji around them


@define(frozen=True)
class RankCard:
    """What the card shows. Ranks are 1-based; None: not on that board (no activity yet)."""

    display_name: str
    avatar: bytes | None  # the avatar image (PNG, or anything Pillow reads); None: placeholder
    message_rank: int | None
    messages: int
    voice_rank: int | None
    voice_seconds: int
    days: list[DayActivity] = field(factory=list)  # the chart, oldest first (``chart.daily_series``)
    period: str = "This period"  # what the ranks and totals count (a window's name), above the chart
    accent: int = ACCENT  # the guild's colour, 0xRRGGBB


def render_rank_card(card: RankCard) -> bytes:
    """The card as PNG bytes, always ``SIZE`` pixels."""
    accent = _rgb(card.accent)
    image = Image.new("RGB", SIZE, BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, ACCENT_BAR - 1, SIZE[1] - 1), fill=accent)
    name = clean_name(card.display_name) or "unknown member"
    image.paste(_avatar(card.avatar, name, accent), AVATAR_AT, _disc_mask())

    x, y, right = NAME_BOX
    name_font = _font("DejaVuSans-Bold.ttf", 34)
    draw.text((x, y), fit_text(name, name_font, right - x), font=name_font, fill=TEXT)

    label_font, value_font = _font("DejaVuSans-Bold.ttf", 15), _font("DejaVuSans-Bold.ttf", 30)
    rows = (
        ("MESSAGES", card.message_rank, f"{card.messages:,}"),
        ("VOICE", card.voice_rank, format_voice(card.voice_seconds)),
    )
    column = CHART_BOX[0] - TEXT_X - 16
    draw.text(
        (TEXT_X, 68), fit_text(clean_name(card.period), label_font, column), font=label_font, fill=MUTED
    )
    for i, (label, rank, total) in enumerate(rows):
        top = 100 + i * 84
        place = f"RANK #{rank:,}" if rank is not None else "UNRANKED"
        draw.text(
            (TEXT_X, top), fit_text(f"{label} · {place}", label_font, column), font=label_font, fill=MUTED
        )
        draw.text((TEXT_X, top + 22), fit_text(total, value_font, column), font=value_font, fill=TEXT)

    left, top, right, bottom = CHART_BOX
    draw.text((left, top - 10), f"LAST {len(card.days)} DAYS", font=label_font, fill=MUTED, anchor="ls")
    # Bars in a light tint of the accent: the accent itself is too dark to read on the dark card.
    bars = _hex(_tint(card.accent, 0.35))
    chart = chart_rgba(card.days, (right - left, bottom - top), accent=bars)
    image.paste(chart, (left, top), chart)

    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def format_voice(seconds: int) -> str:
    """Hours and minutes, minutes floored: 12h 05m (the boards' own format)."""
    hours, rest = divmod(max(0, int(seconds)), 3600)
    return f"{hours}h {rest // 60:02d}m"


# -- names ------------------------------------------------------------------------------------


def clean_name(raw: str) -> str:
    """``raw`` without what must not be drawn: controls, lone surrogates, bidi overrides, and
    combining marks past the second on one letter; whitespace runs become one space."""
    out: list[str] = []
    marks = 0
    for ch in raw[:MAX_NAME]:
        category = unicodedata.category(ch)
        if ch.isspace() or category.startswith("Z"):  # before controls: a tab or newline is a space
            marks = 0
            if not out or out[-1] != " ":
                out.append(" ")
            continue
        if ch in _BIDI_CONTROLS or category in ("Cc", "Cs") or (category == "Cf" and ch not in _JOINERS):
            continue
        if category.startswith("M"):
            marks += 1
            if marks > 2:
                continue
        else:
            marks = 0
        out.append(ch)
    return "".join(out).strip()


def fit_text(text: str, font: ImageFont.FreeTypeFont, width: int) -> str:
    """``text`` whole if it fits in ``width`` pixels, else its longest prefix of whole characters
    that fits with an ellipsis after it."""
    if font.getlength(text) <= width:
        return text
    cuts = _cuts(text)
    lo, hi = 0, len(cuts) - 1  # cuts[lo] always fits (cuts[0] == 0: the ellipsis alone)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if font.getlength(text[: cuts[mid]].rstrip() + ELLIPSIS) <= width:
            lo = mid
        else:
            hi = mid - 1
    return text[: cuts[lo]].rstrip() + ELLIPSIS


def _cuts(text: str) -> list[int]:
    """The offsets where ``text`` may be cut: before a character that starts a new one (not a mark,
    a joiner, a variation selector or a skin-tone modifier, nor anything a joiner binds)."""
    cuts = [0]
    for i in range(1, len(text)):
        ch, before = text[i], text[i - 1]
        binds = (
            unicodedata.category(ch).startswith("M") or ch in _JOINERS or "\U0001f3fb" <= ch <= "\U0001f3ff"
        )
        if not binds and before not in _JOINERS:
            cuts.append(i)
    return cuts


# -- drawing ----------------------------------------------------------------------------------


def _avatar(data: bytes | None, name: str, accent: tuple[int, int, int]) -> Image.Image:
    """The avatar fitted to the disc, or the placeholder when there is none or it does not decode."""
    if data:
        try:
            with Image.open(io.BytesIO(data)) as picture:
                if picture.width * picture.height > MAX_AVATAR_PIXELS:
                    raise ValueError(f"avatar of {picture.width}x{picture.height} pixels")
                picture.seek(0)  # an animated avatar: its first frame
                return ImageOps.fit(picture.convert("RGB"), (AVATAR, AVATAR), Image.Resampling.LANCZOS)
        except Exception:  # any undecodable picture: Pillow raises many kinds; the card still renders
            pass
    return _placeholder(name, accent)


def _placeholder(name: str, accent: tuple[int, int, int]) -> Image.Image:
    disc = Image.new("RGB", (AVATAR, AVATAR), accent)
    initial = name[0].upper() if name[:1].isalnum() else "?"  # its marks, if any, left off
    font = _font("DejaVuSans-Bold.ttf", 84)
    ImageDraw.Draw(disc).text((AVATAR // 2, AVATAR // 2), initial, font=font, fill=TEXT, anchor="mm")
    return disc


@cache
def _disc_mask() -> Image.Image:
    """An antialiased disc: drawn at 4x and scaled down. Read-only once built (shared by threads)."""
    big = Image.new("L", (AVATAR * 4, AVATAR * 4), 0)
    ImageDraw.Draw(big).ellipse((0, 0, AVATAR * 4 - 1, AVATAR * 4 - 1), fill=255)
    return big.resize((AVATAR, AVATAR), Image.Resampling.LANCZOS)


def _font(file: str, size: int) -> ImageFont.FreeTypeFont:
    # A new face per card: a FreeType face is not safe to use from two threads at once, and
    # loading one costs well under a millisecond.
    return ImageFont.truetype(os.path.join(_FONTS, file), size, layout_engine=_LAYOUT)


def _rgb(colour: int) -> tuple[int, int, int]:
    return (colour >> 16) & 0xFF, (colour >> 8) & 0xFF, colour & 0xFF


def _tint(colour: int, white: float) -> int:
    """``colour`` mixed with ``white`` (0..1) parts of white."""
    r, g, b = (round(c + (255 - c) * white) for c in _rgb(colour))
    return (r << 16) | (g << 8) | b


def _hex(colour: int) -> str:
    return f"#{colour & 0xFFFFFF:06x}"


__all__ = ["SIZE", "RankCard", "clean_name", "fit_text", "format_voice", "render_rank_card"]
