"""Every payload the simulator sends, checked against the shapes in Discord's API documentation.

The schemas below are transcribed from https://discord.com/developers/docs (resources: Message,
User, Guild, Guild Member, Channel, Voice State, Role, Application Command; events: Ready, Guild
Create, Guild Member Add/Update/Remove, Message Delete (Bulk), Thread Create, Interaction
Create). Notation: ``"key"`` is required and ``"key?"`` optional; a type ``"?T"`` may be null.
A payload fails on a missing required key, a wrong type, or a key the documentation does not
have (so a typo in the simulator cannot pass as a field).

So the bot is tested against Discord's contract, not against what we assumed the simulator sends.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import aiohttp
import pytest

from discord_sim.crowd import Scenario
from discord_sim.world import SimMember
from domain.clock import WallClock
from tests.discord_sim.conftest import aio

Schema = dict[str, Any]

USER: Schema = {
    "id": "snowflake",
    "username": "str",
    "discriminator": "str",
    "global_name": "?str",
    "avatar": "?str",
    "bot?": "bool",
    "system?": "bool",
    "verified?": "bool",
    "mfa_enabled?": "bool",
    "flags?": "int",
    "member?": "dict",  # users in a message's ``mentions`` carry a partial member
}
MEMBER: Schema = {
    "user?": USER,
    "nick": "?str",
    "avatar": "?str",
    "roles": ["snowflake"],
    "joined_at": "iso",
    "premium_since?": "?iso",
    "deaf": "bool",
    "mute": "bool",
    "flags": "int",
    "pending?": "bool",
    "permissions?": "str",
    "communication_disabled_until?": "?iso",
}
ROLE: Schema = {
    "id": "snowflake",
    "name": "str",
    "color": "int",
    "colors": "dict",
    "hoist": "bool",
    "icon": "?str",
    "unicode_emoji": "?str",
    "position": "int",
    "permissions": "str",
    "managed": "bool",
    "mentionable": "bool",
    "flags": "int",
}
CHANNEL: Schema = {
    "id": "snowflake",
    "type": "int",
    "guild_id?": "snowflake",
    "position?": "int",
    "permission_overwrites?": "list",
    "name?": "?str",
    "topic?": "?str",
    "nsfw?": "bool",
    "last_message_id?": "?snowflake",
    "bitrate?": "int",
    "user_limit?": "int",
    "rate_limit_per_user?": "int",
    "parent_id?": "?snowflake",
    "rtc_region?": "?str",
    "owner_id?": "snowflake",
    "message_count?": "int",
    "member_count?": "int",
    "total_message_sent?": "int",
    "thread_metadata?": "dict",
    "permissions?": "str",
    "newly_created?": "bool",
}
VOICE_STATE: Schema = {
    "guild_id?": "snowflake",
    "channel_id": "?snowflake",
    "user_id": "snowflake",
    "member?": MEMBER,
    "session_id": "str",
    "deaf": "bool",
    "mute": "bool",
    "self_deaf": "bool",
    "self_mute": "bool",
    "self_stream?": "bool",
    "self_video": "bool",
    "suppress": "bool",
    "request_to_speak_timestamp": "?iso",
}
EMBED: Schema = {
    "title?": "str",
    "type?": "str",
    "description?": "str",
    "url?": "str",
    "timestamp?": "iso",
    "color?": "int",
    "footer?": "dict",
    "image?": "dict",
    "thumbnail?": "dict",
    "author?": "dict",
    "fields?": [{"name": "str", "value": "str", "inline?": "bool"}],
}
MESSAGE: Schema = {
    "id": "snowflake",
    "channel_id": "snowflake",
    "guild_id?": "snowflake",
    "author": USER,
    "member?": MEMBER,
    "content": "str",
    "timestamp": "iso",
    "edited_timestamp": "?iso",
    "tts": "bool",
    "mention_everyone": "bool",
    "mentions": [USER],
    "mention_roles": ["snowflake"],
    "attachments": "list",
    "embeds": [EMBED],
    "pinned": "bool",
    "webhook_id?": "snowflake",
    "type": "int",
    "application_id?": "snowflake",
    "flags?": "int",
    "components?": "list",
    "nonce?": "str",
    "message_reference?": "dict",
    "referenced_message?": "?dict",
    "interaction_metadata?": "dict",
    "interaction?": "dict",
}
GUILD: Schema = {
    "id": "snowflake",
    "name": "str",
    "icon": "?str",
    "splash": "?str",
    "discovery_splash": "?str",
    "owner_id": "snowflake",
    "afk_channel_id": "?snowflake",
    "afk_timeout": "int",
    "verification_level": "int",
    "default_message_notifications": "int",
    "explicit_content_filter": "int",
    "roles": [ROLE],
    "emojis": "list",
    "stickers?": "list",
    "features": ["str"],
    "mfa_level": "int",
    "application_id": "?snowflake",
    "system_channel_id": "?snowflake",
    "system_channel_flags": "int",
    "rules_channel_id": "?snowflake",
    "vanity_url_code": "?str",
    "description": "?str",
    "banner": "?str",
    "premium_tier": "int",
    "premium_subscription_count?": "int",
    "preferred_locale": "str",
    "public_updates_channel_id": "?snowflake",
    "nsfw_level": "int",
    "premium_progress_bar_enabled": "bool",
    "approximate_member_count?": "int",
    "approximate_presence_count?": "int",
}
GUILD_CREATE: Schema = GUILD | {
    "joined_at": "iso",
    "large": "bool",
    "unavailable?": "bool",
    "member_count": "int",
    "voice_states": [VOICE_STATE],
    "members": [MEMBER],
    "channels": [CHANNEL],
    "threads": [CHANNEL],
    "presences": "list",
    "stage_instances": "list",
    "guild_scheduled_events": "list",
    "soundboard_sounds": "list",
}
READY: Schema = {
    "v": "int",
    "user": USER,
    "guilds": [{"id": "snowflake", "unavailable": "bool"}],
    "session_id": "str",
    "resume_gateway_url": "str",
    "shard?": "list",
    "application": {"id": "snowflake", "flags": "int"},
    # undocumented fields Discord sends to bots (disnake reads some of them)
    "session_type?": "str",
    "private_channels?": "list",
    "relationships?": "list",
    "presences?": "list",
    "guild_join_requests?": "list",
    "user_settings?": "dict",
    "geo_ordered_rtc_regions?": "list",
}
COMMAND: Schema = {
    "id": "snowflake",
    "type?": "int",
    "application_id": "snowflake",
    "guild_id?": "snowflake",
    "name": "str",
    "name_localizations?": "?dict",
    "description": "str",
    "description_localizations?": "?dict",
    "options?": "list",
    "default_member_permissions": "?str",
    "dm_permission?": "bool",
    "nsfw?": "bool",
    "integration_types?": "list",
    "contexts?": "?list",
    "version": "snowflake",
}
INTERACTION: Schema = {
    "id": "snowflake",
    "application_id": "snowflake",
    "type": "int",
    "data?": {
        "id": "snowflake",
        "name": "str",
        "type": "int",
        "resolved?": "dict",
        "options?": [{"name": "str", "type": "int", "value?": "any", "options?": "list"}],
        "guild_id?": "snowflake",
    },
    "guild?": {"id": "snowflake", "locale": "str", "features": "list"},
    "guild_id?": "snowflake",
    "channel?": CHANNEL,
    "channel_id?": "snowflake",
    "member?": MEMBER,
    "user?": USER,
    "token": "str",
    "version": "int",
    "message?": MESSAGE,
    "app_permissions": "str",
    "locale?": "str",
    "guild_locale?": "str",
    "entitlements": "list",
    "authorizing_integration_owners": "dict",
    "context?": "int",
    "attachment_size_limit": "int",
}
EVENTS: dict[str, Schema] = {
    "READY": READY,
    "GUILD_CREATE": GUILD_CREATE,
    "GUILD_DELETE": {"id": "snowflake", "unavailable?": "bool"},
    "MESSAGE_CREATE": MESSAGE,
    "MESSAGE_UPDATE": MESSAGE,
    "MESSAGE_DELETE": {"id": "snowflake", "channel_id": "snowflake", "guild_id?": "snowflake"},
    "MESSAGE_DELETE_BULK": {"ids": ["snowflake"], "channel_id": "snowflake", "guild_id?": "snowflake"},
    "VOICE_STATE_UPDATE": VOICE_STATE,
    "GUILD_MEMBER_ADD": MEMBER | {"guild_id": "snowflake"},
    "GUILD_MEMBER_UPDATE": MEMBER | {"guild_id": "snowflake", "user": USER},
    "GUILD_MEMBER_REMOVE": {"guild_id": "snowflake", "user": USER},
    "THREAD_CREATE": CHANNEL,
    "INTERACTION_CREATE": INTERACTION,
}


def problems(value: Any, spec: Any, where: str = "$") -> list[str]:
    """Where ``value`` breaks ``spec`` (empty when it fits)."""
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        found: list[str] = []
        known = {k.rstrip("?") for k in spec}
        found += [f"{where}.{k}: not in Discord's documentation" for k in value if k not in known]
        for key, inner in spec.items():
            name = key.rstrip("?")
            if name in value:
                found += problems(value[name], inner, f"{where}.{name}")
            elif not key.endswith("?"):
                found.append(f"{where}.{name}: required, missing")
        return found
    if isinstance(spec, list):
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {type(value).__name__}"]
        return [p for i, item in enumerate(value) for p in problems(item, spec[0], f"{where}[{i}]")]
    if spec.startswith("?"):
        return [] if value is None else problems(value, spec[1:], where)
    ok = {
        "any": lambda v: True,
        "str": lambda v: isinstance(v, str),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "list": lambda v: isinstance(v, list),
        "dict": lambda v: isinstance(v, dict),
        "snowflake": lambda v: isinstance(v, str) and v.isdigit() and 0 < int(v) < 2**64,
        "iso": _is_iso,
    }[spec](value)
    return [] if ok else [f"{where}: expected {spec}, got {value!r}"]


def _is_iso(value: Any) -> bool:
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


class RawGateway:
    """A bare websocket client (no library in between) that records every dispatch."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http, self.ws = http, ws
        self.dispatches: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, url: str, token: str, intents: int) -> RawGateway:
        http = aiohttp.ClientSession()
        client = cls(http, await http.ws_connect(url))
        await client.ws.receive_json()  # HELLO
        await client.ws.send_json({"op": 2, "d": {"token": token, "intents": intents, "properties": {}}})
        return client

    async def until(self, wanted: set[str]) -> dict[str, dict[str, Any]]:
        """Read until every event in ``wanted`` arrived; the last payload of each event."""
        while not wanted <= {d["t"] for d in self.dispatches}:
            frame = json.loads((await self.ws.receive()).data)
            if frame["op"] == 1:
                await self.ws.send_json({"op": 1, "d": None})
            elif frame["op"] == 0:
                self.dispatches.append(frame)
        return {d["t"]: d["d"] for d in self.dispatches}

    async def close(self) -> None:
        await self.ws.close()
        await self.http.close()


