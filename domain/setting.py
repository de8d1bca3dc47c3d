"""The kit every settings table is built from: text in, a value or one refusal reason out.

A reason is the end of a sentence about the value (``is out of range: it must be 10 to 86400
seconds``), so each caller names the setting and shows the value its own way (the operator reads
``LEADERBOARD_INTERVAL_SECONDS: '5' is out of range: ...``, an admin reads
``update interval “5” is out of range: ...``) and the sentence is the same on every path.
Nothing non-finite passes a number, and every number has bounds: a setting without an upper
bound is one that stops the bot later, far from the line that set it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from attrs import define

SNOWFLAKE_MAX = 2**64


class Refused(ValueError):
    """A value a setting does not take; ``reason`` ends the sentence that names the value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Parse = Callable[[str], Any]


@define(frozen=True)
class Number:
    """A number from ``low`` to ``high`` (both included); ``whole`` refuses fractions.

    ``reason``, when given, replaces every refusal sentence (for a setting whose documented
    sentence is older than this kit, like OPS_PORT's).
    """

    low: float
    high: float
    unit: str
    whole: bool = False
    reason: str | None = None

    def _refuse(self, reason: str) -> Refused:
        return Refused(self.reason or reason)

    def __call__(self, raw: str) -> float | int:
        """Text (the environment, ``.env``) to a checked number."""
        text = raw.strip()
        try:
            value: float | int = int(text) if self.whole else float(text)
        except ValueError:
            raise self._refuse("is not a whole number" if self.whole else "is not a number") from None
        return self.check(value)

    def check(self, value: float | int) -> float | int:
        """A number as a slash command delivers it (already typed) to the same checked number."""
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self._refuse("is not a number")
        if self.whole and value != int(value):
            raise self._refuse("is not a whole number")
        if not self.low <= value <= self.high:
            raise self._refuse(f"is out of range: it must be {self.low:g} to {self.high:g} {self.unit}")
        return int(value) if self.whole else float(value)


def snowflake(what: str) -> Parse:
    """A Discord id, or None for an empty value ("not set")."""

    def parse(raw: str) -> int | None:
        text = raw.strip()
        if text == "":
            return None
        if not (text.isascii() and text.isdigit()) or not 0 < int(text) < SNOWFLAKE_MAX:
            raise Refused(f"is not {what} (digits)")
        return int(text)

    return parse


def choice(options: tuple[str, ...], sentence: str, *, upper: bool = False) -> Parse:
    """One of ``options``, any case; stored in the case of ``options``."""

    def parse(raw: str) -> str:
        text = raw.strip().upper() if upper else raw.strip().lower()
        if text not in options:
            raise Refused(f"is not {sentence}")
        return text

    return parse
