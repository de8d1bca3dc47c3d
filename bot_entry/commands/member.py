"""Members' commands: ``/leaderboard`` (a board page, rendered exactly like the posted boards) and
``/rank`` (where someone stands on both boards, and which voice rules apply here, with the rank
card: a PNG of the same standing and the last 30 days, see ``commands.rank_card``).

A page is assembled like a posted board: the same member-name order (``actors.member_names``), the
same view (``actors.board_view``), the same renderer; with ``hide_departed`` members who left are
skipped here too, and the pages count only members still in the server.

Both are reads. Each defers before it touches the database, then answers in one edit. Paging is
stateless: the Previous/Next buttons carry the board, the period number and the page in their
custom ids (``views.PageRef``), so they keep working across restarts.
"""

# ruff: noqa: B008 -- ``commands.Param(...)`` defaults are how disnake describes options

from __future__ import annotations

import logging
from datetime import date

import disnake
import trio_asyncio
from attrs import define
from disnake.ext import commands

from actors.board_protocol import Failed, MemberFound, MemberGone, MemberOutcome
from actors.board_render import render_board
from actors.board_view import Paging, board_view
from actors.member_names import Fetch, Learned, MemberNames, ranked_members
from actors.names import escape_name
from bot_entry.commands import Refused, Services, answer, answer_error
from bot_entry.commands.rank_card import (
    Avatars,
    CardRenderer,
    avatar_of,
    card_days_sync,
    card_file,
    with_card,
)
from bot_entry.commands.validation import MAX_PAGE, Period, parse_board, parse_page, parse_period, shown
from bot_entry.commands.views import (
    PAGE_SIZE,
    PageRef,
    page_buttons,
    page_header,
    period_label,
    rank_embed,
    window_label,
)
from bot_entry.translate import CDN
from domain.kinds import BoardKind
from domain.periods import PeriodSpec
from domain.units import whole_seconds
from domain.windows import Span, Window, date_number, day_date, day_span, period_span, utc_date
from persistence import queries
from persistence.all_time import rank_all_time, top_all_time
from persistence.history import history_since_sync, window_rank_sync, window_standings_sync
from persistence.queries import Rank, Standing
from persistence.store import Store
from pictures.rank_card import RankCard

log = logging.getLogger(__name__)


UNKNOWN_MEMBER = 10007  # Discord's code for a member who left


# -- reads (run in the store's thread) --------------------------------------------------------------


@define(frozen=True)
class BoardPage:
    period: int | None  # None: all time, or a window of days (``days``)
    current: int
    current_started_at: float
    next_reset_at: float
    viewer: Rank
    days: tuple[date, date] | None = None  # a window of UTC days, both included
    label: str = ""
    span: Span | None = None  # the exact UTC dates the page covers


# What a page asks for: a period (or all time), a window, or a page button's stored span of days.
Scope = Period | int | Window | tuple[int, int]
_PERIOD_WINDOWS = {
    Period.CURRENT: Window.PERIOD,
    Period.PREVIOUS: Window.PREVIOUS,
    Period.ALL_TIME: Window.ALL_TIME,
}


def _period_started(store: Store, guild_id: int, spec: PeriodSpec, period: int) -> float | None:
    archive = store.archive_sync(guild_id, period)
    if archive is not None:
        return float(archive["started_at"])  # type: ignore[arg-type]
    return spec.start_of(period) if period >= spec.base else None


def _first_start(store: Store, guild_id: int, spec: PeriodSpec, current: int) -> float:
    (oldest,) = store.db.execute(
        "SELECT MIN(started_at) FROM period_archive WHERE guild_id = ?", (guild_id,)
    ).fetchone()
    start = spec.start_of(current)
    return start if oldest is None else min(start, oldest)


def window_span_sync(
    store: Store, guild_id: int, window: Window, at: float
) -> tuple[int | None, tuple[date, date] | None, Span]:
    """What ``window`` covers at ``at``: a period number (None: all time, or days), the days of a
    day window, and the exact span of UTC dates to name in the answer."""
    spec = store.period_spec_sync(guild_id, at)
    current = spec.index_at(at)
    today = utc_date(at)
    if window.days is not None:
        span = day_span(window, today, history_since_sync(store, guild_id))
        return None, (span.first, span.last), span
    if window is Window.PERIOD:
        return current, None, period_span(spec.start_of(current), None, today)
    if window is Window.PREVIOUS:
        started = _period_started(store, guild_id, spec, current - 1)
        ended = spec.start_of(current)
        return current - 1, None, period_span(ended if started is None else started, ended, today)
    return None, None, period_span(_first_start(store, guild_id, spec, current), None, today)


