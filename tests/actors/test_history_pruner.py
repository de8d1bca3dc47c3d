"""The history pruner keeps HISTORY_DAYS UTC days: at start, then every interval of the clock."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import trio
import trio.testing

from actors.history_pruner import HistoryPruner
from domain.checkpoints import MessageBatch
from domain.clock import WallClock
from domain.periods import DAY
from domain.windows import date_number, day_start
from persistence.history import guild_days_sync, history_since_sync
from persistence.store import Store
from supervisor.mailbox import Mailbox

D0 = date(2026, 1, 1)
T0 = day_start(date_number(D0))


def test_the_pruner_keeps_the_last_days_and_prunes_again_later(tmp_path: Path) -> None:
    store = Store(tmp_path / "p.db", inline=True)
    store.period_spec_sync(1, T0)
    counts = {(1, 10, int(T0 + d * DAY)): 1 for d in range(12)}
    store.apply_messages_sync(MessageBatch(counts, (), {}))

    async def main() -> None:
        clock = WallClock.starting_at(T0 + 9 * DAY + 5)  # day 9: keep days 6..9 (and later ones)
        pruner = HistoryPruner(store, clock, keep_days=4, every=DAY)
        inbox = Mailbox[None]("history_pruner")
        async with trio.open_nursery() as nursery:
            await nursery.start(pruner.run, None, inbox)
            await trio.sleep(1)
            assert history_since_sync(store, 1) == D0 + timedelta(days=6)
            await trio.sleep(DAY)  # a day later the next run drops day 6
            assert history_since_sync(store, 1) == D0 + timedelta(days=7)
            inbox.close()
        days = guild_days_sync(store, 1, D0, D0 + timedelta(days=11))
        assert [d.messages for d in days] == [0] * 7 + [1] * 5

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    store.close()
