import pytest

from domain.shards import shard_of


def test_a_guild_goes_to_the_shard_of_its_timestamp_bits() -> None:
    guild = (7 << 22) | 12345  # the low 22 bits (worker, process, increment) do not matter
    assert shard_of(guild, 1) == 0
    assert shard_of(guild, 4) == 3
    assert shard_of(guild, 7) == 0


def test_a_shard_count_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="shard_count"):
        shard_of(1 << 22, 0)
