"""The message counter's shell against a real SQLite file: a failing write never loses a batch, and
the double-buffered flush: the next batch collects while the previous one commits, at most one
commit is in flight, a full second batch waits for it (backpressure), a failed commit comes back to
the tally, and a forget waits for the commit in flight.

``GatedStore`` is the real store whose batch writes wait for the test to open a gate, so a commit
can be held "in flight" on virtual time."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from actors.message_counter import GROUP_COMMIT, CounterMessage, MessageCounter
from domain.checkpoints import MessageBatch
from domain.events import MessageSent
from domain.messages import MemberForgotten
from persistence.errors import StoreBusy
from persistence.store import Store
from supervisor.inbox import QueueInbox
from supervisor.mailbox import Mailbox
from supervisor.supervisor import open_supervisor

T0 = 1_790_000_000.0


def failing_first(store: Store, *failures: BaseException) -> list[int]:
    """Make the store's first writes fail with ``failures``, in order; returns the call log."""
    real, calls = store.apply_messages, []

    async def apply_messages(batch: MessageBatch) -> None:
        calls.append(sum(batch.counts.values()))
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        await real(batch)

    store.apply_messages = apply_messages  # type: ignore[method-assign]
    return calls


async def count(store: Store, messages: int) -> None:
    counter = MessageCounter(store, flush_seconds=1.0, flush_max=1000)
    inbox = Mailbox[MessageSent]("message_counter")
    async with open_supervisor("root", intensity=5, period=60.0) as root:
        await root.start_child(counter.spec(), inbox)
        for i in range(messages):
            await inbox.send(MessageSent(1, 10, 100 + i, 7, "Ada", T0 + i))
        await trio.sleep(5)
        inbox.close()


@pytest.mark.parametrize(
    "failures",
    [
        pytest.param((RuntimeError("a bug in a write"),), id="unexpected error, then the crash's try works"),
        pytest.param((RuntimeError("a bug"), StoreBusy("locked")), id="crash try fails: carried over"),
    ],
)
async def test_a_write_that_crashes_the_counter_loses_no_message(
    autojump_clock: object, tmp_path: Path, failures: tuple[BaseException, ...]
) -> None:
    store = Store(tmp_path / "lb.db", inline=True)
    calls = failing_first(store, *failures)
    await count(store, 5)
    assert store.message_counts_sync(1) == {7: 5}  # once each: the redelivered event is not counted again
    assert calls[: len(failures) + 1] == [5] * (len(failures) + 1)
    store.close()


G = 1
FLUSH_MAX = 10


class GatedStore(Store):
    """Batch writes wait at ``gate`` (and the first ``failures`` of them fail as a busy database)."""

    def __init__(self, path: Path, failures: int = 0) -> None:
        super().__init__(path, inline=True)
        self.gate = trio.Event()
        self.failures = failures
        self.writing = 0  # writes in progress now
        self.most_at_once = 0
        self.committed: list[int] = []  # messages per committed batch, in order

    async def apply_messages(self, batch: MessageBatch) -> None:
        self.writing += 1
        self.most_at_once = max(self.most_at_once, self.writing)
        try:
            await self.gate.wait()
            if self.failures:
                self.failures -= 1
                raise StoreBusy("database is locked (injected)")
            await super().apply_messages(batch)
            self.committed.append(len(batch.message_ids))
        finally:
            self.writing -= 1


def msg(n: int, author: int = 10) -> MessageSent:
    return MessageSent(G, 2, 1_000 + n, author, f"user{author}", T0 + n * 0.001)


def messages(store: Store, user_id: int | None = None) -> int:
    sql, args = "SELECT COALESCE(SUM(messages), 0) FROM activity", []
    if user_id is not None:
        sql, args = sql + " WHERE user_id = ?", [user_id]
    return int(store.db.execute(sql, args).fetchone()[0])


async def start(nursery: trio.Nursery, counter: MessageCounter) -> Mailbox[CounterMessage]:
    inbox = Mailbox[CounterMessage]("message_counter", capacity=FLUSH_MAX)
    tally = await counter.load()
    await nursery.start(counter.run, tally, inbox)
    return inbox


