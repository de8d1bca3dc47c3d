"""Sharding as Discord does it: which shard owns a guild, and who may IDENTIFY when.

Theory of operation (https://discord.com/developers/docs/events/gateway#sharding): a session
that IDENTIFYs with ``shard: [shard_id, num_shards]`` (absent: ``[0, 1]``) receives the guilds,
and every event of a guild, for which ``(guild_id >> 22) % num_shards == shard_id``; events
with no guild (DMs) go to shard 0 only. A shard may hold at most 2,500 guilds (more: close
4011, "Sharding required"); a shard id outside ``0 <= id < count`` is 4010, "Invalid shard".

Session starts are limited twice (``session_start_limit`` of ``GET /gateway/bot``):
``max_concurrency`` IDENTIFYs per 5 seconds, one per *bucket* ``shard_id % max_concurrency``
(exceeding it: the gateway answers Invalid Session, op 9); and ``total`` IDENTIFYs per window
of ``reset_after`` ms (Discord: 1,000 a day). Discord documents what happens at the end of the
budget: "all active sessions for the app will be terminated, the bot token will be reset".

Everything here is pure: time is an argument, the gateway performs what ``admit`` decides.
"""

from __future__ import annotations

import enum
import math
from typing import Any

from attrs import define, field


def shard_of(guild_id: int, shard_count: int) -> int:
    """Discord's sharding formula."""
    return (guild_id >> 22) % shard_count


def recommended_shards(guilds: int, guilds_per_shard: int) -> int:
    """What ``GET /gateway/bot`` recommends: one shard per ``guilds_per_shard`` guilds, at least one."""
    return max(1, math.ceil(guilds / guilds_per_shard))


def parse_shard(raw: Any) -> tuple[int, int] | None:
    """IDENTIFY's ``shard`` field as ``(shard_id, shard_count)``; absent is ``(0, 1)``; anything
    that is not two integers with ``0 <= id < count`` is None (close 4010)."""
    if raw is None:
        return (0, 1)
    if not isinstance(raw, list | tuple) or len(raw) != 2:
        return None
    shard_id, count = raw
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (shard_id, count)):
        return None
    if count < 1 or not 0 <= shard_id < count:
        return None
    return (shard_id, count)


class Admission(enum.Enum):
    """What the session-start limit says to one IDENTIFY."""

    ACCEPTED = "accepted"
    TOO_FAST = "too fast"  # its bucket identified less than the interval ago: op 9
    EXHAUSTED = "exhausted"  # no session starts left: sessions terminated, token reset


@define
class SessionStartLimit:
    """The budget of IDENTIFYs: ``remaining`` of ``total`` until the window ends, and the last
    accepted IDENTIFY per bucket. The window starts at the first look (``GET /gateway/bot`` or
    an IDENTIFY) and is ``reset_after_ms`` long; when it has passed, ``remaining`` is ``total``."""

    total: int
    remaining: int
    reset_after_ms: int
    max_concurrency: int
    interval_ms: int
    window_ends_ms: int | None = None
    last_by_bucket: dict[int, int] = field(factory=dict)

    def _refresh(self, now_ms: int) -> None:
        if self.window_ends_ms is None:
            self.window_ends_ms = now_ms + self.reset_after_ms
        elif now_ms >= self.window_ends_ms:
            self.remaining = self.total
            self.window_ends_ms = now_ms + self.reset_after_ms

    def payload(self, now_ms: int) -> dict[str, int]:
        """The ``session_start_limit`` object."""
        self._refresh(now_ms)
        assert self.window_ends_ms is not None
        return {
            "total": self.total,
            "remaining": self.remaining,
            "reset_after": max(0, self.window_ends_ms - now_ms),
            "max_concurrency": self.max_concurrency,
        }

    def admit(self, now_ms: int, shard_id: int) -> Admission:
        """One IDENTIFY from ``shard_id`` at ``now_ms``; an accepted one spends a session start."""
        self._refresh(now_ms)
        if self.remaining <= 0:
            return Admission.EXHAUSTED
        bucket = shard_id % self.max_concurrency
        last = self.last_by_bucket.get(bucket)
        if last is not None and now_ms - last < self.interval_ms:
            return Admission.TOO_FAST
        self.last_by_bucket[bucket] = now_ms
        self.remaining -= 1
        return Admission.ACCEPTED
