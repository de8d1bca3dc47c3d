"""The message dedupe window: the ids of the messages counted in the last hour, one row per batch.

A restarted counter (``actors.message_counter``) loads these ids, so a message delivered again
after a restart (a crash, a handover) is not counted twice. Each committed batch adds ONE row to
``seen_batches``: its ids packed as big-endian unsigned 64-bit integers (what PostgreSQL's
``int8send`` writes, so the migration from the old one-row-per-id table is plain SQL there too)
and the newest receive time among them. One row per batch instead of one row and one index entry
per message is the point: the dedupe was the largest single cost of a message batch.

The window is by receive time, as it was per id: a batch row goes once its newest id was received
more than ``SEEN_MESSAGE_WINDOW_SECONDS`` before the newest id of the batch being written, so every
id received inside the window of the one-row-per-id rule is still here (a few more may be, up to one
batch's spread). Nothing reads the ids' bits (they need not be snowflakes; tests use small ones).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

SEEN_MESSAGE_WINDOW_SECONDS = 3_600.0
_ID = struct.Struct(">Q")  # one id as stored; a row's blob is ids back to back


def pack_ids(ids: Sequence[int]) -> bytes:
    return struct.pack(f">{len(ids)}Q", *ids)


def unpack_ids(blob: bytes) -> tuple[int, ...]:
    return struct.unpack(f">{len(blob) // _ID.size}Q", blob)


def add_seen_sync(db: Any, message_ids: Sequence[tuple[int, float]]) -> None:
    """Inside the batch's transaction: store the batch's (id, received at) pairs as one row and
    drop the rows that left the window."""
    if not message_ids:
        return
    newest = max(map(itemgetter(1), message_ids))
    db.execute(
        "INSERT INTO seen_batches (newest_at, message_ids) VALUES (?, ?)",
        [newest, pack_ids(list(map(itemgetter(0), message_ids)))],
    )
    db.execute("DELETE FROM seen_batches WHERE newest_at < ?", [newest - SEEN_MESSAGE_WINDOW_SECONDS])


def recent_message_ids_sync(db: Any) -> list[int]:
    """Message ids inside the dedupe window, oldest first, each once."""
    ids: dict[int, None] = {}
    for (blob,) in db.execute("SELECT message_ids FROM seen_batches ORDER BY newest_at"):
        ids.update(dict.fromkeys(unpack_ids(bytes(blob))))
    return list(ids)
