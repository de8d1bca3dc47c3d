"""The end_to_end baseline: the bot's disnake client on plain asyncio, counting in its handler.

Run as ``python -m benchmarks.asyncio_baseline DB N FLUSH_MAX`` in its own interpreter: importing
trio_asyncio (as the bot does) replaces asyncio's loop policy and ``get_running_loop`` for the
whole process, so a baseline in the bot's process would not be plain asyncio. This module and
what it imports never load trio_asyncio; ``run`` checks that.

The handler does what the bot does, minus Trio: disnake's MESSAGE_CREATE parser is replaced by the
same payload translation and ``MessageTally``, and a flusher task writes the same batches through
the same ``Store`` (every ``MESSAGE_FLUSH_MAX`` messages or ``MESSAGE_FLUSH_SECONDS``, in a worker
thread). Like the bot's counter, the handler takes a batch the moment it is full (so every batch
is exactly ``MESSAGE_FLUSH_MAX`` and the next one collects while it commits): a flusher that took
whatever was pending when it woke left a partial last batch to the 1 s timer, which made the
baseline's figure bimodal (about 9,000 or 17,000 messages/s here). Prints the wall and CPU seconds
from the first message sent to every message committed.
"""

from __future__ import annotations

import asyncio
import collections
import sys
import time
from pathlib import Path
from typing import Any

import disnake

from actors.message_tally import MessageTally
from benchmarks.common import Stopwatch, profiled, settings_for
from benchmarks.e2e_workload import CHUNK, POLL_SECONDS, CommitMarks, chat, committed_reader, quick_ready
from bot_entry import translate
from bot_entry.config import Settings
from domain.checkpoints import MessageBatch
from persistence.store import Store


def intents() -> disnake.Intents:
    """The bot's intents (``bot_entry.gateway.intents``, which cannot be imported here)."""
    wanted = disnake.Intents.none()
    wanted.guilds = True
    wanted.guild_messages = True
    wanted.voice_states = True
    wanted.guild_reactions = True
    return wanted


class AsyncioCounter:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store(settings.db_path, default_period_days=settings.period_days)
        self.tally = MessageTally()  # default guild config, as the bot has with no overrides
        self.due = asyncio.Event()
        self.first_pending_at: float | None = None
        # Full batches waiting for the flusher (not bounded: a sync parser cannot wait; the
        # commits keep up here, one batch in flight at a time).
        self.full: collections.deque[MessageBatch] = collections.deque()
        self.client = disnake.Client(  # configured as bot_entry.gateway.Gateway does
            intents=intents(),
            gateway_params=disnake.GatewayParams(encoding="json", zlib=False),
            max_messages=None,
            chunk_guilds_at_startup=False,
            member_cache_flags=disnake.MemberCacheFlags.none(),
        )
        self.client._connection.parsers["MESSAGE_CREATE"] = self.on_message_create

    def on_message_create(self, data: Any) -> None:
        event = translate.message_sent(data, time.time())
        if event is None or self.tally.add(event) is not None:
            return
        if self.first_pending_at is None:
            self.first_pending_at = time.monotonic()
        if self.tally.pending >= self.settings.message_flush_max:
            self._take()

    def _take(self) -> None:
        self.full.append(self.tally.take_batch())
        self.first_pending_at = None
        self.due.set()

    async def flush_forever(self) -> None:
        """Flush when a batch is full, or when its first message is ``message_flush`` seconds old."""
        while True:
            try:
                await asyncio.wait_for(self.due.wait(), self.settings.message_flush / 4)
            except TimeoutError:
                started = self.first_pending_at
                if started is None or time.monotonic() - started < self.settings.message_flush:
                    continue
                self._take()
            self.due.clear()
            while self.full:
                await asyncio.to_thread(self.store.apply_messages_sync, self.full.popleft())


async def _run(db: Path, n: int, flush_max: int) -> tuple[Stopwatch, CommitMarks]:
    sim, scenario, plan = chat(n)
    await sim.start()
    with quick_ready():
        bot = AsyncioCounter(settings_for(db, MESSAGE_FLUSH_MAX=str(flush_max)))
    disnake.http.Route.BASE = sim.base_url
    runner = asyncio.ensure_future(bot.client.start(sim.token))
    flusher = asyncio.ensure_future(bot.flush_forever())
    try:
        await bot.client.wait_until_ready()
        while bot.client.get_guild(scenario.guild.guild_id) is None:  # noqa: ASYNC110 (disnake's cache)
            await asyncio.sleep(POLL_SECONDS)
        read = committed_reader(db, scenario.guild.guild_id)
        watch, marks = Stopwatch(), CommitMarks(n)

        async def poll() -> None:
            while (committed := await asyncio.to_thread(read)) < n:
                marks.see(committed)
                await asyncio.sleep(POLL_SECONDS)
            marks.see(committed)

        with profiled("end_to_end: baseline (asyncio)"):
            watch.start()
            polling = asyncio.ensure_future(poll())  # from the first message, as on our side
            for i, (channel, author) in enumerate(plan):
                sim.send_message(channel, author, "hi")
                if i % CHUNK == CHUNK - 1:
                    await asyncio.sleep(0)
            await polling
            watch.stop()
    finally:
        flusher.cancel()
        await bot.client.close()
        await asyncio.gather(runner, flusher, return_exceptions=True)
        bot.store.close()
        await sim.close()
    return watch, marks


def run(db: Path, n: int, flush_max: int) -> tuple[Stopwatch, CommitMarks]:
    """Wall (and CPU) seconds to count ``n`` messages end to end on plain asyncio, and the marks."""
    if "trio_asyncio" in sys.modules:
        raise RuntimeError(
            "trio_asyncio is loaded: this would not be plain asyncio (run it in its own process)"
        )
    return asyncio.run(_run(db, n, flush_max))


if __name__ == "__main__":
    import benchmarks.common as common

    if len(sys.argv) > 4:
        common.PROFILE_PATH = Path(sys.argv[4])
    watch, marks = run(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
    print(watch.elapsed, watch.cpu, marks.steady_rate(watch.elapsed))
