"""The page's chart is drawn in a worker process: an SVG comes back, a dead worker is replaced."""

from __future__ import annotations

import os
from concurrent.futures.process import BrokenProcessPool
from datetime import date, timedelta

import pytest
import trio

from domain.history import DayActivity
from web.chart_worker import ChartWorker

DAYS = [DayActivity(date(2026, 9, 1) + timedelta(days=i), 10 * i, 60 * i) for i in range(30)]


def _die(days: list[DayActivity], accent: str) -> str:
    os._exit(3)


async def test_a_chart_comes_back_from_the_worker_as_svg_without_scripts() -> None:
    worker = ChartWorker()
    try:
        with trio.fail_after(60):
            svg = await worker(DAYS, "#571173")
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "<script" not in svg
        assert "571173" in svg.lower()
    finally:
        worker.close()


async def test_a_dead_worker_fails_that_drawing_and_the_next_one_starts_afresh() -> None:
    worker = ChartWorker(draw=_die)
    try:
        with trio.fail_after(60), pytest.raises(BrokenProcessPool):
            await worker(DAYS, "#000000")
        assert not worker.worker.started
    finally:
        worker.close()