async def rest(sim: Any, method: str, path: str, body: Any = None) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.request(
            method, sim.base_url + path, json=body, headers={"Authorization": f"Bot {sim.token}"}
        ) as response,
    ):
        assert response.headers["Content-Type"] == "application/json", await response.text()
        return await response.json()


def test_the_checker_rejects_what_it_should() -> None:
    assert problems({"id": "12"}, {"id": "snowflake"}) == []
    assert problems({"id": 12}, {"id": "snowflake"}) == ["$.id: expected snowflake, got 12"]
    assert problems({}, {"a": "str", "b?": "str"}) == ["$.a: required, missing"]
    assert problems({"a": None, "c": 1}, {"a": "?str"}) == ["$.c: not in Discord's documentation"]
    assert problems([{"x": True}], [{"x": "int"}]) == ["$[0].x: expected int, got True"]


async def test_every_dispatch_matches_discords_documented_shape(
    autojump_clock: object, aio_loop: object, scenario: Scenario, clock: WallClock
) -> None:
    sim, guild, channel = scenario.sim, scenario.guild, scenario.text_channels[0]
    everything = 1 | 1 << 1 | 1 << 7 | 1 << 9 | 1 << 15
    client = await aio(RawGateway.open)(sim.gateway_url, sim.token, everything)
    try:
        await aio(client.until)({"READY", "GUILD_CREATE"})
        sim.world.overwrite_commands(None, [{"name": "rank", "description": "Your rank"}])
        posted = sim.send_message(channel, scenario.humans[0], f"hi <@{scenario.humans[1].user_id}>")
        sim.set_voice(guild, scenario.humans[1], scenario.voice_channels[0], self_deaf=True)
        newcomer = SimMember(sim.world.new_id(), "newcomer")
        sim.add_member(guild, newcomer)
        sim.update_member(guild, newcomer, nick="new")
        sim.remove_member(guild, newcomer)
        sim.create_thread(channel, "a thread", owner=scenario.humans[0])
        sim.edit_message(channel, int(posted["id"]), "edited")
        sim.delete_message(channel, int(posted["id"]))
        sim.delete_messages(channel, [1, 2])
        sim.interact(guild, scenario.humans[0], channel, "rank")
        await aio(rest)(sim, "POST", f"/channels/{channel.channel_id}/messages", {"content": "board"})
        sim.leave_guild(guild, unavailable=True)
        seen = await aio(client.until)(set(EVENTS))
    finally:
        await aio(client.close)()
    for event, schema in EVENTS.items():
        assert problems(seen[event], schema, event) == []


