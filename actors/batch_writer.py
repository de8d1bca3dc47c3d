"""One bounded way to write a batch: the message counter's and the voice ledger's flushes.

Why one function: both writers take what is pending, try to commit it in one transaction, and on
failure must put it all back in front of what arrived meanwhile, whatever the failure was (a
database that is busy or full is retried; anything else is re-raised, with nothing lost). Two
copies of that loop had drifted apart, and the counter's lost its batch on an unexpected error.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

from domain.backoff import Backoff
from persistence.errors import StoreUnavailable

B = TypeVar("B")
log = logging.getLogger(__name__)

# While running: about 6 s of waits, then the batch stays pending for the next flush (the writer's
# inbox fills and holds its senders back). At a stop: about 3 s, then the writer reports what is left.
RUNNING_BACKOFF = Backoff(attempts=8, first=0.05, cap=5.0)
FINAL_BACKOFF = Backoff(attempts=5, first=0.2, cap=2.0)


async def write_pending(
    name: str,
    take: Callable[[], B | None],
    put_back: Callable[[B], None],
    write: Callable[[B], Awaitable[None]],
    backoff: Backoff,
    stopping: Callable[[], bool] = lambda: False,
) -> tuple[B | None, str | None]:
    """Write what ``take`` hands out (None: nothing pending), retrying passing failures within
    ``backoff``; stop retrying early once ``stopping()``.

    Returns ``(written, None)`` after a commit (``written`` None if nothing was pending), or
    ``(None, why)`` when it gave up, with everything put back. Any other failure is re-raised after
    the batch was put back.
    """
    why = "not tried"
    for wait in backoff.waits():
        if wait:
            if stopping():
                return None, why
            log.warning("%s: database unavailable (%s); retrying in %.2fs", name, why, wait)
            await trio.sleep(wait)
        batch = take()
        if batch is None:
            return None, None
        try:
            await write(batch)
        except BaseException as exc:
            put_back(batch)
            if not isinstance(exc, StoreUnavailable):
                raise
            why = str(exc)
            continue
        return batch, None
    return None, why
