"""What every benchmark shares: run sizes, the sample a repetition returns, and small helpers.

A benchmark is a function ``(size, cache) -> Sample`` that runs ONE repetition in the current
process and returns our figure, the baseline's figure measured in the same repetition (if there is
one) and notes. ``benchmarks.suite`` runs each repetition in a fresh interpreter and aggregates.
"""

from __future__ import annotations

import contextlib
import enum
import os
import resource
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from attrs import define, field

from bot_entry.config import Settings, load_settings

N = TypeVar("N", int, float)


class Size(enum.Enum):
    """How big a run is: ``tiny`` proves the code runs (tests), ``full`` is ``just bench``."""

    TINY = "tiny"
    QUICK = "quick"
    FULL = "full"

    def pick(self, tiny: N, quick: N, full: N) -> N:
        return {Size.TINY: tiny, Size.QUICK: quick, Size.FULL: full}[self]


@define
class Sample:
    """One repetition: our value, the baseline's value in the same run, extra figures for notes."""

    value: float
    baseline: float | None = None
    notes: dict[str, float] = field(factory=dict)
    text: list[str] = field(factory=list)  # free-form lines (profiles, top allocation sites)
    skipped: str = ""  # why this figure could not be measured here (no PostgreSQL server, ...)


def settings_for(db: Path | str, **env: str) -> Settings:
    """Production defaults, except the database (a SQLite file, or a PostgreSQL URL), no ops HTTP
    port (runs may overlap, and a bot may hold the port) and no scheduled backups (a copy of the
    file mid-run would be timed too)."""
    quiet = {"OPS_PORT": "0", "BACKUP_INTERVAL_HOURS": "0"}
    where = {"LEADERBOARD_DB": str(db)} if isinstance(db, Path) else {"DATABASE_URL": db}
    return load_settings({**where, **quiet, **env}, env_file=None)


PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """Resident set size now (not the peak): the second field of /proc/self/statm, in pages."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except OSError:  # not Linux: the peak is the best there is
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# -- optional profiling ---------------------------------------------------------------------------

PROFILE_PATH: Path | None = None  # set by ``benchmarks.sample --profile``


@contextlib.contextmanager
def profiled(label: str) -> Iterator[None]:
    """Profile the block with pyinstrument when a profile was asked for (main thread only)."""
    if PROFILE_PATH is None:
        yield
        return
    from pyinstrument import Profiler  # dev dependency, only needed when profiling

    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        with PROFILE_PATH.open("a") as out:
            out.write(f"==== {label}\n")
            out.write(profiler.output_text(unicode=False, color=False, show_all=False))


class Stopwatch:
    """Wall seconds (perf_counter) between ``start`` and ``stop``, and this process's CPU seconds.

    CPU seconds (all threads) show the work done whatever else the shared machine was running; the
    figures are wall-clock, the CPU view goes into the notes.
    """

    def __init__(self) -> None:
        self.started = self.cpu_started = 0.0
        self.elapsed = self.cpu = 0.0

    def start(self) -> None:
        self.started, self.cpu_started = time.perf_counter(), time.process_time()

    def stop(self) -> float:
        self.elapsed = time.perf_counter() - self.started
        self.cpu = time.process_time() - self.cpu_started
        return self.elapsed
