"""Fuzz: malformed and adversarial gateway payloads through the real translation layer and pipeline.

Three levels, each with its own promise:

- ``bot_entry.translate`` alone: any JSON at all either becomes a well-formed event (or None) or
  raises ``MalformedPayload``, never anything else; an event it returns is safe to trust.
- The gateway's parsers (the real ``Gateway`` with disnake's own parsers behind ours) feeding the
  real ``Pipeline`` on MockClock: a seeded stream of good, duplicate, out-of-order, unknown-guild
  and broken payloads. The pipeline never dies, no actor crashes, each broken payload is logged
  once and skipped, and every message count and voice second equals an oracle kept here.
- End to end: the real disnake client over the simulator's websocket, with a handful of nasty
  frames (``sim.send_raw``): the websocket is never dropped and the counts stay exact.

Hypothesis runs derandomized (same examples on every run), so a failure here is reproducible.
"""

from __future__ import annotations

import asyncio
import atexit
import copy
import functools
import logging
import shutil
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing
import trio_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot_entry import translate
from bot_entry.gateway import Gateway
from bot_entry.translate import MalformedPayload
from discord_sim.world import TEXT, VOICE, SimChannel, SimGuild, SimMember, World
from domain.clock import WallClock
from domain.events import Event, GuildSnapshot, MessageSent, VoiceStateChanged
from persistence.store import Store
from tests.harness import EPOCH, running_bot, settings_for, simulator, wait_until
from tests.voice_oracle import counts as voice_counts
from wiring.pipeline import NO_FAULTS, Faults, Pipeline

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


def voice_payload(
    guild: SimGuild, member: SimMember, channel_id: int | None, **flags: bool
) -> dict[str, Any]:
    """What ``DiscordSim.set_voice`` dispatches."""
    return {
        "guild_id": str(guild.guild_id),
        "channel_id": None if channel_id is None else str(channel_id),
        "user_id": str(member.user_id),
        "member": member.member_payload(),
        "session_id": f"voice-{member.user_id}",
        "deaf": flags.get("deaf", False),
        "mute": flags.get("mute", False),
        "self_deaf": flags.get("self_deaf", False),
        "self_mute": flags.get("self_mute", False),
        "self_video": False,
        "suppress": False,
        "request_to_speak_timestamp": None,
    }


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


# -- level 1: translate alone ----------------------------------------------------------------------

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


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path inside a JSON value (for mutating at any depth)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*prefix, key)
            yield from paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield (*prefix, index)
            yield from paths(inner, (*prefix, index))


def good_payloads() -> dict[str, list[Any]]:
    world, guilds = world_with_guilds()
    guild = guilds[GUILD_A]
    a, b = humans(guild)[:2]
    lounge = voice_channels(guild)[0]
    guild.voice_states[a.user_id] = {
        k: v for k, v in voice_payload(guild, a, lounge.channel_id).items() if k != "member"
    }
    return {
        "MESSAGE_CREATE": [
            message_payload(world, guild, text_channels(guild)[0], a, 900_000_000_000_000_001),
            message_payload(world, guild, text_channels(guild)[1], b, 900_000_000_000_000_002, type=19),
        ],
        "VOICE_STATE_UPDATE": [
            voice_payload(guild, a, lounge.channel_id, self_mute=True),
            voice_payload(guild, b, None),
        ],
        "GUILD_CREATE": [guild_create(guild)],
    }


GOOD = good_payloads()
TRANSLATORS = {
    "MESSAGE_CREATE": translate.message_sent,
    "VOICE_STATE_UPDATE": translate.voice_state_changed,
    "GUILD_CREATE": translate.guild_snapshot,
}


@st.composite
def mutated_payloads(draw: st.DrawFn) -> tuple[str, Any]:
    """A good payload with a few values replaced (anywhere, by anything) or keys deleted, or junk."""
    event = draw(st.sampled_from(sorted(TRANSLATORS)))
    if draw(st.integers(0, 9)) == 0:
        return event, draw(json_values)
    payload = draw(st.sampled_from(GOOD[event]))
    for _ in range(draw(st.integers(1, 3))):
        where = list(paths(payload))
        if not where:
            break
        path = draw(st.sampled_from(where))
        value = draw(
            st.just(MISSING) | json_values | st.sampled_from(BAD_IDS) | st.text(min_size=300, max_size=1000)
        )
        payload = mutate(payload, path, value)
    return event, payload


