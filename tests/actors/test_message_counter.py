"""The message counter's shell against a real SQLite file: a failing write never loses a batch."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from actors.message_counter import MessageCounter
from domain.checkpoints import MessageBatch
from domain.events import MessageSent
from persistence.errors import StoreBusy
from persistence.store import Store
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
