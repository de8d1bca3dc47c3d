"""An inbox whose queued messages merge by key, so senders never wait and nothing is lost.

Why: some actors (the leaderboard publisher, the reset clock) are told about every guild's changes
by actors on the hot path, and then spend seconds on slow work (Discord calls) before they read
again. A bounded queue would make the senders either wait (stalling the counting) or drop a message
(a board that never shows a change, a guild whose config never arrives). Their messages say "this
is now so" (totals of guild G changed, guild G looks like this, guild G's config is this), so a
newer one can take the place of a queued older one with the same key: the queue then holds at most
one message per key, which is bounded by the guilds the process serves, never by the event rate.
Messages without a key (rare: a forget, a request that waits for an answer) queue as they come,
bounded by ``capacity``.

The redelivery rules are the ``Mailbox``'s: the supervisor hands the in-flight message out again
after a crash of the reader.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable, Hashable
from typing import TypeVar

import trio

from supervisor.mailbox import Mailbox

T = TypeVar("T")

Key = Callable[[T], Hashable | None]  # None: this message is not merged with any other
Merge = Callable[[T, T], T]  # (queued, newer) -> what stays queued, in the queued one's place


def latest(_queued: T, newer: T) -> T:
    """The default merge: the newer message replaces the queued one."""
    return newer


class CoalescingMailbox(Mailbox[T]):
    def __init__(self, name: str, key: Key[T], merge: Merge[T] = latest, capacity: int = 1_000) -> None:
        self._key = key
        self._merge = merge
        super().__init__(name, capacity=capacity)  # the base checks ``capacity`` and opens the queue

    def _open_queue(self, capacity: float) -> None:
        """This mailbox's own queue, in place of the base's trio channel."""
        self._unkeyed_capacity = capacity
        self._unkeyed = 0
        self._queue: collections.OrderedDict[Hashable, T] = collections.OrderedDict()
        self._unique = itertools.count()
        self._arrived = trio.Event()
        self._space: trio.Event | None = None  # made by a sender that found no room for unkeyed ones

    @property
    def sender(self) -> CoalescingMailbox[T]:  # type: ignore[override]
        """The send side is the mailbox itself: ``send_nowait`` and ``send``, as a channel's."""
        return self

    def depth(self) -> int:
        return len(self._queue)

    def send_nowait(self, item: T) -> None:
        """Queue ``item`` or merge it into the queued message with its key. Raises
        ``trio.WouldBlock`` only for a message without a key beyond ``capacity``, and
        ``trio.ClosedResourceError`` after ``close``."""
        if self.closed:
            raise trio.ClosedResourceError(f"mailbox {self.name} is closed")
        key = self._key(item)
        if key is None:
            if self._unkeyed >= self._unkeyed_capacity:
                raise trio.WouldBlock
            self._unkeyed += 1
            self._queue[("unkeyed", next(self._unique))] = item
        elif key in self._queue:
            self._queue[key] = self._merge(self._queue[key], item)
        else:
            self._queue[key] = item
        self._arrived.set()

    async def send(self, item: T) -> None:
        """Like ``send_nowait``; waits only while ``capacity`` unkeyed messages are queued."""
        while True:
            try:
                self.send_nowait(item)
                return
            except trio.WouldBlock:
                pass  # wait outside the handler: a wait inside it keeps the exception alive
            if self._space is None:
                self._space = trio.Event()
            await self._space.wait()  # set when the reader takes an unkeyed message

    def _take_nowait(self) -> T:
        if not self._queue:
            if self.closed:
                raise trio.EndOfChannel
            raise trio.WouldBlock
        key, item = self._queue.popitem(last=False)
        if isinstance(key, tuple) and key and key[0] == "unkeyed":
            self._unkeyed -= 1
            if self._space is not None:
                space, self._space = self._space, None
                space.set()
        return item

    async def _take(self) -> T:  # type: ignore[override]
        while True:
            try:
                return self._take_nowait()
            except trio.WouldBlock:
                self._arrived = trio.Event()
                await self._arrived.wait()

    def close(self) -> None:
        self.closed = True
        self._arrived.set()
        if self._space is not None:
            self._space.set()  # a waiting sender tries again and meets ClosedResourceError
