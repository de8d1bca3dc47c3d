"""recovery_time: seconds from starting a Pipeline to accepting events, after a killed process.

The database is ``benchmarks.big_db`` (1,000,000 activity rows, 1,000,000 names, 100,000 recent
message ids, as a kill -9 leaves them), copied fresh for each repetition. Timed from calling
``Pipeline.run`` to its ``task_status.started()``: the store opened and checked, every actor's
checkpoint loaded.

The notes add what a whole process start costs on top: importing the bot in a fresh interpreter.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

from benchmarks import big_db
from benchmarks.common import Sample, Size, Stopwatch, profiled, settings_for
from domain.clock import WallClock
from domain.events import Event
from wiring.pipeline import Pipeline


async def _start_and_stop(db: Path) -> float:
    pipeline = Pipeline(settings_for(db).pipeline, WallClock.real())
    send, receive = trio.open_memory_channel[Event](1)
    watch = Stopwatch()
    async with trio.open_nursery() as nursery:
        with profiled("recovery_time: ours"):
            watch.start()
            await nursery.start(pipeline.run, receive)
            watch.stop()
        await send.aclose()
    return watch.elapsed


def _import_seconds() -> float:
    """Wall seconds for a fresh interpreter to import the bot (what a process start adds)."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import bot_entry.app"], check=True, cwd=Path(__file__).parent.parent
    )
    return time.perf_counter() - start


def sample(size: Size, cache: Path, rep: int = 0) -> Sample:
    rows = size.pick(20_000, 1_000_000, 1_000_000)
    source, _ = big_db.cached(cache, rows)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        db = Path(tmp, "restart.db")
        shutil.copyfile(source, db)
        seconds = trio.run(_start_and_stop, db)
    notes = {"rows": float(rows)}
    if size is not Size.TINY:
        notes["import_seconds"] = _import_seconds()
    return Sample(value=seconds, notes=notes)
