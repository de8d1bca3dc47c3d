"""What actors hand the store and load back: batches of counts, and board checkpoints.

Records, not behaviour: the actors build them, the store writes and reads them, so both layers
import them from here and neither imports the other's modules for them.
"""

from __future__ import annotations

from attrs import define, field

from domain.kinds import BoardKind


@define(frozen=True)
class VoiceBatch:
    """Flushed voice accounting: counted intervals (guild, user, start, end) and last-known names.

    Each interval starts at its session's previous mark, so intervals never overlap: a session
    hands each stretch of time to the ledger once, and the ledger writes each batch once.
    """

    intervals: tuple[tuple[int, int, float, float], ...]
    names: dict[tuple[int, int], tuple[str, float]] = field(factory=dict)  # last-known, seen in voice


@define(frozen=True)
class MessageBatch:
    """Flushed message increments: counts keyed by (guild, user, whole second), plus what dedupes them."""

    counts: dict[tuple[int, int, int], int]
    message_ids: tuple[tuple[int, float], ...]
    names: dict[tuple[int, int], tuple[str, float]]
    # The same messages by channel, keyed (guild, user, whole second, channel): the daily channel
    # history (the user is kept so a forget's cutoff applies to these exactly as to ``counts``).
    channels: dict[tuple[int, int, int, int], int] = field(factory=dict)
    # Reactions added, keyed (guild, reacting user, whole second): daily history only, no totals.
    reactions: dict[tuple[int, int, int], int] = field(factory=dict)


@define(frozen=True)
class BoardRow:
    """A board as stored (table ``boards``): the publisher's checkpoint."""

    guild_id: int
    kind: BoardKind
    channel_id: int
    message_id: int
    content_hash: str
    posted_at: float
    edited_at: float  # the last successful write: the interval counts from here, also after a restart


@define(frozen=True)
class BoardCheckpoint:
    """Everything about a board that must survive a kill: its message (``row``), a post that may
    have reached Discord without its answer reaching us (channel, nonce), and old messages still to
    delete. Without the last two a restart would leave a second board behind."""

    guild_id: int
    kind: BoardKind
    row: BoardRow | None
    pending_post: tuple[int, str] | None = None  # (channel, nonce)
    stale: tuple[tuple[int, int], ...] = ()  # (channel, message)
