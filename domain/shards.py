"""Which shard carries a guild: Discord's rule, ``(guild_id >> 22) % shard_count``."""

from __future__ import annotations


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard whose gateway connection receives ``guild_id``'s events."""
    if shard_count < 1:
        raise ValueError(f"shard_count must be at least 1, not {shard_count}")
    return (guild_id >> 22) % shard_count
