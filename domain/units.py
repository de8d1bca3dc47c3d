"""Voice time's units: stored in milliseconds, counted in seconds. The one place they convert.

The store keeps voice as whole milliseconds (exact sums, no float drift over years of sessions);
boards, /rank and /leaderboard show whole seconds, rounded down so a total never shows more than
was counted; the CSV export gives exact seconds with three decimals.
"""

from __future__ import annotations

__all__ = ["MS_PER_SECOND", "exact_seconds", "seconds_text", "voice_ms", "whole_seconds"]

MS_PER_SECOND = 1000


def voice_ms(seconds: float) -> int:
    """Counted seconds (a float span of the clock) as the whole milliseconds the store adds up."""
    return round(seconds * MS_PER_SECOND)


def whole_seconds(ms: int) -> int:
    """What is shown for a stored voice total: whole seconds, rounded down."""
    return ms // MS_PER_SECOND


def exact_seconds(ms: int) -> float:
    """A stored voice total in seconds, with its fraction."""
    return ms / MS_PER_SECOND


def seconds_text(ms: int) -> str:
    """A stored voice total as exact seconds with three decimals (the CSV export's cell)."""
    return f"{exact_seconds(ms):.3f}"
