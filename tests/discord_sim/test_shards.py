"""Sharding as Discord does it: routing by ``(guild_id >> 22) % count``, 4010 and 4011, the
session-start limit (op 9 for a bucket identifying too fast, the budget in GET /gateway/bot),
and the real disnake ``AutoShardedClient`` seeing each guild exactly once across its shards."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from typing import Any

import aiohttp
import disnake
import trio
from attrs import evolve

from discord_sim.crowd import Scenario, build_town
from discord_sim.server import DiscordSim
from discord_sim.shards import Admission, SessionStartLimit, parse_shard, recommended_shards, shard_of
from discord_sim.world import World
from domain.clock import WallClock
from tests.discord_sim.conftest import aio, intents
from tests.harness import wait_until

EVERYTHING = 1 | 1 << 7 | 1 << 9  # guilds, voice states, guild messages


# -- the pure rules ------------------------------------------------------------------------------


def test_the_sharding_formula_and_the_recommendation() -> None:
    assert shard_of(5 << 22, 3) == 2 and shard_of((5 << 22) | 0x3FFFFF, 3) == 2  # low bits do not count
    assert [recommended_shards(n, 1000) for n in (0, 1, 1000, 1001, 2500)] == [1, 1, 1, 2, 3]


def test_a_shard_field_is_two_integers_with_the_id_below_the_count() -> None:
    assert parse_shard(None) == (0, 1) and parse_shard([1, 2]) == (1, 2)
    for bad in ([2, 2], [-1, 2], [0, 0], [0], "0,1", [0, "1"], [True, 2], {"id": 0}):
        assert parse_shard(bad) is None, bad


def test_one_identify_per_bucket_per_interval_and_each_spends_one_start() -> None:
    limit = SessionStartLimit(
        total=3, remaining=3, reset_after_ms=60_000, max_concurrency=2, interval_ms=5000
    )
    assert limit.admit(0, 0) is Admission.ACCEPTED
    assert limit.admit(10, 1) is Admission.ACCEPTED, "another bucket (1 % 2)"
    assert limit.admit(20, 2) is Admission.TOO_FAST, "bucket 0 again within 5 s"
    assert limit.admit(5000, 2) is Admission.ACCEPTED
    assert limit.payload(5000) == {"total": 3, "remaining": 0, "reset_after": 55_000, "max_concurrency": 2}
    assert limit.admit(20_000, 0) is Admission.EXHAUSTED
    assert limit.admit(60_000, 0) is Admission.ACCEPTED, "the window ended: the budget is whole again"
    assert limit.payload(60_000)["remaining"] == 2


def test_ten_thousand_guilds_of_fifty_build_in_seconds_and_spread_over_any_shard_count() -> None:
    world = World(lambda: 1_790_000_000_000)
    started = time.perf_counter()
    guilds = world.add_guilds(10_000, members=50)
    took = time.perf_counter() - started
    assert took < 10, f"{took:.1f} s"
    assert len(world.guilds) == 10_000 and all(len(g.members) == 51 for g in guilds)  # and the bot
    for count in (2, 3, 4, 7, 16):
        shares = Counter(shard_of(g.guild_id, count) for g in guilds)
        assert max(shares.values()) - min(shares.values()) <= 1, (count, shares)
    ids = [u for g in guilds for u in g.members if u != world.bot.user_id] + [
        c for g in guilds for c in g.channels
    ]
    assert len(ids) == len(set(ids)) and world.new_id() > max(ids), "unique, and later ids stay unique"


# -- a bare websocket client ---------------------------------------------------------------------


class Raw:
    """One websocket to the simulator, read frame by frame (asyncio side)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def next(self, within: float = 10.0) -> dict[str, Any] | None:
        """The next frame; None when the socket closed or nothing came ``within`` seconds."""
        try:
            msg = await asyncio.wait_for(self.ws.receive(), within)
        except TimeoutError:
            return None
        if msg.type is not aiohttp.WSMsgType.TEXT:
            return None
        return json.loads(msg.data)  # type: ignore[no-any-return]

    async def drain(self, within: float = 2.0) -> list[dict[str, Any]]:
        frames = []
        while (frame := await self.next(within)) is not None:
            frames.append(frame)
        return frames

    async def identify(
        self, token: str, shard: Any = None, intents: int = EVERYTHING
    ) -> dict[str, Any] | None:
        data: dict[str, Any] = {"token": token, "intents": intents, "properties": {}}
        if shard is not None:
            data["shard"] = shard
        await self.ws.send_json({"op": 2, "d": data})
        return await self.next()


