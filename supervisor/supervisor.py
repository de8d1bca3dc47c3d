"""A one_for_one supervisor (after Erlang/OTP) on a Trio nursery.

Each child runs in a loop: load checkpoint, ``run(checkpoint, mailbox)``; if it raises, log the
child's name and the exception, hand the in-flight event back to the mailbox, and go round again.
More than ``intensity`` restarts within ``period`` seconds means something is really broken:
``SupervisorEscalation`` is raised, which fails the nursery and so the supervisor's parent.
A child that returns after its mailbox was closed has shut down cleanly; a transient child
(a voice session) may also simply finish.
"""

from __future__ import annotations

import enum
import logging
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import structlog
import trio
from attrs import define, field

from supervisor.mailbox import Mailbox

log = logging.getLogger(__name__)


class Restart(enum.Enum):
    PERMANENT = "permanent"  # always restarted (message counter, publisher, reset clock)
    TRANSIENT = "transient"  # restarted only after a crash (voice sessions)


class ActorRun(Protocol):
    def __call__(
        self, checkpoint: Any, inbox: Mailbox[Any], *, task_status: trio.TaskStatus[None]
    ) -> Awaitable[None]: ...


@define(frozen=True)
class ChildSpec:
    name: str
    run: ActorRun
    load_checkpoint: Callable[[], Awaitable[Any]]
    restart: Restart = Restart.PERMANENT


class SupervisorEscalation(RuntimeError):
    """Too many restarts in too little time; the failure is handed to the supervisor's parent."""


@define
class RestartBudget:
    """At most ``intensity`` restarts in any window of ``period`` seconds (pure; time is an argument)."""

    intensity: int
    period: float
    recent: deque[float] = field(factory=deque)

    def spend(self, now: float) -> bool:
        """Record a restart at ``now``; False when the budget is exceeded."""
        self.recent.append(now)
        while self.recent and self.recent[0] <= now - self.period:
            self.recent.popleft()
        return len(self.recent) <= self.intensity


class _StartedOnce:
    """Passes ``started()`` through the first time only, so restarts reuse the first start's status."""

    def __init__(self, status: trio.TaskStatus[None]) -> None:
        self._status: trio.TaskStatus[None] | None = status

    def started(self, value: None = None) -> None:
        if self._status is not None:
            status, self._status = self._status, None
            status.started(value)


class Supervisor:
    def __init__(self, name: str, nursery: trio.Nursery, *, intensity: int, period: float) -> None:
        self.name = name
        self._nursery = nursery
        self._budget = RestartBudget(intensity, period)
        self.restarts: Counter[str] = Counter()
        # Permanent child name -> running now (health checks read this). Transient children (one
        # per user in voice, thousands) are left out: they come and go by design.
        self.alive: dict[str, bool] = {}

    async def start_child(self, spec: ChildSpec, mailbox: Mailbox[Any]) -> None:
        """Start ``spec`` and return once it has loaded its checkpoint and is ready for events."""
        await self._nursery.start(self._keep_alive, spec, mailbox)

    def start_child_soon(self, spec: ChildSpec, mailbox: Mailbox[Any]) -> None:
        """Start ``spec`` without waiting (its mailbox buffers events until it is ready)."""
        self._nursery.start_soon(self._keep_alive, spec, mailbox)

    async def _keep_alive(
        self,
        spec: ChildSpec,
        mailbox: Mailbox[Any],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        status = _StartedOnce(task_status)
        permanent = spec.restart is Restart.PERMANENT
        if permanent:
            structlog.contextvars.bind_contextvars(actor=spec.name)  # every log line names its actor
        while True:
            try:
                checkpoint = await spec.load_checkpoint()
                if permanent:
                    self.alive[spec.name] = True
                await spec.run(checkpoint, mailbox, task_status=status)  # type: ignore[arg-type]
            except Exception as exc:
                if permanent:
                    self.alive[spec.name] = False
                mailbox.crashed()
                log.error("%s: child %s crashed: %r", self.name, spec.name, exc, exc_info=exc)
                self._restart_or_escalate(spec, repr(exc), exc)
                continue
            if spec.restart is Restart.TRANSIENT or mailbox.closed:
                self.alive.pop(spec.name, None)
                return
            log.warning("%s: permanent child %s returned while its inbox is open", self.name, spec.name)
            self._restart_or_escalate(spec, "returned early", None)
            await trio.lowlevel.checkpoint()

    def _restart_or_escalate(self, spec: ChildSpec, why: str, exc: Exception | None) -> None:
        self.restarts[spec.name] += 1
        if not self._budget.spend(trio.current_time()):
            raise SupervisorEscalation(
                f"{self.name}: more than {self._budget.intensity} restarts in "
                f"{self._budget.period:g}s (last: {spec.name}: {why})"
            ) from exc
        log.info("%s: restarting %s from its checkpoint", self.name, spec.name)


@asynccontextmanager
async def open_supervisor(
    name: str, *, intensity: int = 5, period: float = 10.0
) -> AsyncIterator[Supervisor]:
    async with trio.open_nursery() as nursery:
        yield Supervisor(name, nursery, intensity=intensity, period=period)
