"""``just bench``: run the benchmarks and print one BENCH line per figure (format: issue 10).

Usage: ``python -m benchmarks [NAME ...] [--quick | --size tiny|quick|full] [--bench-only]``.
Lines starting with ``#`` are comments for people (min/median, baselines, notes); scripts read
the ``BENCH`` lines. See BENCHMARKS.md for what each figure measures and the latest results.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Size
from benchmarks.suite import BENCHMARKS, PENDING, SampleFailed, run


def main(argv: list[str] | None = None) -> int:
    names = [b.name for b in BENCHMARKS] + list(PENDING)
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(names)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller workloads, 3 runs each")
    parser.add_argument("--size", choices=[s.value for s in Size], help="tiny: a smoke run (tests use it)")
    parser.add_argument("--bench-only", action="store_true", help="print only the BENCH lines")
    args = parser.parse_args(argv)
    if unknown := [name for name in args.names if name not in names]:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(names)}")
    size = Size(args.size) if args.size else Size.QUICK if args.quick else Size.FULL

    def emit(line: str) -> None:
        print(line, flush=True)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-") as cache:
        try:
            run(args.names or names, size, Path(cache), emit, verbose=not args.bench_only)
        except SampleFailed as exc:
            print(exc, file=sys.stderr)
            return 1
    if not args.bench_only:
        emit(f"# total {time.perf_counter() - started:.0f} s, size {size.value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
