"""Reactions in the message tally: who counts (not bots, not on one's own message), dedupe, batches."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.message_counter import MessageCounter
from actors.message_tally import MessageTally, Skip
from domain.events import MessageSent, ReactionAdded
from domain.guild_config import GuildConfig, GuildConfigs
from persistence.errors import FlushIncomplete
from persistence.store import Store


def reaction(user: int = 10, author: int | None = 20, message_id: int = 7, **kw: object) -> ReactionAdded:
    fields: dict[str, object] = {
        "guild_id": 1,
        "channel_id": 2,
        "message_id": message_id,
        "user_id": user,
        "emoji": "👍",
        "at": 1_000.5,
        "message_author_id": author,
    }
    return ReactionAdded(**(fields | kw))  # type: ignore[arg-type]


def test_bot_reactors_and_reactions_to_ones_own_message_do_not_count() -> None:
    tally = MessageTally(configs=GuildConfigs(GuildConfig(excluded_channels=frozenset({99}))))
    assert tally.add_reaction(reaction()) is None
    assert tally.add_reaction(reaction(user=11, user_bot=True)) is Skip.BOT
    assert tally.add_reaction(reaction(user=20, author=20)) is Skip.OWN_MESSAGE
    assert tally.add_reaction(reaction(user=12, channel_id=99)) is Skip.EXCLUDED_CHANNEL
    assert tally.add_reaction(reaction(user=13, author=None)) is None  # author unknown: counts
    batch = tally.take_batch()
    assert batch.reactions == {(1, 10, 1000): 1, (1, 13, 1000): 1}
    assert batch.counts == {} and tally.pending == 0


def test_a_replayed_reaction_counts_once_and_another_emoji_counts_again() -> None:
    tally = MessageTally()
    assert tally.add_reaction(reaction()) is None
    assert tally.add_reaction(reaction()) is Skip.DUPLICATE
    assert tally.add_reaction(reaction(emoji="123456")) is None
    assert tally.take_batch().reactions == {(1, 10, 1000): 2}


def test_reactions_and_channels_survive_a_failed_flush_and_a_forget() -> None:
    tally = MessageTally()
    tally.add_reaction(reaction())
    tally.add(MessageSent(1, 2, 50, 10, "ada", 1_000.5))
    batch = tally.take_batch()
    assert batch.channels == {(1, 10, 1000, 2): 1}
    tally.put_back(batch)
    assert tally.pending == 2
    again = tally.take_batch()
    assert (again.reactions, again.channels) == (batch.reactions, batch.channels)
    tally.put_back(again)
    tally.forget(1, 10, 2_000.0)
    gone = tally.take_batch()
    assert (gone.reactions, gone.channels, gone.counts) == ({}, {}, {})


async def test_a_final_flush_that_fails_reports_the_reactions_too(
    autojump_clock: object, tmp_path: Path
) -> None:
    store = Store(tmp_path / "lb.db", inline=True)
    (pages,) = store.db.execute("PRAGMA page_count").fetchone()
    store.db.execute(f"PRAGMA max_page_count = {pages}")  # a real SQLITE_FULL on the first new page
    counter = MessageCounter(store)
    tally = MessageTally()
    for user in range(3000):  # enough rows to need a new page
        tally.add_reaction(reaction(user=user, author=None, message_id=user))
    tally.add(MessageSent(1, 2, 99, 5, "ada", 1_000.5))
    assert not await counter._flush(tally, final=True)
    assert store.unwritten == {"messages": {1: 1}, "reactions": {1: 3000}}
    with pytest.raises(FlushIncomplete, match="reactions: guild 1: 3000"):
        await store.aclose()
