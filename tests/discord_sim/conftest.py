"""Plumbing for simulator tests: a started simulator and a real disnake client connected to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import disnake
import pytest
import trio
import trio_asyncio

from discord_sim.crowd import Scenario
from domain.clock import WallClock
from tests.harness import simulator, wait_until

aio = trio_asyncio.aio_as_trio


def intents(**extra: bool) -> disnake.Intents:
    """What the bot asks for (guilds, guild messages, voice states), plus ``extra``."""
    wanted = disnake.Intents(guilds=True, guild_messages=True, voice_states=True)
    for name, value in extra.items():
        setattr(wanted, name, value)
    return wanted


def plain_client(*, zlib: bool = False, **extra: bool) -> disnake.Client:
    return disnake.Client(
        intents=intents(**extra),
        gateway_params=disnake.GatewayParams(encoding="json", zlib=zlib),
        chunk_guilds_at_startup=False,
    )


@pytest.fixture
async def scenario(aio_loop: object, clock: WallClock) -> AsyncIterator[Scenario]:
    async with simulator(clock, seed=5, members=8) as scenario:
        yield scenario


@asynccontextmanager
async def connected(scenario: Scenario, client: Any) -> AsyncIterator[Any]:
    """Run ``client`` against the simulator until the block ends, then close it cleanly."""
    sim = scenario.sim
    disnake.http.Route.BASE = sim.base_url
    async with trio.open_nursery() as nursery:
        nursery.start_soon(aio(client.start), sim.token)
        await wait_until(client.is_ready, within=30, what="the client's READY")
        try:
            yield client
        finally:
            await aio(client.close)()
            nursery.cancel_scope.cancel()