def in_range(value: Any) -> bool:
    return type(value) is int and 0 < value < 2**64


def check_event(event: Any, at: float) -> None:
    """What the inside of the program may trust about an event translate let through."""
    match event:
        case None:
            pass
        case MessageSent():
            assert all(
                in_range(v) for v in (event.guild_id, event.channel_id, event.message_id, event.author_id)
            )
            assert type(event.author_name) is str and event.at == at
            assert all(type(v) is bool for v in (event.author_bot, event.webhook, event.system))
        case VoiceStateChanged():
            assert in_range(event.guild_id) and in_range(event.user_id) and event.at == at
            assert event.channel_id is None or in_range(event.channel_id)
            assert type(event.member_name) is str
            flags = (event.self_mute, event.self_deaf, event.mute, event.deaf, event.suppress, event.bot)
            assert all(type(v) is bool for v in flags)
        case GuildSnapshot():
            assert in_range(event.guild_id) and type(event.name) is str
            assert event.afk_channel_id is None or in_range(event.afk_channel_id)
            assert all(in_range(c) for c in event.voice_channel_ids | event.text_channel_ids)
            for state in event.voice_states:
                check_event(state, at)
                assert state.guild_id == event.guild_id
        case _:
            raise AssertionError(f"translate returned {event!r}")


@settings(FUZZ, max_examples=300)
@given(mutated_payloads())
def test_translate_returns_a_trustworthy_event_or_raises_malformed_payload(case: tuple[str, Any]) -> None:
    event, payload = case
    try:
        result = TRANSLATORS[event](payload, EPOCH)
    except MalformedPayload:
        return
    check_event(result, EPOCH)


@settings(FUZZ, max_examples=150)
@given(
    st.sampled_from(["MESSAGE_CREATE", "VOICE_STATE_UPDATE", "GUILD_CREATE"]).flatmap(
        lambda event: st.tuples(
            st.just(event),
            breaker(
                {
                    "MESSAGE_CREATE": MESSAGE_BREAKERS,
                    "VOICE_STATE_UPDATE": VOICE_BREAKERS,
                    "GUILD_CREATE": GUILD_BREAKERS,
                }[event]
            ),
        )
    )
)
def test_every_listed_breakage_is_refused_as_malformed(case: tuple[str, tuple[tuple[Any, ...], Any]]) -> None:
    """The breakages the pipeline fuzz relies on really are refused (so its oracle may skip them)."""
    event, (path, value) = case
    with pytest.raises(MalformedPayload):
        TRANSLATORS[event](mutate(GOOD[event][0], path, value), EPOCH)


def test_guild_create_with_an_unhashable_channel_type_is_malformed_not_a_type_error() -> None:
    payload = {"id": "1", "channels": [{"id": "2", "type": []}]}
    with pytest.raises(MalformedPayload):
        translate.guild_snapshot(payload, EPOCH)


def test_a_huge_bad_id_gives_a_short_log_line() -> None:
    with pytest.raises(MalformedPayload) as refused:
        translate.message_sent(
            {"guild_id": "1", "id": "9" * 10_000, "channel_id": "2", "author": {"id": "3"}}, EPOCH
        )
    assert len(str(refused.value)) < 300


@pytest.mark.parametrize("spelling", [" 12", "1_2", "١٢", "+12"])
def test_only_canonical_snowflakes_are_accepted(spelling: str) -> None:
    with pytest.raises(MalformedPayload):
        translate.message_sent(
            {"guild_id": "1", "id": spelling, "channel_id": "2", "author": {"id": "3"}}, EPOCH
        )


# -- level 2: the gateway's parsers feeding the real pipeline, against an oracle ------------------------


