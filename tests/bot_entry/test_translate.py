"""``bot_entry.translate``, the one checked border for untrusted gateway data, fuzzed alone.

Any JSON at all either becomes a well-formed event (or None) or raises ``MalformedPayload``,
never anything else; an event it returns is safe to trust. The breakages listed in
``gateway_payloads`` really are refused (the pipeline fuzz relies on it).

Hypothesis runs derandomized (same examples on every run), so a failure here is reproducible.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot_entry import translate
from bot_entry.translate import MalformedPayload, channel_parent, channel_parents
from domain.events import GuildSnapshot, MessageSent, VoiceStateChanged
from tests.bot_entry.gateway_payloads import (
    BAD_IDS,
    FUZZ,
    GUILD_A,
    GUILD_BREAKERS,
    MESSAGE_BREAKERS,
    MISSING,
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
from tests.harness import EPOCH


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


# --- channel parents (threads follow their parent) ---


def test_a_thread_follows_its_parent_and_a_channel_itself() -> None:
    assert channel_parent({"id": "5", "type": 11, "parent_id": "4"}) == (5, 4)
    assert channel_parent({"id": "6", "type": 12, "parent_id": "4"}) == (6, 4)
    assert channel_parent({"id": "4", "type": 0, "parent_id": "3"}) == (4, None)  # a category does not


def test_a_forum_post_follows_the_forum() -> None:
    assert channel_parent({"id": "9", "type": 11, "parent_id": "8"}) == (9, 8)


@pytest.mark.parametrize(
    "payload",
    [None, {"id": "5"}, {"id": "5", "type": True}, {"id": "5", "type": 11}, {"id": "x", "type": 0}],
)
def test_bad_channels_are_refused(payload: object) -> None:
    with pytest.raises(MalformedPayload):
        channel_parent(payload)


def test_guild_create_gives_channels_and_threads_and_skips_bad_entries() -> None:
    data = {
        "channels": [{"id": "4", "type": 0}, {"id": "bad", "type": 0}, "junk"],
        "threads": [{"id": "5", "type": 11, "parent_id": "4"}],
    }
    assert channel_parents(data) == {4: None, 5: 4}


def test_channel_lists_must_be_lists() -> None:
    with pytest.raises(MalformedPayload):
        channel_parents({"threads": {"id": "5"}})
