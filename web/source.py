"""Where a server's page comes from: the store, this side's copy of the configs, the names.

The boards are read and named exactly as the publisher reads and names them (``queries.top`` pages
through ``actors.member_names.ranked_members`` into ``actors.board_view.board_view``), so a page
and the posted boards agree; with ``hide_departed`` the same member check is made (cached for an
hour, like the publisher's). A page exists only for a guild the bot is in whose admins turned
``web_page`` on; for any other id the answer is ``None`` (a 404 that says nothing more).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from attrs import define, field

from actors.board_view import TOP, Paging, board_view
from actors.member_names import MemberNames, ranked_members
from domain.clock import WallClock
from domain.guild_config import GuildConfigs
from domain.history import DayActivity
from domain.kinds import BoardKind
from persistence import queries
from persistence.history import guild_days_sync
from persistence.store import Store
from web.chart_worker import ChartWorker
from web.page import ArchivedPeriod, GuildPage, archived_period, board

log = logging.getLogger(__name__)

__all__ = ["ARCHIVE_PERIODS", "CHART_DAYS", "Chart", "Days", "GuildFacts", "PageSource"]

ARCHIVE_PERIODS = 12  # finished periods listed, newest first
CHART_DAYS = 30
CHART_REDRAW_SECONDS = 10.0  # a busy day's bar grows at every flush; the chart follows this often
CDN = "https://cdn.discordapp.com/"  # the only image host the page's CSP allows

Days = Callable[[Store, int, date, date], list[DayActivity]]  # (store, guild, first, last), in its thread
Chart = Callable[[list[DayActivity], str], Awaitable[str]]  # (days, "#rrggbb" accent) -> an SVG document


@define(frozen=True)
class GuildFacts:
    """What the gateway knows of a guild the bot is in."""

    name: str
    icon_url: str | None


GuildLookup = Callable[[int], GuildFacts | None]  # None: the bot is not in that guild


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def archive_sync(store: Store, guild_id: int) -> list[ArchivedPeriod]:
    """The newest ``ARCHIVE_PERIODS`` finished periods (runs in the store's thread)."""
    last = store.last_archived_sync(guild_id)
    if last is None:
        return []
    rows: list[dict[str, Any]] = []
    for period in range(last, max(-1, last - ARCHIVE_PERIODS), -1):
        row = store.archive_sync(guild_id, period)
        if row is not None:
            rows.append(row)
    users = sorted({int(u) for row in rows for key in ("top_messages", "top_voice") for u, _ in row[key]})
    names = queries.names_sync(store.db.conn, guild_id, users)
    return [archived_period(row, names) for row in rows]


@define
class PageSource:
    store: Store
    configs: GuildConfigs  # this side's own copy (``GuildConfigured`` keeps it current)
    clock: WallClock
    guilds: GuildLookup
    names: MemberNames
    days: Days | None = guild_days_sync  # the daily history; None: no chart
    chart: Chart | None = field(factory=ChartWorker)  # a worker process (``ChartWorker``)
    # guild -> (days, colour, svg, when): the last drawing
    _charts: dict[int, tuple[tuple[DayActivity, ...], str, str, float]] = field(factory=dict)

    async def _chart(self, guild_id: int, last: date, colour: str) -> str | None:
        """The 30 days up to ``last``, drawn by ``chart`` (a worker process: matplotlib takes tens of
        ms of Python), only when the days or the colour changed, at most every
        ``CHART_REDRAW_SECONDS`` for days."""
        if self.days is None or self.chart is None:
            return None
        first = last - timedelta(days=CHART_DAYS - 1)
        days = tuple(await self.store.call(self.days, self.store, guild_id, first, last))
        drawn = self._charts.get(guild_id)
        now = self.clock.now()
        if (
            drawn is not None
            and drawn[1] == colour
            and (drawn[0] == days or now - drawn[3] < CHART_REDRAW_SECONDS)
        ):
            return drawn[2]
        try:
            svg = await self.chart(list(days), colour)
        except Exception:  # the boards never depend on the picture: keep the last drawing, if any
            log.exception("web: the chart of guild %s was not drawn", guild_id)
            return None if drawn is None else drawn[2]
        self._charts[guild_id] = (days, colour, svg, now)
        return svg

    def close(self) -> None:
        if isinstance(self.chart, ChartWorker):
            self.chart.close()

    def shown(self, guild_id: int) -> bool:
        return self.configs.get(guild_id).web_page and self.guilds(guild_id) is not None

    async def render(self, guild_id: int) -> GuildPage | None:
        """The page as it is now, or None if ``guild_id`` has no page."""
        facts = self.guilds(guild_id)
        config = self.configs.get(guild_id)
        if facts is None or not config.web_page:
            return None
        now = self.clock.now()
        spec = await self.store.call(self.store.period_spec_sync, guild_id, now)
        period = spec.index_at(now)
        boards = []
        for kind in BoardKind:

            async def read_page(size: int, offset: int, kind: BoardKind = kind) -> list[queries.Standing]:
                return await self.store.call(queries.top, self.store, guild_id, period, kind, size, offset)

            paging = Paging(TOP, hide_departed=config.hide_departed)
            standings, names = await ranked_members(read_page, self.names, guild_id, paging)
            view = board_view(
                kind,
                standings,
                names,
                config,
                guild_name=facts.name,
                guild_icon_url=facts.icon_url,
                updated_at=now,
                next_reset_at=spec.end_of(period),
            )
            boards.append(board(view))
        archive = await self.store.call(archive_sync, self.store, guild_id)
        colour = f"#{config.colour:06x}"
        chart_svg = await self._chart(guild_id, _utc(now).date(), colour)
        icon = facts.icon_url if facts.icon_url and facts.icon_url.startswith(CDN) else None
        next_reset = spec.end_of(period)
        return GuildPage(
            guild_id=guild_id,
            guild_name=facts.name,
            icon_url=icon,
            colour=colour,
            boards=tuple(boards),
            updated=f"{_utc(now):%Y-%m-%d %H:%M:%S} UTC",
            next_reset=None if next_reset is None else f"{_utc(next_reset):%Y-%m-%d}",
            archive=tuple(archive),
            chart_svg=chart_svg,
            chart_key="" if chart_svg is None else hashlib.sha256(chart_svg.encode()).hexdigest()[:16],
        )
