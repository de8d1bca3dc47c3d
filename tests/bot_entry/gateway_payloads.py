"""Gateway payloads for the fuzz suites: a small world with fixed ids, payloads built by the
simulator's own builders, and the breakages ``bot_entry.translate`` must refuse as malformed.

Shared by ``test_translate.py`` (translate alone), ``tests/faults/test_fuzz_pipeline.py`` and
``tests/faults/test_abuse.py`` (the gateway's parsers feeding the real pipeline).
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from discord_sim.world import TEXT, VOICE, SimChannel, SimGuild, SimMember, World, voice_state_payload
from tests.harness import EPOCH

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MISSING = object()  # a mutation that deletes the key

# -- a small world with fixed ids (payloads built by the simulator's own builders) ------------------

GUILD_A, GUILD_B, GUILD_X = 700_000_000_000_000_001, 700_000_000_000_000_002, 700_000_000_000_000_003


def _guild(guild_id: int) -> SimGuild:
    base = 800_000_000_000_000_000 + guild_id % 10 * 1_000  # distinct ids in every guild
    guild = SimGuild(guild_id, f"guild {guild_id % 10}", base + 1, icon="abc123")
    for offset, name, kind in ((10, "general", TEXT), (11, "memes", TEXT)):
        guild.channels[base + offset] = SimChannel(base + offset, guild_id, name, kind)
    for offset, name in ((20, "Lounge"), (21, "Gaming"), (22, "AFK")):
        guild.channels[base + offset] = SimChannel(base + offset, guild_id, name, VOICE)
    guild.afk_channel_id = base + 22
    for i in range(4):
        guild.members[base + 30 + i] = SimMember(base + 30 + i, f"user{i}", global_name=f"User {i}")
    guild.members[base + 40] = SimMember(base + 40, "helper", "Helper", bot=True)
    return guild


def world_with_guilds() -> tuple[World, dict[int, SimGuild]]:
    world = World(lambda: int(EPOCH * 1000))
    return world, {g: _guild(g) for g in (GUILD_A, GUILD_B, GUILD_X)}


def text_channels(guild: SimGuild) -> list[SimChannel]:
    return [c for c in guild.channels.values() if c.type == TEXT]


def voice_channels(guild: SimGuild) -> list[SimChannel]:
    return [c for c in guild.channels.values() if c.type == VOICE]


def humans(guild: SimGuild) -> list[SimMember]:
    return [m for m in guild.members.values() if not m.bot]


def message_payload(
    world: World, guild: SimGuild, channel: SimChannel, author: SimMember, message_id: int, **extra: Any
) -> dict[str, Any]:
    payload = world.message_payload(channel, author, "hello")
    payload["id"] = str(message_id)
    payload["guild_id"] = str(guild.guild_id)
    return payload | extra


voice_payload = voice_state_payload  # what ``DiscordSim.set_voice`` dispatches


def guild_create(guild: SimGuild) -> dict[str, Any]:
    return guild.create_payload()


def mutate(payload: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A deep copy of ``payload`` with ``value`` at ``path`` (``MISSING`` deletes the key)."""
    out = copy.deepcopy(payload)
    if not path:
        return copy.deepcopy(value)
    node = out
    for step in path[:-1]:
        node = node[step]
    if value is MISSING:
        if isinstance(node, dict):
            node.pop(path[-1], None)
    else:
        node[path[-1]] = copy.deepcopy(value)
    return out


# -- mutations that must make a payload malformed ------------------------------------------------------

BAD_IDS: list[Any] = [
    "",
    "abc",
    "-1",
    "0",
    str(2**64),
    "1.5",
    "1e5",
    -1,
    0,
    2**64,
    1.5,
    True,
    [],
    {},
    "1" * 30,
]
BAD_FLAGS: list[Any] = ["yes", 1, 0, [], {"on": True}, 1.0]
NOT_OBJECTS: list[Any] = ["x", 7, [1], True, 1.5]
BAD_TEXT: list[Any] = [7, [1], True, {"a": 1}]

MESSAGE_BREAKERS: list[tuple[tuple[Any, ...], list[Any]]] = [
    (("id",), [MISSING, None, *BAD_IDS]),
    (("channel_id",), [MISSING, None, *BAD_IDS]),
    (("guild_id",), BAD_IDS),
    (("author",), [MISSING, None, *NOT_OBJECTS]),
    (("author", "id"), [MISSING, None, *BAD_IDS]),
    (("author", "bot"), BAD_FLAGS),
    (("author", "system"), BAD_FLAGS),
    (("type",), ["0", 1.5, True, None, []]),
    (("member",), NOT_OBJECTS),
    (("member", "nick"), BAD_TEXT),
]
VOICE_BREAKERS: list[tuple[tuple[Any, ...], list[Any]]] = [
    (("guild_id",), [MISSING, None, *BAD_IDS]),
    (("user_id",), [MISSING, None, *BAD_IDS]),
    (("channel_id",), BAD_IDS),
    *[((flag,), BAD_FLAGS) for flag in ("self_mute", "self_deaf", "mute", "deaf", "suppress")],
    (("member",), NOT_OBJECTS),
    (("member", "user"), NOT_OBJECTS),
    (("member", "user", "bot"), BAD_FLAGS),
    (("member", "nick"), BAD_TEXT),
]
GUILD_BREAKERS: list[tuple[tuple[Any, ...], list[Any]]] = [
    (("id",), [MISSING, None, *BAD_IDS]),
    (("channels",), ["x", 5, True, {"a": 1}]),
    (("voice_states",), ["x", 5, True, {"a": 1}]),
    (("afk_channel_id",), BAD_IDS),
    (("icon",), BAD_TEXT),
    (("name",), BAD_TEXT),
    (("channels", 0, "id"), [MISSING, None, *BAD_IDS]),
    (("channels", 0, "type"), [[], {"a": 1}, "2", 1.5, None]),
    (
        ("voice_states",),
        [
            ["x"],
            [7],
            [[1]],
            [{"user_id": "abc", "channel_id": "1"}],
            [{"user_id": "5", "channel_id": "abc"}],
            [{"user_id": "5", "channel_id": "6", "self_deaf": "y"}],
        ],
    ),
    (("members",), [[{"user": {"id": bad, "bot": True}}] for bad in ("abc", -1, None)]),
]


def breaker(table: list[tuple[tuple[Any, ...], list[Any]]]) -> st.SearchStrategy[tuple[tuple[Any, ...], Any]]:
    return st.sampled_from(table).flatmap(
        lambda entry: st.tuples(st.just(entry[0]), st.sampled_from(entry[1]))
    )


# Any JSON value at all, with the id-like strings that come close to a snowflake.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from(["0", "1", "-1", str(2**64 - 1), str(2**64), "१२३", " 12", "12abc"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
