"""A light inbox for actors that exist by the thousand (one voice session per user in voice).

Why not the ``Mailbox``'s trio memory channel: a channel pair with its state and statistics costs
about 2 KB, more than the rest of a voice session together, and a session holds one event at a
time. This inbox is a list and at most one waiting reader, handed each event directly; a sender
finding it full waits on an event made only then (backpressure, never a drop). The redelivery
rules are the ``Mailbox``'s: the supervisor hands the in-flight event out again after a crash.

One reader only: the actor that owns it (a second ``receive`` while one waits is refused).

``QueueInbox`` is the same inbox on a ``deque``, for one busy actor (the message counter): the
router puts each message with a length check and an append, and the counter takes what is queued
as one batch (``receive_batch_nowait``) in one slice, where a trio channel costs a call each way.
"""

from __future__ import annotations

from collections import deque
from typing import TypeVar

import trio

from supervisor.mailbox import Mailbox

T = TypeVar("T")


class SessionInbox(Mailbox[T]):
    """``capacity`` as for a ``Mailbox``, but at least 1 (no rendezvous: senders never meet the reader)."""

    __slots__ = ("_capacity", "_items", "_reader", "_space")

    def _open_queue(self, capacity: float) -> None:
        if capacity < 1:
            raise ValueError(f"mailbox {self.name}: a session inbox holds at least 1 event, not {capacity!r}")
        self._items: list[T] = []
        self._capacity = capacity
        self._reader: trio.lowlevel.Task | None = None  # the actor, while it waits for an event
        self._space: trio.Event | None = None  # made by a sender that found the inbox full

    @property
    def sender(self) -> SessionInbox[T]:  # type: ignore[override]
        """The send side is the inbox itself (``send_nowait`` and ``send``, as a channel's)."""
        return self

    def depth(self) -> int:
        return len(self._items)

    def send_nowait(self, item: T) -> None:
        """Queue ``item``; ``trio.WouldBlock`` when full, ``trio.ClosedResourceError`` after ``close``."""
        if self.closed:
            raise trio.ClosedResourceError(f"mailbox {self.name} is closed")
        if len(self._items) >= self._capacity:
            raise trio.WouldBlock
        self._items.append(item)
        if self._reader is not None:  # the hot path: no call when nobody waits
            self._wake_reader()

    async def send(self, item: T) -> None:
        """Like ``send_nowait``; waits only while the inbox is full."""
        while True:
            try:
                self.send_nowait(item)
                return
            except trio.WouldBlock:
                pass  # wait outside the handler: a wait inside it keeps the exception alive
            if self._space is None:
                self._space = trio.Event()
            await self._space.wait()

    async def receive(self) -> T:
        """The next event (the in-flight one first after a restart); EndOfChannel once closed and drained."""
        if self._redelivering is not None:
            return self._take_redelivery()
        self._in_flight = self._batch = self._batch_left = None
        while not self._items and not self.closed:
            if self._reader is not None:
                raise trio.BusyResourceError(f"mailbox {self.name} has a reader already")
            self._reader = trio.lowlevel.current_task()
            await trio.lowlevel.wait_task_rescheduled(self._abort)
        self._in_flight = self._take_nowait()
        return self._in_flight

    def _take_nowait(self) -> T:
        if not self._items:
            if self.closed:
                raise trio.EndOfChannel
            raise trio.WouldBlock
        item = self._items.pop(0)  # at most ``capacity`` queued (64 for a session): cheap
        if self._space is not None:
            space, self._space = self._space, None
            space.set()
        return item

    def _abort(self, _raise_cancel: object) -> trio.lowlevel.Abort:
        self._reader = None
        return trio.lowlevel.Abort.SUCCEEDED

    def _wake_reader(self) -> None:
        if self._reader is not None:
            reader, self._reader = self._reader, None
            trio.lowlevel.reschedule(reader)

    def close(self) -> None:
        """Stop accepting events; the reader drains what is queued, then sees EndOfChannel."""
        self.closed = True
        self._wake_reader()
        if self._space is not None:
            space, self._space = self._space, None
            space.set()  # a waiting sender sees the inbox closed


class QueueInbox(SessionInbox[T]):
    """A ``SessionInbox`` on a ``deque`` (a few hundred bytes more, O(1) at any depth): the inbox of
    one actor that takes thousands of events a second, in batches."""

    __slots__ = ()

    def _open_queue(self, capacity: float) -> None:
        super()._open_queue(capacity)
        self._items: deque[T] = deque()  # type: ignore[assignment]

    def _take_nowait(self) -> T:
        if not self._items:
            if self.closed:
                raise trio.EndOfChannel
            raise trio.WouldBlock
        item = self._items.popleft()
        if self._space is not None:
            space, self._space = self._space, None
            space.set()
        return item

    def _take_many(self, batch: list[T], limit: int) -> None:
        items = self._items
        if not items:
            if self.closed:
                raise trio.EndOfChannel
            raise trio.WouldBlock
        room = limit - len(batch)
        if room >= len(items):
            batch.extend(items)
            items.clear()
        else:
            popleft = items.popleft
            batch.extend([popleft() for _ in range(room)])
        if self._space is not None:
            space, self._space = self._space, None
            space.set()
