"""rank_card_ms: how long a /rank card takes to render; rank_card_stall_ms: how long the event loop
is held up while cards render.

rank_card_ms: the p99 (p50 in the notes) of one card, timed as the command waits for it: through
``CardRenderer``, the production path (the card's trip to the worker process and back included;
the worker's start-up is left out, with the warm-up cards). The cards vary as
members do: names Latin, Arabic, emoji and zalgo, 40 to 120 characters; 30 days of seeded
activity; every fourth card with a 256 px avatar to decode and fit. Target p99 < 250 ms.

rank_card_stall_ms: a ticker task on the Trio thread asks to wake every millisecond; the figure is
the largest lateness of any wake while cards render back to back (all asked at once, as a burst of
/rank would), i.e. the longest the loop could not run a task. Baseline, same repetition: the same
cards rendered on the Trio thread itself (what the worker avoids). In the notes: the p99 lateness,
the same ticker with nothing rendering (the machine's own jitter), and the same cards in a worker
thread (``trio.to_thread``), which shares the GIL with the loop. Target < 5 ms.
"""

from __future__ import annotations

import io
import random
import statistics
import time
from datetime import date, timedelta
from functools import partial
from pathlib import Path

import trio
from PIL import Image

from benchmarks.common import Sample, Size
from bot_entry.commands.rank_card import CardRenderer
from domain.history import DayActivity
from pictures.chart import daily_series
from pictures.rank_card import RankCard, render_rank_card

SEED = 57
WARM_UP = 3
NAMES = ("Ada Lovelace the Analytical", "مرحبا بالعالم هذا اسم", "🎉🔥 party 👩‍👩‍👧‍👦", "Z̷̢̛a̸l̶g̴o̵ zalgo")


def cards(n: int, rng: random.Random) -> list[RankCard]:
    today = date(2026, 9, 21)
    picture = io.BytesIO()
    Image.new("RGB", (256, 256), (200, 30, 30)).save(picture, "PNG")
    out = []
    for i in range(n):
        base = NAMES[i % len(NAMES)]
        name = (base + " ") * rng.randint(1, 4)
        days = [
            DayActivity(today - timedelta(days=d), rng.randint(0, 400), rng.randint(0, 6 * 3600))
            for d in range(30)
            if rng.random() < 0.8
        ]
        out.append(
            RankCard(
                display_name=name[:120],
                avatar=picture.getvalue() if i % 4 == 0 else None,
                message_rank=rng.randint(1, 5000),
                messages=rng.randint(0, 10**6),
                voice_rank=rng.choice([None, rng.randint(1, 5000)]),
                voice_seconds=rng.randint(0, 10**7),
                days=daily_series(days, today),
            )
        )
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def sample(size: Size, cache: Path, rep: int = 0) -> Sample:
    """rank_card_ms (p99) through the worker thread."""
    batch = cards(size.pick(4, 60, 200), random.Random(SEED + rep))
    times: list[float] = []

    async def main() -> None:
        renderer = CardRenderer(inline=False)
        try:
            for card in batch[:WARM_UP]:
                await renderer.render(card)  # the worker's start-up, fonts, matplotlib's first figure
            for card in batch:
                started = time.perf_counter()
                await renderer.render(card)
                times.append((time.perf_counter() - started) * 1000)
        finally:
            renderer.close()

    trio.run(main)
    return Sample(
        percentile(times, 0.99),
        notes={"p50_ms": statistics.median(times), "max_ms": max(times), "cards": len(times)},
    )


async def _ticked(work: object, period: float = 0.001) -> list[float]:
    """Lateness (ms) of each wake of a 1 ms ticker while ``work()`` runs."""
    late: list[float] = []
    done = trio.Event()

    async def ticker() -> None:
        while not done.is_set():
            asked = time.perf_counter() + period
            await trio.sleep(period)
            late.append(max(0.0, time.perf_counter() - asked) * 1000)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        await work()  # type: ignore[operator]
        done.set()
    return late


def stall_sample(size: Size, cache: Path, rep: int = 0) -> Sample:
    """rank_card_stall_ms: the ticker's worst lateness, cards in worker threads vs on the loop."""
    batch = cards(size.pick(4, 20, 40), random.Random(SEED + 100 + rep))
    figures: dict[str, float] = {}

    async def main() -> None:
        renderer = CardRenderer(inline=False)
        for card in batch[:WARM_UP]:
            render_rank_card(card)
            await renderer.render(card)  # the worker's start-up is not a render

        async def in_worker() -> None:
            async with trio.open_nursery() as nursery:
                for card in batch:
                    nursery.start_soon(renderer.render, card)

        async def in_thread() -> None:
            limiter = trio.CapacityLimiter(1)
            async with trio.open_nursery() as nursery:
                for card in batch:
                    nursery.start_soon(
                        partial(trio.to_thread.run_sync, render_rank_card, card, limiter=limiter)
                    )

        async def on_loop() -> None:
            for card in batch:
                render_rank_card(card)
                await trio.lowlevel.checkpoint()

        async def idle() -> None:
            await trio.sleep(0.5)

        runs = [("ours", in_worker), ("baseline", on_loop), ("thread", in_thread)]
        try:
            for name, work in runs if rep % 2 == 0 else runs[::-1]:  # which goes first alternates
                late = await _ticked(work)
                figures[name], figures[name + "_p99"] = max(late), percentile(late, 0.99)
            quiet = await _ticked(idle)
            figures["idle"], figures["idle_p99"] = max(quiet), percentile(quiet, 0.99)
        finally:
            renderer.close()

    trio.run(main)
    return Sample(
        figures["ours"],
        figures["baseline"],
        notes={
            "p99_late_ms": figures["ours_p99"],
            "on_loop_p99_late_ms": figures["baseline_p99"],
            "thread_max_late_ms": figures["thread"],
            "thread_p99_late_ms": figures["thread_p99"],
            "idle_max_late_ms": figures["idle"],
            "idle_p99_late_ms": figures["idle_p99"],
        },
    )
