"""An actor's inbox, owned by the supervisor so it outlives the actor.

Why not a bare memory channel: a crashed actor loses the event it was handling. The mailbox keeps
the last received event "in flight" until the next ``receive`` and hands it out again after a
restart (at-least-once); actors are idempotent (dedupe by id, ``counted_until`` marks), which makes
that exactly-once. An event that crashes the actor twice is a poison pill: it is dropped and logged
instead of looping the restart budget away.

A busy reader can take what is queued as one batch (``receive_batch_nowait``): an iterator it goes
through in order. Until its next receive the whole batch is in flight, and a crash hands out again
exactly the event in hand and the ones after it (those before it were handled), in order.
"""

from __future__ import annotations

import logging
import math
import operator
from collections.abc import Awaitable, Iterator
from typing import Generic, Protocol, TypeVar

import trio

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)
log = logging.getLogger(__name__)


class Sender(Protocol[T_contra]):
    """What a sender holds of an inbox: a trio memory channel's send side, or a ``CoalescingMailbox``."""

    def send_nowait(self, item: T_contra) -> None: ...

    async def send(self, item: T_contra) -> None: ...


class Mailbox(Generic[T]):
    """``capacity`` means what it does for trio's memory channels: 0 is a rendezvous, ``math.inf``
    (said explicitly) is unbounded, and a negative or fractional size is refused."""

    # Slots: thousands of voice sessions own one each (subclasses without slots get a dict again).
    __slots__ = (
        "_batch",
        "_batch_left",
        "_in_flight",
        "_last_redelivered",
        "_receive",
        "_redelivering",
        "_send",
        "closed",
        "name",
    )

    def __init__(self, name: str, capacity: float = 1_000) -> None:
        if capacity != math.inf and (capacity < 0 or capacity != int(capacity)):
            raise ValueError(
                f"mailbox {name}: capacity must be a whole number >= 0 or math.inf, not {capacity!r}"
            )
        self.name = name
        self._in_flight: T | None = None
        self._batch: list[T] | None = None  # the batch in flight, and its iterator (how far the reader got)
        self._batch_left: Iterator[T] | None = None
        self._redelivering: list[T] | None = None  # handed out again first, in order, after a crash
        self._last_redelivered: T | None = None
        self.closed = False
        self._open_queue(capacity)

    def _open_queue(self, capacity: float) -> None:
        """The queue itself: a trio memory channel here; ``SessionInbox`` keeps a lighter one."""
        self._send, self._receive = trio.open_memory_channel[T](capacity)

    @property
    def sender(self) -> trio.MemorySendChannel[T]:
        """The send side; stays valid across restarts of the actor that reads this mailbox."""
        return self._send

    def depth(self) -> int:
        return self._receive.statistics().current_buffer_used

    async def receive(self) -> T:
        """The next event (the in-flight one first after a restart). Raises EndOfChannel at shutdown.

        Takes a queued event without a scheduler pass (the hot path: thousands a second) and
        only waits when the inbox is empty; the router yields regularly, so nobody starves.
        """
        if self._redelivering is not None:
            return self._take_redelivery()
        self._in_flight = self._batch = self._batch_left = None
        try:
            self._in_flight = self._take_nowait()
            return self._in_flight
        except trio.WouldBlock:
            pass  # wait outside the handler: a wait inside it keeps the exception and its frames alive
        self._in_flight = await self._take()
        return self._in_flight

    async def send(self, item: T) -> None:
        """Queue ``item``; waits only while the inbox is full (backpressure, never a drop)."""
        try:
            self._send.send_nowait(item)
            return
        except trio.WouldBlock:
            pass  # wait outside the handler (see ``receive``)
        await self._send.send(item)

    def receive_nowait(self) -> T:
        """Like ``receive`` but raises ``trio.WouldBlock`` when empty (to drain before a tick)."""
        if self._redelivering is not None:
            return self._take_redelivery()
        self._in_flight = self._batch = self._batch_left = None
        self._in_flight = self._take_nowait()
        return self._in_flight

    def receive_batch_nowait(self, limit: int) -> Iterator[T]:
        """Up to ``limit`` (>= 1) queued events (redelivered ones first), to be gone through in order
        with the iterator returned; ``trio.WouldBlock`` when empty, ``trio.EndOfChannel`` once closed
        and drained. The batch stays in flight until the next receive: after a crash the event in
        hand (the last the iterator gave) and those after it are handed out again."""
        self._in_flight = self._batch = self._batch_left = None
        batch: list[T] = []
        redelivering = self._redelivering
        if redelivering is not None:
            batch, rest = redelivering[:limit], redelivering[limit:]
            self._redelivering = rest or None
        if len(batch) < limit:
            try:
                self._take_many(batch, limit)
            except (trio.WouldBlock, trio.EndOfChannel):
                if not batch:
                    raise
        self._batch = batch
        self._batch_left = left = iter(batch)
        return left

    # The queue itself: a trio memory channel here; ``CoalescingMailbox`` keeps its own.

    def _take_nowait(self) -> T:
        return self._receive.receive_nowait()

    def _take_many(self, batch: list[T], limit: int) -> None:
        """Append queued events to ``batch`` until it holds ``limit``; raise as ``_take_nowait`` if
        the queue has none at all."""
        take = self._take_nowait
        batch.append(take())
        try:
            while len(batch) < limit:
                batch.append(take())
        except (trio.WouldBlock, trio.EndOfChannel):
            pass  # the next receive sees the end

    def _take(self) -> Awaitable[T]:
        # Not a coroutine of its own: an actor waits in here most of its life, and thousands of
        # voice sessions each holding one more frame would cost ~200 bytes apiece.
        return self._receive.receive()

    def _take_redelivery(self) -> T:
        redelivering = self._redelivering
        assert redelivering is not None
        item = redelivering.pop(0)
        if not redelivering:
            self._redelivering = None
        self._in_flight, self._batch, self._batch_left = item, None, None
        return item

    def crashed(self) -> None:
        """Called by the supervisor after the reader crashed: schedule the in-flight event (or the
        unhandled part of the batch in flight, from the event in hand on) again."""
        item, self._in_flight = self._in_flight, None
        batch, left, self._batch, self._batch_left = self._batch, self._batch_left, None, None
        unhandled: list[T] = []
        if batch is not None:
            assert left is not None
            remaining = operator.length_hint(left)
            # The iterator says how far the reader got: the last event it gave is the one in hand.
            started = remaining < len(batch)
            start = len(batch) - remaining - 1 if started else 0
            item = batch[start] if started else None  # not started: nothing in hand, all again
            unhandled = batch[start:]
        elif item is not None:
            unhandled = [item]
        if item is not None and self._last_redelivered is item:
            log.error("%s: dropping an event that crashed the actor twice: %r", self.name, item)
            self._last_redelivered = None
            unhandled.pop(0)
        elif item is not None:
            self._last_redelivered = item
        unhandled += self._redelivering or ()
        self._redelivering = unhandled or None

    def close(self) -> None:
        """Stop accepting events; the reader drains what is queued, then sees EndOfChannel."""
        self._send.close()
        self.closed = True
