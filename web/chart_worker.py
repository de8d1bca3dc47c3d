"""The page's chart, drawn in one worker process: never on the Trio thread, nor in a thread of it.

Why a process: matplotlib lays out every text and tick in Python, so a drawing thread holds the GIL
in turns with the event loop, and with many watched servers those turns add up to a loop that
waits (the rank card's renderer, ``bot_entry.commands.rank_card.CardRenderer``, measured it and
made the same choice). Drawings wait their turn here, one at a time, each within
``DRAW_TIMEOUT`` (the worker's start-up included); a dead worker is replaced on the next drawing.
``inline`` (deterministic simulations on MockClock with an inline store) draws on the Trio thread.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import trio

from domain.history import DayActivity
from pictures.chart import chart_svg

__all__ = ["CHART_TEXT", "DRAW_TIMEOUT", "ChartWorker", "page_chart"]

DRAW_TIMEOUT = 30.0
CHART_TEXT = "#b5bac1"  # the page's secondary text colour (web/static/page.css)


def page_chart(days: list[DayActivity], accent: str) -> str:
    """The page's chart: the rank card's figure (``pictures.chart``) as SVG, in the page's colours."""
    return chart_svg(days, accent=accent, text=CHART_TEXT)


class ChartWorker:
    def __init__(
        self, *, inline: bool = False, draw: Callable[[list[DayActivity], str], str] = page_chart
    ) -> None:
        self.inline = inline
        self._draw = draw
        self._pool: ProcessPoolExecutor | None = None
        self._limiter: trio.CapacityLimiter | None = None  # made inside the Trio run that uses it

    async def __call__(self, days: list[DayActivity], accent: str) -> str:
        if self.inline:
            await trio.lowlevel.checkpoint()
            return self._draw(days, accent)
        if self._limiter is None:
            self._limiter = trio.CapacityLimiter(1)  # the queue waits here, in Trio, never in the pool
        async with self._limiter:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            future = self._pool.submit(self._draw, days, accent)
            try:
                with trio.fail_after(DRAW_TIMEOUT):
                    return await trio.to_thread.run_sync(future.result, abandon_on_cancel=True)
            except BrokenProcessPool:
                self.close()  # the worker died: the next drawing starts a new one
                raise
            finally:
                future.cancel()  # cancelled or timed out: drop it if it has not started

    def close(self) -> None:
        """Stop the worker (it also stops when this process exits)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