@attrs.define
class Oracle:
    """The bot's view of a stream, by plain bookkeeping (independent of router and actors).

    A guild is visible from its first GUILD_CREATE; a message counts once per id when its author
    is a human, it is no webhook and no system message; voice time counts by ``tests.voice_oracle``.
    """

    visible: set[int] = attrs.field(factory=set)
    counted_ids: set[int] = attrs.field(factory=set)
    messages: Counter[tuple[int, int]] = attrs.field(factory=Counter)
    where: dict[tuple[int, int], dict[str, Any]] = attrs.field(factory=dict)  # humans in voice
    afk: dict[int, int | None] = attrs.field(factory=dict)
    voice_ms: Counter[tuple[int, int]] = attrs.field(factory=Counter)
    now: float = 0.0

    def advance(self, to: float) -> None:
        for (guild_id, user_id), state in self.where.items():
            if guild_id in self.visible and voice_counts(self._presence(guild_id, user_id, state)):
                self.voice_ms[(guild_id, user_id)] += round((to - self.now) * 1000)
        self.now = to

    def _presence(self, guild_id: int, user_id: int, state: dict[str, Any]) -> dict[str, Any]:
        channel = state["channel_id"]
        company = any(
            g == guild_id and u != user_id and s["channel_id"] == channel for (g, u), s in self.where.items()
        )
        return state | {"afk": channel == self.afk.get(guild_id), "has_company": company}

    def message(self, guild_id: int, message_id: int, author_id: int, *, countable: bool) -> None:
        if countable and guild_id in self.visible and message_id not in self.counted_ids:
            self.counted_ids.add(message_id)
            self.messages[(guild_id, author_id)] += 1

    def voice(self, guild_id: int, user_id: int, state: dict[str, Any] | None) -> None:
        if state is None:
            self.where.pop((guild_id, user_id), None)
        else:
            self.where[(guild_id, user_id)] = state

    def snapshot(self, guild_id: int, afk_channel_id: int | None) -> None:
        self.visible.add(guild_id)
        self.afk[guild_id] = afk_channel_id


FLAGS = ("self_mute", "self_deaf", "mute", "deaf")
KINDS = ("talk", "reply", "bot", "webhook", "system", "dm", "stranger", "unknown_channel", "huge_name")

COUNTED_KINDS = ("talk", "talk", "reply", "stranger", "unknown_channel", "huge_name")
IGNORED_KINDS = ("bot", "webhook", "system", "dm")
flags = st.fixed_dictionaries({f: st.sampled_from([False, False, False, True]) for f in FLAGS})
# Ordinary traffic (in guild B it counts only after B's GUILD_CREATE, if the script sends one).
good_steps = st.one_of(
    st.tuples(st.just("wait"), st.integers(1, 40)),
    st.tuples(
        st.just("say"),
        st.sampled_from([GUILD_A, GUILD_A, GUILD_B]),
        st.integers(0, 3),
        st.integers(0, 1),
        st.sampled_from(COUNTED_KINDS),
        st.integers(1, 200),
    ),
    st.tuples(
        st.just("voice"),
        st.sampled_from([GUILD_A, GUILD_A, GUILD_A, GUILD_B]),
        st.integers(0, 4),
        st.sampled_from([0, 0, 0, 1, 2, -1]),
        flags,
    ),
)
# Everything else: duplicates, replays, unknown guilds, outages, re-sent snapshots, broken payloads, junk.
adversarial_steps = st.one_of(
    st.tuples(
        st.just("say"),
        st.sampled_from([GUILD_A, GUILD_B, GUILD_X]),
        st.integers(0, 3),
        st.integers(0, 1),
        st.sampled_from(IGNORED_KINDS),
        st.integers(1, 200),
    ),
    st.tuples(
        st.just("say"),
        st.just(GUILD_X),
        st.integers(0, 3),
        st.integers(0, 1),
        st.sampled_from(COUNTED_KINDS),
        st.integers(1, 200),
    ),
    st.tuples(st.just("voice"), st.just(GUILD_X), st.integers(0, 4), st.integers(-1, 2), flags),
    st.tuples(st.just("repeat_message"), st.integers(0, 1000)),
    st.tuples(st.just("repeat_voice"), st.integers(0, 1000)),
    st.tuples(st.just("unavailable"), st.sampled_from([GUILD_A, GUILD_B])),
    st.tuples(st.just("snapshot"), st.sampled_from([GUILD_A, GUILD_B])),
    st.tuples(st.just("bad_message"), breaker(MESSAGE_BREAKERS)),
    st.tuples(st.just("bad_voice"), breaker(VOICE_BREAKERS)),
    st.tuples(st.just("bad_guild"), breaker(GUILD_BREAKERS)),
    st.tuples(
        st.just("junk"),
        st.sampled_from(["MESSAGE_CREATE", "VOICE_STATE_UPDATE", "GUILD_CREATE"]),
        json_values,
    ),
)


