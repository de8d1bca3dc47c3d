"""The ``window`` option: its choices, and page buttons that keep a window's days."""

from __future__ import annotations

import pytest

from bot_entry.commands import Refused
from bot_entry.commands.member import WINDOW_CHOICES, parse_window
from bot_entry.commands.views import PageRef, page_buttons
from domain.kinds import BoardKind
from domain.windows import Window


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
