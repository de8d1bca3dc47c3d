"""The pure message tally: what counts, dedupe, batching."""

from __future__ import annotations

from actors.message_tally import MessageTally, Skip
from domain.events import MessageSent
from domain.guild_config import GuildConfig, GuildConfigs


def msg(message_id: int, author: int = 10, **kw: object) -> MessageSent:
    fields: dict[str, object] = {
        "guild_id": 1,
        "channel_id": 2,
        "message_id": message_id,
        "author_id": author,
        "author_name": f"user{author}",
        "at": 1_000.5,
    }
    return MessageSent(**(fields | kw))  # type: ignore[arg-type]


def test_people_count_bots_webhooks_system_and_excluded_channels_do_not() -> None:
    tally = MessageTally(configs=GuildConfigs(GuildConfig(excluded_channels=frozenset({99}))))
    assert tally.add(msg(1)) is None
    assert tally.add(msg(2, author_bot=True)) is Skip.BOT
    assert tally.add(msg(3, webhook=True)) is Skip.WEBHOOK
    assert tally.add(msg(4, system=True)) is Skip.SYSTEM
    assert tally.add(msg(5, channel_id=99)) is Skip.EXCLUDED_CHANNEL
    assert tally.add(msg(6, channel_id=100, parent_channel_id=99)) is Skip.EXCLUDED_CHANNEL
    assert tally.take_batch().counts == {(1, 10, 1000): 1}


def test_the_same_message_id_counts_once_even_across_batches_and_restarts() -> None:
    tally = MessageTally()
    tally.add(msg(1))
    batch = tally.take_batch()
    assert tally.add(msg(1)) is Skip.DUPLICATE
    resumed = MessageTally.resume([mid for mid, _ in batch.message_ids])
    assert resumed.add(msg(1)) is Skip.DUPLICATE
    assert resumed.add(msg(2)) is None


def test_a_failed_flush_puts_the_batch_back_without_loss() -> None:
    tally = MessageTally()
    tally.add(msg(1))
    batch = tally.take_batch()
    tally.add(msg(2))
    tally.put_back(batch)
    again = tally.take_batch()
    assert again.counts == {(1, 10, 1000): 2}
    assert [mid for mid, _ in again.message_ids] == [1, 2]
    assert tally.pending == 0


def test_latest_name_wins() -> None:
    tally = MessageTally()
    tally.add(msg(1, author_name="old"))
    tally.add(msg(2, author_name="new", at=1_001.0))
    assert tally.take_batch().names == {(1, 10): ("new", 1_001.0)}


def test_cooldown_counts_one_message_per_window_per_member() -> None:
    configs = GuildConfigs(GuildConfig())
    configs.update(1, message_cooldown=10.0)
    tally = MessageTally(configs=configs)
    assert tally.add(msg(1, at=100.0)) is None
    assert tally.add(msg(2, at=105.0)) is Skip.COOLDOWN
    assert tally.add(msg(3, author=11, at=105.0)) is None  # another member is not held back
    assert tally.add(msg(4, at=110.0)) is None
    assert tally.add(msg(5, guild_id=2, at=110.5)) is None  # cooldown is per guild config
    assert sum(tally.take_batch().counts.values()) == 4


def test_members_with_an_excluded_role_do_not_count() -> None:
    configs = GuildConfigs(GuildConfig())
    configs.update(1, excluded_roles=frozenset({500}))
    tally = MessageTally(configs=configs)
    assert tally.add(msg(1, author_roles=frozenset({500, 501}))) is Skip.EXCLUDED_ROLE
    assert tally.add(msg(2, author_roles=frozenset({501}))) is None
    assert sum(tally.take_batch().counts.values()) == 1


def test_a_message_whose_parent_is_unknown_counts_only_where_no_channel_is_excluded() -> None:
    strict = MessageTally(configs=GuildConfigs(GuildConfig(excluded_channels=frozenset({99}))))
    assert strict.add(msg(1, channel_id=100, parent_unknown=True)) is Skip.PARENT_UNKNOWN
    open_guild = MessageTally()
    assert open_guild.add(msg(2, channel_id=100, parent_unknown=True)) is None


def test_a_forget_drops_the_members_batch_name_and_cooldown_and_skips_their_older_messages() -> None:
    configs = GuildConfigs(GuildConfig(message_cooldown=30.0))
    tally = MessageTally(configs=configs)
    for i, at in enumerate((1_000.0, 1_040.0, 1_080.0)):
        tally.add(msg(i, at=at))
    tally.add(msg(10, author=11))
    tally.forget(1, 10, at=1_100.0)
    batch = tally.take_batch()
    assert batch.counts == {(1, 11, 1000): 1} and set(batch.names) == {(1, 11)}
    assert tally.add(msg(20, at=1_099.0)) is Skip.FORGOTTEN  # a late replay from before the forget
    assert tally.add(msg(21, at=1_100.5)) is None  # from then on the member counts again...
    assert tally.add(msg(22, at=1_101.0)) is Skip.COOLDOWN  # ...with a fresh cooldown
    assert tally.take_batch().counts == {(1, 10, 1100): 1}