@st.composite
def scripts(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """Ordinary traffic with adversarial steps interleaved at drawn places."""
    script = draw(st.lists(good_steps, min_size=15, max_size=50))
    for step in draw(st.lists(adversarial_steps, min_size=3, max_size=25)):
        script.insert(draw(st.integers(0, len(script))), step)
    return script


@attrs.define
class Stream:
    """Turns steps into (delay, event name, payload) frames, keeping the oracle in step."""

    world: World
    guilds: dict[int, SimGuild]
    oracle: Oracle = attrs.field(factory=Oracle)
    frames: list[tuple[float, str, Any]] = attrs.field(factory=list)
    sent_messages: list[dict[str, Any]] = attrs.field(factory=list)
    sent_voice: list[dict[str, Any]] = attrs.field(factory=list)
    broken: int = 0  # frames that must be refused as malformed
    junk: int = 0  # frames that may or may not be
    delay: float = 0.0
    next_id: int = 910_000_000_000_000_000

    def emit(self, name: str, payload: Any) -> None:
        self.frames.append((self.delay, name, payload))
        self.delay = 0.0

    def wait(self, seconds: float) -> None:
        self.delay += seconds
        self.oracle.advance(self.oracle.now + seconds)

    def step(self, step: tuple[Any, ...]) -> None:
        match step:
            case ("wait", seconds):
                self.wait(seconds)
            case ("say", guild_id, who, where, kind, id_offset):
                self.say(guild_id, who, where, kind, id_offset)
            case ("repeat_message", index) if self.sent_messages:
                payload = self.sent_messages[index % len(self.sent_messages)]
                self.emit("MESSAGE_CREATE", payload)  # a duplicate: its first delivery decided it
            case ("voice", guild_id, who, channel, flags):
                self.move(guild_id, who, channel, flags)
            case ("repeat_voice", index) if self.sent_voice:
                self.emit("VOICE_STATE_UPDATE", self.sent_voice[index % len(self.sent_voice)])
                self.sent_voice.append(self.sent_voice[index % len(self.sent_voice)])
                # A replayed old state is a real change if something happened since: apply it.
                self.apply_voice(self.sent_voice[-1])
            case ("snapshot", guild_id):
                self.snapshot(guild_id)
            case ("unavailable", guild_id):
                self.emit("GUILD_CREATE", {"id": str(guild_id), "unavailable": True})
            case ("bad_message", (path, value)):
                guild = self.guilds[GUILD_A]
                base = message_payload(
                    self.world, guild, text_channels(guild)[0], humans(guild)[0], self.fresh_id()
                )
                self.broken += 1
                self.emit("MESSAGE_CREATE", mutate(base, path, value))
            case ("bad_voice", (path, value)):
                guild = self.guilds[GUILD_A]
                base = voice_payload(guild, humans(guild)[0], voice_channels(guild)[0].channel_id)
                self.broken += 1
                self.emit("VOICE_STATE_UPDATE", mutate(base, path, value))
            case ("bad_guild", (path, value)):
                self.broken += 1
                self.emit("GUILD_CREATE", mutate(guild_create(self.guilds[GUILD_A]), path, value))
            case ("junk", name, payload):
                self.junk += 1
                self.emit(name, payload)

    def fresh_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def say(self, guild_id: int, who: int, where: int, kind: str, id_offset: int) -> None:
        guild = self.guilds[guild_id]
        author = humans(guild)[who]
        channel = text_channels(guild)[where]
        # Ids come out of order, and sometimes collide with earlier ones (a second message, same id).
        message_id = 900_000_000_000_000_000 + (id_offset * 7919) % 97
        extra: dict[str, Any] = {}
        countable = True
        match kind:
            case "reply":
                extra["type"] = 19
            case "bot":
                author = next(m for m in guild.members.values() if m.bot)
                countable = False
            case "webhook":
                extra["webhook_id"] = str(guild.guild_id + 5)
                countable = False
            case "system":
                extra["type"] = 7  # member joined
                countable = False
            case "stranger":
                author = SimMember(guild.guild_id + 99, "drive-by")  # not a member of the guild
            case "unknown_channel":
                channel = SimChannel(guild.guild_id + 77, guild.guild_id, "ghost", TEXT)
            case "huge_name":
                author = attrs.evolve(author, global_name="W" * 100_000)
        payload = message_payload(self.world, guild, channel, author, message_id, **extra)
        if kind == "webhook":
            payload.pop("member", None)
        if kind == "dm":
            payload.pop("guild_id")
            payload.pop("member")
            countable = False
        self.sent_messages.append(payload)
        self.emit("MESSAGE_CREATE", payload)
        self.oracle.message(guild.guild_id, message_id, author.user_id, countable=countable)

    def move(self, guild_id: int, who: int, channel: int, flags: dict[str, bool]) -> None:
        guild = self.guilds[guild_id]
        member = list(guild.members.values())[who]  # 4 is the helper bot: never counts, no company
        channel_id = None if channel < 0 else voice_channels(guild)[channel].channel_id
        payload = voice_payload(guild, member, channel_id, **flags)
        self.sent_voice.append(payload)
        self.emit("VOICE_STATE_UPDATE", payload)
        self.apply_voice(payload)

    def apply_voice(self, payload: dict[str, Any]) -> None:
        guild = self.guilds[int(payload["guild_id"])]
        user_id = int(payload["user_id"])
        if payload["channel_id"] is None:
            guild.voice_states.pop(user_id, None)
        else:
            guild.voice_states[user_id] = {k: v for k, v in payload.items() if k != "member"}
        if guild.members[user_id].bot:
            return
        state = None
        if payload["channel_id"] is not None:
            state = {"channel_id": int(payload["channel_id"]), **{f: payload[f] for f in FLAGS}}
        self.oracle.voice(guild.guild_id, user_id, state)

    def snapshot(self, guild_id: int) -> None:
        guild = self.guilds[guild_id]
        self.emit("GUILD_CREATE", guild_create(guild))
        self.oracle.snapshot(guild_id, guild.afk_channel_id)

    def end(self) -> None:
        """Everyone leaves, so every session ends at a known moment."""
        for guild in self.guilds.values():
            for user_id in list(guild.voice_states):
                member = guild.members[user_id]
                payload = voice_payload(guild, member, None)
                self.emit("VOICE_STATE_UPDATE", payload)
                self.apply_voice(payload)
        self.wait(1)


def ready_payload(world: World) -> dict[str, Any]:
    """READY as the simulator sends it: the bot user and every guild, not yet available."""
    return {
        "v": 10,
        "user": world.bot.user_payload() | {"verified": True, "mfa_enabled": False, "flags": 0},
        "guilds": [{"id": str(g), "unavailable": True} for g in (GUILD_A, GUILD_B)],
        "session_id": "fuzz",
        "session_type": "normal",
        "resume_gateway_url": "ws://127.0.0.1:1/gateway",
        "application": {"id": str(world.application_id), "flags": 0},
        "private_channels": [],
        "relationships": [],
        "presences": [],
        "guild_join_requests": [],
        "user_settings": {},
        "geo_ordered_rtc_regions": [],
    }


class SkipLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.skipped: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("gateway: skipped a malformed "):
            self.skipped[message.split()[4]] += 1


Frames = list[tuple[float, str, Any]]  # (seconds to wait first, event name, payload)
CALL = "CALL"  # a frame whose payload is a function of the pipeline, called instead of a parser


async def feed_pipeline(
    frames: Frames,
    world: World,
    db: Path,
    *,
    configure: Callable[[Pipeline], None] | None = None,
    faults: Faults = NO_FAULTS,
    **env: str,
) -> tuple[Gateway, Pipeline]:
    """Play ``frames`` through the real gateway parsers into the real pipeline, on MockClock.

    Run it with ``trio.run(..., clock=MockClock(autojump_threshold=0))``: the store is inline, so
    frames are stamped at exactly their scheduled virtual time and totals are deterministic.
    """
    clock = WallClock.starting_at(EPOCH)
    env = {"VOICE_CHECKPOINT_SECONDS": "15", "MESSAGE_FLUSH_SECONDS": "5", "MESSAGE_FLUSH_MAX": "7"} | env
    async with trio_asyncio.open_loop():
        send, receive = trio.open_memory_channel[Event](10_000)
        gateway = Gateway(send, clock)
        pipeline = Pipeline(settings_for(db, **env).pipeline, clock, faults, inline_db=True)
        if configure is not None:
            configure(pipeline)
        parsers = gateway.client._connection.parsers

        async def play() -> None:  # disnake calls parsers from its asyncio websocket loop; so do we
            parsers["READY"](ready_payload(world))  # disnake knows who it is before anything else
            for delay, name, payload in frames:
                if delay:
                    await asyncio.sleep(delay)
                if name == CALL:
                    payload(pipeline, gateway)  # what an admin command would do at this moment
                else:
                    parsers[name](payload)

        async with trio.open_nursery() as nursery:
            await nursery.start(pipeline.run, receive)
            async with send:
                await trio_asyncio.aio_as_trio(play)()
    return gateway, pipeline


@functools.cache
def migrated_template() -> Path:
    """An empty database with the current schema, made once per test process."""
    folder = Path(tempfile.mkdtemp(prefix="fuzz-template-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    Store(folder / "template.db").close()
    return folder / "template.db"


def run_frames(frames: Frames, world: World, db: Path, **kwargs: Any) -> tuple[Gateway, Pipeline]:
    """``feed_pipeline`` on MockClock, starting from a copy of the migrated template database.

    Why the copy: the pipeline opens its store in a worker thread, and while it waits, MockClock's
    autojump spins the Trio loop, starving that thread of the GIL: creating the schema there took
    up to seconds per example; opening an existing one takes milliseconds.
    """
    if not db.exists():
        shutil.copyfile(migrated_template(), db)
    return trio.run(
        partial(feed_pipeline, frames, world, db, **kwargs),
        clock=trio.testing.MockClock(autojump_threshold=0),
    )


def stored(db: Path) -> tuple[Counter[tuple[int, int]], Counter[tuple[int, int]]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT guild_id, user_id, SUM(messages), SUM(voice_ms) FROM activity GROUP BY 1, 2"
        )
        messages, voice = Counter[tuple[int, int]](), Counter[tuple[int, int]]()
        for guild_id, user_id, n, ms in rows:
            if n:
                messages[(guild_id, user_id)] = n
            if ms:
                voice[(guild_id, user_id)] = ms
        return messages, voice


@settings(FUZZ, max_examples=30)
@given(scripts())
def test_bad_payloads_are_skipped_once_and_good_ones_count_exactly(script: list[tuple[Any, ...]]) -> None:
    world, guilds = world_with_guilds()
    stream = Stream(world, guilds)
    stream.snapshot(GUILD_A)  # guild B appears only if the script says so; guild X never does
    for step in script:
        stream.step(step)
    stream.end()
    log = SkipLog()
    logging.getLogger("bot_entry.gateway").addHandler(log)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "fuzz.db"
            gateway, pipeline = run_frames(stream.frames, stream.world, db)
            messages, voice = stored(db)
    finally:
        logging.getLogger("bot_entry.gateway").removeHandler(log)

    malformed = sum(gateway.malformed.values())
    assert stream.broken <= malformed <= stream.broken + stream.junk, (gateway.malformed, stream.broken)
    assert log.skipped == gateway.malformed, "each skipped payload is logged exactly once"
    assert gateway.received.total() == len(stream.frames) + 1  # and READY
    assert pipeline.supervisor is not None and pipeline.voice_supervisor is not None
    assert not pipeline.supervisor.restarts and not pipeline.voice_supervisor.restarts, "no actor crashed"
    assert messages == stream.oracle.messages
    # Voice in whole seconds on MockClock; each settled interval may round by a millisecond.
    assert set(voice) == set(stream.oracle.voice_ms), (voice, stream.oracle.voice_ms)
    for key, ms in stream.oracle.voice_ms.items():
        assert abs(voice[key] - ms) <= len(stream.frames), (key, voice[key], ms)


def test_the_pipeline_fuzz_can_fail() -> None:
    """The oracle is not vacuous: a stream whose good messages all count gives non-zero totals."""
    world, guilds = world_with_guilds()
    stream = Stream(world, guilds)
    stream.snapshot(GUILD_A)
    for i in range(3):
        stream.step(("say", GUILD_A, i, 0, "talk", i))
    stream.step(("voice", GUILD_A, 0, 0, dict.fromkeys(FLAGS, False)))
    stream.step(("voice", GUILD_A, 1, 0, dict.fromkeys(FLAGS, False)))
    stream.step(("wait", 30))
    stream.end()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "fuzz.db"
        run_frames(stream.frames, stream.world, db)
        messages, voice = stored(db)
    assert sum(messages.values()) == 3 and sum(voice.values()) == 2 * 30_000
    assert messages == stream.oracle.messages and voice == stream.oracle.voice_ms


# -- level 3: end to end through the real disnake client and the simulator's websocket ---------------

NASTY: list[tuple[str, Any]] = [
    ("MESSAGE_CREATE", {"id": "1" * 40, "guild_id": "1", "channel_id": "2", "author": {"id": "3"}}),
    ("MESSAGE_CREATE", None),
    ("MESSAGE_CREATE", {"id": "5", "channel_id": "2", "guild_id": [], "author": {"id": "3"}}),
    ("VOICE_STATE_UPDATE", {"guild_id": "1", "user_id": -4, "channel_id": "9"}),
    ("VOICE_STATE_UPDATE", "left"),
    ("VOICE_STATE_UPDATE", {"guild_id": "1", "user_id": "4", "channel_id": "9", "self_deaf": "yes"}),
    ("GUILD_CREATE", {"id": "abc"}),
    ("GUILD_CREATE", {"id": "12", "channels": "everything"}),
    ("GUILD_CREATE", [1, 2, 3]),
    ("GUILD_MEMBER_UPDATE", {"guild_id": None}),
    ("MESSAGE_DELETE", 42),
    ("THIS_EVENT_DOES_NOT_EXIST", {"x": 1}),
]


async def test_nasty_frames_over_the_websocket_are_skipped_and_counts_stay_exact(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    db = tmp_path / "lb.db"
    async with simulator(clock, seed=17, members=8) as scenario:
        sim, guild = scenario.sim, scenario.guild
        a, b, c = scenario.humans[:3]
        lounge = scenario.voice_channels[0]
        async with running_bot(sim, settings_for(db), clock) as app:
            assert app.gateway is not None
            sim.set_voice(guild, a, lounge)
            sim.set_voice(guild, b, lounge)
            for event, payload in NASTY:
                scenario.say(c)
                sim.send_raw(event, payload)
                await trio.sleep(10)
            # A huge message from a member with a huge name still counts once.
            sim.send_message(
                scenario.text_channels[0], attrs.evolve(c, global_name="N" * 50_000), "x" * 200_000
            )
            scenario.truth[c.user_id] += 1
            sim.set_voice(guild, a, None)
            sim.set_voice(guild, b, None)
            await wait_until(
                lambda: app.gateway.received["MESSAGE_CREATE"] >= len(NASTY) + 4, what="all frames"
            )
            await trio.sleep(5)
        malformed = app.gateway.malformed
    assert sim.gateway.connects == 1, "the websocket was never dropped or re-opened"
    refused = Counter(e for e, _ in NASTY if e in ("MESSAGE_CREATE", "VOICE_STATE_UPDATE", "GUILD_CREATE"))
    assert {k: malformed[k] for k in refused} == dict(refused)
    with sqlite3.connect(db) as conn:
        rows = dict(conn.execute("SELECT user_id, SUM(messages) FROM activity GROUP BY user_id"))
        voice = dict(conn.execute("SELECT user_id, SUM(voice_ms) FROM activity GROUP BY user_id"))
    assert {u: n for u, n in rows.items() if n} == dict(scenario.truth)
    assert voice.get(a.user_id) == voice.get(b.user_id) == 10_000 * len(NASTY)
