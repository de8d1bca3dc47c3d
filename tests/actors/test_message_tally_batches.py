"""``MessageTally.add_batch`` (the counter's hot path) decides exactly as ``add`` one by one: the
same batch for a seeded mix of people, bots, webhooks, duplicates, excluded channels and roles,
cooldowns, forgotten members and reactions; and it stops at the first other event, in order."""

from __future__ import annotations

import random

import pytest

from actors.message_tally import MessageTally
from domain.events import MessageSent, ReactionAdded
from domain.guild_config import GuildConfig, GuildConfigs
from domain.messages import GuildConfigured

PLAIN, STRICT, COOL = 1, 2, 3  # guilds: no rules; excluded channel and role; a cooldown


def configs() -> GuildConfigs:
    configs = GuildConfigs(GuildConfig())
    configs.set(STRICT, GuildConfig(excluded_channels=frozenset({99}), excluded_roles=frozenset({5})))
    configs.set(COOL, GuildConfig(message_cooldown=2.0))
    return configs


def mix(seed: int, n: int = 2_000) -> list[MessageSent | ReactionAdded]:
    rng = random.Random(seed)
    events: list[MessageSent | ReactionAdded] = []
    for i in range(n):
        guild, author, at = rng.choice([PLAIN, STRICT, COOL]), rng.randrange(20), 1_000 + i * 0.37
        if rng.random() < 0.1:
            events.append(
                ReactionAdded(guild, 7, 10_000 + rng.randrange(i + 1), author, "x", at, rng.randrange(20))
            )
            continue
        message_id = 10_000 + (rng.randrange(i) if i and rng.random() < 0.1 else i)  # some replays
        events.append(
            MessageSent(
                guild,
                rng.choice([7, 8, 99]),
                message_id,
                author,
                f"user{author}",
                at,
                author_bot=rng.random() < 0.05,
                webhook=rng.random() < 0.03,
                system=rng.random() < 0.02,
                author_roles=frozenset({5}) if rng.random() < 0.1 else frozenset(),
            )
        )
    return events


def fresh(forgotten: bool) -> MessageTally:
    tally = MessageTally(configs=configs())
    if forgotten:
        tally.forget(PLAIN, 3, 1_400.0)
    return tally


@pytest.mark.parametrize("forgotten", [False, True], ids=["no forget", "a member forgotten"])
@pytest.mark.parametrize("seed", range(5))
def test_add_batch_makes_the_same_batch_as_add_one_by_one(seed: int, forgotten: bool) -> None:
    events = mix(seed)
    one_by_one, batched = fresh(forgotten), fresh(forgotten)
    for event in events:
        if isinstance(event, MessageSent):
            one_by_one.add(event)
        else:
            one_by_one.add_reaction(event)
    for start in range(0, len(events), 300):  # in batches of 300, as the counter takes them
        assert batched.add_batch(iter(events[start : start + 300])) is None
    a, b = one_by_one.take_batch(), batched.take_batch()
    assert (a.counts, a.channels, a.reactions, a.names, a.message_ids) == (
        b.counts,
        b.channels,
        b.reactions,
        b.names,
        b.message_ids,
    )
    assert sum(a.counts.values()) > 100  # the mix counts plenty, and skips some
    assert list(one_by_one.seen) == list(batched.seen)


def test_add_batch_stops_at_the_first_other_event_and_goes_on_from_there() -> None:
    tally = MessageTally()
    configured = GuildConfigured(PLAIN, GuildConfig(), 1_000.0)
    events = iter(
        [
            MessageSent(PLAIN, 7, 1, 3, "a", 1_000.0),
            configured,
            MessageSent(PLAIN, 7, 2, 3, "a", 1_000.1),
        ]
    )
    assert tally.add_batch(events) is configured
    assert tally.pending == 1
    assert tally.add_batch(events) is None
    assert tally.pending == 2
