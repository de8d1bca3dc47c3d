"""Which shard carries a guild: Discord's rule, ``(guild_id >> 22) % shard_count``."""

from __future__ import annotations

import math

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


def identify_slot(
    now: float, shard_id: int, shard_count: int, max_concurrency: int, slot_seconds: float
) -> float:
    """The first wall time at or after ``now`` at which ``shard_id`` may IDENTIFY, so that processes
    started together, each with its own SHARD_IDS, never IDENTIFY twice in one bucket within
    Discord's interval, without talking to each other.

    Wall time is cut into slots of ``slot_seconds`` (the interval plus a margin for start-up
    jitter); a bucket's shards (``shard_id % max_concurrency``) take turns by rank
    (``shard_id // max_concurrency``) in a cycle of ``ceil(shard_count / max_concurrency)`` slots.
    Two shards of one bucket never share a slot, whichever process runs them. The cost: a shard may
    wait up to one cycle for its slot.
    """
    rank = shard_id // max_concurrency
    cycle = -(-shard_count // max_concurrency)
    k = math.ceil(now / slot_seconds)
    k += (rank - k) % cycle
    return k * slot_seconds
