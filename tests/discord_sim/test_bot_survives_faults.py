"""The real bot against injected gateway faults: it resumes, and its counts stay exact."""

from __future__ import annotations

import random
from pathlib import Path

from discord_sim.crowd import chat
from domain.clock import WallClock
from tests.harness import db_message_counts, running_bot, settings_for, simulator, wait_until


async def test_counts_stay_exact_through_drops_and_a_reconnect(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    db = tmp_path / "lb.db"
    async with simulator(clock, seed=11, members=12) as scenario:
        sim = scenario.sim
        identifies: list[object] = []
        sim.on_identify.append(identifies.append)
        async with running_bot(sim, settings_for(db), clock) as app:
            rng = random.Random(11)
            sim.faults.drop_after(50)
            await chat(scenario, rng, messages=150)
            sim.faults.reconnect()
            await chat(scenario, rng, messages=100)
            sim.faults.drop_websockets()
            await chat(scenario, rng, messages=50)
            assert app.gateway is not None
            await wait_until(lambda: app.gateway.received["MESSAGE_CREATE"] >= 300, what="300 messages")
            connects = sim.gateway.connects
        counts = db_message_counts(db, scenario.guild.guild_id)
    assert counts == dict(scenario.truth)
    assert (connects, len(identifies)) == (4, 1), "three faults, three resumes, one session"
    assert app.gateway.received["MESSAGE_CREATE"] == 300, "nothing twice"
