"""The live hub without a network: coalescing, drop-to-latest per viewer, bounded viewers."""

from __future__ import annotations

import pytest
import trio
from attrs import define, field

from domain.clock import WallClock
from domain.guild_config import GuildConfig, GuildConfigs
from domain.messages import GuildConfigured
from web.live import LivePages, NotServing, TooManyViewers, Viewer
from web.page import GuildPage

GUILD = 10


def a_page(n: int) -> GuildPage:
    return GuildPage(GUILD, f"render {n}", None, "#571173", (), "", None, (), None)


@define
class FakeSource:
    """Renders count up; ``configs`` like the real source's own copy."""

    configs: GuildConfigs = field(factory=lambda: GuildConfigs(GuildConfig(web_page=True)))
    renders: int = 0
    gate: trio.Event | None = None
    closed: bool = False

    def shown(self, guild_id: int) -> bool:
        return self.configs.get(guild_id).web_page

    def close(self) -> None:
        self.closed = True

    async def render(self, guild_id: int) -> GuildPage | None:
        if self.gate is not None:
            await self.gate.wait()
        self.renders += 1
        return a_page(self.renders)


async def test_a_viewer_keeps_only_the_latest_page_and_never_blocks_the_offer() -> None:
    viewer = Viewer(GUILD)
    for n in range(1000):  # a stalled browser: nothing queues up
        viewer.offer(a_page(n))
    got = await viewer.next()
    assert got is not None and got.guild_name == "render 999"
    viewer.offer(None)
    assert await viewer.next() is None


async def test_changes_merge_and_one_render_serves_every_viewer(
    autojump_clock: object, clock: WallClock
) -> None:
    live = LivePages(clock, min_interval=1.0)
    source = FakeSource()
    with pytest.raises(NotServing):
        await live.page(GUILD)
    async with trio.open_nursery() as nursery:
        await nursery.start(live.run, source)
        with live.viewer(GUILD) as one, live.viewer(GUILD) as two:
            for _ in range(500):  # a burst of flushes between two rounds
                live.changed({GUILD})
            first, second = await one.next(), await two.next()
            assert first is second and source.renders == 1
            live.changed({GUILD})
            live.changed({GUILD, 99})  # a guild nobody watches is not rendered
            await one.next()
            assert source.renders == 2
        nursery.cancel_scope.cancel()
    assert live.viewers() == 0


async def test_pages_are_cached_until_their_guild_changes(autojump_clock: object, clock: WallClock) -> None:
    live = LivePages(clock, min_interval=0.5)
    source = FakeSource()
    async with trio.open_nursery() as nursery:
        await nursery.start(live.run, source)
        source.gate = trio.Event()
        pages: list[GuildPage | None] = []

        async def read() -> None:
            pages.append(await live.page(GUILD))

        async with trio.open_nursery() as readers:
            for _ in range(20):  # twenty viewers arrive at once: one render
                readers.start_soon(read)
            await trio.testing.wait_all_tasks_blocked()
            source.gate.set()
        assert source.renders == 1 and len({id(p) for p in pages}) == 1
        live.changed({GUILD})
        await trio.sleep(1)
        await live.page(GUILD)
        assert source.renders == 2
        nursery.cancel_scope.cancel()


async def test_turning_the_page_off_ends_the_streams(autojump_clock: object, clock: WallClock) -> None:
    live = LivePages(clock, min_interval=0.1)
    source = FakeSource()
    async with trio.open_nursery() as nursery:
        await nursery.start(live.run, source)
        with live.viewer(GUILD) as viewer:
            live.configured(GuildConfigured(GUILD, GuildConfig(web_page=False), 0.0))
            with trio.fail_after(5):
                while (got := await viewer.next()) is not None:
                    pass
            assert got is None
        assert await live.page(GUILD) is None
        nursery.cancel_scope.cancel()


async def test_viewers_are_bounded() -> None:
    live = LivePages(WallClock.real(), max_viewers=2)
    with live.viewer(GUILD), live.viewer(GUILD), pytest.raises(TooManyViewers), live.viewer(GUILD):
        pass
    assert live.viewers() == 0


async def test_a_page_turned_on_answers_at_once(autojump_clock: object, clock: WallClock) -> None:
    """The admin's answer carries the URL: it must not be a 404 while the hub has not read its inbox."""
    live = LivePages(clock)
    source = FakeSource(GuildConfigs(GuildConfig()))
    async with trio.open_nursery() as nursery:
        await nursery.start(live.run, source)
        assert await live.page(GUILD) is None
        live.configured(GuildConfigured(GUILD, GuildConfig(web_page=True), 0.0))
        assert await live.page(GUILD) is not None  # no checkpoint in between: the hub has not run
        nursery.cancel_scope.cancel()
