"""The 30-day chart: a window of exactly 30 days, pixels of the size asked, and an SVG that stands
alone (no scripts, no links out, no date) and is the same text for the same days."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

from domain.history import DayActivity
from pictures.chart import chart_rgba, chart_svg, daily_series

LAST = date(2026, 9, 21)


def test_the_series_is_thirty_days_ending_on_the_last_filled_with_zeros() -> None:
    days = [
        DayActivity(LAST, 4, 60),
        DayActivity(LAST - timedelta(days=3), 2),
        DayActivity(LAST - timedelta(days=30), 99),  # outside the window
        DayActivity(LAST + timedelta(days=1), 99),  # after it
        DayActivity(LAST, 1, 30, 2),  # the same day again: added
    ]
    series = daily_series(days, LAST)
    assert [d.day for d in series] == [LAST - timedelta(days=29 - i) for i in range(30)]
    assert series[-1] == DayActivity(LAST, 5, 90, 2)
    assert series[-4] == DayActivity(LAST - timedelta(days=3), 2)
    assert sum(d.messages for d in series) == 7


def test_the_pixels_have_the_size_asked() -> None:
    series = daily_series([DayActivity(LAST, 3, 600)], LAST)
    for size in ((354, 190), (401, 203), (100, 50)):
        image = chart_rgba(series, size)
        assert image.size == size and image.mode == "RGBA"
    assert chart_rgba([], (354, 190)).size == (354, 190)


def test_the_svg_stands_alone_and_is_the_same_for_the_same_days() -> None:
    series = daily_series([DayActivity(LAST - timedelta(days=i), i, i * 90) for i in range(30)], LAST)
    svg = chart_svg(series)
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "<script" not in svg.lower() and "<foreignobject" not in svg.lower()
    assert not re.search(r"\son\w+\s*=", svg), "no event-handler attributes"
    hrefs = re.findall(r'href="([^"]*)"', svg)
    assert hrefs and all(h.startswith("#") for h in hrefs), "every reference is inside the file"
    assert "<dc:date" not in svg
    assert chart_svg(series) == svg
    assert chart_svg(daily_series([], LAST)) != svg
