"""end_to_end: messages/s from the simulator through real disnake to committed counts.

Ours: the whole bot (``BotApp``: disnake under trio-asyncio -> router -> message counter ->
SQLite) against the loopback simulator, on the real clock. Baseline, same repetition, in a fresh
interpreter (``benchmarks.asyncio_baseline``): the same disnake client on plain asyncio, doing the
same counting in its own handler with the same simulator. So the ratio is the price of the Trio
bridge and the actor pipeline. Each side shares its process with its simulator, so the
simulator's own work (building and serialising every payload) is in both figures.

The figure is the steady rate: a separate reader polls the committed count every 10 ms, and the
rate is the messages committed between its first sighting of 10% and of 90% of them over the time
between the two (``CommitMarks``), on both sides alike. The run's end is left out because the
counter commits whatever has collected (a group commit), so its last remainder waits for the flush
timer; the time until every message is committed stays in the notes (``all_committed_ratio``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import trio
import trio_asyncio
from attrs import evolve

import benchmarks.common as common
from benchmarks.common import Sample, Size, Stopwatch, profiled, settings_for
from benchmarks.e2e_workload import CHUNK, POLL_SECONDS, CommitMarks, chat, committed_reader, quick_ready
from bot_entry.app import BotApp
from bot_entry.config import Secret
from domain.clock import WallClock


async def _ours(db: Path, n: int, flush_max: int) -> tuple[Stopwatch, CommitMarks]:
    async with trio_asyncio.open_loop():
        sim, scenario, plan = chat(n)
        await trio_asyncio.aio_as_trio(sim.start)()
        try:
            settings = evolve(settings_for(db, MESSAGE_FLUSH_MAX=str(flush_max)), token=Secret(sim.token))
            app = BotApp(settings, WallClock.real(), api_base=sim.base_url)
            async with trio.open_nursery() as nursery:
                with quick_ready():
                    await nursery.start(app.run)
                guild_id = scenario.guild.guild_id
                while app.pipeline.router is None or guild_id not in app.pipeline.router.guilds:  # noqa: ASYNC110
                    await trio.sleep(POLL_SECONDS)
                read = committed_reader(db, guild_id)
                watch, marks = Stopwatch(), CommitMarks(n)

                async def poll() -> None:
                    while (committed := await trio.to_thread.run_sync(read)) < n:
                        marks.see(committed)
                        await trio.sleep(POLL_SECONDS)
                    marks.see(committed)

                with profiled("end_to_end: ours"):
                    watch.start()
                    async with trio.open_nursery() as polling:
                        polling.start_soon(poll)  # from the first message: the low mark comes early
                        for i, (channel, author) in enumerate(plan):
                            sim.send_message(channel, author, "hi")
                            if i % CHUNK == CHUNK - 1:
                                await trio.lowlevel.checkpoint()
                    watch.stop()
                app.stop()
        finally:
            await trio_asyncio.aio_as_trio(sim.close)()
    return watch, marks


def run_ours(db: Path, n: int, flush_max: int) -> tuple[float, float, float]:
    """Wall and CPU seconds for the bot to count ``n`` messages end to end, and the steady
    messages/s (``CommitMarks``)."""
    watch, marks = trio.run(_ours, db, n, flush_max)
    return watch.elapsed, watch.cpu, marks.steady_rate(watch.elapsed)


def run_baseline(db: Path, n: int, flush_max: int) -> tuple[float, float, float]:
    """The same three figures for the plain-asyncio client, in its own interpreter."""
    command = [sys.executable, "-m", "benchmarks.asyncio_baseline", str(db), str(n), str(flush_max)]
    if common.PROFILE_PATH is not None:
        command.append(str(common.PROFILE_PATH))
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=os.environ | {"PYTHONPATH": _root()},
    )
    if done.returncode != 0:
        raise RuntimeError(f"asyncio baseline failed:\n{done.stderr}")
    wall, cpu, steady = done.stdout.split()[-3:]
    return float(wall), float(cpu), float(steady)


def _root() -> str:
    return str(Path(__file__).resolve().parent.parent)


def sample(size: Size, cache: Path, rep: int = 0) -> Sample:
    flush_max = size.pick(100, 1_000, 1_000)  # production default 1,000; tiny flushes sooner
    n = size.pick(2, 5, 20) * flush_max
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        ours_db, base_db = Path(tmp, "ours.db"), Path(tmp, "baseline.db")
        if rep % 2:  # alternate which side goes first, so a slow patch of the machine hits both alike
            base = run_baseline(base_db, n, flush_max)
            ours = run_ours(ours_db, n, flush_max)
        else:
            ours = run_ours(ours_db, n, flush_max)
            base = run_baseline(base_db, n, flush_max)
    return Sample(
        value=ours[2],
        baseline=base[2],
        notes={
            "messages": n,
            "cpu_ratio": base[1] / ours[1],
            "flush_max": flush_max,
            "all_committed_ratio": base[0] / ours[0],  # first message to the last committed
        },
    )
