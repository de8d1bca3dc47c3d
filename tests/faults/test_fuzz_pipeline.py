"""Fuzz: the gateway's parsers feeding the real pipeline, against an oracle kept here.

The real ``Gateway`` (disnake's own parsers behind ours) feeds the real ``Pipeline`` on
MockClock a seeded stream of good, duplicate, out-of-order, unknown-guild and broken payloads.
The pipeline never dies, no actor crashes, each broken payload is logged once and skipped, and
every message count and voice second equals the ``Oracle``.

Hypothesis runs derandomized (same examples on every run), so a failure here is reproducible.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from discord_sim.world import TEXT, SimChannel, SimGuild, SimMember, World
from tests.bot_entry.gateway_payloads import (
    FUZZ,
    GUILD_A,
    GUILD_B,
    GUILD_BREAKERS,
    GUILD_X,
    MESSAGE_BREAKERS,
    VOICE_BREAKERS,
    breaker,
    guild_create,
    humans,
    json_values,
    message_payload,
    mutate,
    text_channels,
    voice_channels,
    voice_payload,
    world_with_guilds,
)
from tests.faults.pipeline_feed import run_frames, stored
from tests.voice_oracle import counts as voice_counts


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


class SkipLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.skipped: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("gateway: skipped a malformed "):
            self.skipped[message.split()[4]] += 1


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
