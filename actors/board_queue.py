"""The publisher's queue of boards: which board is driven next, in O(log B), never a scan of all.

Theory of operation: every board that is not being driven is in one of two places. Either it waits
for its due time (``_due``: key -> time, and a heap of (time, seq, key); a heap entry whose time is
no longer the key's is stale and skipped when met), or it is due and waits for its turn (a heap of
(priority, seq, key), the priority being when the board's work began waiting: the oldest first).
``take`` moves every board due by ``now`` into the second heap and hands out the oldest few; the
caller drives them and ``put``s each back with its next due time. A key handed out is in neither
place until it is put back; a key ``put`` while it waits for its turn stays there (its turn comes,
and it is put back after). Pure: no clock, no boards, no I/O.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from attrs import define, field

K = TypeVar("K", bound=Hashable)


@define
class BoardQueue(Generic[K]):
    _due: dict[K, float] = field(factory=dict)
    _due_heap: list[tuple[float, int, K]] = field(factory=list)
    _ready: set[K] = field(factory=set)
    _ready_heap: list[tuple[float, int, K]] = field(factory=list)
    _seq: itertools.count[int] = field(factory=itertools.count)  # ties go first come, first served

    def put(self, key: K, due: float | None) -> None:
        """``key`` next needs a call at ``due`` (None: not until something changes)."""
        if key in self._ready:
            return
        if due is None:
            self._due.pop(key, None)
        elif self._due.get(key) != due:
            self._due[key] = due
            heapq.heappush(self._due_heap, (due, next(self._seq), key))

    def is_ready(self, key: K) -> bool:
        return key in self._ready

    def take(self, now: float, priority: Callable[[K, float], float], limit: int) -> list[K]:
        """Up to ``limit`` keys due by ``now``, oldest ``priority(key, due)`` first."""
        while self._due_heap and self._due_heap[0][0] <= now:
            due, _, key = heapq.heappop(self._due_heap)
            if self._due.get(key) != due:
                continue  # superseded by a later entry
            del self._due[key]
            self._ready.add(key)
            heapq.heappush(self._ready_heap, (priority(key, due), next(self._seq), key))
        taken: list[K] = []
        while self._ready_heap and len(taken) < limit:
            *_, key = heapq.heappop(self._ready_heap)
            self._ready.discard(key)
            taken.append(key)
        return taken

    def next_due(self) -> float:
        """When ``take`` next has something: -inf when keys wait for their turn, inf when none."""
        if self._ready_heap:
            return -math.inf
        while self._due_heap and self._due.get(self._due_heap[0][2]) != self._due_heap[0][0]:
            heapq.heappop(self._due_heap)
        return self._due_heap[0][0] if self._due_heap else math.inf
