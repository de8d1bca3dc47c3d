"""The one clock: UTC epoch seconds derived from Trio's clock.

Why not ``time.time()``: logic must be testable with ``trio.testing.MockClock``, so every actor asks
this clock, which reads ``trio.current_time()`` and adds a fixed offset chosen once at start. Under
MockClock the offset is a test's chosen epoch, so simulated days pass in milliseconds.
"""

from __future__ import annotations

import time

import trio
from attrs import define


@define(frozen=True)
class WallClock:
    """Maps Trio time to UTC epoch seconds with a fixed offset."""

    offset: float

    @classmethod
    def real(cls) -> WallClock:
        """A clock that agrees with the host's UTC time (call inside ``trio.run``)."""
        return cls(offset=time.time() - trio.current_time())

    @classmethod
    def starting_at(cls, epoch: float) -> WallClock:
        """A clock that reads ``epoch`` now (for tests and simulations)."""
        return cls(offset=epoch - trio.current_time())

    def now(self) -> float:
        return self.offset + trio.current_time()

    def trio_deadline(self, epoch: float) -> float:
        """The Trio deadline at which this clock will read ``epoch``."""
        return epoch - self.offset

    async def sleep_until(self, epoch: float) -> None:
        await trio.sleep_until(self.trio_deadline(epoch))
