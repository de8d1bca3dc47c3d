"""Let trio-asyncio run the asyncio callbacks that are ready without a Trio scheduler pass each.

trio-asyncio's loop takes its callbacks one at a time from a Trio memory channel with an awaited
``receive``, which always yields: every asyncio callback (a websocket read, a task step) costs a
whole Trio scheduler pass with an ``epoll`` call. Under a burst of gateway frames that is most of
the price of the bridge (BENCHMARKS.md, "issue 18"). ``drain_ready_callbacks`` wraps the running
loop's ``_main_loop_one`` so that each pass first runs up to ``DRAIN_MAX`` callbacks that are
already queued (or timers already due), in their order, then waits as before. Trio tasks (the
router, the actors) still run at least every ``DRAIN_MAX + 1`` asyncio callbacks.

It touches one private method of ``trio_asyncio.BaseTrioEventLoop``; when a loop lacks it (another
trio-asyncio version), nothing is changed and the bridge runs as it did.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio
import trio_asyncio

log = logging.getLogger(__name__)

DRAIN_MAX = 64  # ready asyncio callbacks run between two Trio scheduler passes, at most

StepOne = Callable[..., Awaitable[None]]


def drain_ready_callbacks(loop: Any = None) -> bool:
    """Make the running (or given) trio-asyncio loop drain its ready callbacks; True if it does."""
    loop = loop if loop is not None else trio_asyncio.current_loop.get()
    if getattr(loop, "_drains_ready_callbacks", False):
        return True
    one: StepOne | None = getattr(loop, "_main_loop_one", None)
    if one is None:
        log.info("loop_drain: this trio-asyncio loop has no _main_loop_one; left as it is")
        return False

    async def drain_then_wait(no_wait: bool = False) -> None:
        if not no_wait:
            for _ in range(DRAIN_MAX):
                try:
                    await one(no_wait=True)  # one ready callback or due timer; WouldBlock if none
                except trio.WouldBlock:
                    break
        await one(no_wait=no_wait)

    loop._main_loop_one = drain_then_wait
    loop._drains_ready_callbacks = True
    return True
