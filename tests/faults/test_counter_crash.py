"""The message counter crashes mid-stream: the supervisor restarts it and nothing is lost or doubled."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from discord_sim.crowd import chat
from domain.clock import WallClock
from domain.events import MessageSent
from supervisor.supervisor import SupervisorEscalation
from tests.harness import db_message_counts, running_bot, settings_for, simulator, wait_until
from wiring.pipeline import Faults


async def test_counter_crash_mid_stream_restarts_and_counts_exactly(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    db = tmp_path / "lb.db"
    handled = 0

    def crash_twice(event: MessageSent) -> None:
        nonlocal handled
        handled += 1
        if handled in (150, 320):
            raise RuntimeError(f"injected fault at event {handled}")

    async with simulator(clock, seed=3) as scenario:
        async with running_bot(
            scenario.sim, settings_for(db), clock, faults=Faults(message=crash_twice)
        ) as app:
            await chat(scenario, random.Random(3), messages=400)
            await wait_until(lambda: app.gateway.received["MESSAGE_CREATE"] >= 400, what="400 messages")
        assert app.pipeline.supervisor.restarts["message_counter"] == 2
        assert db_message_counts(db, scenario.guild.guild_id) == dict(scenario.truth)


async def test_a_message_that_crashes_the_counter_twice_is_dropped_not_looped(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    db = tmp_path / "lb.db"
    async with simulator(clock, seed=4) as scenario:
        poison = scenario.humans[0]

        def poisoned(event: MessageSent) -> None:
            if event.author_id == poison.user_id and event.message_id == poison_id[0]:
                raise ValueError("this event always crashes the counter")

        poison_id: list[int] = []
        async with running_bot(scenario.sim, settings_for(db), clock, faults=Faults(message=poisoned)) as app:
            scenario.say(scenario.humans[1])
            payload = scenario.sim.send_message(scenario.text_channels[0], poison, "boom")
            poison_id.append(int(payload["id"]))
            for member in scenario.humans[1:6]:
                scenario.say(member)
            await wait_until(lambda: app.gateway.received["MESSAGE_CREATE"] >= 7, what="7 messages")
        assert app.pipeline.supervisor.restarts["message_counter"] == 2
        assert db_message_counts(db, scenario.guild.guild_id) == dict(scenario.truth)


async def test_restarts_beyond_the_intensity_escalate_instead_of_looping(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    def always(event: MessageSent) -> None:
        raise RuntimeError("broken for good")

    settings = settings_for(tmp_path / "lb.db", SUPERVISOR_INTENSITY="3", SUPERVISOR_PERIOD_SECONDS="100000")
    escalation = pytest.RaisesExc(SupervisorEscalation, match="more than 3 restarts in 100000s")
    with pytest.RaisesGroup(escalation, flatten_subgroups=True):
        async with (
            simulator(clock, seed=5) as scenario,
            running_bot(scenario.sim, settings, clock, faults=Faults(message=always)) as app,
        ):
            for member in scenario.humans[:10]:
                scenario.say(member)
            # Virtual time runs on while restarts wait for the database thread: a generous bound.
            await wait_until(lambda: False, within=3600, what="the escalation")
    assert app.pipeline.supervisor.restarts["message_counter"] == 4
