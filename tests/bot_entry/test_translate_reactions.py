"""MESSAGE_REACTION_ADD through the checked border: the simulator's payload (Discord's shape)
becomes a ``ReactionAdded``; anything mangled is refused as malformed, never another error."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot_entry import translate
from bot_entry.gateway import intents
from bot_entry.translate import MalformedPayload
from domain.events import ReactionAdded
from tests.bot_entry.gateway_payloads import (
    BAD_IDS,
    GUILD_A,
    MISSING,
    humans,
    json_values,
    message_payload,
    mutate,
    text_channels,
    world_with_guilds,
)
from tests.bot_entry.test_translate import paths


def payloads() -> list[dict[str, Any]]:
    world, guilds = world_with_guilds()
    guild = guilds[GUILD_A]
    a, b = humans(guild)[:2]
    message = message_payload(world, guild, text_channels(guild)[0], a, 900_000_000_000_000_001)
    custom = world.reaction_payload(message, b)
    custom["emoji"] = {"id": "123456789012345678", "name": "party"}
    return [world.reaction_payload(message, b), world.reaction_payload(message, a), custom]


def test_the_simulators_reaction_becomes_an_event() -> None:
    other, own, custom = (translate.reaction_added(p, 5.0) for p in payloads())
    assert isinstance(other, ReactionAdded) and isinstance(own, ReactionAdded)
    assert other.message_author_id == own.user_id == own.message_author_id != other.user_id
    assert other.emoji == "\N{THUMBS UP SIGN}" and not other.user_bot and other.at == 5.0
    assert custom is not None and custom.emoji == "123456789012345678"
    assert translate.reaction_added({**payloads()[0], "guild_id": None}, 5.0) is None


def test_the_bot_asks_for_reactions_a_non_privileged_intent() -> None:
    wanted = intents()
    assert wanted.guild_reactions
    assert not (wanted.members or wanted.message_content or wanted.presences)


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    payload: Any = draw(st.sampled_from(payloads()))
    for _ in range(draw(st.integers(1, 3))):
        where = list(paths(payload))
        if not where:
            break
        value = draw(st.just(MISSING) | json_values | st.sampled_from(BAD_IDS))
        payload = mutate(payload, draw(st.sampled_from(where)), value)
    return payload


@settings(derandomize=True, max_examples=300, deadline=None)
@given(mutated())
def test_a_mangled_reaction_is_refused_or_trustworthy(payload: Any) -> None:
    try:
        event = translate.reaction_added(payload, 5.0)
    except MalformedPayload:
        return
    if event is None:
        return
    ids = (event.guild_id, event.channel_id, event.message_id, event.user_id)
    assert all(type(v) is int and 0 < v < 2**64 for v in ids)
    assert event.message_author_id is None or 0 < event.message_author_id < 2**64
    assert type(event.emoji) is str and event.emoji and type(event.user_bot) is bool
