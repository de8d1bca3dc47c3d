"""The page's chart, drawn in the picture worker (``pictures.worker``): off the Trio thread, in one
worker process, one drawing at a time within ``DRAW_TIMEOUT``; ``inline`` draws on the Trio thread
(deterministic simulations on MockClock with an inline store).
"""

from __future__ import annotations

from collections.abc import Callable

from domain.history import DayActivity
from pictures.chart import chart_svg
from pictures.worker import PictureWorker

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
        self._draw = draw
        self.worker = PictureWorker(timeout=DRAW_TIMEOUT, inline=inline)

    async def __call__(self, days: list[DayActivity], accent: str) -> str:
        return await self.worker.draw(self._draw, days, accent)

    def close(self) -> None:
        """Stop the worker (it also stops when this process exits)."""
        self.worker.close()
