"""The page's values: the same lines as the posted board, ties, the archive, no user ids."""

from __future__ import annotations

import json

from actors.board_render import BoardEntry, BoardView, render_board
from domain.kinds import BoardKind
from web.page import archived_period, board, page_json

NAMES = ["**Ada**", "<b>Bo</b>", "Cyd", "Dee"]


def a_view(kind: BoardKind, values: list[int]) -> BoardView:
    entries = tuple(BoardEntry(1000 + i, NAMES[i], v) for i, v in enumerate(values))
    return BoardView(kind, entries, "G", None, 0.0, None)


def test_a_board_is_the_posted_embeds_lines_with_raw_names() -> None:
    view = a_view(BoardKind.MESSAGES, [3, 9, 9, 1])
    lines = board(view).lines
    assert [(line.rank, line.name) for line in lines] == [
        (1, "<b>Bo</b>"),
        (1, "Cyd"),
        (3, "**Ada**"),
        (4, "Dee"),
    ]
    embed = render_board(view)["description"].splitlines()
    assert [line.split(" — ")[1] for line in embed] == [line.value for line in lines]


def test_voice_values_show_as_hours_and_minutes() -> None:
    (line,) = board(a_view(BoardKind.VOICE, [3 * 3600 + 5 * 60])).lines
    assert line.value == "3h 05m"


def test_an_archived_period_ranks_ties_and_names_the_unknown() -> None:
    row = {
        "period": 4,
        "started_at": 1_790_000_000.0,
        "ended_at": 1_792_592_000.0,
        "users": 7,
        "top_messages": [[1, 5], [2, 5], [3, 2], [4, 1]],
        "top_voice": [[2, 3_600_000]],
    }
    archived = archived_period(row, {1: "Ada", 2: "Bo"})
    assert [(line.rank, line.name, line.value) for line in archived.messages] == [
        (1, "Ada", "5 messages"),
        (1, "Bo", "5 messages"),
        (3, "Unknown member", "2 messages"),
    ]
    assert archived.voice[0].value == "1h 00m" and archived.started == "2026-09-21"


def test_a_live_update_carries_no_user_id() -> None:
    from web.page import GuildPage

    page = GuildPage(
        5, "G", None, "#000000", (board(a_view(BoardKind.MESSAGES, [2, 1])),), "now", None, (), None
    )
    text = json.dumps(page_json(page))
    assert "1000" not in text and "1001" not in text and "<b>Bo</b>" in text
