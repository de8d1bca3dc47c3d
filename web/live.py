"""How open pages learn that the boards changed, without ever slowing the bot down.

Theory of operation: the pipeline calls ``LivePages.changed`` after every flush that changed totals
(the same moment it tells the publisher), and the commands' ``GuildConfigured`` arrives through
``configured``. Both only put a message in a ``CoalescingMailbox`` (queued changes merge into one:
the queue is bounded by the guilds, never by the event rate, and a sender never waits). The hub's
own task (``run``) reads it, waits at least ``min_interval`` between two rounds, renders each
changed guild that someone is watching once, and offers the page to each viewer. A viewer holds
only the latest page (drop-to-latest: each page is a full snapshot), so a slow or stalled browser
costs one reference and never blocks the hub, the other viewers or the bot. A page read without an
event stream is served from the same cache, dropped when its guild changes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Hashable, Iterator

import trio
from attrs import define, field

from domain.clock import WallClock
from domain.messages import GuildConfigured
from supervisor.coalescing import CoalescingMailbox
from web.page import GuildPage
from web.source import PageSource

log = logging.getLogger(__name__)

__all__ = ["BoardsChanged", "LivePages", "NotServing", "TooManyViewers", "Viewer"]


@define(frozen=True)
class BoardsChanged:
    """Totals of these guilds changed (a flush committed)."""

    guild_ids: frozenset[int]


LiveMessage = BoardsChanged | GuildConfigured


def _key(message: LiveMessage) -> Hashable:
    return "totals" if isinstance(message, BoardsChanged) else ("config", message.guild_id)


def _merge(queued: LiveMessage, newer: LiveMessage) -> LiveMessage:
    if isinstance(queued, BoardsChanged) and isinstance(newer, BoardsChanged):
        return BoardsChanged(queued.guild_ids | newer.guild_ids)
    return newer


class NotServing(Exception):
    """The bot is starting or stopping: no store to read pages from."""


class TooManyViewers(Exception):
    """``max_viewers`` event streams are open already."""


@define(eq=False)
class Viewer:
    """One open event stream: the latest page for it, and whether it has been taken."""

    guild_id: int
    _latest: GuildPage | None = None
    _fresh: trio.Event = field(factory=trio.Event)
    closed: bool = False  # the page was turned off (or the hub stopped): the stream ends

    def offer(self, page: GuildPage | None) -> None:
        """Replace what waits (never blocks); None ends the stream."""
        if page is None:
            self.closed = True
        else:
            self._latest = page
        self._fresh.set()

    async def next(self) -> GuildPage | None:
        """The next page offered (None: the stream is over)."""
        await self._fresh.wait()
        self._fresh = trio.Event()
        return None if self.closed else self._latest


@define(eq=False)
class LivePages:
    clock: WallClock
    min_interval: float = 1.0  # seconds between two rounds of renders at least
    max_viewers: int = 500
    inbox: CoalescingMailbox[LiveMessage] = field(
        factory=lambda: CoalescingMailbox[LiveMessage]("web_pages", _key, _merge)
    )
    versions: dict[int, int] = field(factory=dict)  # guild -> renders so far (tests, health)
    rounds: int = 0  # rounds of renders (tests, benchmarks)
    _source: PageSource | None = None
    _viewers: dict[int, set[Viewer]] = field(factory=dict)
    _pages: dict[int, GuildPage] = field(factory=dict)
    _rendering: dict[int, trio.Lock] = field(factory=dict)

    # -- what the bot calls (never blocks) ---------------------------------------------------------

    def changed(self, guild_ids: set[int] | frozenset[int]) -> None:
        with contextlib.suppress(trio.ClosedResourceError, trio.WouldBlock):
            self.inbox.send_nowait(BoardsChanged(frozenset(guild_ids)))

    def configured(self, event: GuildConfigured) -> None:
        """A new config applies at once (the admin's answer gives the page's URL, which must work
        when clicked); the message then redraws or closes the guild's open pages."""
        if self._source is not None:
            self._source.configs.set(event.guild_id, event.config)
        with contextlib.suppress(trio.ClosedResourceError, trio.WouldBlock):
            self.inbox.send_nowait(event)

    # -- what the web app calls ----------------------------------------------------------------------

    def shown(self, guild_id: int) -> bool:
        if self._source is None:
            raise NotServing
        return self._source.shown(guild_id)

    async def page(self, guild_id: int) -> GuildPage | None:
        """The guild's page now: the cached one (the hub keeps watched pages current, so a reader
        never waits for a render it does not need), else rendered once however many ask at once."""
        source = self._source
        if source is None:
            raise NotServing
        if not source.shown(guild_id):
            return None
        page = self._pages.get(guild_id)
        if page is not None:
            return page
        return await self._render(source, guild_id, only_if_missing=True)

    async def _render(
        self, source: PageSource, guild_id: int, *, only_if_missing: bool = False
    ) -> GuildPage | None:
        lock = self._rendering.setdefault(guild_id, trio.Lock())
        async with lock:  # many viewers arriving at once: one render
            if only_if_missing and guild_id in self._pages:
                return self._pages[guild_id]
            page = await source.render(guild_id)
            if page is None:
                self._pages.pop(guild_id, None)
            else:
                self._pages[guild_id] = page
                self.versions[guild_id] = self.versions.get(guild_id, 0) + 1
        return page

    @contextlib.contextmanager
    def viewer(self, guild_id: int) -> Iterator[Viewer]:
        """Watch ``guild_id`` until the block ends (bounded: ``TooManyViewers``)."""
        if sum(len(v) for v in self._viewers.values()) >= self.max_viewers:
            raise TooManyViewers
        viewer = Viewer(guild_id)
        self._viewers.setdefault(guild_id, set()).add(viewer)
        try:
            yield viewer
        finally:
            watching = self._viewers.get(guild_id, set())
            watching.discard(viewer)
            if not watching:
                self._viewers.pop(guild_id, None)

    def viewers(self) -> int:
        return sum(len(v) for v in self._viewers.values())

    # -- the hub's task ------------------------------------------------------------------------------

    async def run(
        self, source: PageSource, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve pages from ``source`` until cancelled (then pages answer ``NotServing``)."""
        self._source = source
        self._pages.clear()
        try:
            task_status.started()
            while True:
                dirty = self._apply(await self.inbox.receive())
                while True:
                    try:
                        dirty |= self._apply(self.inbox.receive_nowait())
                    except trio.WouldBlock:
                        break
                await self._round(source, dirty)
                await self.clock.sleep_until(self.clock.now() + self.min_interval)
        finally:
            self._source = None
            source.close()
            for watching in list(self._viewers.values()):
                for viewer in watching:
                    viewer.offer(None)

    def _apply(self, message: LiveMessage) -> set[int]:
        assert self._source is not None
        match message:
            case BoardsChanged(guild_ids):
                return set(guild_ids)
            case GuildConfigured(guild_id, config):
                self._source.configs.set(guild_id, config)
                return {guild_id}
        raise AssertionError(f"unknown message {message!r}")

    async def _round(self, source: PageSource, dirty: set[int]) -> None:
        """Watched pages are rendered again (the old one is served until the new one is ready);
        a page nobody watches is dropped, and rendered when someone asks for it."""
        self.rounds += 1
        for guild_id in sorted(dirty):
            watching = self._viewers.get(guild_id)
            if not watching:
                self._pages.pop(guild_id, None)
                continue
            if not source.shown(guild_id):  # turned off: the open streams end
                self._pages.pop(guild_id, None)
                for viewer in list(watching):
                    viewer.offer(None)
                continue
            try:
                page = await self._render(source, guild_id)
            except Exception:  # a store hiccup must not end the live pages; the next change retries
                log.exception("web: the page of guild %s could not be rendered", guild_id)
                self._pages.pop(guild_id, None)
                continue
            for viewer in list(self._viewers.get(guild_id, ())):
                viewer.offer(page)