def board_page_sync(
    store: Store, guild_id: int, board: BoardKind, period: Scope, page: int, viewer: int, at: float
) -> BoardPage:
    spec = store.period_spec_sync(guild_id, at)
    current = spec.index_at(at)
    started, next_reset = spec.start_of(current), spec.next_boundary(at)
    if isinstance(period, tuple):  # a page button's days, exactly as the first page showed them
        first, last = day_date(period[0]), day_date(period[1])
        you = window_rank_sync(store, guild_id, viewer, board, first, last)
        span = Span(first, last)
        label = "Today" if first == last else f"Last {(last - first).days + 1} days"
        return BoardPage(None, current, started, next_reset, you, (first, last), label, span)
    if isinstance(period, int):  # a page button's period number
        you = queries.rank(store, guild_id, period, viewer, board)
        began = _period_started(store, guild_id, spec, period)
        ends = None if period == current else spec.start_of(period + 1) if period + 1 >= spec.base else None
        archive = store.archive_sync(guild_id, period)
        if archive is not None:
            ends = float(archive["ended_at"])  # type: ignore[arg-type]
        span = None if began is None else period_span(began, ends, utc_date(at))
        return BoardPage(period, current, started, next_reset, you, None, "", span)
    window = _PERIOD_WINDOWS[period] if isinstance(period, Period) else period
    number, days, span = window_span_sync(store, guild_id, window, at)
    if days is not None:
        you = window_rank_sync(store, guild_id, viewer, board, *days)
        return BoardPage(None, current, started, next_reset, you, days, window_label(window), span)
    if number is None:
        you = rank_all_time(store, guild_id, viewer, board)
    else:
        you = queries.rank(store, guild_id, number, viewer, board)
    return BoardPage(number, current, started, next_reset, you, None, "", span)


def standings_sync(
    store: Store,
    guild_id: int,
    board: BoardKind,
    period: int | None,
    size: int,
    offset: int,
    days: tuple[date, date] | None = None,
) -> list[Standing]:
    """Ranked members ``offset`` to ``offset + size`` of a period (None: all time) or of ``days``."""
    if days is not None:
        return window_standings_sync(store, guild_id, board, days[0], days[1], size, offset)
    if period is None:
        return top_all_time(store, guild_id, board, size, offset)
    return queries.top(store, guild_id, period, board, size, offset)


@define(frozen=True)
class Ranks:
    """``/rank``'s reads: the window's ranks, the all-time ranks, and what the window covers."""

    window: dict[BoardKind, Rank]
    all_time: dict[BoardKind, Rank]
    span: Span


def ranks_sync(store: Store, guild_id: int, user_id: int, at: float, window: Window = Window.PERIOD) -> Ranks:
    number, days, span = window_span_sync(store, guild_id, window, at)
    all_time = {board: rank_all_time(store, guild_id, user_id, board) for board in BoardKind}
    if days is not None:
        ranks = {board: window_rank_sync(store, guild_id, user_id, board, *days) for board in BoardKind}
    elif number is None:
        ranks = all_time
    else:
        ranks = {board: queries.rank(store, guild_id, number, user_id, board) for board in BoardKind}
    return Ranks(ranks, all_time, span)


RANK_WINDOW_NAMES = {
    Window.PERIOD: "This period",
    Window.PREVIOUS: "Previous period",
    Window.ALL_TIME: "All time",
}
WINDOW_CHOICES = [w.value for w in Window]


def parse_window(value: str) -> Window:
    try:
        return Window(value)
    except ValueError:
        choices = ", ".join(WINDOW_CHOICES)
        raise Refused(f"window {shown(value)} does not exist: choose {choices}") from None


# -- Discord side -------------------------------------------------------------------------------------


def icon_url(guild: disnake.Guild | None) -> str | None:
    """The guild icon as the posted boards show it (the URL ``translate.guild_snapshot`` builds)."""
    if guild is None or guild.icon is None:
        return None
    return f"{CDN}/icons/{guild.id}/{guild.icon.key}.png"


