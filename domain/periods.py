"""Period math: which 30-day period an instant belongs to, and where periods end.

Pure functions over UTC epoch seconds, so "monthly reset fired early because of local time" cannot
happen: no time zone is ever consulted. A period is ``[anchor + i*length, anchor + (i+1)*length)``;
``i`` is the period number that keys every stored total, archive and reset.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from attrs import define, field

DAY = 86_400
DEFAULT_PERIOD_DAYS = 30


def _positive(_instance: object, attribute: object, value: int) -> None:
    if value <= 0:
        raise ValueError(f"period length must be positive, got {value}")


@define(frozen=True)
class PeriodSpec:
    """A guild's period layout: an anchor instant and a length."""

    anchor: float
    length: int = field(default=DEFAULT_PERIOD_DAYS * DAY, validator=_positive)
    base: int = 0  # the number of the period that starts at ``anchor`` (an admin reset moves both)

    def index_at(self, at: float) -> int:
        """The period number that contains ``at``."""
        return self.base + math.floor((at - self.anchor) / self.length)

    def start_of(self, index: int) -> float:
        return self.anchor + (index - self.base) * self.length

    def end_of(self, index: int) -> float:
        return self.start_of(index + 1)

    def after(self, finished: int, length: int, anchor: float | None) -> PeriodSpec | None:
        """The layout from period ``finished + 1`` on, for a (possibly) new length and anchor.

        None when nothing changes. A new length starts at the end of ``finished``; a new anchor
        keeps its alignment, so the next period ends on the first boundary aligned to it.
        """
        start = self.end_of(finished)
        if anchor is None:
            if length == self.length:
                return None
            return PeriodSpec(start, length, finished + 1)
        aligned = anchor + math.floor((start - anchor) / length) * length
        if length == self.length and aligned == self.start_of(self.index_at(start)):
            return None
        return PeriodSpec(aligned, length, finished + 1)

    def restarted_at(self, at: float) -> PeriodSpec:
        """The layout after an early reset at ``at``: the current period ends now, the next starts."""
        return PeriodSpec(at, self.length, self.index_at(at) + 1)

    def next_boundary(self, at: float) -> float:
        """The first period boundary strictly after ``at``."""
        return self.end_of(self.index_at(at))

    def split(self, start: float, end: float) -> list[tuple[int, float, float]]:
        """Cut ``[start, end)`` at period boundaries: seconds before a reset stay in the old period."""
        pieces: list[tuple[int, float, float]] = []
        cursor = start
        while cursor < end:
            index = self.index_at(cursor)
            piece_end = min(end, self.end_of(index))
            pieces.append((index, cursor, piece_end))
            cursor = piece_end
        return pieces

    def finished_between(self, after: float, until: float) -> range:
        """Period numbers whose end lies in ``(after, until]``: the resets owed for that span."""
        return range(self.index_at(after), self.index_at(until))


def day_floor(at: float) -> float:
    """Midnight UTC of the day containing ``at``: the default anchor for a newly seen guild."""
    return float(math.floor(at / DAY) * DAY)


def iso_date(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d")
