"""The gateway against the real disnake client: resume with replay, faults, intents, events."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import disnake
import pytest
import trio

from discord_sim.crowd import Scenario
from discord_sim.gateway import GatewaySession
from discord_sim.world import SimChannel, SimGuild, SimMember
from domain.clock import WallClock
from tests.discord_sim.conftest import aio, connected, plain_client
from tests.harness import wait_until


class Recorder:
    """Counts what a disnake client saw, by event name."""

    def __init__(self, client: disnake.Client, *events: str) -> None:
        self.seen: dict[str, list[Any]] = {e: [] for e in events}
        for event in events:
            collect = self._collect(event)
            if event == "gateway_error":  # called as a method, never as a listener
                client.on_gateway_error = collect  # type: ignore[method-assign]
            else:
                client.add_listener(collect, f"on_{event}")

    def _collect(self, event: str):  # type: ignore[no-untyped-def]
        async def collect(*args: Any) -> None:
            self.seen[event].append(args[0] if len(args) == 1 else args)

        return collect

    def __getitem__(self, event: str) -> list[Any]:
        return self.seen[event]


def identifies(scenario: Scenario) -> list[GatewaySession]:
    found: list[GatewaySession] = []
    scenario.sim.on_identify.append(found.append)
    return found


def say(scenario: Scenario, n: int) -> list[int]:
    author, channel = scenario.humans[0], scenario.text_channels[0]
    return [int(scenario.sim.send_message(channel, author, f"m{i}")["id"]) for i in range(n)]


async def test_a_dropped_websocket_resumes_and_replays_what_was_missed(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    client = plain_client()
    got = Recorder(client, "message")
    sessions = identifies(scenario)
    async with connected(scenario, client):
        sent = say(scenario, 5)
        await wait_until(lambda: len(got["message"]) == 5, what="5 messages")
        scenario.sim.faults.drop_websockets()
        sent += say(scenario, 10)  # while the bot is away
        await wait_until(lambda: len(got["message"]) >= 15, what="the replay")
        await trio.sleep(5)  # nothing more (no duplicates) arrives
        resumed_session = client.ws.session_id
    assert [m.id for m in got["message"]] == sent, "every message exactly once, in order"
    assert len(sessions) == 1, "resumed, not identified again"
    assert resumed_session == sessions[0].session_id
    assert scenario.sim.gateway.connects == 2


async def test_a_drop_in_the_middle_of_a_burst_loses_and_repeats_nothing(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    client = plain_client()
    got = Recorder(client, "message")
    async with connected(scenario, client):
        scenario.sim.faults.drop_after(40)
        sent = say(scenario, 200)
        await wait_until(lambda: len(got["message"]) >= 200, what="200 messages")
        await trio.sleep(5)
    assert [m.id for m in got["message"]] == sent
    assert ("drop_after", "40") in scenario.sim.faults.log
    assert scenario.sim.gateway.connects == 2


async def test_reconnect_resumes_and_invalid_session_identifies_again(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    client = plain_client()
    got = Recorder(client, "message", "guild_available")
    sessions = identifies(scenario)
    async with connected(scenario, client):
        scenario.sim.faults.reconnect()
        say(scenario, 3)
        await wait_until(lambda: len(got["message"]) == 3, what="messages after op 7")
        after_reconnect = (len(sessions), scenario.sim.gateway.connects)
        scenario.sim.faults.invalid_session(resumable=False)
        await wait_until(lambda: len(sessions) == 2, what="a fresh IDENTIFY")
        await wait_until(lambda: len(got["guild_available"]) == 2, what="the guild again")
        say(scenario, 2)
        await wait_until(lambda: len(got["message"]) == 5, what="messages on the new session")
    assert after_reconnect == (1, 2)
    assert sessions[0].session_id != sessions[1].session_id
    assert sessions[0].session_id not in scenario.sim.gateway.sessions, "the old session is gone"


async def raw_identify(
    url: str, token: str, *, intents: int = 1, heartbeat: bool = False, frames_wanted: int = 20
) -> tuple[list[dict[str, Any]], int | None]:
    """A bare client: identifies, records frames, and (unless told to) never heartbeats."""
    frames: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        frames.append(await ws.receive_json())
        await ws.send_json({"op": 2, "d": {"token": token, "intents": intents, "properties": {}}})
        async for msg in ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            frames.append(json.loads(msg.data))
            if frames[-1]["op"] == 1 and heartbeat:
                await ws.send_json({"op": 1, "d": frames[-1].get("s")})
            if len(frames) >= frames_wanted:
                break
        return frames, ws.close_code


async def test_a_client_that_stops_heartbeating_is_asked_then_closed(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    sim = scenario.sim
    start = trio.current_time()
    frames, code = await aio(raw_identify)(sim.gateway_url, sim.token, heartbeat=False)
    closed_after = trio.current_time() - start
    ops = [f["op"] for f in frames]
    assert ops[0] == 10 and frames[0]["d"]["heartbeat_interval"] == 41_250
    assert [f.get("t") for f in frames[1:3]] == ["READY", "GUILD_CREATE"]
    assert ops[-1] == 1, "the server asked for a heartbeat before giving up"
    assert code == 4000
    assert 1.5 * 41.25 < closed_after <= 2 * 41.25 + 1


async def test_zlib_stream_when_disnake_asks_for_it(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    client = plain_client(zlib=True)
    got = Recorder(client, "message")
    async with connected(scenario, client):
        compressed = [c.compressor is not None for c in scenario.sim.gateway.connections]
        sent = say(scenario, 30)
        await wait_until(lambda: len(got["message"]) == 30, what="30 compressed messages")
    assert compressed == [True]
    assert [m.id for m in got["message"]] == sent


@pytest.mark.parametrize("content_intent", [False, True])
async def test_message_content_is_empty_without_the_privileged_intent(
    autojump_clock: object, scenario: Scenario, clock: WallClock, content_intent: bool
) -> None:
    client = plain_client(message_content=content_intent)
    got = Recorder(client, "message")
    channel = scenario.text_channels[0]
    async with connected(scenario, client):
        scenario.sim.send_message(channel, scenario.humans[0], "secret words")
        scenario.sim.send_message(channel, scenario.humans[1], f"hey <@{client.user.id}>")
        await wait_until(lambda: len(got["message"]) == 2, what="2 messages")
    contents = [m.content for m in got["message"]]
    expected_first = "secret words" if content_intent else ""
    assert contents == [expected_first, f"hey <@{scenario.sim.world.bot.user_id}>"], "mentions stay visible"


async def test_unapproved_privileged_intents_are_refused_with_4014(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    scenario.sim.world.approved_intents = 0
    client = plain_client(message_content=True)
    disnake.http.Route.BASE = scenario.sim.base_url
    with pytest.raises(disnake.PrivilegedIntentsRequired):
        await aio(client.start)(scenario.sim.token)
    await aio(client.close)()


async def test_guild_joins_leaves_and_outages(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    sim = scenario.sim
    client = plain_client()
    got = Recorder(client, "guild_join", "guild_remove", "guild_unavailable", "guild_available")
    world = sim.world
    later = SimGuild(world.new_id(), "Joined Later", scenario.humans[0].user_id)
    text = SimChannel(world.new_id(), later.guild_id, "chat")
    later.channels[text.channel_id] = text
    later.members[scenario.humans[0].user_id] = scenario.humans[0]
    async with connected(scenario, client):
        sim.join_guild(later)
        await wait_until(lambda: len(got["guild_join"]) == 1, what="on_guild_join")
        joined = client.get_guild(later.guild_id)
        assert joined is not None and joined.get_channel(text.channel_id) is not None
        sim.leave_guild(scenario.guild, unavailable=True)
        await wait_until(lambda: len(got["guild_unavailable"]) == 1, what="an outage")
        sim.join_guild(scenario.guild)
        await wait_until(lambda: len(got["guild_available"]) == 2, what="the guild back")
        sim.leave_guild(later)
        await wait_until(lambda: len(got["guild_remove"]) == 1, what="on_guild_remove")
        assert client.get_guild(later.guild_id) is None
    assert later.guild_id not in world.guilds


async def test_member_thread_and_message_events(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    sim, guild, channel = scenario.sim, scenario.guild, scenario.text_channels[0]
    client = plain_client(members=True)
    events = (
        "member_join",
        "member_update",
        "raw_member_remove",
        "thread_create",
        "raw_message_edit",
        "raw_message_delete",
        "raw_bulk_message_delete",
        "gateway_error",
    )
    got = Recorder(client, *events)
    newcomer = SimMember(sim.world.new_id(), "newcomer", "New Comer")
    async with connected(scenario, client):
        assert len(client.get_guild(guild.guild_id).members) == len(guild.members), "GUILD_MEMBERS: all"
        sim.add_member(guild, newcomer)
        sim.update_member(guild, newcomer, nick="Newbie")
        thread = sim.create_thread(channel, "weekly results", owner=newcomer)
        first, second, third = say(scenario, 3)
        sim.edit_message(channel, first, "edited")
        sim.delete_message(channel, first)
        sim.delete_messages(channel, [second, third])
        sim.faults.malformed("MESSAGE_CREATE")
        sim.remove_member(guild, newcomer)
        await wait_until(lambda: all(got[e] for e in events), what="every event")
    assert got["member_join"][0].global_name == "New Comer"
    before, after = got["member_update"][0]
    assert (before.nick, after.nick) == (None, "Newbie")
    assert got["thread_create"][0].id == thread.channel_id
    assert got["raw_message_edit"][0].data["content"] == "", "no MESSAGE_CONTENT intent"
    assert got["raw_message_delete"][0].message_id == first
    assert got["raw_bulk_message_delete"][0].message_ids == {second, third}
    assert got["raw_member_remove"][0].user.id == newcomer.user_id
    assert not sim.world.messages[channel.channel_id]


async def test_guild_create_lists_only_the_bot_and_voice_members_without_guild_members(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    sim, guild = scenario.sim, scenario.guild
    talker = scenario.humans[2]
    sim.set_voice(guild, talker, scenario.voice_channels[0], self_mute=True)
    created = {}
    for name, intents in {"without": 1 | 1 << 7, "with": 1 | 1 << 1 | 1 << 7}.items():
        await trio.sleep(5)  # one IDENTIFY per 5 s, as on Discord
        frames, _ = await aio(raw_identify)(sim.gateway_url, sim.token, intents=intents, frames_wanted=3)
        created[name] = frames[2]["d"]
    listed = {name: {m["user"]["id"] for m in d["members"]} for name, d in created.items()}
    assert listed["without"] == {str(sim.world.bot.user_id), str(talker.user_id)}
    assert listed["with"] == {str(u) for u in guild.members}
    (state,) = created["without"]["voice_states"]
    assert state["user_id"] == str(talker.user_id) and state["self_mute"] and "member" not in state
    assert created["without"]["member_count"] == len(guild.members)


async def resume_after(url: str, token: str, away: float, while_away: Any) -> list[dict[str, Any]]:
    """Identify, vanish (resumable close), run ``while_away``, wait ``away`` s, then RESUME."""
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url) as ws:
            await ws.receive_json()
            await ws.send_json({"op": 2, "d": {"token": token, "intents": 1 | 1 << 9, "properties": {}}})
            ready = await ws.receive_json()
            await ws.close(code=4000)
        while_away()
        await asyncio.sleep(away)
        async with http.ws_connect(url) as ws:
            await ws.receive_json()
            resume = {"session_id": ready["d"]["session_id"], "seq": ready["s"], "token": token}
            await ws.send_json({"op": 6, "d": resume})
            frames = []
            while not frames or frames[-1].get("t") not in ("RESUMED", None):
                frames.append(await ws.receive_json())
            return frames


@pytest.mark.parametrize(("away", "resumed"), [(5.0, True), (11 * 60.0, False)])
async def test_resume_replays_within_the_window_and_is_refused_after(
    autojump_clock: object, scenario: Scenario, clock: WallClock, away: float, resumed: bool
) -> None:
    sim = scenario.sim
    frames = await aio(resume_after)(sim.gateway_url, sim.token, away, lambda: say(scenario, 2))
    if resumed:
        assert [f.get("t") for f in frames] == ["GUILD_CREATE", "MESSAGE_CREATE", "MESSAGE_CREATE", "RESUMED"]
        assert [f["s"] for f in frames] == [2, 3, 4, 5]
    else:
        assert frames == [{"op": 9, "d": False}]
