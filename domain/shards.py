"""Which shard carries a guild: Discord's rule, ``(guild_id >> 22) % shard_count``."""

from __future__ import annotations

from attrs import define


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard whose gateway connection receives ``guild_id``'s events."""
    if shard_count < 1:
        raise ValueError(f"shard_count must be at least 1, not {shard_count}")
    return (guild_id >> 22) % shard_count


@define(frozen=True)
class ShardSet:
    """The shards one process runs, and so the guilds it owns: it counts, posts boards and archives
    periods for these only (several processes share one database, each with its own range).

    ``count`` None: SHARD_COUNT=auto, not known when the pipeline starts; ``ids`` None: every
    shard. Either way the process owns every guild it is given (run several processes with a fixed
    SHARD_COUNT).
    """

    count: int | None = None
    ids: tuple[int, ...] | None = None

    def owns(self, guild_id: int) -> bool:
        if self.count is None or self.ids is None:
            return True
        return shard_of(guild_id, self.count) in self.ids
