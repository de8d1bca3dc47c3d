"""The board view: standings + names + config -> what a board shows.

One pure assembly for the posted boards (the publisher) and ``/leaderboard`` (the member commands),
so both show the same thing for the same standings. It is the one place where stored voice
milliseconds become the seconds a board shows, and where an unknown name becomes the explicit
"Unknown member". ``Paging`` says which ranked members to read when departed members are hidden:
the page a reader asks for counts only members still in the server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from attrs import define, field, validators

from actors.board_render import BoardEntry, BoardStyle, BoardView
from actors.names import UNKNOWN
from domain.guild_config import GuildConfig
from domain.kinds import BoardKind
from domain.units import whole_seconds
from persistence.queries import Standing

__all__ = ["HIDDEN_SCAN_LIMIT", "TOP", "Paging", "board_view", "shown_value"]

TOP = 10  # members on a posted board
HIDDEN_SCAN_LIMIT = 100  # ranked members looked at per top 10 when departed ones are hidden


def shown_value(kind: BoardKind, value: int) -> int:
    """What a board shows for a stored total: messages as they are, voice milliseconds as seconds."""
    return whole_seconds(value) if kind is BoardKind.VOICE else value


def board_view(
    kind: BoardKind,
    standings: Sequence[Standing],
    names: Mapping[int, str | None],
    config: GuildConfig,
    *,
    guild_name: str,
    guild_icon_url: str | None,
    updated_at: float,
    next_reset_at: float | None,
    limit: int = TOP,
    offset: int = 0,
) -> BoardView:
    """The view of one board page; ``names`` by user id (a missing or empty name: "Unknown member")."""
    entries = tuple(
        BoardEntry(s.user_id, names.get(s.user_id) or UNKNOWN, shown_value(kind, s.value)) for s in standings
    )
    return BoardView(
        kind=kind,
        entries=entries,
        guild_name=guild_name,
        guild_icon_url=guild_icon_url,
        updated_at=updated_at,
        next_reset_at=next_reset_at,
        style=BoardStyle(colour=config.colour, arrow=config.arrow),
        limit=limit,
        offset=offset,
    )


@define(frozen=True)
class Paging:
    """Which ranked members to read for the page at ``offset`` of ``limit`` members.

    Shown as stored, the page is one read at ``offset``. With departed members hidden, ranks count
    only members still here, so reading starts at the top and goes on, a double page at a time,
    until ``offset + limit`` present members are found, the standings end, or the bound is hit.
    """

    limit: int = field(validator=validators.ge(1))
    offset: int = field(default=0, validator=validators.ge(0))
    hide_departed: bool = False

    @property
    def want(self) -> int:
        """Members to keep before stopping."""
        return self.offset + self.limit if self.hide_departed else self.limit

    @property
    def first_offset(self) -> int:
        return 0 if self.hide_departed else self.offset

    @property
    def page_size(self) -> int:
        return 2 * self.limit if self.hide_departed else self.limit

    @property
    def scan_limit(self) -> int:
        """Ranked members read at most (bounded: each may cost a member fetch)."""
        return self.want * HIDDEN_SCAN_LIMIT // TOP if self.hide_departed else self.limit

    def done(self, kept: int, read: int, last_page: int) -> bool:
        """Whether to stop after ``read`` members (``last_page`` of them in the last read) and
        ``kept`` present ones."""
        return (
            kept >= self.want
            or not self.hide_departed
            or last_page < self.page_size
            or read >= self.scan_limit
        )

    def shown(self, kept: Sequence[Standing]) -> list[Standing]:
        """The members of the page, from those kept."""
        return list(kept[self.offset : self.offset + self.limit] if self.hide_departed else kept)
