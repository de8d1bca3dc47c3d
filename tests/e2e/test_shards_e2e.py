"""Shards through the whole path: one process runs two shards of the simulator, one pipeline.

Every guild is carried by exactly one shard (Discord's ``(guild_id >> 22) % shard_count``), so
each is counted once; a shard's outage holds the voice sessions of its own guilds only.
"""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

import pytest
import trio
from attrs import evolve

from bot_entry.app_health import AppHealth
from discord_sim.crowd import build_town
from discord_sim.server import DiscordSim
from discord_sim.world import SimGuild, SimMember, World
from domain.clock import WallClock
from domain.shards import shard_of
from tests.harness import running_bot, settings_for, wait_until

TOKEN = "test-token-not-a-secret"
GUILDS = 5000  # two shards of 2,500: each exactly at Discord's limit


def new_sim(clock: WallClock) -> DiscordSim:
    return DiscordSim(World(lambda: int(clock.now() * 1000)), token=TOKEN)


def voice_seconds(db: Path) -> dict[int, float]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT user_id, SUM(voice_ms) / 1000.0 FROM activity GROUP BY user_id"))


def messages_per_guild(db: Path) -> dict[int, int]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT guild_id, SUM(messages) FROM activity GROUP BY guild_id"))


def humans(guild: SimGuild) -> list[SimMember]:
    return [m for m in guild.members.values() if not m.bot]


def lounge(guild: SimGuild) -> object:
    return next(c for c in guild.channels.values() if c.name == "Lounge")


