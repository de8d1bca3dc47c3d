"""One day of activity: what the daily history stores and what charts and lookback windows read.

Days are UTC calendar days. The same record serves a guild's day (summed over its members) and one
member's day; ``pictures`` and ``web`` take lists of these and know nothing of the store.
"""

from __future__ import annotations

from datetime import date

from attrs import define


@define(frozen=True)
class DayActivity:
    """What happened on ``day`` (UTC): messages sent, seconds in voice, reactions added."""

    day: date
    messages: int = 0
    voice_seconds: int = 0
    reactions: int = 0
