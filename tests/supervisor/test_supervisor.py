"""The supervisor on its own: restarts from checkpoints, redelivery, escalation, clean stop."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from supervisor.mailbox import Mailbox
from supervisor.supervisor import ChildSpec, Restart, RestartBudget, SupervisorEscalation, open_supervisor


def test_restart_budget_allows_intensity_restarts_per_window() -> None:
    budget = RestartBudget(intensity=2, period=10.0)
    assert budget.spend(0.0) and budget.spend(1.0)
    assert not budget.spend(2.0)
    assert budget.spend(11.5)  # the restarts at 0.0 and 1.0 have left the window


class Recorder:
    """A child that sums numbers, checkpoints after each, and crashes on demand."""

    def __init__(self, crash_on: set[int]) -> None:
        self.crash_on = crash_on
        self.checkpoint = 0
        self.starts = 0

    async def load(self) -> int:
        return self.checkpoint

    async def run(self, total: int, inbox: Mailbox[int], *, task_status: Any) -> None:
        self.starts += 1
        task_status.started()
        while True:
            try:
                n = await inbox.receive()
            except trio.EndOfChannel:
                return
            if n in self.crash_on:
                self.crash_on.discard(n)
                raise RuntimeError(f"crash on {n}")
            total += n
            self.checkpoint = total


async def test_crashed_child_restarts_from_checkpoint_and_gets_the_event_again() -> None:
    child = Recorder(crash_on={3, 7})
    async with open_supervisor("test", intensity=5, period=10) as sup:
        box = Mailbox[int]("summer")
        await sup.start_child(ChildSpec("summer", child.run, child.load), box)
        for n in range(1, 11):
            await box.sender.send(n)
        box.close()
    assert child.checkpoint == sum(range(1, 11))
    assert sup.restarts["summer"] == 2
    assert child.starts == 3


async def test_too_many_restarts_escalate_to_the_parent() -> None:
    child = Recorder(crash_on=set(range(100)))
    with pytest.RaisesGroup(SupervisorEscalation, flatten_subgroups=True):
        async with open_supervisor("test", intensity=2, period=10) as sup:
            box = Mailbox[int]("summer")
            await sup.start_child(ChildSpec("summer", child.run, child.load), box)
            for n in range(10):
                await box.sender.send(n)
    assert child.starts == 3  # the first start and two restarts, then escalation


async def test_transient_child_that_finishes_is_not_restarted() -> None:
    runs = 0

    async def once(_: None, inbox: Mailbox[int], *, task_status: Any) -> None:
        nonlocal runs
        runs += 1
        task_status.started()

    async def load() -> None:
        return None

    async with open_supervisor("test", intensity=1, period=10) as sup:
        await sup.start_child(ChildSpec("once", once, load, Restart.TRANSIENT), Mailbox[int]("once"))
    assert runs == 1


async def test_permanent_child_returning_with_open_inbox_is_restarted_within_budget() -> None:
    runs = 0

    async def quits(_: None, inbox: Mailbox[int], *, task_status: Any) -> None:
        nonlocal runs
        runs += 1
        task_status.started()

    async def load() -> None:
        return None

    with pytest.RaisesGroup(SupervisorEscalation, flatten_subgroups=True):
        async with open_supervisor("test", intensity=3, period=10) as sup:
            await sup.start_child(ChildSpec("quits", quits, load), Mailbox[int]("quits"))
    assert runs == 4
