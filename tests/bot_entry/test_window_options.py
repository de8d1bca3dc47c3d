"""The ``window`` option: its choices, and page buttons that keep a window's days."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot_entry.commands import Refused
from bot_entry.commands.member import WINDOW_CHOICES, parse_window, window_span_sync
from bot_entry.commands.views import PageRef, page_buttons
from domain.kinds import BoardKind
from domain.periods import DAY
from domain.windows import Span, Window, date_number, day_start
from persistence.store import Store


def test_the_choices_are_the_windows() -> None:
    assert WINDOW_CHOICES == ["period", "today", "7d", "30d", "previous", "all-time"]
    assert parse_window("7d") is Window.DAYS_7
    with pytest.raises(Refused, match="window “1y” does not exist: choose period, today"):
        parse_window("1y")


def test_a_window_page_button_keeps_its_days_across_pages() -> None:
    ref = PageRef(BoardKind.VOICE, None, 2, (20_750, 20_756))
    assert ref.custom_id() == "lb:voice:w20750-20756:2"
    assert PageRef.parse(ref.custom_id()) == ref
    following = PageRef.parse(page_buttons(ref, 40)[1]["custom_id"])
    assert following == PageRef(BoardKind.VOICE, None, 3, (20_750, 20_756))


@pytest.mark.parametrize("forged", ["lb:voice:w20756-20750:1", "lb:voice:w1-400:1", "lb:voice:w1-:1"])
def test_a_forged_span_of_days_is_no_page(forged: str) -> None:
    assert PageRef.parse(forged) is None


def test_period_windows_name_the_archived_span_after_an_early_reset(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.db")
    start = day_start(date_number(date(2026, 9, 21)))
    store.period_spec_sync(1, start)
    reset_at = start + 3 * DAY + 3_600  # 2026-09-24T01:00Z
    store.reset_early_sync(1, reset_at, by_user=9)
    now = start + 5 * DAY + 60  # 2026-09-26
    number, days, span = window_span_sync(store, 1, Window.PREVIOUS, now)
    assert (number, days, span) == (0, None, Span(date(2026, 9, 21), date(2026, 9, 24)))
    number, days, span = window_span_sync(store, 1, Window.PERIOD, now)
    assert (number, span) == (1, Span(date(2026, 9, 24), date(2026, 9, 26)))
    assert window_span_sync(store, 1, Window.ALL_TIME, now)[2] == Span(date(2026, 9, 21), date(2026, 9, 26))
    number, days, span = window_span_sync(store, 1, Window.DAYS_7, now)
    assert number is None and days == (date(2026, 9, 20), date(2026, 9, 26))
    store.close()
