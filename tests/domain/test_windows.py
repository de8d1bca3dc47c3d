"""Lookback windows: UTC days, the span each window names, midnight cuts."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.windows import (
    Span,
    Window,
    date_number,
    day_date,
    day_number,
    day_span,
    day_start,
    period_span,
    split_days,
    utc_date,
)

T = 1_790_000_000.0  # 2026-09-21T14:13:20Z


def test_days_are_utc_days() -> None:
    assert utc_date(T) == date(2026, 9, 21) == day_date(day_number(T))
    assert day_start(date_number(date(2026, 9, 21))) == 1_789_948_800.0
    assert day_number(1_789_948_800.0 - 0.001) == day_number(T) - 1


def test_each_window_names_its_exact_span() -> None:
    today = date(2026, 10, 31)
    assert day_span(Window.TODAY, today) == Span(today, today)
    assert day_span(Window.DAYS_7, today).text() == "2026-10-25 to 2026-10-31 (UTC)"
    assert day_span(Window.DAYS_30, today).first == date(2026, 10, 2)
    assert Span(today, today).text() == "2026-10-31 (UTC)"
    with pytest.raises(ValueError, match="not a window of days"):
        day_span(Window.PERIOD, today)


def test_a_window_reaching_before_the_history_says_where_history_starts() -> None:
    span = day_span(Window.DAYS_30, date(2026, 10, 31), history_from=date(2026, 10, 20))
    assert span.text() == "2026-10-02 to 2026-10-31 (UTC); daily history is kept from 2026-10-20"
    assert day_span(Window.DAYS_7, date(2026, 10, 31), history_from=date(2026, 10, 20)).history_since is None


def test_a_period_span_ends_on_the_day_before_its_end_instant_or_today() -> None:
    start = day_start(date_number(date(2026, 9, 21)))
    assert period_span(start, start + 30 * 86_400, date(2026, 11, 5)) == Span(
        date(2026, 9, 21), date(2026, 10, 20)
    )
    early_end = start + 3 * 86_400 + 3_600  # an early reset at 01:00 on the 24th
    assert period_span(start, early_end, date(2026, 11, 5)).last == date(2026, 9, 24)
    assert period_span(early_end, None, date(2026, 9, 26)) == Span(date(2026, 9, 24), date(2026, 9, 26))


@given(st.floats(0, 4e9), st.floats(0, 5 * 86_400))
def test_split_days_cuts_exactly_at_midnights(start: float, length: float) -> None:
    pieces = split_days(start, start + length)
    assert sum(b - a for _, a, b in pieces) == pytest.approx(length, abs=1e-6)
    for day, a, b in pieces:
        assert day_start(day) <= a < b <= day_start(day + 1)
    assert (
        [d for d, _, _ in pieces] == list(range(pieces[0][0], pieces[0][0] + len(pieces))) if pieces else True
    )
