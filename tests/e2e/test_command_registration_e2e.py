"""Slash command registration end to end: once, globally, whatever the guild count; retried after a
failure until it succeeds (``/healthz`` and ``/metrics`` say so); per guild only for development
guilds (``COMMAND_GUILD_IDS``)."""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
import trio_asyncio

from bot_entry.app import BotApp
from bot_entry.app_health import AppHealth
from bot_entry.commands.registration import ATTEMPT_TIMEOUT
from discord_sim.crowd import Scenario, build_scenario
from discord_sim.server import DiscordSim
from discord_sim.world import World
from domain.clock import WallClock
from tests.e2e.test_commands_e2e import COMMANDS, ask
from tests.harness import running_bot, settings_for, wait_until

GLOBAL_ROUTE = "PUT /applications/{application_id}/commands"


@asynccontextmanager
async def guilds(clock: WallClock, count: int, *, members: int = 3) -> AsyncIterator[list[Scenario]]:
    """A started simulator with ``count`` seeded guilds (the bot is in every one)."""
    sim = DiscordSim(World(lambda: int(clock.now() * 1000)), token="test-token-not-a-secret")
    scenarios = [
        build_scenario(sim, random.Random(i), members=members, name=f"Guild {i}") for i in range(count)
    ]
    await trio_asyncio.aio_as_trio(sim.start)()
    try:
        yield scenarios
    finally:
        await trio_asyncio.aio_as_trio(sim.close)()


def puts(sim: DiscordSim) -> list[str]:
    return [path for method, path, _ in sim.world.rest_calls if method == "PUT" and "/commands" in path]


def registered(sim: DiscordSim, scope: int | None) -> set[str]:
    return {c["name"] for c in sim.world.commands.get(scope, {}).values()}


def metric(app: BotApp, outcome: str) -> float:
    sample = f'leaderboard_command_registrations_total{{outcome="{outcome}"}} '
    for line in app.metrics.exposition().decode().splitlines():
        if line.startswith(sample):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.parametrize("count", [1, 60])
async def test_commands_are_registered_once_globally_at_any_guild_count(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path, count: int
) -> None:
    async with (
        guilds(clock, count) as scenarios,
        running_bot(scenarios[0].sim, settings_for(tmp_path / "lb.db"), clock) as app,
    ):
        sim = scenarios[0].sim
        await wait_until(lambda: registered(sim, None) >= COMMANDS, what="the global commands")
        await wait_until(lambda: len(app.gateway.client.guilds) == count, what="every guild")
        await trio.sleep(30)  # long after start-up: nothing more is registered
        assert puts(sim) == [f"/api/v10/applications/{sim.world.application_id}/commands"]
        assert registered(sim, None) == COMMANDS
        assert not any(sim.world.commands.get(s.guild.guild_id) for s in scenarios), "none per guild"
        # A global command answers in every guild, the last one seen too.
        for scenario in (scenarios[0], scenarios[-1]):
            asked = await ask(scenario, scenario.humans[0], "rank")
            assert asked.original is not None and asked.original["embeds"], scenario.guild.name
        # A fresh session (re-IDENTIFY, a new READY) registers nothing again.
        identified: list[object] = []
        sim.on_identify.append(identified.append)
        sim.faults.invalid_session()
        await wait_until(lambda: bool(identified) and app.gateway.connected, what="a new session")
        await trio.sleep(30)
        assert len(puts(sim)) == 1
        assert app.registration is not None and app.registration.status() == (True, "registered globally")
        assert metric(app, "registered") == 1 and metric(app, "failed") == 0


