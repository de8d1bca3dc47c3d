"""Whole path: simulator -> real disnake under trio-asyncio -> router -> counter -> SQLite."""

from __future__ import annotations

import random
from pathlib import Path

from discord_sim.crowd import chat
from domain.clock import WallClock
from tests.harness import db_message_counts, running_bot, settings_for, simulator, wait_until


async def test_500_messages_from_20_members_count_exactly(
    autojump_clock: object, aio_loop: object, clock: WallClock, db_target: Path | str
) -> None:
    db = db_target
    async with simulator(clock, seed=7, members=20) as scenario:
        async with running_bot(scenario.sim, settings_for(db), clock) as app:
            rng = random.Random(7)
            await chat(scenario, rng, messages=500)
            sent = len(scenario.sim.world.messages[scenario.text_channels[0].channel_id])
            assert app.gateway is not None
            await wait_until(lambda: app.gateway.received["MESSAGE_CREATE"] >= 500, what="500 messages")
        counts = db_message_counts(db, scenario.guild.guild_id)
    assert sum(scenario.truth.values()) < 500, "the scenario must include bot and webhook noise"
    assert counts == dict(scenario.truth)
    assert sent > 0