async def test_the_next_batch_collects_while_the_previous_one_commits(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    store = GatedStore(tmp_path / "lb.db")
    counter = MessageCounter(store, flush_max=FLUSH_MAX)
    async with trio.open_nursery() as nursery:
        inbox = await start(nursery, counter)
        for n in range(FLUSH_MAX):
            await inbox.send(msg(n))
        await trio.testing.wait_all_tasks_blocked()
        assert store.writing == 1  # the first batch is in flight, held at the gate
        for n in range(FLUSH_MAX, FLUSH_MAX + 5):
            await inbox.send(msg(n))
        await trio.testing.wait_all_tasks_blocked()
        assert inbox.depth() == 0  # taken into the next batch while the first one commits
        store.gate.set()
        inbox.close()
    assert store.committed == [FLUSH_MAX, 5]
    assert messages(store) == FLUSH_MAX + 5
    await store.aclose()


async def test_at_most_one_commit_in_flight_and_a_due_batch_grows_to_a_bound_then_waits_for_it(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """While a commit is in flight, the next batch keeps collecting past ``flush_max`` (a group
    commit) up to ``GROUP_COMMIT`` times it; then the counter waits, its inbox fills, and the feeder
    waits too (backpressure). Once the commit is done, the grown batch is the next commit."""
    store = GatedStore(tmp_path / "lb.db")
    counter = MessageCounter(store, flush_max=FLUSH_MAX)
    grown = GROUP_COMMIT * FLUSH_MAX
    total = FLUSH_MAX + grown + FLUSH_MAX + 5  # in flight + the grown batch + a full inbox + 5 more
    async with trio.open_nursery() as nursery:
        inbox = await start(nursery, counter)
        sent = 0

        async def feed() -> None:
            nonlocal sent
            for n in range(total):
                await inbox.send(msg(n))
                sent += 1

        nursery.start_soon(feed)
        try:
            await trio.sleep(60)  # timers run out too: still one commit in flight
            assert store.writing == 1
            assert sent == total - 5  # the feeder waits for room
            assert inbox.depth() == FLUSH_MAX
        finally:
            store.gate.set()  # a failed assertion must not leave the stop waiting at the gate
        await trio.testing.wait_all_tasks_blocked()
        inbox.close()
    assert store.most_at_once == 1
    assert store.committed[:2] == [FLUSH_MAX, grown]
    assert messages(store) == total
    await store.aclose()


async def test_a_grown_batch_commits_the_moment_the_commit_before_is_done(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    store = GatedStore(tmp_path / "lb.db")
    counter = MessageCounter(store, flush_max=FLUSH_MAX)
    async with trio.open_nursery() as nursery:
        inbox = await start(nursery, counter)
        try:
            for n in range(FLUSH_MAX + FLUSH_MAX + 5):  # one in flight, then a due batch of 15
                await inbox.send(msg(n))
            await trio.testing.wait_all_tasks_blocked()
            assert store.writing == 1 and inbox.depth() == 0
            opened = trio.current_time()
        finally:
            store.gate.set()
        await trio.testing.wait_all_tasks_blocked()
        assert store.committed == [FLUSH_MAX, FLUSH_MAX + 5]
        assert trio.current_time() == opened  # not left to the batch timer
        inbox.close()
    await store.aclose()


async def test_a_failed_commit_in_flight_comes_back_to_the_tally_and_is_written_again(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    store = GatedStore(tmp_path / "lb.db", failures=8)  # every try of the first commit fails
    counter = MessageCounter(store, flush_max=FLUSH_MAX)
    async with trio.open_nursery() as nursery:
        inbox = await start(nursery, counter)
        store.gate.set()
        for n in range(FLUSH_MAX):
            await inbox.send(msg(n))
        await trio.sleep(30)  # past every running retry; no new message comes meanwhile
        assert store.failures == 0
        assert store.committed == [FLUSH_MAX]  # it came back and was due again on its own
        for n in range(FLUSH_MAX, FLUSH_MAX + 3):
            await inbox.send(msg(n))
        await trio.sleep(5)
        assert store.committed == [FLUSH_MAX, 3]
        inbox.close()
    assert messages(store) == FLUSH_MAX + 3
    assert store.unwritten == {}
    await store.aclose()


async def test_a_forget_waits_for_the_commit_in_flight_before_it_is_applied(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    store = GatedStore(tmp_path / "lb.db")
    counter = MessageCounter(store, flush_max=FLUSH_MAX)
    gone, kept = 10, 11
    async with trio.open_nursery() as nursery:
        inbox = await start(nursery, counter)
        for n in range(FLUSH_MAX):
            await inbox.send(msg(n, author=gone if n % 2 else kept))
        await trio.testing.wait_all_tasks_blocked()
        assert store.writing == 1  # the member's counts are in flight
        await inbox.send(msg(100, author=gone))  # in the next batch: dropped by the forget
        forget = MemberForgotten(G, gone, T0 + 1.0)
        await inbox.send(forget)
        await trio.sleep(5)  # a batch timer runs out meanwhile: the forget still waits
        assert not forget.applied.is_set()
        store.gate.set()
        await forget.applied.wait()
        assert store.writing == 0 and store.committed == [FLUSH_MAX]  # the commit finished first
        store.db.execute("DELETE FROM activity WHERE user_id = ?", [gone])  # what the forget does
        inbox.close()
    assert messages(store, gone) == 0
    assert messages(store, kept) == FLUSH_MAX // 2
    await store.aclose()


async def test_a_crash_with_a_commit_in_flight_writes_everything_counted_and_raises_the_crash(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """The crash propagates as itself (not wrapped in the commit task's nursery), after the commit
    in flight came back and the final flush wrote it with the rest (the supervisor then restarts)."""
    store = GatedStore(tmp_path / "lb.db")

    def crash(event: MessageSent) -> None:
        if event.message_id == 1_000 + FLUSH_MAX + 1:
            raise RuntimeError("injected fault")

    counter = MessageCounter(store, flush_max=FLUSH_MAX, fault=crash)
    inbox = Mailbox[CounterMessage]("message_counter", capacity=2 * FLUSH_MAX)
    for n in range(FLUSH_MAX + 2):
        inbox.sender.send_nowait(msg(n))
    tally = await counter.load()

    async def open_the_gate_later() -> None:
        await trio.sleep(1)
        store.gate.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(open_the_gate_later)
        with pytest.raises(RuntimeError, match="injected fault"):
            await counter.run(tally, inbox, task_status=trio.TASK_STATUS_IGNORED)
    assert store.most_at_once == 1
    assert messages(store) == FLUSH_MAX + 1  # the batch that was in flight, and the one message after
    await store.aclose()


async def test_a_crash_inside_a_batch_counts_every_message_once(
    autojump_clock: object, tmp_path: Path
) -> None:
    """The counter takes what is queued in batches; a crash inside one (message 25 of 60) redelivers
    from that message on (the tally dedupes the one in hand): nothing lost, nothing counted twice."""
    store = Store(tmp_path / "lb.db", inline=True)
    crashed: list[int] = []

    def crash_once(event: MessageSent) -> None:
        if event.message_id == 1_025 and not crashed:
            crashed.append(event.message_id)
            raise RuntimeError("injected fault")

    counter = MessageCounter(store, flush_max=FLUSH_MAX, fault=crash_once)
    inbox = QueueInbox[CounterMessage]("message_counter", capacity=10 * FLUSH_MAX)
    for n in range(6 * FLUSH_MAX):
        inbox.sender.send_nowait(msg(n))
    async with open_supervisor("root", intensity=5, period=60.0) as root:
        await root.start_child(counter.spec(), inbox)
        await trio.sleep(5)
        inbox.close()
    assert crashed == [1_025] and root.restarts["message_counter"] == 1
    assert messages(store) == 6 * FLUSH_MAX
    store.close()