async def test_a_failed_registration_is_retried_with_backoff_until_it_succeeds(
    autojump_clock: object,
    aio_loop: object,
    clock: WallClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with guilds(clock, 3) as scenarios:
        sim = scenarios[0].sim
        sim.faults.fail_route(GLOBAL_ROUTE, times=3, status=503)
        async with running_bot(sim, settings_for(tmp_path / "lb.db"), clock) as app:
            await wait_until(lambda: len(puts(sim)) >= 1, what="the first try")
            await wait_until(lambda: metric(app, "failed") >= 1, what="the first failure counted")
            registration = app.registration
            assert registration is not None
            report = await AppHealth(app).health()
            commands = {c.name: c for c in report.checks}["commands"]
            assert not commands.ok and not report.ok
            tries = registration.attempts
            assert commands.detail == f"not registered globally: try {tries} failed (HTTP 503); retrying"
            await wait_until(lambda: registered(sim, None) >= COMMANDS, what="the commands, in the end")
            # Three failures, then the fourth try succeeds, after waits of 2, 4 and 8 s.
            waits = [r.getMessage() for r in caplog.records if r.name == "bot_entry.commands.registration"]
            assert [w.rsplit("next try in ", 1)[1] for w in waits if "next try" in w] == ["2 s", "4 s", "8 s"]
            assert len(puts(sim)) == 4
            assert metric(app, "failed") == 3 and metric(app, "registered") == 1
            report = await AppHealth(app).health()
            assert {c.name: c for c in report.checks}["commands"].ok
            asked = await ask(scenarios[1], scenarios[1].humans[0], "rank")
            assert asked.original is not None and asked.original["embeds"]
            await trio.sleep(600)
            assert len(puts(sim)) == 4, "registered: no more tries"


async def test_registration_keeps_trying_past_the_doubling_waits_every_cap(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    async with guilds(clock, 1) as scenarios:
        sim = scenarios[0].sim
        sim.faults.fail_route(GLOBAL_ROUTE, times=12, status=503)
        async with running_bot(sim, settings_for(tmp_path / "lb.db"), clock) as app:
            await wait_until(lambda: registered(sim, None) >= COMMANDS, within=3600, what="the commands")
            assert len(puts(sim)) == 13 and metric(app, "failed") == 12


async def test_development_guilds_get_the_commands_per_guild_and_nothing_is_global(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    async with guilds(clock, 3) as scenarios:
        sim = scenarios[0].sim
        dev = scenarios[1].guild.guild_id
        settings = settings_for(tmp_path / "lb.db", COMMAND_GUILD_IDS=str(dev))
        async with running_bot(sim, settings, clock) as app:
            await wait_until(lambda: registered(sim, dev) >= COMMANDS, what="the dev guild commands")
            await trio.sleep(30)
            assert puts(sim) == [f"/api/v10/applications/{sim.world.application_id}/guilds/{dev}/commands"]
            assert not sim.world.commands.get(None)
            assert app.registration is not None
            assert app.registration.status() == (True, f"registered in development guild(s) {dev}")
            asked = await ask(scenarios[1], scenarios[1].humans[0], "rank")
            assert asked.original is not None and asked.original["embeds"]
            with pytest.raises(LookupError):  # elsewhere the commands do not exist
                sim.interact(
                    scenarios[2].guild, scenarios[2].humans[0], scenarios[2].text_channels[0], "rank"
                )


async def test_registration_waits_for_no_guild(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    """Every guild is in an outage (READY lists them, no GUILD_CREATE comes): READY is enough."""
    async with guilds(clock, 4) as scenarios:
        sim = scenarios[0].sim
        for scenario in scenarios:
            sim.leave_guild(scenario.guild, unavailable=True)
        async with running_bot(sim, settings_for(tmp_path / "lb.db"), clock) as app:
            await wait_until(lambda: registered(sim, None) >= COMMANDS, what="the global commands")
            assert app.gateway is not None and app.gateway.received["GUILD_CREATE"] == 0
            assert puts(sim) == [f"/api/v10/applications/{sim.world.application_id}/commands"]


async def test_a_stop_ends_the_retries_cleanly(
    autojump_clock: object,
    aio_loop: object,
    clock: WallClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with guilds(clock, 1) as scenarios:
        sim = scenarios[0].sim
        sim.faults.fail_route(GLOBAL_ROUTE, times=1_000_000, status=503)
        async with running_bot(sim, settings_for(tmp_path / "lb.db"), clock) as app:
            await wait_until(lambda: metric(app, "failed") >= 3, what="three failed tries")
            registration = app.registration
        tries = len(puts(sim))
        assert registration is not None and not registration.registered
        assert not registration.retrying  # stopped with the client, not left pending
        await trio.sleep(3600)
        assert len(puts(sim)) == tries, "no try after the stop"
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_try_without_an_answer_is_cut_at_its_bound_and_retried(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    async with guilds(clock, 1) as scenarios:
        sim = scenarios[0].sim
        sim.faults.hold_answer(GLOBAL_ROUTE, seconds=10_000)  # Discord hangs on the first PUT
        async with running_bot(sim, settings_for(tmp_path / "lb.db"), clock) as app:
            registration = app.registration
            assert registration is not None
            await wait_until(lambda: registration.failures == 1, within=ATTEMPT_TIMEOUT + 5, what="the cut")
            assert registration.status() == (
                False,
                f"not registered globally: try 1 failed (no answer within {ATTEMPT_TIMEOUT:.0f} s); retrying",
            )
            await wait_until(lambda: registration.registered, within=10, what="the second try")
            assert len(puts(sim)) == 2 and metric(app, "failed") == 1 and metric(app, "registered") == 1
