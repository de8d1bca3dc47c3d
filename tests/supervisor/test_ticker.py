"""The shared checkpoint ticker: each Wake at its time, in order; cancelled ones never; bounded."""

from __future__ import annotations

import trio

from supervisor.inbox import SessionInbox
from supervisor.ticker import RETRY, Ticker, Wake, open_ticker


async def test_each_wake_arrives_at_its_time_in_its_own_inbox(autojump_clock: object) -> None:
    start = trio.current_time()
    inboxes = [SessionInbox[object](f"s{n}", capacity=4) for n in range(3)]
    arrived: dict[int, float] = {}

    async def read(n: int) -> None:
        wake = await inboxes[n].receive()
        assert isinstance(wake, Wake)
        arrived[n] = trio.current_time() - start

    async with open_ticker() as ticker, trio.open_nursery() as nursery:
        for n, after in enumerate([5.0, 2.0, 9.0]):
            nursery.start_soon(read, n)
            ticker.wake(start + after, inboxes[n])
    assert arrived == {0: 5.0, 1: 2.0, 2: 9.0}
    assert len(ticker) == 0


async def test_a_cancelled_wake_never_arrives(autojump_clock: object) -> None:
    inbox = SessionInbox[object]("s", capacity=4)
    async with open_ticker() as ticker:
        ticker.cancel(ticker.wake(trio.current_time() + 1.0, inbox))
        kept = ticker.wake(trio.current_time() + 2.0, inbox)
        await trio.sleep(3.0)
    assert inbox.depth() == 1
    assert inbox.receive_nowait() is kept


async def test_a_full_inbox_gets_its_wake_a_little_later_not_never(autojump_clock: object) -> None:
    inbox = SessionInbox[object]("s", capacity=1)
    inbox.send_nowait("busy")
    async with open_ticker() as ticker:
        due = trio.current_time() + 1.0
        ticker.wake(due, inbox)
        await trio.sleep(1.0 + RETRY / 2)
        assert inbox.depth() == 1 and len(ticker) == 1  # still waiting to be delivered
        assert inbox.receive_nowait() == "busy"
        await trio.sleep(RETRY)
    assert isinstance(inbox.receive_nowait(), Wake)


async def test_a_closed_inbox_is_forgotten(autojump_clock: object) -> None:
    inbox = SessionInbox[object]("s", capacity=1)
    inbox.close()
    async with open_ticker() as ticker:
        ticker.wake(trio.current_time() + 1.0, inbox)
        await trio.sleep(2.0)
        assert len(ticker) == 0


def test_the_heap_is_bounded_by_live_entries_not_by_the_rate_of_changes() -> None:
    ticker = Ticker()
    inbox = SessionInbox[object]("s", capacity=1)
    wake = None
    for n in range(10_000):  # one session re-registering on every change
        ticker.cancel(wake)
        wake = ticker.wake(float(n), inbox)
    assert len(ticker) == 1
    assert len(ticker._heap) <= 2 * 64 + 1


async def test_wakes_due_at_the_same_time_arrive_in_registration_order(autojump_clock: object) -> None:
    """The heap orders by due time, then by registration (``Wake.__lt__``)."""
    start = trio.current_time()
    inbox = SessionInbox[object]("s", capacity=16)
    async with open_ticker() as ticker:
        wakes = [ticker.wake(start + due, inbox) for due in (3.0, 1.0, 3.0, 1.0, 2.0, 3.0)]
        await trio.sleep(5)
    arrived = []
    while True:
        try:
            arrived.append(inbox.receive_nowait())
        except trio.WouldBlock:
            break
    assert arrived == [wakes[1], wakes[3], wakes[4], wakes[0], wakes[2], wakes[5]]
