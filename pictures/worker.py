"""One worker process that draws pictures, one at a time: never on the Trio thread, nor in a thread.

Why a process: drawing is Python as much as C (matplotlib lays out every text and tick in Python),
so a drawing thread holds the GIL in turns with the event loop, and on a busy machine the loop waits
for it tens of milliseconds at a time (measured: up to 224 ms; see BENCHMARKS.md,
``rank_card_stall_ms``); a process shares nothing with the loop. The worker is spawned on the first
drawing (no copy of the running bot's threads) and replaced on the next one if it dies. Drawings
wait their turn in Trio, never in the pool, each within ``timeout`` (the worker's start-up
included). ``inline`` (deterministic simulations on MockClock) draws on the Trio thread instead.
The rank card (``bot_entry.commands.rank_card``) and the web page's chart (``web.chart_worker``)
each keep one.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

import trio

__all__ = ["PictureWorker"]

T = TypeVar("T")


class PictureWorker:
    def __init__(self, *, timeout: float, inline: bool = False) -> None:
        self.timeout = timeout
        self.inline = inline
        self._pool: ProcessPoolExecutor | None = None
        self._limiter: trio.CapacityLimiter | None = None  # made inside the Trio run that uses it

    @property
    def started(self) -> bool:
        """Whether a worker process is up (it starts on the first drawing)."""
        return self._pool is not None

    async def draw(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` in the worker (``fn`` and its arguments must pickle); Trio side."""
        if self.inline:
            await trio.lowlevel.checkpoint()
            return fn(*args)
        if self._limiter is None:
            self._limiter = trio.CapacityLimiter(1)
        async with self._limiter:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            future = self._pool.submit(fn, *args)
            try:
                with trio.fail_after(self.timeout):
                    return await trio.to_thread.run_sync(future.result, abandon_on_cancel=True)
            except BrokenProcessPool:
                self.close()  # the worker died: the next drawing starts a new one
                raise
            finally:
                future.cancel()  # cancelled or timed out: drop it if it has not started

    def close(self) -> None:
        """Stop the worker (it also stops when this process exits)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
