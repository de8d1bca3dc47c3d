"""An actor's inbox, owned by the supervisor so it outlives the actor.

Why not a bare memory channel: a crashed actor loses the event it was handling. The mailbox keeps
the last received event "in flight" until the next ``receive`` and hands it out again after a
restart (at-least-once); actors are idempotent (dedupe by id, ``counted_until`` marks), which makes
that exactly-once. An event that crashes the actor twice is a poison pill: it is dropped and logged
instead of looping the restart budget away.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable
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
    __slots__ = ("_in_flight", "_last_redelivered", "_receive", "_redelivering", "_send", "closed", "name")

    def __init__(self, name: str, capacity: float = 1_000) -> None:
        if capacity != math.inf and (capacity < 0 or capacity != int(capacity)):
            raise ValueError(
                f"mailbox {name}: capacity must be a whole number >= 0 or math.inf, not {capacity!r}"
            )
        self.name = name
        self._in_flight: T | None = None
        self._redelivering: T | None = None
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
        self._in_flight = None
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
        self._in_flight = None
        self._in_flight = self._take_nowait()
        return self._in_flight

    # The queue itself: a trio memory channel here; ``CoalescingMailbox`` keeps its own.

    def _take_nowait(self) -> T:
        return self._receive.receive_nowait()

    def _take(self) -> Awaitable[T]:
        # Not a coroutine of its own: an actor waits in here most of its life, and thousands of
        # voice sessions each holding one more frame would cost ~200 bytes apiece.
        return self._receive.receive()

    def _take_redelivery(self) -> T:
        item = self._redelivering
        assert item is not None
        self._in_flight, self._redelivering = item, None
        return item

    def crashed(self) -> None:
        """Called by the supervisor after the reader crashed: schedule the in-flight event again."""
        item, self._in_flight = self._in_flight, None
        if item is None:
            return
        if self._last_redelivered is item:
            log.error("%s: dropping an event that crashed the actor twice: %r", self.name, item)
            self._last_redelivered = None
            return
        self._last_redelivered = item
        self._redelivering = item

    def close(self) -> None:
        """Stop accepting events; the reader drains what is queued, then sees EndOfChannel."""
        self._send.close()
        self.closed = True
