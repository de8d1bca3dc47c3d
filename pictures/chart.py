"""The 30-day activity chart: messages per day (bars) and voice minutes per day (a line).

Drawn with matplotlib's object API on the Agg canvas (never ``pyplot``: it keeps global figure
state and is not thread-safe), so a worker thread can draw while another does too. The same
figure serves two outputs:

- ``chart_rgba``: pixels for the rank card (``pictures.rank_card``);
- ``chart_svg``: a self-contained SVG for the web page: glyphs are paths (no font needed), no
  scripts, no external references, no date in the metadata, and element ids from a fixed salt,
  so the same days give the same text.

The chart shows only what the days say: no render time, no randomness.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, timedelta

import matplotlib

matplotlib.use("Agg")  # before anything draws: no display, no GUI toolkit

from matplotlib import rcParams
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from domain.history import DayActivity

# SVG element ids are hashes salted with this (else a random uuid per save): the same input, the
# same SVG. Glyphs as paths make the file render without any font installed.
rcParams["svg.hashsalt"] = "activity-chart"
rcParams["svg.fonttype"] = "path"

DAYS = 30
ACCENT = "#571173"
VOICE_COLOUR = "#e0a3ff"  # a light tint of the accent: readable on the dark card and on white


def daily_series(days: Sequence[DayActivity], last: date, count: int = DAYS) -> list[DayActivity]:
    """Exactly ``count`` days ending on ``last``, oldest first: missing days are zero, days
    outside the window are dropped, and two records of one day are added together."""
    first = last - timedelta(days=count - 1)
    by_day: dict[date, DayActivity] = {}
    for d in days:
        if first <= d.day <= last:
            seen = by_day.get(d.day)
            by_day[d.day] = (
                d
                if seen is None
                else DayActivity(
                    d.day,
                    seen.messages + d.messages,
                    seen.voice_seconds + d.voice_seconds,
                    seen.reactions + d.reactions,
                )
            )
    return [
        by_day.get(first + timedelta(days=i), DayActivity(first + timedelta(days=i))) for i in range(count)
    ]


def _figure(
    days: Sequence[DayActivity], width_in: float, height_in: float, *, text: str, accent: str
) -> Figure:
    """One axes, few artists (drawing is what costs: every tick and text is laid out per card).

    Both series share the axes, each scaled to its own maximum, which the key states; messages
    are one collection of vertical bars, voice one line.
    """
    series = sorted(days, key=lambda d: d.day)
    fig = Figure(figsize=(width_in, height_in))
    fig.patch.set_alpha(0.0)
    box = (0.03, 0.2, 0.94, 0.62)
    ax = fig.add_axes(box)
    ax.patch.set_alpha(0.0)
    ax.set_axis_off()  # no axis machinery: the baseline and day labels are drawn below
    n = max(len(series), 1)
    messages = [max(0, d.messages) for d in series]
    minutes = [max(0, d.voice_seconds) / 60 for d in series]
    top_m, top_v = max(messages, default=0), max(minutes, default=0)
    xs = list(range(len(series)))
    slot_pt = width_in * box[2] * 72 / n
    ax.vlines(
        xs, 0, [m / top_m if top_m else 0 for m in messages], colors=accent, linewidth=slot_pt * 0.72
    ).set_capstyle("butt")
    ax.plot(xs, [v / top_v if top_v else 0 for v in minutes], color=VOICE_COLOUR, linewidth=1.6)
    ax.axhline(0, color=text, alpha=0.5, linewidth=0.6)
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylim(0, 1.08)
    for i in xs:
        if (len(xs) - 1 - i) % 7 == 0:
            ax.text(
                i,
                -0.06,
                f"{series[i].day:%b} {series[i].day.day}",
                color=text,
                fontsize=7,
                ha="center",
                va="top",
            )
    key_y = box[1] + box[3] + 0.04
    # The square in the bars' colour, the words in the text colour: the accent is too dark to read
    # on a dark background.
    fig.text(box[0], key_y, "■", color=accent, fontsize=7)
    fig.text(box[0] + 0.018, key_y, f"messages, most {top_m:,} a day", color=text, fontsize=7)
    fig.text(
        box[0] + box[2],
        key_y,
        f"━ voice, most {_minutes(top_v)} a day",
        color=VOICE_COLOUR,
        fontsize=7,
        ha="right",
    )
    return fig


def _minutes(minutes: float) -> str:
    hours, rest = divmod(int(minutes), 60)
    return f"{hours}h {rest:02d}m" if hours else f"{rest} min"


def chart_rgba(
    days: Sequence[DayActivity], size: tuple[int, int], *, accent: str = ACCENT, text: str = "#d8d8e0"
) -> Image.Image:
    """The chart as an RGBA image of exactly ``size`` pixels (transparent background)."""
    dpi = 100
    fig = _figure(days, size[0] / dpi, size[1] / dpi, text=text, accent=accent)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    image = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    if image.size != size:  # a rounding of figsize x dpi: never let it change the card's layout
        image = image.resize(size)
    return image.copy()


def chart_svg(
    days: Sequence[DayActivity], *, accent: str = ACCENT, text: str = "#6b6b78", width_in: float = 7.0
) -> str:
    """The chart as a self-contained SVG document (no scripts, fonts or links outside it)."""
    fig = _figure(days, width_in, width_in * 0.4, text=text, accent=accent)
    FigureCanvasAgg(fig)  # attach a canvas: savefig needs one; the SVG backend does the drawing
    out = io.StringIO()
    fig.savefig(out, format="svg", metadata={"Date": None, "Creator": None}, transparent=True)
    return out.getvalue()
