"""The history pruner: keeps the daily history to its last ``HISTORY_DAYS`` UTC days.

Why an actor of its own: the prune is slow work that must never hold the writer (the counter's
and the ledger's flushes). It deletes a small batch per store call (``persistence.history``), so
a flush waits for one batch at most, and it runs at start and then every ``every`` seconds. Its
state is nothing: a crash restarts it and the next run deletes what is still due.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import trio
from attrs import define

from domain.clock import WallClock
from domain.windows import utc_date
from persistence.history import prune_history
from persistence.store import Store
from supervisor.mailbox import Mailbox
from supervisor.supervisor import ChildSpec, Restart

log = logging.getLogger(__name__)

PRUNE_EVERY_SECONDS = 3_600.0


@define(frozen=True)
class HistoryPruner:
    store: Store
    clock: WallClock
    keep_days: int
    every: float = PRUNE_EVERY_SECONDS

    def spec(self) -> ChildSpec:
        return ChildSpec("history_pruner", self.run, self.load, Restart.PERMANENT)

    async def load(self) -> None:
        return None

    async def run(self, _: None, inbox: Mailbox[None], *, task_status: trio.TaskStatus[None]) -> None:
        """Prune, then wait ``every`` seconds or until the inbox closes (the stop)."""
        task_status.started()
        while True:
            await self.prune_once()
            with trio.move_on_after(self.every):
                try:
                    await inbox.receive()
                except trio.EndOfChannel:
                    return

    async def prune_once(self) -> int:
        """Delete every day before the kept ones (today and the ``keep_days - 1`` before it)."""
        keep_from = utc_date(self.clock.now()) - timedelta(days=self.keep_days - 1)
        guilds = await self.store.call(self.store.known_guilds_sync)
        deleted = await prune_history(self.store, self.store, sorted(guilds), keep_from)
        if deleted:
            log.info("history_pruner: deleted %d rows of days before %s", deleted, keep_from.isoformat())
        return deleted
