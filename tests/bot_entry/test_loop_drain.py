"""The trio-asyncio loop runs ready asyncio callbacks in a burst (``bot_entry.loop_drain``): in
order, with a Trio scheduler pass every ``DRAIN_MAX + 1`` callbacks at most, and timers still fire."""

from __future__ import annotations

import asyncio
import itertools

import trio
import trio_asyncio

from bot_entry.loop_drain import DRAIN_MAX, drain_ready_callbacks

BURST = 10 * DRAIN_MAX


async def burst_passes(loop: asyncio.AbstractEventLoop) -> tuple[list[int], list[int]]:
    """Queue ``BURST`` callbacks at once; return the order they ran in, and for each Trio pass
    (a task that checkpoints in a loop) how many callbacks had run by then."""
    ran: list[int] = []
    passes: list[int] = []
    done = trio.Event()

    def callback(n: int) -> None:
        ran.append(n)
        if n == BURST - 1:
            done.set()

    async def ticker() -> None:
        while not done.is_set():
            passes.append(len(ran))
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        for n in range(BURST):
            loop.call_soon(callback, n)
        nursery.start_soon(ticker)
        await done.wait()
    return ran, passes


async def test_ready_callbacks_run_in_order_with_few_trio_passes_and_trio_tasks_still_run() -> None:
    async with trio_asyncio.open_loop() as loop:
        assert drain_ready_callbacks()
        assert drain_ready_callbacks()  # twice is once
        ran, passes = await burst_passes(loop)
    assert ran == list(range(BURST))
    assert len(passes) <= BURST // DRAIN_MAX + 2  # one pass per callback before: BURST passes
    # The Trio side is never starved: one pass runs at most DRAIN_MAX + 1 callbacks; trio may order
    # the ticker before the loop in one pass and after it in the next, so two passes may lie between.
    steps = [b - a for a, b in itertools.pairwise(passes)]
    assert max(steps) <= 2 * (DRAIN_MAX + 1)


async def test_without_the_drain_every_callback_is_a_trio_pass() -> None:
    """The cost the drain removes, measured the same way (so the test above means something)."""
    async with trio_asyncio.open_loop() as loop:
        _, passes = await burst_passes(loop)
    assert len(passes) >= BURST // 2


async def test_timers_and_asyncio_tasks_still_run() -> None:
    async with trio_asyncio.open_loop() as loop:
        drain_ready_callbacks(loop)

        async def later() -> str:
            await asyncio.sleep(0.01)
            return "slept"

        fired = trio.Event()
        loop.call_later(0.02, fired.set)
        assert await trio_asyncio.aio_as_trio(later)() == "slept"
        with trio.fail_after(5):
            await fired.wait()
