"""The publisher's queue of boards: which board is driven next, in O(log B), never a scan of all.

Theory of operation: every board that is not being driven is in one of two places. Either it waits
for its due time (``_due``: key -> time, and a heap of (time, seq, key); a heap entry whose time is
no longer the key's is stale and skipped when met), or it is due and waits for its turn in its lane
(a heap of (priority, seq, key) per lane, the priority being when the board's work began waiting:
the oldest first). ``take`` moves every board due by ``now`` into its lane's heap and hands out a
few, taking the lanes in turn (round-robin over the lanes that have a board waiting, the oldest of
each lane; a lane's share says how many turns it has per cycle), so while two lanes of equal share
wait each gets every other turn, and a lane alone gets them all. The publisher's lanes are the board
kinds (and the reads after first posts): a voice board changes whenever a member in its top 10
passes a minute in voice (its content is a clock), so under a budget shortage oldest-first over all
boards would give the voice boards every turn the messages boards need; in turns, each kind gets its
share of the board calls while the other waits (``LANE_SHARES`` in the publisher), and within a lane
none starves (the oldest goes first). The caller drives the boards taken and ``put``s each back with
its next due time. A key handed out is in neither place until it is put back; a key ``put`` while it
waits for its turn stays there (its turn comes, and it is put back after). Pure: no clock, no
boards, no I/O.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from attrs import define, field

K = TypeVar("K", bound=Hashable)


def _one_lane(_key: object, _due: float) -> Hashable:
    return None


@define
class BoardQueue(Generic[K]):
    # Which lane a key due at a time waits its turn in (the publisher: the board's kind, or the
    # reads after first posts); default: one lane.
    _lane: Callable[[K, float], Hashable] = field(default=_one_lane)
    # Turns per cycle of each lane (default 1): a lane of share 2 goes twice while one of 1 goes once.
    _shares: dict[Hashable, int] = field(factory=dict)
    _lanes: list[Hashable] = field(factory=list)  # in the order they first appeared
    _due: dict[K, float] = field(factory=dict)
    _due_heap: list[tuple[float, int, K]] = field(factory=list)
    _ready: set[K] = field(factory=set)
    _ready_heaps: dict[Hashable, list[tuple[float, int, K]]] = field(factory=dict)  # lane -> heap
    _turns: list[Hashable] = field(factory=list)  # the lanes in the order their turns come
    _turn: int = 0  # the index in ``_turns`` of the lane whose turn is next
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
        """Up to ``limit`` keys due by ``now``: the lanes in turn, oldest ``priority(key, due)``
        first within a lane."""
        while self._due_heap and self._due_heap[0][0] <= now:
            due, _, key = heapq.heappop(self._due_heap)
            if self._due.get(key) != due:
                continue  # superseded by a later entry
            del self._due[key]
            self._ready.add(key)
            lane = self._lane(key, due)
            if lane not in self._ready_heaps:
                self._add_lane(lane)
            heapq.heappush(self._ready_heaps[lane], (priority(key, due), next(self._seq), key))
        taken: list[K] = []
        while self._ready and len(taken) < limit:
            heap = self._next_lane()
            *_, key = heapq.heappop(heap)
            self._ready.discard(key)
            taken.append(key)
        return taken

    def _add_lane(self, lane: Hashable) -> None:
        """A new lane: the cycle of turns is laid out again, each lane's turns spread over it."""
        self._ready_heaps[lane] = []
        self._lanes.append(lane)
        most = max(self._shares.get(each, 1) for each in self._lanes)
        self._turns = [
            each for round_ in range(most) for each in self._lanes if self._shares.get(each, 1) > round_
        ]
        self._turn = 0

    def _next_lane(self) -> list[tuple[float, int, K]]:
        """The heap of the next lane in turn that has a key waiting (one exists); its turn is used."""
        for _ in range(len(self._turns)):
            lane = self._turns[self._turn % len(self._turns)]
            self._turn = (self._turn + 1) % len(self._turns)
            if self._ready_heaps[lane]:
                return self._ready_heaps[lane]
        raise AssertionError("a key is ready but no lane holds it")

    def next_due(self) -> float:
        """When ``take`` next has something: -inf when keys wait for their turn, inf when none."""
        if self._ready:
            return -math.inf
        while self._due_heap and self._due.get(self._due_heap[0][2]) != self._due_heap[0][0]:
            heapq.heappop(self._due_heap)
        return self._due_heap[0][0] if self._due_heap else math.inf
