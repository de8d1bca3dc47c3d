"""The picture ``/rank`` answers with: the member's avatar, fetched and cached, and the card,
rendered off the Trio thread.

Avatars come from Discord's CDN through disnake's own HTTP session (``Asset.read``). The CDN is
not the REST API: it has no bucket in the REST rate limits, so a fetch takes nothing from the
REST budget; it is bounded instead (a few seconds, a 256 px PNG, a byte cap) and cached per URL
(the URL carries the avatar's hash, so a changed avatar is a new entry): found avatars for an
hour, failures for five minutes, 512 entries each, on the injected clock. Any failure is a
placeholder on the card, never a failed command.

Rendering takes tens of milliseconds of CPU (``pictures``), far too long for the event loop, so
it runs in a worker process (``CardRenderer`` says why not a thread), waited for from a Trio
worker thread. In deterministic simulations (an ``inline`` store on MockClock) it runs inline,
for the reason ``Store.call`` gives: virtual time would otherwise run on while the worker works.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import disnake
from cachetools import TTLCache

from domain.clock import WallClock
from domain.history import DayActivity
from persistence.history import member_days_sync
from pictures.chart import DAYS, daily_series
from pictures.rank_card import RankCard, render_rank_card
from pictures.worker import PictureWorker

log = logging.getLogger(__name__)

FILENAME = "rank.png"
AVATAR_PIXELS = 256
AVATAR_TIMEOUT = 3.0  # seconds for one CDN fetch
AVATAR_MAX_BYTES = 1024 * 1024  # a 256 px avatar is tens of kB; more is not an avatar
CACHE_SIZE = 512
FOUND_TTL, FAILED_TTL = 3600.0, 300.0
RENDER_TIMEOUT = 30.0  # seconds for one card, the worker's start-up included; then text alone


def card_days_sync(source: object, guild_id: int, user_id: int, last: date) -> list[DayActivity]:
    """The card's chart: the member's last ``DAYS`` UTC days up to ``last`` (from the history)."""
    first = last - timedelta(days=DAYS - 1)
    return daily_series(member_days_sync(source, guild_id, user_id, first, last), last)


def avatar_of(target: disnake.Member | disnake.User) -> disnake.Asset | None:
    """The avatar the member shows here (server avatar first); None: Discord's default one."""
    guild_avatar = target.guild_avatar if isinstance(target, disnake.Member) else None
    return guild_avatar or target.avatar


class Avatars:
    """Avatar bytes by URL, fetched once per TTL; None for no avatar or any failure."""

    def __init__(self, clock: WallClock) -> None:
        self._found: TTLCache[str, bytes] = TTLCache(CACHE_SIZE, FOUND_TTL, timer=clock.now)
        self._failed: TTLCache[str, bool] = TTLCache(CACHE_SIZE, FAILED_TTL, timer=clock.now)
        self.fetches = 0  # CDN requests made (tests and metrics read it)

    async def get(self, asset: disnake.Asset | None) -> bytes | None:
        """Runs on asyncio (disnake's session)."""
        if asset is None:
            return None
        with contextlib.suppress(ValueError):  # an asset that has no PNG form: its own URL
            asset = asset.with_format("png").with_size(AVATAR_PIXELS)
        url = asset.url
        if url in self._found:
            return self._found[url]
        if url in self._failed:
            return None
        self.fetches += 1
        try:
            data = await asyncio.wait_for(asset.read(), AVATAR_TIMEOUT)
            if len(data) > AVATAR_MAX_BYTES:
                raise ValueError(f"{len(data)} bytes")
        except Exception as exc:  # CDN errors, timeouts, a closed session: the placeholder instead
            log.info(
                "avatar %s not fetched (%s: %s); the card shows a placeholder", url, type(exc).__name__, exc
            )
            self._failed[url] = True
            return None
        self._found[url] = data
        return data


class CardRenderer:
    """Renders cards in the picture worker (``pictures.worker``: one process, one card at a time,
    each within ``RENDER_TIMEOUT``); ``inline`` renders on the Trio thread."""

    def __init__(self, *, inline: bool, render: Callable[[RankCard], bytes] = render_rank_card) -> None:
        self._render = render
        self.worker = PictureWorker(timeout=RENDER_TIMEOUT, inline=inline)

    async def render(self, card: RankCard) -> bytes:
        """Trio side (reach it from asyncio with ``trio_asyncio.trio_as_aio``)."""
        return await self.worker.draw(self._render, card)

    def close(self) -> None:
        """Stop the worker (it also stops when this process exits)."""
        self.worker.close()


def card_file(png: bytes) -> disnake.File:
    return disnake.File(io.BytesIO(png), FILENAME, description="Rank card: rank, totals and the last 30 days")


def with_card(embed: dict[str, Any]) -> dict[str, Any]:
    """The rank embed showing the attached card as its image (the text stays above it)."""
    return embed | {"image": {"url": f"attachment://{FILENAME}"}}
