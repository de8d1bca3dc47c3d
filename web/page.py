"""What a server's web page shows, as plain values: pure, no I/O, no clock.

The boards come from the same ``BoardView`` the publisher renders for Discord (``actors.board_view``)
and are ranked by the same function (``actors.board_render.ranked``), so the page shows the same
order, ranks, names, values and colour as the posted boards. Names stay raw here: they are untrusted
text that the template escapes (Jinja2 autoescape) and the live script sets as ``textContent``;
they never become markup. User ids are never part of a page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from attrs import define

from actors.board_render import BoardView, board_title, empty_text, format_value, ranked
from actors.board_view import shown_value
from actors.names import UNKNOWN
from domain.kinds import BoardKind

__all__ = ["ArchivedPeriod", "Board", "GuildPage", "Line", "archived_period", "board", "page_json"]

ARCHIVE_TOP = 3  # members of each finished period's boards shown in the archive


@define(frozen=True)
class Line:
    rank: int
    name: str  # untrusted: escaped by whoever shows it
    value: str


@define(frozen=True)
class Board:
    kind: str  # "messages" | "voice"
    title: str
    lines: tuple[Line, ...]
    empty: str  # what an empty board says


@define(frozen=True)
class ArchivedPeriod:
    period: int
    started: str  # YYYY-MM-DD (UTC)
    ended: str
    members: int  # members with any activity in the period
    messages: tuple[Line, ...]
    voice: tuple[Line, ...]


@define(frozen=True)
class GuildPage:
    guild_id: int
    guild_name: str
    icon_url: str | None  # only a Discord CDN address (the page's CSP allows no other image host)
    colour: str  # "#571173": the boards' colour
    boards: tuple[Board, ...]
    updated: str  # "2026-09-21 14:13 UTC"
    next_reset: str | None
    archive: tuple[ArchivedPeriod, ...]
    chart_svg: str | None  # the 30-day chart (our own SVG; no member text in it); None: no history
    chart_key: str = ""  # changes when the chart does (browsers reload the image only then)


def _day(epoch: float) -> str:
    return f"{datetime.fromtimestamp(epoch, tz=UTC):%Y-%m-%d}"


def board(view: BoardView) -> Board:
    """One board as the posted embed shows it (its ``ranked`` lines, raw names)."""
    lines = tuple(
        Line(rank, entry.name, format_value(view.kind, entry.value)) for rank, entry, _ in ranked(view)
    )
    return Board(view.kind.value, board_title(view.kind), lines, empty_text(view.kind))


def _lines(kind: BoardKind, top: Sequence[Sequence[int]], names: Mapping[int, str]) -> tuple[Line, ...]:
    """An archived top list ([[user_id, stored value], ...], best first) as ranked lines."""
    lines: list[Line] = []
    for i, (user_id, value) in enumerate(top[:ARCHIVE_TOP]):
        rank = lines[-1].rank if i and value == top[i - 1][1] else i + 1
        lines.append(Line(rank, names.get(user_id) or UNKNOWN, format_value(kind, shown_value(kind, value))))
    return tuple(lines)


def archived_period(row: Mapping[str, Any], names: Mapping[int, str]) -> ArchivedPeriod:
    """One ``period_archive`` row (``Store.archive_sync``) as the archive lists it."""
    return ArchivedPeriod(
        period=int(row["period"]),
        started=_day(float(row["started_at"])),
        ended=_day(float(row["ended_at"])),
        members=int(row["users"]),
        messages=_lines(BoardKind.MESSAGES, row["top_messages"], names),
        voice=_lines(BoardKind.VOICE, row["top_voice"], names),
    )


def page_json(page: GuildPage) -> dict[str, Any]:
    """What a live update carries: the boards and the time (the chart is reloaded by its key)."""
    return {
        "boards": [
            {
                "kind": b.kind,
                "empty": b.empty,
                "lines": [
                    {"rank": f"#{line.rank}", "name": line.name, "value": line.value} for line in b.lines
                ],
            }
            for b in page.boards
        ],
        "updated": page.updated,
        "next_reset": page.next_reset,
        "chart": page.chart_key,
    }
