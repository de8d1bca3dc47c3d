"""Bounded retry schedules: the one way the bot waits between attempts of a failing operation.

Why a pure schedule and not a retrying decorator: the loops that retry (batch flushes, the login, a
channel lookup) each decide what a failure means and what to keep, and they run on Trio or on
asyncio. They share only the arithmetic, which lives here, is deterministic (no jitter, no clock)
and is always finite: every retry loop in the bot ends after ``attempts`` tries.
"""

from __future__ import annotations

from collections.abc import Iterator

from attrs import define, field, validators


@define(frozen=True)
class Backoff:
    """At most ``attempts`` tries; the waits between them double from ``first`` up to ``cap``."""

    attempts: int = field(validator=validators.ge(1))
    first: float = field(default=0.05, validator=validators.gt(0))
    cap: float = field(default=5.0, validator=validators.gt(0))
    factor: float = field(default=2.0, validator=validators.ge(1))

    def waits(self) -> Iterator[float]:
        """The wait before each try: 0 before the first, then ``first``, doubling, capped."""
        delay = self.first
        yield 0.0
        for _ in range(self.attempts - 1):
            yield delay
            delay = min(delay * self.factor, self.cap)

    @property
    def total_wait(self) -> float:
        """The longest the waits add up to (what a caller's bound is, besides the tries themselves)."""
        return sum(self.waits())
