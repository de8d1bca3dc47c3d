"""The simulator's invented rules are knobs, and what it used to skip it now does as Discord does:
50001/50013 from channel overwrites, X-RateLimit-* on injected 429s, GUILD_CREATE voice states
without ``guild_id``, GUILD_DELETE for a guild unavailable at connect."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import trio
from attrs import evolve

from discord_sim.crowd import Scenario
from discord_sim.ratelimit import Rule, bucket_hash
from discord_sim.rules import SimRules
from discord_sim.server import DiscordSim
from discord_sim.world import EMBED_LINKS, SEND_MESSAGES, VIEW_CHANNEL, World, voice_state_payload
from domain.clock import WallClock
from tests.discord_sim.conftest import aio
from tests.discord_sim.test_gateway import raw_identify

POSTS = "POST /channels/{channel_id}/messages"


def test_the_rules_are_one_value_and_the_old_knobs_are_the_same_values() -> None:
    sim = DiscordSim(World(lambda: 0), rules=SimRules(old_message_edits=Rule(1, 3600.0), nonce_window_ms=0))
    assert sim.limits.old_message_edits == Rule(1, 3600.0) and sim.nonce_window_ms == 0
    sim.nonce_window_ms = 300_000  # the older knob still works, and the rules show it
    sim.gateway.heartbeat_timeout = None
    assert sim.rules == SimRules(Rule(1, 3600.0), 300_000, None, SimRules().resume_window_ms)
    sim.rules = evolve(sim.rules, resume_window_ms=60_000, old_message_edits=None)
    assert sim.gateway.resume_window_ms == 60_000 and sim.limits.old_message_edits is None
    assert DiscordSim(World(lambda: 0)).rules == SimRules()


async def test_guild_create_voice_states_carry_no_guild_id_but_the_update_does(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    sim, guild, member = scenario.sim, scenario.guild, scenario.humans[0]
    update = sim.set_voice(guild, member, scenario.voice_channels[0], self_mute=True)
    assert update == voice_state_payload(guild, member, scenario.voice_channels[0].channel_id, self_mute=True)
    (state,) = guild.create_payload()["voice_states"]
    assert "guild_id" not in state and update["guild_id"] == str(guild.guild_id)
    assert state["user_id"] == str(member.user_id) and state["self_mute"]


async def call(sim: Any, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(
            method, sim.base_url + path, json=body, headers={"Authorization": f"Bot {sim.token}"}
        ) as response,
    ):
        return response.status, dict(response.headers), await response.json()


async def test_an_injected_429_has_the_route_headers_of_a_real_one(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    sim, channel_id = scenario.sim, scenario.text_channels[0].channel_id
    sim.faults.rate_limit(POSTS, times=1, retry_after=2.5)
    status, headers, body = await aio(call)(sim, "POST", f"/channels/{channel_id}/messages", {"content": "x"})
    assert status == 429 and body["retry_after"] == 2.5 and not body["global"]
    assert headers["X-RateLimit-Bucket"] == bucket_hash(POSTS)
    assert headers["X-RateLimit-Limit"] == "5" and headers["X-RateLimit-Remaining"] == "0"
    assert headers["X-RateLimit-Reset-After"] == "2.500" and headers["X-RateLimit-Scope"] == "user"
    assert float(headers["X-RateLimit-Reset"]) == sim.world.now_ms() / 1000 + 2.5
    sim.faults.rate_limit(POSTS, times=1, is_global=True)
    _, headers, body = await aio(call)(sim, "POST", f"/channels/{channel_id}/messages", {"content": "x"})
    assert body["global"] and headers["X-RateLimit-Global"] == "true" and "X-RateLimit-Bucket" not in headers


async def test_overwrites_that_deny_the_bot_answer_50013_and_50001(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    sim, channel = scenario.sim, scenario.text_channels[0]
    path = f"/channels/{channel.channel_id}/messages"
    embed = {"embeds": [{"title": "board"}]}
    _, _, board = await aio(call)(sim, "POST", path, embed)
    sim.deny_bot(channel, EMBED_LINKS)
    overwrite = {"id": str(sim.world.bot.user_id), "type": 1, "allow": "0", "deny": str(EMBED_LINKS)}
    assert channel.payload()["permission_overwrites"] == [overwrite]
    refused = {"message": "Missing Permissions", "code": 50013}
    assert (await aio(call)(sim, "POST", path, embed))[::2] == (403, refused)
    assert (await aio(call)(sim, "PATCH", f"{path}/{board['id']}", embed))[::2] == (403, refused)
    assert (await aio(call)(sim, "POST", path, {"content": "plain text"}))[0] == 200
    sim.deny_bot(channel, SEND_MESSAGES)
    assert (await aio(call)(sim, "POST", path, {"content": "plain text"}))[::2] == (403, refused)
    assert (await aio(call)(sim, "PATCH", f"{path}/{board['id']}", embed))[0] == 200, "edits need no send"
    sim.deny_bot(channel, VIEW_CHANNEL)
    no_access = {"message": "Missing Access", "code": 50001}
    assert (await aio(call)(sim, "GET", f"{path}/{board['id']}"))[::2] == (403, no_access)
    sim.deny_bot(channel, 0)
    assert channel.payload()["permission_overwrites"] == []
    assert (await aio(call)(sim, "POST", path, embed))[0] == 200


async def test_a_guild_unavailable_at_connect_gets_guild_delete_after_ready(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    sim = scenario.sim
    sim.leave_guild(scenario.guild, unavailable=True)
    frames, _ = await aio(raw_identify)(sim.gateway_url, sim.token, heartbeat=True, frames_wanted=3)
    ready, deleted = frames[1], frames[2]
    assert ready["d"]["guilds"] == [{"id": str(scenario.guild.guild_id), "unavailable": True}]
    assert (deleted["t"], deleted["d"]) == (
        "GUILD_DELETE",
        {"id": str(scenario.guild.guild_id), "unavailable": True},
    )


async def test_without_heartbeat_enforcement_a_silent_client_is_neither_asked_nor_closed(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    sim = scenario.sim
    sim.rules = evolve(sim.rules, heartbeat_timeout=None)
    frames: list[dict[str, Any]] = []

    async def silent_client() -> None:
        async with aiohttp.ClientSession() as http, http.ws_connect(sim.gateway_url) as ws:
            await ws.send_json({"op": 2, "d": {"token": sim.token, "intents": 1, "properties": {}}})
            async for msg in ws:
                frames.append(json.loads(msg.data))

    with trio.move_on_after(10 * 41.25):
        await aio(silent_client)()
    assert [f["op"] for f in frames] == [10, 0, 0], "HELLO, READY, GUILD_CREATE and nothing else"
    assert sim.gateway.connects == 1


async def test_a_held_answer_is_carried_out_first(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    sim, channel_id = scenario.sim, scenario.text_channels[0].channel_id
    sim.faults.hold_answer(f"POST /channels/{channel_id}/messages", seconds=90)
    with trio.move_on_after(60):  # a client that gives up after a minute
        await aio(call)(sim, "POST", f"/channels/{channel_id}/messages", {"content": "lost"})
    assert [m["content"] for m in sim.world.messages[channel_id].values()] == ["lost"]
    assert sim.faults.log == [("held", f"POST /channels/{channel_id}/messages")]
    status, _, body = await aio(call)(sim, "POST", f"/channels/{channel_id}/messages", {"content": "next"})
    assert status == 200 and body["content"] == "next", "only the next call was held"
