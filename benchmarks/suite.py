"""The benchmark table: each figure's name, unit, baseline and repetitions, and how lines are printed.

Every repetition runs in a fresh interpreter (``python -m benchmarks.sample``), so one figure's
leftovers (freed memory, open loops, disnake's global ``Route.BASE``, trio_asyncio's patches of
asyncio) cannot move another. The value printed is the median of the repetitions; the ratio is
the median of the per-repetition ratios, each measured with ours and the baseline back to back,
so a slow patch of this shared machine moves both sides of a ratio together. The tiny size (the
smoke test) runs in one process: it proves the code runs and prints the right lines; its
figures mean nothing.
"""

from __future__ import annotations

import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from attrs import define

from benchmarks.common import Sample, Size

ROOT = Path(__file__).resolve().parent.parent


@define(frozen=True)
class Benchmark:
    name: str
    module: str  # benchmarks.<module>.sample(size, cache, rep) -> Sample
    unit: str
    baseline: str | None  # what the baseline is (one token, no spaces)
    target: str
    reps: dict[Size, int]
    digits: int = 0  # decimals printed for the value
    function: str = "sample"  # the module's function for this figure (one run may give several)
    timeout: float = 300.0  # seconds a repetition's interpreter may take
    zero_ok: bool = False  # 0 is a real value (a count whose target is 0)

    def format_value(self, value: float) -> str:
        return f"{value:.{self.digits}f}"


def _reps(tiny: int, quick: int, full: int) -> dict[Size, int]:
    return {Size.TINY: tiny, Size.QUICK: quick, Size.FULL: full}


BENCHMARKS = (
    Benchmark(
        "core_pipeline",
        "core_pipeline",
        "events/s",
        "sqlite3-update-commit-per-event",
        ">= 100000, ratio >= 50",
        _reps(1, 3, 5),
    ),
    # The same events through the same pipeline on PostgreSQL; the ratio is against SQLite in the
    # same run. Skipped, with the reason, where no PostgreSQL server can be had.
    Benchmark(
        "core_pipeline_postgres",
        "core_pipeline",
        "events/s",
        "same-pipeline-on-sqlite",
        "reported (no target)",
        _reps(1, 3, 5),
        function="postgres_sample",
    ),
    Benchmark(
        "end_to_end",
        "end_to_end",
        "messages/s",
        "same-disnake-client-on-plain-asyncio",
        "ratio >= 0.9",
        _reps(1, 3, 5),
    ),
    Benchmark("voice_actor_memory", "voice_actor_memory", "bytes/actor", None, "<= 5120", _reps(1, 3, 3)),
    Benchmark(
        "voice_actor_memory_100k",
        "voice_actor_memory_100k",
        "bytes/actor",
        None,
        "<= 5120, flat from 10k",
        _reps(1, 1, 1),  # about 2 minutes a run, most of it the reset clock's start-up over 1,000 guilds
    ),
    Benchmark(
        "rank_query_p99", "rank_query", "ms", "window-function-RANK-OVER", "<= 5", _reps(1, 3, 5), digits=3
    ),
    Benchmark("recovery_time", "recovery_time", "s", None, "<= 2", _reps(1, 3, 5), digits=3),
    Benchmark(
        "board_edits", "board_edits", "edits/interval", "edit-per-change", "<= 1", _reps(1, 3, 3), digits=3
    ),
    Benchmark("rank_card_ms", "rank_card", "ms", None, "p99 < 250", _reps(1, 3, 3), digits=1),
    Benchmark(
        "rank_card_stall_ms",
        "rank_card_stall",
        "ms",
        "render-on-trio-thread",
        "< 5",
        _reps(1, 3, 3),
        digits=2,
    ),
    # Issue 17: one run of the real bot process in G guilds (SCALE_GUILDS, default 2,500; about 6
    # minutes) gives these four figures; each repetition's run is shared through the cache.
    Benchmark(
        "shard_startup_s",
        "scale_startup",
        "s",
        "boards/REST-budget",
        "ratio <= 1.2",
        _reps(1, 1, 1),
        digits=1,
        function="startup_sample",
        timeout=900.0,
    ),
    Benchmark(
        "global_429s",
        "scale_startup",
        "429s",
        None,
        "0",
        _reps(1, 1, 1),
        function="global_429s_sample",
        timeout=900.0,
        zero_ok=True,
    ),
    Benchmark(
        "board_staleness_p99_s",
        "scale_startup",
        "s",
        "max(interval,changed-boards/budget)",
        "<= floor + 5 s",
        _reps(1, 1, 1),
        digits=2,
        function="staleness_sample",
        timeout=900.0,
    ),
    Benchmark(
        "interaction_ack_p99_s",
        "scale_startup",
        "s",
        "same-bot-when-quiet",
        "< 1",
        _reps(1, 1, 1),
        digits=3,
        function="ack_sample",
        timeout=900.0,
    ),
    Benchmark("web_page_p99_ms", "web_page", "ms", None, "< 100", _reps(1, 3, 3), digits=1),
    Benchmark(
        "startup_work_per_guild",
        "startup_work",
        "store-calls/guild",
        "fewest-per-guild-over-the-sizes",
        "ratio <= 1.5 (largest / smallest per-guild figure)",
        _reps(1, 1, 1),
        digits=2,
    ),
    # Issue 19: 1, 2 and 4 processes over one PostgreSQL database, 10,000 guilds over 4 shards; one
    # run per repetition gives the three figures (cached), each against one process in that run.
    *(
        Benchmark(
            f"multi_process_events_per_s_{n}p",
            "multi_process",
            "events/s",
            "one-process",
            "ratio grows with the cores",
            _reps(1, 1, 3),
            function=f"{word}_sample",
            timeout=1800.0,
        )
        for n, word in ((1, "one"), (2, "two"), (4, "four"))
    ),
)
PENDING: dict[str, str] = {}
BY_NAME = {b.name: b for b in BENCHMARKS}


