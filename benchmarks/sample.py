"""One repetition of one benchmark, in this fresh interpreter: ``python -m benchmarks.sample``.

Usage: ``python -m benchmarks.sample NAME SIZE CACHE_DIR REP [--profile FILE]``. Prints the
``Sample`` as one JSON line (``benchmarks.suite`` reads it); with ``--profile`` the timed part of
"ours" (and of the end_to_end baseline) is profiled with pyinstrument into FILE.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
from pathlib import Path

from attrs import asdict

import benchmarks.common as common
from benchmarks.common import Size
from benchmarks.suite import BY_NAME


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sample")
    parser.add_argument("name", choices=sorted(BY_NAME))
    parser.add_argument("size", choices=[s.value for s in Size])
    parser.add_argument("cache", type=Path)
    parser.add_argument("rep", type=int, nargs="?", default=0)
    parser.add_argument("--profile", type=Path, help="write a pyinstrument profile of the timed part here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.profile is not None:
        args.profile.unlink(missing_ok=True)
        common.PROFILE_PATH = args.profile.resolve()
    args.cache.mkdir(parents=True, exist_ok=True)
    bench = BY_NAME[args.name]
    module = importlib.import_module(f"benchmarks.{bench.module}")
    result = getattr(module, bench.function)(Size(args.size), args.cache, args.rep)
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