def member_fetch(guild: disnake.Guild | None) -> Fetch:
    """Discord's answer about one member of ``guild``, in the protocol's words (asyncio side)."""

    async def fetch(guild_id: int, user_id: int) -> MemberOutcome:
        if guild is None:
            return Failed(f"member {user_id}: the server is not in the bot's cache")
        try:
            member = await guild.fetch_member(user_id)
        except disnake.HTTPException as exc:
            if exc.code == UNKNOWN_MEMBER:
                return MemberGone()
            return Failed(f"member {user_id}: HTTP {exc.status}, code {exc.code}")
        return MemberFound(member.display_name)

    return fetch


def _buttons(specs: list[dict[str, object]]) -> list[disnake.ui.Button[None]]:
    return [
        disnake.ui.Button(
            style=disnake.ButtonStyle.secondary,
            label=str(spec["label"]),
            custom_id=str(spec["custom_id"]),
            disabled=bool(spec["disabled"]),
        )
        for spec in specs
    ]


class MemberCommands(commands.Cog):
    def __init__(self, services: Services) -> None:
        self.services = services
        # Each page passes its own fetch (``member_fetch(inter.guild)``): the guild object is at hand.
        self.names = MemberNames(member_fetch(None), self._remember, services.clock)
        self.avatars = Avatars(services.clock)
        self.cards = CardRenderer(inline=services.store.inline)

    def cog_unload(self) -> None:
        self.cards.close()  # the card worker process (else it ends with this process)

    async def _remember(self, learned: Learned) -> None:
        await self.services.db(self.services.store.remember_names_sync, learned)

    async def _page(
        self, inter: disnake.Interaction, board: BoardKind, period: Scope, page: int, *, personal: bool
    ) -> tuple[str, disnake.Embed, list[disnake.ui.Button[None]]]:
        """One page; ``personal`` (only the viewer sees it) adds the viewer's own standing."""
        s = self.services
        guild_id = inter.guild_id
        assert guild_id is not None
        now = s.clock.now()
        data = await s.db(board_page_sync, s.store, guild_id, board, period, page, inter.author.id, now)
        guild = inter.guild
        config = s.configs.get(guild_id)
        paging = Paging(PAGE_SIZE, (page - 1) * PAGE_SIZE, hide_departed=config.hide_departed)

        async def read_page(size: int, offset: int) -> list[Standing]:
            return await s.db(standings_sync, s.store, guild_id, board, data.period, size, offset, data.days)

        def seen(user_id: int) -> str | None:
            member = guild.get_member(user_id) if guild is not None else None
            return member.display_name if member is not None else None

        standings, names = await ranked_members(
            read_page, self.names, guild_id, paging, seen=seen, fetch=member_fetch(guild)
        )
        view = board_view(
            board,
            standings,
            names,
            config,
            guild_name=guild.name if guild is not None else "",
            guild_icon_url=icon_url(guild),
            updated_at=now,
            next_reset_at=data.next_reset_at,
            limit=PAGE_SIZE,
            offset=paging.offset,
        )
        embed = disnake.Embed.from_dict(render_board(view))
        label = data.label or period_label(data.period, data.current, data.current_started_at)
        you = data.viewer if personal else None
        header = page_header(label, page, data.viewer.total_ranked, you, board, data.span)
        days = None if data.days is None else (date_number(data.days[0]), date_number(data.days[1]))
        ref = PageRef(board, data.period, page, days)
        return header, embed, _buttons(page_buttons(ref, data.viewer.total_ranked))

    @commands.slash_command(
        name="leaderboard", description="Show a leaderboard (only you see it, unless public)"
    )
    async def leaderboard(
        self,
        inter: disnake.ApplicationCommandInteraction,
        board: str = commands.Param(description="Which board", choices=["messages", "voice"]),
        period: str = commands.Param(
            "current",
            description="Which period (default: current)",
            choices=["current", "previous", "all-time"],
        ),
        page: int = commands.Param(1, description="Page (10 members each)", ge=1, le=MAX_PAGE),
        public: bool = commands.Param(False, description="Show it to everyone in this channel"),
        window: str | None = commands.Param(
            None,
            description="Which span (default: the period); today, 7d and 30d are UTC days",
            choices=WINDOW_CHOICES,
        ),
    ) -> None:
        if inter.guild_id is None:
            raise Refused("Leaderboards exist only in servers.")
        kind, page = parse_board(board), parse_page(page)
        which: Scope = parse_period(period) if window is None else parse_window(window)
        await inter.response.defer(ephemeral=not public)
        header, embed, buttons = await self._page(inter, kind, which, page, personal=not public)
        await answer(inter, header, embed=embed, components=buttons)

    @commands.Cog.listener("on_button_click")
    async def page_clicked(self, inter: disnake.MessageInteraction) -> None:
        custom_id = inter.component.custom_id or ""
        if not custom_id.startswith("lb:"):
            return
        try:
            ref = PageRef.parse(custom_id)
            if ref is None or inter.guild_id is None:
                raise Refused("This button does not lead to a page; run /leaderboard again.")
            await inter.response.defer()  # an update of the message the button is on
            period: Scope = Period.ALL_TIME if ref.period is None else ref.period  # period 0 is a period
            if ref.days is not None:
                period = ref.days
            personal = inter.message.flags.ephemeral  # a public board is shared: no "you" line
            header, embed, buttons = await self._page(inter, ref.board, period, ref.page, personal=personal)
            await inter.edit_original_response(content=header, embed=embed, components=buttons)
        except Exception as exc:
            await answer_error(inter, exc, f"page button {custom_id!r}")

    @commands.slash_command(
        name="rank", description="Rank and totals on both boards, and this server's voice rules"
    )
    async def rank(
        self,
        inter: disnake.ApplicationCommandInteraction,
        member: disnake.Member | disnake.User | None = commands.Param(
            None, description="Whose rank (default: yours)"
        ),
        window: str = commands.Param(
            Window.PERIOD.value,
            description="Which span (default: the period); today, 7d and 30d are UTC days",
            choices=WINDOW_CHOICES,
        ),
    ) -> None:
        if inter.guild_id is None:
            raise Refused("Ranks exist only in servers.")
        if isinstance(member, str):  # a user option Discord did not resolve (forged or deleted)
            raise Refused(f"member {shown(member)} is not a user Discord knows.")
        span_of = parse_window(window)
        target = member or inter.author
        name = escape_name(target.display_name)
        if target.bot:
            raise Refused(f"{name} is a bot; bots are not counted.")
        await inter.response.defer(ephemeral=True)
        s = self.services
        now = s.clock.now()
        ranks = await s.db(ranks_sync, s.store, inter.guild_id, target.id, now, span_of)
        guild = inter.guild
        afk = guild.afk_channel.id if guild is not None and guild.afk_channel is not None else None
        label = RANK_WINDOW_NAMES.get(span_of) or window_label(span_of)
        config = s.configs.get(inter.guild_id)
        embed = rank_embed(name, config, afk, ranks.window, ranks.all_time, label, ranks.span)
        try:
            days = await s.db(card_days_sync, s.store, inter.guild_id, target.id, utc_date(now))
            card = RankCard(
                display_name=target.display_name,  # drawn as text: no markdown escaping
                avatar=await self.avatars.get(avatar_of(target)),
                message_rank=ranks.window[BoardKind.MESSAGES].rank,
                messages=ranks.window[BoardKind.MESSAGES].value,
                voice_rank=ranks.window[BoardKind.VOICE].rank,
                voice_seconds=whole_seconds(ranks.window[BoardKind.VOICE].value),
                days=days,
                period=label,
                accent=config.colour,
            )
            png = await trio_asyncio.trio_as_aio(self.cards.render)(card)
        except Exception:  # the text answer never depends on the picture
            log.exception("/rank: the card for member %s was not rendered; answering with text", target.id)
            await answer(inter, embed=disnake.Embed.from_dict(embed))
            return
        await answer(inter, embed=disnake.Embed.from_dict(with_card(embed)), file=card_file(png))

    async def cog_slash_command_error(
        self, inter: disnake.ApplicationCommandInteraction, error: commands.CommandError
    ) -> bool:
        await answer_error(inter, error, f"/{inter.application_command.qualified_name}")
        return True  # handled: disnake's default handler would only print it