@define(frozen=True)
class Figure:
    """A benchmark's aggregate over its repetitions."""

    bench: Benchmark
    samples: tuple[Sample, ...]

    @property
    def values(self) -> list[float]:
        return [s.value for s in self.samples]

    @property
    def value(self) -> float:
        return statistics.median(self.values)

    @property
    def ratio(self) -> float | None:
        ratios = [s.value / s.baseline for s in self.samples if s.baseline]
        return statistics.median(ratios) if ratios else None

    def bench_line(self) -> str:
        """``BENCH <name> <value> <unit> ratio=<ours/baseline> baseline=<what>`` (issue 10)."""
        line = f"BENCH {self.bench.name} {self.bench.format_value(self.value)} {self.bench.unit}"
        if self.ratio is not None and self.bench.baseline is not None:
            line += f" ratio={format_ratio(self.ratio)} baseline={self.bench.baseline}"
        return line

    def comment_lines(self) -> list[str]:
        fmt = self.bench.format_value
        lines = [
            f"# {self.bench.name}: median {fmt(self.value)} min {fmt(min(self.values))} "
            f"max {fmt(max(self.values))} {self.bench.unit} over {len(self.values)} runs "
            f"(target {self.bench.target})"
        ]
        baselines = [s.baseline for s in self.samples if s.baseline is not None]
        if baselines:
            lines.append(
                f"# {self.bench.name}: baseline median {fmt(statistics.median(baselines))} "
                f"min {fmt(min(baselines))} max {fmt(max(baselines))} {self.bench.unit}"
            )
        keys = dict.fromkeys(key for s in self.samples for key in s.notes)
        for key in keys:
            values = [s.notes[key] for s in self.samples if key in s.notes]
            lines.append(f"# {self.bench.name}: {key} median {_number(statistics.median(values))}")
        lines += [f"# {self.bench.name}: {text}" for s in self.samples for text in s.text]
        return lines


def print_one_run(module_name: str, names: Iterable[str], size: Size) -> None:
    """Print the BENCH lines of figures that share one run (``python -m benchmarks.<module>``): one
    sample each, in this process, with a cache directory for the run they share."""
    module = sys.modules[module_name]
    with tempfile.TemporaryDirectory(prefix="bench-") as cache:
        for name in names:
            bench = BY_NAME[name]
            figure = Figure(bench, (getattr(module, bench.function)(size, Path(cache), 0),))
            print(figure.bench_line(), flush=True)
            for line in figure.comment_lines():
                print(line, flush=True)


def format_ratio(ratio: float) -> str:
    return f"{ratio:.0f}" if ratio >= 100 else f"{ratio:.3g}"


def _number(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


class SampleFailed(RuntimeError):
    """A repetition's interpreter failed; the message carries its stderr."""


def run_sample(
    bench: Benchmark, size: Size, cache: Path, rep: int, *, timeout: float | None = None
) -> Sample:
    """One repetition of ``bench`` in a fresh interpreter (in this one for a tiny smoke run)."""
    if size is Size.TINY:
        module = importlib.import_module(f"benchmarks.{bench.module}")
        return getattr(module, bench.function)(size, cache, rep)  # type: ignore[no-any-return]
    command = [sys.executable, "-m", "benchmarks.sample", bench.name, size.value, str(cache), str(rep)]
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout or bench.timeout,
        cwd=ROOT,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise SampleFailed(f"{bench.name} run {rep} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    return Sample(**json.loads(done.stdout.strip().splitlines()[-1]))


def unavailable_reason(bench: Benchmark) -> str | None:
    """Why ``bench`` cannot run on this machine (its module's ``unavailable()``), or None."""
    check = getattr(importlib.import_module(f"benchmarks.{bench.module}"), "unavailable", None)
    return None if check is None else check()  # type: ignore[no-any-return]


def run(
    names: list[str], size: Size, cache: Path, emit: Callable[[str], None], *, verbose: bool = True
) -> list[Figure]:
    """Run the named benchmarks in order and ``emit`` their lines as each one finishes."""
    figures = []
    for name in names:
        if name in PENDING:
            emit(f"# {name}: pending ({PENDING[name]})")
            continue
        bench = BY_NAME[name]
        if (why := unavailable_reason(bench)) is not None:
            emit(f"# {name}: skipped ({why})")
            continue
        started = time.perf_counter()
        samples = tuple(run_sample(bench, size, cache, rep) for rep in range(bench.reps[size]))
        if skipped := next((s.skipped for s in samples if s.skipped), ""):
            emit(f"# {name}: skipped ({skipped})")
            continue
        figure = Figure(bench, samples)
        emit(figure.bench_line())
        if verbose:
            for line in figure.comment_lines():
                emit(line)
            emit(f"# {name}: {time.perf_counter() - started:.1f} s")
        figures.append(figure)
    return figures
