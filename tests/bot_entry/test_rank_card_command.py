"""The /rank card's Discord side: avatars fetched within their bounds and cached on the injected
clock (a placeholder, None, on any failure), and cards rendered in a worker process."""

from __future__ import annotations

import asyncio
import io
import os
from typing import Any

import pytest
import trio
import trio_asyncio
from PIL import Image

from bot_entry.commands.rank_card import (
    AVATAR_MAX_BYTES,
    AVATAR_TIMEOUT,
    FAILED_TTL,
    FOUND_TTL,
    Avatars,
    CardRenderer,
)
from domain.clock import WallClock
from pictures.rank_card import SIZE, RankCard

aio = trio_asyncio.aio_as_trio
HANG = object()


class CdnAsset:
    """Stands in for a ``disnake.Asset``: the CDN's answers, in order, one per read."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.url = "https://cdn.example/avatars/1/abc.png"
        self.reads = 0

    def with_format(self, fmt: str) -> CdnAsset:
        assert fmt == "png"
        return self

    def with_size(self, size: int) -> CdnAsset:
        assert size == 256
        return self

    async def read(self) -> bytes:
        self.reads += 1
        answer = self.answers.pop(0)
        if answer is HANG:
            await asyncio.sleep(3600)
        if isinstance(answer, Exception):
            raise answer
        assert isinstance(answer, bytes)
        return answer


async def get(avatars: Avatars, asset: Any) -> bytes | None:
    return await aio(avatars.get)(asset)


async def test_a_found_avatar_is_kept_for_an_hour(
    autojump_clock: object, aio_loop: object, clock: WallClock
) -> None:
    avatars, asset = Avatars(clock), CdnAsset(b"one", b"two")
    assert await get(avatars, asset) == b"one"
    await trio.sleep(FOUND_TTL - 1)
    assert await get(avatars, asset) == b"one" and asset.reads == 1
    await trio.sleep(2)
    assert await get(avatars, asset) == b"two" and asset.reads == 2


async def test_a_failure_is_the_placeholder_and_is_retried_after_five_minutes(
    autojump_clock: object, aio_loop: object, clock: WallClock
) -> None:
    avatars, asset = Avatars(clock), CdnAsset(OSError("connection reset"), b"back")
    assert await get(avatars, asset) is None
    assert await get(avatars, asset) is None and asset.reads == 1, "a failure is cached too"
    await trio.sleep(FAILED_TTL + 1)
    assert await get(avatars, asset) == b"back"


async def test_a_hanging_or_oversized_fetch_is_the_placeholder(
    autojump_clock: object, aio_loop: object, clock: WallClock
) -> None:
    start = trio.current_time()
    assert await get(Avatars(clock), CdnAsset(HANG)) is None
    assert trio.current_time() - start == pytest.approx(AVATAR_TIMEOUT)
    assert await get(Avatars(clock), CdnAsset(b"x" * (AVATAR_MAX_BYTES + 1))) is None


async def test_no_avatar_is_no_fetch(autojump_clock: object, aio_loop: object, clock: WallClock) -> None:
    avatars = Avatars(clock)
    assert await get(avatars, None) is None and avatars.fetches == 0


CARD = RankCard("Ada", None, 1, 2, None, 0)


def pid_of_renderer(card: RankCard) -> bytes:
    """A stand-in render (importable by the worker process): which process ran it."""
    return str(os.getpid()).encode()


async def test_a_card_is_rendered_in_another_process() -> None:
    renderer = CardRenderer(inline=False, render=pid_of_renderer)
    try:
        first = await renderer.render(CARD)
        assert int(first) != os.getpid()
        assert await renderer.render(CARD) == first, "one worker, started once"
        assert Image.open(io.BytesIO(await CardRenderer(inline=False).render(CARD))).size == SIZE
    finally:
        renderer.close()


async def test_an_inline_renderer_stays_on_the_trio_thread() -> None:
    assert await CardRenderer(inline=True, render=pid_of_renderer).render(CARD) == str(os.getpid()).encode()