@pytest.mark.parametrize(
    ("path", "schema"),
    [
        ("/users/@me", USER),
        ("/channels/{channel}", CHANNEL),
        ("/guilds/{guild}", GUILD),
        ("/guilds/{guild}/members/{member}", MEMBER),
        ("/guilds/{guild}/channels", [CHANNEL]),
        ("/channels/{channel}/messages", [MESSAGE]),
        ("/applications/{app}/guilds/{guild}/commands", [COMMAND]),
    ],
)
async def test_rest_objects_match_discords_documented_shape(
    autojump_clock: object, aio_loop: object, scenario: Scenario, clock: WallClock, path: str, schema: Any
) -> None:
    sim, channel = scenario.sim, scenario.text_channels[0]
    sim.send_message(
        channel, scenario.humans[0], "hello", embeds=[{"title": "t", "fields": [{"name": "n", "value": "v"}]}]
    )
    sim.world.overwrite_commands(scenario.guild.guild_id, [{"name": "board", "description": "Post it"}])
    ids = {
        "channel": channel.channel_id,
        "guild": scenario.guild.guild_id,
        "member": scenario.humans[0].user_id,
        "app": sim.world.application_id,
    }
    payload = await aio(rest)(sim, "GET", path.format(**ids))
    assert payload, "something to check"
    assert problems(payload, schema) == []
