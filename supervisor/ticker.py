"""One shared timer for thousands of actors: "put a ``Wake`` in this inbox at this trio time".

Why: a voice session that counts checkpoints every few seconds. Waiting for that inside its own
``trio.move_on_at`` gives each of thousands of sessions a cancel scope, its status and a deadline
entry held for the whole wait (about 1 KB apiece). Here one task keeps a heap of small ``Wake``
entries (the session's next due time) and, at each one's time, puts the entry itself in the
session's inbox, where it is just the next message. The session stays an ordinary supervised
child: it asks again after each checkpoint or change, and a restarted one simply asks afresh.

The heap holds ``(due, order, Wake)`` tuples: tuples compare in C, where a Python ``__lt__`` was a
call per comparison (and the heap compares on every registration; profile, issue 18 round 4).
A cancelled entry stays in the heap until its time (cheap) unless cancelled entries outnumber
the live ones, when the heap is rebuilt: its size is bounded by the live entries, never by the
rate of changes. An inbox that is full at the due time gets its ``Wake`` ``RETRY`` seconds later
(it has events queued, so it is busy anyway); a closed one is forgotten.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio
from attrs import define, field

from supervisor.mailbox import Sender

RETRY = 0.05  # seconds until a Wake that found its inbox full is offered again


@define(eq=False)
class Wake:
    """A registration, and the message its inbox gets at ``due`` (trio time)."""

    due: float
    order: int  # ties at the same due time go out in registration order
    inbox: Sender[Any] | None = field()  # None once delivered or cancelled

    def __lt__(self, other: Wake) -> bool:
        """By ``due``, then ``order`` (the heap's own order; the heap compares its tuples instead)."""
        return self.due < other.due or (self.due == other.due and self.order < other.order)


class Ticker:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Wake]] = []
        self._live = 0
        self._order = itertools.count()
        self._changed = trio.Event()

    def __len__(self) -> int:
        """Entries still to be delivered."""
        return self._live

    def wake(self, due: float, inbox: Sender[Any]) -> Wake:
        """Put the returned ``Wake`` into ``inbox`` at trio time ``due`` (soon if it is past)."""
        order = next(self._order)
        entry = Wake(due, order, inbox)
        heap = self._heap
        if not heap or due < heap[0][0]:
            self._changed.set()  # the ticker sleeps until the earliest entry: this one is earlier
        heapq.heappush(heap, (due, order, entry))
        self._live += 1
        return entry

    def cancel(self, entry: Wake | None) -> None:
        """The entry will not be delivered (no-op when it was, or for None)."""
        if entry is None or entry.inbox is None:
            return
        entry.inbox = None
        self._live -= 1
        if len(self._heap) > 64 and len(self._heap) > 2 * self._live:
            self._heap = [e for e in self._heap if e[2].inbox is not None]
            heapq.heapify(self._heap)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            self._deliver_due(trio.current_time())
            self._changed = trio.Event()
            with trio.move_on_at(self._heap[0][0] if self._heap else math.inf):
                await self._changed.wait()

    def _deliver_due(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)[2]
            inbox = entry.inbox
            if inbox is None:
                continue  # cancelled
            try:
                inbox.send_nowait(entry)
            except trio.WouldBlock:
                entry.due, entry.order = now + RETRY, next(self._order)
                heapq.heappush(heap, (entry.due, entry.order, entry))  # still live; nothing lost
                continue
            except trio.ClosedResourceError:
                pass  # the actor has ended
            entry.inbox = None
            self._live -= 1


@asynccontextmanager
async def open_ticker() -> AsyncIterator[Ticker]:
    """A running ``Ticker``; stopped on exit (after the actors using it, which are inside)."""
    ticker = Ticker()
    async with trio.open_nursery() as nursery:
        await nursery.start(ticker.run)
        try:
            yield ticker
        finally:
            nursery.cancel_scope.cancel()