async def shard_sessions(
    sim: DiscordSim, shards: list[Any], *, gap: float = 5.0
) -> list[list[dict[str, Any]]]:
    """Identify one bare client per ``shards`` entry, ``gap`` s apart; each one's frames so far."""
    async with aiohttp.ClientSession() as http:
        sockets = []
        for shard in shards:
            ws = await http.ws_connect(sim.gateway_url)
            raw = Raw(ws)
            await raw.next()  # HELLO
            first = await raw.identify(sim.token, shard)
            sockets.append((raw, [first] if first else []))
            await asyncio.sleep(gap)
        result = []
        for raw, frames in sockets:
            frames += await raw.drain(0.5)
            result.append(frames)
            await raw.ws.close()
        return result


def dispatched(frames: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [f["d"] for f in frames if f.get("t") == event]


async def sessions_then(sim: DiscordSim, shards: list[Any], act: Any) -> list[list[dict[str, Any]]]:
    """Identify a client per shard (5 s apart), run ``act()``, and return what each one received."""
    async with aiohttp.ClientSession() as http:
        raws = []
        for shard in shards:
            raw = Raw(await http.ws_connect(sim.gateway_url))
            await raw.next()
            await raw.identify(sim.token, shard)
            raws.append(raw)
            await asyncio.sleep(5)
        for raw in raws:
            await raw.drain(0.5)  # the guilds
        act()
        return [await raw.drain(1.0) for raw in raws]


# -- the gateway ---------------------------------------------------------------------------------


async def test_each_shard_gets_only_its_guilds_and_their_events_and_interactions(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    sim = scenario.sim
    town = build_town(sim, random.Random(1), guilds=6, members=4, in_voice=0.0)
    sim.world.overwrite_commands(None, [{"name": "rank", "description": "your rank", "options": []}])
    every = list(sim.world.guilds)
    frames = await aio(shard_sessions)(sim, [[0, 2], [1, 2]])
    for shard_id, got in enumerate(frames):
        (ready,) = dispatched(got, "READY")
        mine = {g for g in every if (g >> 22) % 2 == shard_id}
        assert ready["shard"] == [shard_id, 2]
        assert {int(g["id"]) for g in ready["guilds"]} == mine
        assert {int(g["id"]) for g in dispatched(got, "GUILD_CREATE")} == mine
    assert [(s, c) for _, s, c in sim.gateway.identifies] == [(0, 2), (1, 2)]

    def act() -> None:
        for guild in town.guilds:
            member = town.humans(guild)[0]
            town.say(guild, member)
            sim.set_voice(guild, member, town.channel(guild, "Lounge"))
            sim.interact(guild, member, town.channel(guild, "general"), "rank")
        sim.dispatch("USER_UPDATE", sim.world.bot.user_payload())  # no guild: shard 0 only
        for guild in town.guilds:
            sim.leave_guild(guild, unavailable=True)

    seen = await aio(sessions_then)(sim, [[0, 2], [1, 2]], act)
    for shard_id, got in enumerate(seen):
        mine = {g.guild_id for g in town.guilds if (g.guild_id >> 22) % 2 == shard_id}
        for event in ("MESSAGE_CREATE", "VOICE_STATE_UPDATE", "INTERACTION_CREATE"):
            assert Counter(int(d["guild_id"]) for d in dispatched(got, event)) == dict.fromkeys(mine, 1), (
                event
            )
        assert len(dispatched(got, "USER_UPDATE")) == (shard_id == 0)
        assert Counter(int(d["id"]) for d in dispatched(got, "GUILD_DELETE")) == dict.fromkeys(mine, 1)


async def test_a_shard_with_too_many_guilds_is_closed_with_4011(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    sim = scenario.sim
    sim.world.add_guilds(5, members=2)  # 6 guilds with the scenario's: 3 on each of 2 shards
    sim.rules = evolve(sim.rules, shard_guild_limit=3)

    async def attempt(shard: Any) -> tuple[dict[str, Any] | None, int | None]:
        async with aiohttp.ClientSession() as http, http.ws_connect(sim.gateway_url) as ws:
            raw = Raw(ws)
            await raw.next()
            first = await raw.identify(sim.token, shard)
            await raw.drain(0.5)
            return first, ws.close_code

    first, code = await aio(attempt)(None)
    assert first is None and code == 4011
    await trio.sleep(5)
    first, code = await aio(attempt)([1, 2])
    assert first is not None and first["t"] == "READY" and len(first["d"]["guilds"]) <= 3
    assert [why for _, _, why in sim.gateway.refused_identifies] == ["4011"]
    assert len(sim.gateway.identifies) == 1, "a refused IDENTIFY spends no session start"


async def test_a_bad_shard_is_closed_with_4010(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    sim = scenario.sim

    async def attempt(shard: Any) -> int | None:
        async with aiohttp.ClientSession() as http, http.ws_connect(sim.gateway_url) as ws:
            raw = Raw(ws)
            await raw.next()
            await raw.identify(sim.token, shard)
            await raw.drain(0.5)
            return ws.close_code

    for bad in ([2, 2], [-1, 2], [0, 0], [0], "0,1"):
        assert await aio(attempt)(bad) == 4010, bad
    assert sim.gateway.identifies == [] and sim.gateway.start_limit.remaining == 1000


async def test_identifies_faster_than_the_bucket_allows_get_invalid_session(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    sim = scenario.sim
    frames = await aio(shard_sessions)(sim, [[0, 2], [1, 2], [1, 2]], gap=3.0)
    assert [f[0]["t"] if f[0]["op"] == 0 else f[0] for f in frames] == [
        "READY",
        {"op": 9, "d": False},  # 3 s after shard 0, same bucket (max_concurrency 1)
        "READY",  # 6 s after the accepted one (the refused one does not count)
    ]
    assert [(s, c) for _, s, c in sim.gateway.identifies] == [(0, 2), (1, 2)]
    assert [(shard, why) for _, shard, why in sim.gateway.refused_identifies] == [([1, 2], "too fast")]

    sim.rules = evolve(sim.rules, max_concurrency=2)  # two buckets: shards 0 and 1 may start together
    await trio.sleep(10)
    frames = await aio(shard_sessions)(sim, [[0, 2], [1, 2]], gap=0.0)
    assert [f[0]["t"] for f in frames] == ["READY", "READY"]


async def test_gateway_bot_reports_the_budget_each_identify_spends_and_the_recommended_shards(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    sim = scenario.sim
    sim.world.add_guilds(2000, members=1)  # 2,001 guilds with the scenario's

    async def gateway_bot() -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                sim.base_url + "/gateway/bot", headers={"Authorization": f"Bot {sim.token}"}
            ) as response,
        ):
            return await response.json()  # type: ignore[no-any-return]

    before = await aio(gateway_bot)()
    assert before["shards"] == 3 and before["url"] == sim.gateway_url
    assert before["session_start_limit"] == {
        "total": 1000,
        "remaining": 1000,
        "reset_after": 24 * 3600_000,
        "max_concurrency": 1,
    }
    await aio(shard_sessions)(sim, [[0, 3], [1, 3], [2, 3]])
    after = (await aio(gateway_bot)())["session_start_limit"]
    assert after["remaining"] == 997
    assert 0 < before["session_start_limit"]["reset_after"] - after["reset_after"] <= 20_000


async def test_identify_with_the_budget_spent_ends_every_session_and_resets_the_token(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    """Discord: "Upon hitting this limit, all active sessions for the app will be terminated, the
    bot token will be reset"; it names no close code, the simulator closes with 4004."""
    sim = scenario.sim
    old_token = sim.token
    sim.rules = evolve(sim.rules, session_start_remaining=1)

    async def run() -> tuple[int | None, int | None, int]:
        async with aiohttp.ClientSession() as http:
            first = Raw(await http.ws_connect(sim.gateway_url))
            await first.next()
            assert (await first.identify(old_token))["t"] == "READY"  # type: ignore[index]
            await first.drain(0.5)
            await asyncio.sleep(5)
            second = Raw(await http.ws_connect(sim.gateway_url))
            await second.next()
            # both read at once, as real clients do (a close nobody reads times out as 1006)
            await asyncio.gather(second.identify(old_token), first.drain(1.0))
            await second.drain(0.5)
            headers = {"Authorization": f"Bot {old_token}"}
            async with http.get(sim.base_url + "/users/@me", headers=headers) as response:
                status = response.status
            return first.ws.close_code, second.ws.close_code, status

    codes = await aio(run)()
    assert codes == (4004, 4004, 401)
    assert sim.token != old_token and sim.gateway.token == sim.token and len(sim.gateway.token_resets) == 1
    assert sim.gateway.sessions == {}
    assert [why for _, _, why in sim.gateway.refused_identifies] == ["exhausted"]


# -- the real disnake client ---------------------------------------------------------------------


async def test_disnake_auto_sharded_client_sees_each_guild_once_and_a_dropped_shard_resumes(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    sim = scenario.sim
    build_town(sim, random.Random(2), guilds=9, members=3)
    client = disnake.AutoShardedClient(
        shard_count=2,
        intents=intents(),
        gateway_params=disnake.GatewayParams(encoding="json", zlib=False),
        chunk_guilds_at_startup=False,
    )
    seen: list[tuple[int, int | None]] = []
    messages: list[tuple[int, int | None]] = []

    async def on_guild_available(guild: disnake.Guild) -> None:
        seen.append((guild.id, guild.shard_id))

    async def on_message(message: disnake.Message) -> None:
        assert message.guild is not None
        messages.append((message.guild.id, message.guild.shard_id))

    client.add_listener(on_guild_available)
    client.add_listener(on_message)
    disnake.http.Route.BASE = sim.base_url
    async with trio.open_nursery() as nursery:
        nursery.start_soon(aio(client.start), sim.token)
        await wait_until(client.is_ready, within=60, what="both shards READY")
        every = set(sim.world.guilds)
        assert Counter(g for g, _ in seen) == dict.fromkeys(every, 1), "each guild exactly once"
        assert all(shard == (g >> 22) % 2 for g, shard in seen)
        times = [t for t, _, _ in sim.gateway.identifies]
        assert [(s, c) for _, s, c in sim.gateway.identifies] == [(0, 2), (1, 2)]
        assert times[1] - times[0] >= 5 and sim.gateway.refused_identifies == []

        assert sorted(s.shard for s in sim.sessions) == [(0, 2), (1, 2)]
        assert sim.faults.drop_shard(1) == 1 and sim.faults.log == [("drop_shard", "1: 1 connections")]
        for guild in sim.world.guilds.values():
            author = next(m for m in guild.members.values() if not m.bot)
            sim.send_message(next(c for c in guild.channels.values() if c.type == 0), author, "hi")
        await wait_until(lambda: len(messages) >= len(every), what="a message from every guild")
        await trio.sleep(5)
        assert Counter(g for g, _ in messages) == dict.fromkeys(every, 1)
        assert len(sim.gateway.identifies) == 2, "shard 1 resumed, it did not identify again"
        await aio(client.close)()
        nursery.cancel_scope.cancel()