async def test_one_shards_outage_holds_only_the_voice_of_its_guilds(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    """Shard 1 drops and its RESUME is held for 10 s. In a guild of each shard, one of a pair in
    voice leaves 1 s into the outage. On shard 0 nothing was lost: the leave counts when it
    happened (61 s each). On shard 1 the bot learns of it only from the replay, so the pair broke
    up at an unknown moment: the outage counts for neither (60 s each, as in test_chaos)."""
    db = tmp_path / "lb.db"
    sim = new_sim(clock)
    guilds = sim.world.add_guilds(4, members=4)
    on_0 = next(g for g in guilds if shard_of(g.guild_id, 2) == 0)
    on_1 = next(g for g in guilds if shard_of(g.guild_id, 2) == 1)
    (a1, a2), (b1, b2) = humans(on_0)[:2], humans(on_1)[:2]
    await trio_asyncio_start(sim)
    try:
        async with running_bot(sim, settings_for(db, SHARD_COUNT="2"), clock) as app:
            assert sorted((s, n) for _, s, n in sim.gateway.identifies) == [(0, 2), (1, 2)]
            gateway, router = app.gateway, app.pipeline.router
            assert gateway is not None and router is not None
            await wait_until(lambda: gateway.connected, what="both shards up")
            for guild, pair in ((on_0, (a1, a2)), (on_1, (b1, b2))):
                for member in pair:
                    sim.set_voice(guild, member, lounge(guild))  # type: ignore[arg-type]
            joined = clock.now()
            await trio.sleep(60)
            answer_resume, resumes = sim.gateway._resume, []
            sim.gateway._resume = lambda connection, data: resumes.append((connection, data))  # type: ignore[method-assign]
            assert sim.gateway.drop_shard(1) == 1
            await wait_until(lambda: resumes, what="shard 1's RESUME")
            await wait_until(lambda: bool(router.in_outage), what="the outage reaching the router")
            assert router.in_outage == {g.guild_id for g in guilds if shard_of(g.guild_id, 2) == 1}
            report = await AppHealth(app).health()
            by_name = {c.name: c for c in report.checks}
            assert by_name["gateway:shard:0"].ok and not by_name["gateway:shard:1"].ok
            assert not by_name["gateway"].ok
            await trio.sleep(1)
            sim.set_voice(on_0, a2, None)
            sim.set_voice(on_1, b2, None)  # the bot is away on shard 1: it learns this from the replay
            await trio.sleep(9)
            sim.gateway._resume = answer_resume  # type: ignore[method-assign]
            answer_resume(*resumes[0])
            await wait_until(lambda: not router.in_outage, what="the outage's end")
            await trio.sleep(60)
            sim.set_voice(on_0, a1, None)
            sim.set_voice(on_1, b1, None)
            assert clock.now() - joined > 130
            await trio.sleep(5)
    finally:
        await trio_asyncio_close(sim)
    voice = voice_seconds(db)
    assert [round(voice.get(m.user_id, 0), 1) for m in (a1, a2)] == [61.0, 61.0], voice
    assert [round(voice.get(m.user_id, 0), 1) for m in (b1, b2)] == [60.0, 60.0], voice


async def trio_asyncio_start(sim: DiscordSim) -> None:
    import trio_asyncio

    await trio_asyncio.aio_as_trio(sim.start)()


async def trio_asyncio_close(sim: DiscordSim) -> None:
    import trio_asyncio

    await trio_asyncio.aio_as_trio(sim.close)()


@pytest.mark.slow
async def test_5000_guilds_over_two_shards_in_one_process_count_every_guild_exactly_once(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    db = tmp_path / "lb.db"
    sim = new_sim(clock)
    sim.rules = evolve(sim.rules, shard_guild_limit=2500)
    started = time.monotonic()
    town = build_town(sim, random.Random(5), guilds=GUILDS, members=2, in_voice=0)
    await trio_asyncio_start(sim)
    try:
        settings = settings_for(db, SHARD_COUNT="2", MESSAGE_FLUSH_MAX="5000")
        async with running_bot(sim, settings, clock) as app:
            assert sorted((s, n) for _, s, n in sim.gateway.identifies) == [(0, 2), (1, 2)]
            gateway, router = app.gateway, app.pipeline.router
            assert gateway is not None and router is not None
            await wait_until(
                lambda: len(router.guilds) == GUILDS, what="every guild's GUILD_CREATE", within=600
            )
            shards = {s.shard_id: s for s in gateway.shards()}
            assert sorted(shards) == [0, 1] and all(s.connected for s in shards.values())
            assert shards[0].guilds + shards[1].guilds == GUILDS
            assert min(shards[0].guilds, shards[1].guilds) > GUILDS * 0.4  # the ids spread evenly
            for guild_id, voice in router.guilds.items():
                assert voice.shard_id == shard_of(guild_id, 2)
            rng = random.Random(6)
            for guild in town.guilds:
                town.say(guild, rng.choice(town.humans(guild)))
            want = {guild.guild_id: 1 for guild in town.guilds}
            await wait_until(lambda: messages_per_guild(db) == want, what="every guild counted", within=600)
    finally:
        await trio_asyncio_close(sim)
    assert messages_per_guild(db) == want
    assert len(sim.gateway.identifies) == 2, "no shard re-IDENTIFIED"
    print(f"{GUILDS} guilds over 2 shards: {time.monotonic() - started:.1f} s wall")


async def test_identifies_go_one_per_5_s_in_each_max_concurrency_bucket_buckets_side_by_side(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    """Four shards, max_concurrency 2: shards 0 and 1 (buckets 0 and 1) at once, 2 and 3 five
    seconds later; Discord refuses none (disnake alone would IDENTIFY one shard per 5 s)."""
    sim = new_sim(clock)
    sim.rules = evolve(sim.rules, max_concurrency=2)
    sim.world.add_guilds(8, members=2)
    await trio_asyncio_start(sim)
    try:
        async with running_bot(sim, settings_for(tmp_path / "lb.db", SHARD_COUNT="4"), clock) as app:
            assert app.gateway is not None
            await wait_until(lambda: app.gateway is not None and app.gateway.connected, what="four shards up")
            assert [s.guilds for s in app.gateway.shards()] == [2, 2, 2, 2]
            await trio.sleep(120)  # heartbeats: every shard has a latency
            for shard in app.gateway.shards():
                assert shard.latency is not None and 0 <= shard.latency < 1, shard
                assert shard.last_event_at is not None and shard.last_event_at <= clock.now(), shard
    finally:
        await trio_asyncio_close(sim)
    assert sim.gateway.refused_identifies == []
    first = sim.gateway.identifies[0][0]
    by_shard = {shard: round(at - first, 1) for at, shard, count in sim.gateway.identifies}
    assert by_shard == {0: 0.0, 1: 0.0, 2: 5.0, 3: 5.0}


async def test_shard_ids_run_only_those_shards_and_their_guilds(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    db = tmp_path / "lb.db"
    sim = new_sim(clock)
    guilds = sim.world.add_guilds(6, members=2)
    mine = {g.guild_id for g in guilds if shard_of(g.guild_id, 3) in (0, 2)}
    await trio_asyncio_start(sim)
    try:
        async with running_bot(sim, settings_for(db, SHARD_COUNT="3", SHARD_IDS="0,2"), clock) as app:
            router = app.pipeline.router
            assert router is not None
            await wait_until(lambda: set(router.guilds) == mine, what="the guilds of shards 0 and 2")
            for guild in guilds:
                sim.send_message(
                    next(c for c in guild.channels.values() if c.name == "general"), humans(guild)[0]
                )
            await wait_until(lambda: set(messages_per_guild(db)) == mine, what="their messages counted")
            assert set(router.guilds) == mine
    finally:
        await trio_asyncio_close(sim)
    assert sorted(shard for _, shard, _ in sim.gateway.identifies) == [0, 2]


def per_member(db: Path) -> dict[tuple[int, int], int]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT guild_id, user_id, SUM(messages) FROM activity GROUP BY guild_id, user_id"
        )
        return {(g, u): n for g, u, n in rows if n}


async def test_a_full_pipeline_holds_every_shard_back_and_loses_or_doubles_nothing(
    autojump_clock: object,
    aio_loop: object,
    clock: WallClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A gateway queue of 2: both shards' websockets wait on the one backlog, which is handed
    over once, in order (two shards draining it side by side would hand items twice)."""
    import bot_entry.app

    monkeypatch.setattr(bot_entry.app, "GATEWAY_QUEUE", 2)
    db = tmp_path / "lb.db"
    sim = new_sim(clock)
    town = build_town(sim, random.Random(8), guilds=10, members=4, in_voice=0)
    await trio_asyncio_start(sim)
    try:
        async with running_bot(sim, settings_for(db, SHARD_COUNT="2"), clock):
            rng = random.Random(9)
            for _ in range(400):
                guild = rng.choice(town.guilds)
                town.say(guild, rng.choice(town.humans(guild)))
            await wait_until(lambda: per_member(db) == dict(town.truth), what="every message counted")
    finally:
        await trio_asyncio_close(sim)
    assert per_member(db) == dict(town.truth)
    assert {shard_of(g, 2) for g, _ in town.truth} == {0, 1}


async def test_a_re_identify_is_one_shards_and_ends_at_its_guilds_snapshots(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    from discord_sim.gateway import INVALID_SESSION

    sim = new_sim(clock)
    guilds = sim.world.add_guilds(4, members=2)
    on_1 = {g.guild_id for g in guilds if shard_of(g.guild_id, 2) == 1}
    await trio_asyncio_start(sim)
    try:
        async with running_bot(sim, settings_for(tmp_path / "lb.db", SHARD_COUNT="2"), clock) as app:
            router = app.pipeline.router
            assert router is not None
            await wait_until(lambda: len(router.guilds) == 4, what="every guild")
            for connection in list(sim.gateway.connections):  # shard 1's session only, not resumable
                if connection.session is not None and connection.session.shard[0] == 1:
                    sim.gateway.sessions.pop(connection.session.session_id, None)
                    connection.send(INVALID_SESSION, False)
            await wait_until(lambda: bool(router.in_outage), what="shard 1's outage")
            assert router.in_outage == on_1
            await wait_until(lambda: len(sim.gateway.identifies) == 3, what="shard 1's re-IDENTIFY")
            await wait_until(lambda: not router.in_outage, what="its guilds' snapshots")
    finally:
        await trio_asyncio_close(sim)
    assert [(shard, count) for _, shard, count in sim.gateway.identifies][2] == (1, 2)
    assert sim.gateway.refused_identifies == []


async def test_a_shard_that_cannot_connect_stops_the_bot_after_bounded_tries(
    autojump_clock: object,
    aio_loop: object,
    clock: WallClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """disnake alone would retry a shard's connection every 5 s for ever."""
    from bot_entry.__main__ import _found
    from bot_entry.gateway import SHARD_CONNECT_BACKOFF, GatewayUnavailable

    sim = new_sim(clock)
    sim.world.add_guilds(2, members=2)
    monkeypatch.setattr(DiscordSim, "gateway_url", property(lambda _: "ws://127.0.0.1:9/gateway"))
    await trio_asyncio_start(sim)
    started = clock.now()
    try:
        with pytest.raises(BaseException) as stopped:
            async with running_bot(sim, settings_for(tmp_path / "lb.db", SHARD_COUNT="2"), clock):
                pass
    finally:
        await trio_asyncio_close(sim)
    unavailable = _found(stopped.value, GatewayUnavailable)
    assert unavailable is not None, stopped.value
    assert str(unavailable).startswith(
        f"shard 0 could not connect after {SHARD_CONNECT_BACKOFF.attempts} tries"
    )
    assert clock.now() - started < 300
    assert sim.gateway.identifies == []


async def test_a_stop_while_a_shard_waits_to_re_identify_is_prompt(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    """disnake's ``reidentify`` swallows a cancellation that lands in the 5 s wait before the
    IDENTIFY, and its loop then waits for the next shard event for ever: the stop must still end
    (found by chaos seeds 44 and 68, a SIGTERM during that wait)."""
    from bot_entry.gateway import IDENTIFY_INTERVAL
    from discord_sim.gateway import INVALID_SESSION

    sim = new_sim(clock)
    sim.world.add_guilds(2, members=2)
    await trio_asyncio_start(sim)
    try:
        with trio.CancelScope() as guard:  # a stop that never ends is cut here, in virtual time
            async with running_bot(sim, settings_for(tmp_path / "lb.db", SHARD_COUNT="1"), clock) as app:
                router = app.pipeline.router
                assert router is not None
                await wait_until(lambda: len(router.guilds) == 2, what="every guild")
                for connection in list(sim.gateway.connections):  # not resumable: a re-IDENTIFY follows
                    if connection.session is not None:
                        sim.gateway.sessions.pop(connection.session.session_id, None)
                        connection.send(INVALID_SESSION, False)
                await wait_until(lambda: bool(router.in_outage), what="the outage")
                await trio.sleep(IDENTIFY_INTERVAL / 5)  # inside the wait before the IDENTIFY
                assert len(sim.gateway.identifies) == 1
                stop_began = clock.now()
                guard.deadline = trio.current_time() + 60
    finally:
        await trio_asyncio_close(sim)
    assert not guard.cancelled_caught, "the stop never ended"
    assert clock.now() - stop_began < IDENTIFY_INTERVAL
