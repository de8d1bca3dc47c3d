"""Lookback windows: which stretch of UTC days a ``/leaderboard`` or ``/rank`` answer covers.

Pure date math over UTC day numbers (days since 1970-01-01), so "today" never depends on a time
zone. ``period`` and ``previous period`` are the stored period totals (a period need not start at
midnight: an early reset can start one at any instant); ``today``, ``7d`` and ``30d`` are sums of
daily history rows; ``all-time`` is the sum over every period. Every answer names its exact span.
"""

from __future__ import annotations

import enum
import math
from datetime import UTC, date, datetime, timedelta

from attrs import define

from domain.periods import DAY

EPOCH = date(1970, 1, 1)


def day_number(at: float) -> int:
    """The UTC day number of the instant ``at`` (epoch seconds)."""
    return math.floor(at / DAY)


def day_date(number: int) -> date:
    return EPOCH + timedelta(days=number)


def date_number(day: date) -> int:
    return (day - EPOCH).days


def utc_date(at: float) -> date:
    """The UTC calendar date of ``at``."""
    return datetime.fromtimestamp(at, tz=UTC).date()


def day_start(number: int) -> float:
    """Midnight UTC opening day ``number``, in epoch seconds."""
    return float(number * DAY)


def split_days(start: float, end: float) -> list[tuple[int, float, float]]:
    """Cut ``[start, end)`` at UTC midnights: a session spanning midnight credits each day its part."""
    pieces: list[tuple[int, float, float]] = []
    cursor = start
    while cursor < end:
        number = day_number(cursor)
        piece_end = min(end, day_start(number + 1))
        pieces.append((number, cursor, piece_end))
        cursor = piece_end
    return pieces


class Window(enum.Enum):
    """What a member can ask for; the value is the command option's text."""

    PERIOD = "period"
    TODAY = "today"
    DAYS_7 = "7d"
    DAYS_30 = "30d"
    PREVIOUS = "previous"
    ALL_TIME = "all-time"

    @property
    def days(self) -> int | None:
        """How many UTC days a day window covers, ending today; None for the period windows."""
        return {Window.TODAY: 1, Window.DAYS_7: 7, Window.DAYS_30: 30}.get(self)


@define(frozen=True)
class Span:
    """The UTC dates an answer covers, both ends included; ``since`` marks where history begins
    when the window reaches further back than the stored days (history starts at the upgrade)."""

    first: date
    last: date
    history_since: date | None = None  # set when the window starts before the first stored day

    def text(self) -> str:
        dates = f"{self.first.isoformat()} to {self.last.isoformat()} (UTC)"
        if self.first == self.last:
            dates = f"{self.first.isoformat()} (UTC)"
        if self.history_since is not None:
            dates += f"; daily history is kept from {self.history_since.isoformat()}"
        return dates


def day_span(window: Window, today: date, history_from: date | None = None) -> Span:
    """The span of a day window ending ``today``; notes where history starts if it is later."""
    days = window.days
    if days is None:
        raise ValueError(f"{window.value} is not a window of days")
    first = today - timedelta(days=days - 1)
    since = history_from if history_from is not None and history_from > first else None
    return Span(first, today, since)


def period_span(started_at: float, ended_at: float | None, today: date) -> Span:
    """A period's span: from the UTC date it started to the date it ended (exclusive end instant),
    or to ``today`` while it runs."""
    last = today if ended_at is None else utc_date(max(started_at, ended_at - 1e-3))
    return Span(utc_date(started_at), max(last, utc_date(started_at)))
