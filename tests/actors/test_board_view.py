"""The board view without Trio: standings + names + config -> what a board shows, and the paging
that skips departed members."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.board_render import BoardStyle
from actors.board_view import HIDDEN_SCAN_LIMIT, TOP, Paging, board_view, shown_value
from domain.guild_config import GuildConfig
from domain.kinds import BoardKind
from persistence.queries import Standing


def standing(user_id: int, value: int, name: str | None = None) -> Standing:
    return Standing(0, user_id, value, name)


def test_voice_milliseconds_become_seconds_and_messages_stay_as_they_are() -> None:
    assert shown_value(BoardKind.VOICE, 3_600_999) == 3_600
    assert shown_value(BoardKind.MESSAGES, 3_600_999) == 3_600_999


def test_the_view_takes_names_style_and_an_explicit_unknown_for_a_missing_name() -> None:
    config = GuildConfig(colour=0x123456, arrow="🔥")
    view = board_view(
        BoardKind.VOICE,
        [standing(1, 7_200_000), standing(2, 60_000), standing(3, 1_000)],
        {1: "Ada", 2: None},
        config,
        guild_name="G",
        guild_icon_url=None,
        updated_at=5.0,
        next_reset_at=None,
        offset=10,
    )
    assert [(e.user_id, e.name, e.value) for e in view.entries] == [
        (1, "Ada", 7_200),
        (2, "Unknown member", 60),
        (3, "Unknown member", 1),
    ]
    assert view.style == BoardStyle(colour=0x123456, arrow="🔥")
    assert (view.limit, view.offset, view.updated_at) == (TOP, 10, 5.0)


def test_shown_as_stored_a_page_is_one_read_at_its_offset() -> None:
    paging = Paging(10, 20)
    assert (paging.first_offset, paging.page_size, paging.want) == (20, 10, 10)
    assert paging.done(kept=3, read=3, last_page=3)
    kept = [standing(i, 100 - i) for i in range(10)]
    assert paging.shown(kept) == kept


def test_hiding_departed_members_reads_from_the_top_until_the_page_is_full() -> None:
    paging = Paging(10, 10, hide_departed=True)
    assert (paging.first_offset, paging.page_size, paging.want) == (0, 20, 20)
    assert not paging.done(kept=12, read=20, last_page=20)  # more may follow
    assert paging.done(kept=20, read=40, last_page=20)  # the page is full
    assert paging.done(kept=12, read=35, last_page=15)  # the standings ended
    assert paging.done(kept=0, read=2 * HIDDEN_SCAN_LIMIT, last_page=20)  # bounded
    kept = [standing(i, 100 - i) for i in range(25)]
    assert paging.shown(kept) == kept[10:20]


@pytest.mark.parametrize("limit", [0, -1])
def test_a_page_holds_someone(limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        Paging(limit)


@given(
    page=st.integers(min_value=0, max_value=20),
    present=st.lists(st.booleans(), max_size=400),
)
def test_paging_over_any_standings_shows_the_right_present_members_and_stays_bounded(
    page: int, present: list[bool]
) -> None:
    """Driving ``Paging`` as the publisher does, against an oracle: the page shows the present
    members ranked ``offset`` to ``offset + limit`` among those read, and reads stay bounded."""
    paging = Paging(TOP, page * TOP, hide_departed=True)
    kept: list[int] = []
    read = paging.first_offset
    while True:
        batch = list(range(read, min(read + paging.page_size, len(present))))
        read += len(batch)
        kept += [i for i in batch if present[i]]
        if paging.done(len(kept), read, len(batch)):
            break
    assert read <= paging.scan_limit + paging.page_size
    oracle = [i for i in range(read) if present[i]][paging.offset : paging.offset + TOP]
    assert [s.user_id for s in paging.shown([standing(i, 0) for i in kept])] == oracle
    if read < len(present):  # stopped early: the page was full, or the bound was reached
        assert len(oracle) == TOP or read >= paging.scan_limit
