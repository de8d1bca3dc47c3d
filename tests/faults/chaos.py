"""Chaos: the real bot as a subprocess against the simulator, with faults at seeded moments.

    python -m tests.faults.chaos SEED [--seeds N] [--minutes M] [--jobs J] [--summary FILE]
    python -m tests.faults.chaos --soak DAYS

Runs seeds SEED, SEED+1, ... SEED+N-1 (J at a time), each with M minutes of crowd (default 0.1,
6 s), and prints each seed's report, then a summary (JSON). Each seed starts the simulator in
this process (real clock) with a crowd in G guilds who chat and move through voice, starts
``python -m bot_entry run`` against it, and injects faults at seeded random moments: SIGKILL and
restart, websocket drops and op 7 (the client RESUMEs), INVALID_SESSION (a full re-IDENTIFY),
429 storms, 5xx answers, slow answers, error 30046 on board edits, and a database locked by
another process.
Each seed's fault kinds come from its number (``seed % 6``): kills, resumes, re-identifies, REST
trouble, a locked database, or everything at once. At the end every user's message count and
voice time in the bot's database is compared with an oracle computed only from what the
simulator did (see ``Bounds``); the seed fails when any user is outside them.

Why real time and a subprocess: SIGKILL is the operating system's, and a killed process must
lose no more than the design allows. So runs are seconds long, not hours: the rules are the same
at any scale, and many short seeds meet more fault interleavings than one long one. The timings
are shortened to match (voice checkpoint 0.3 s, flush 0.2 s, boards every second).

``--soak DAYS`` instead runs DAYS of simulated time through the in-process pipeline (MockClock)
and reports RSS over time and its slope.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any

import trio
import trio.testing
import trio_asyncio

from tests.faults.chaos_run import KIND_SETS, SEED_CLASS, SeedReport, run_seed
from tests.faults.chaos_soak import soak

# The parts: chaos_oracle (what the bot should have counted; pure), chaos_bot (the bot process),
# chaos_run (one seed), chaos_soak (the soak); this module runs many seeds and is the command line.

# -- many seeds ----------------------------------------------------------------------------------------


def summarize(reports: list[SeedReport]) -> dict[str, Any]:
    """Seeds run, faults by kind, and the worst deviation per seed class and per fault kind."""
    faults: Counter[str] = Counter()
    for r in reports:
        faults.update(r.faults)
    # Per class of seed: each class but "mixed" injects one family of faults (KIND_SETS), so its
    # worst deviation is that family's; "mixed" shows what their interleavings add.
    worst: dict[str, dict[str, float]] = {}
    for r in reports:
        entry = worst.setdefault(f"{r.seed_class} ({'+'.join(KIND_SETS[r.seed % 6])})", {})
        for d in r.deviations:
            unit = "messages" if d.what == "messages" else "voice_s"
            entry[f"{unit}_over"] = round(max(entry.get(f"{unit}_over", 0.0), d.error), 3)
            entry[f"{unit}_under"] = round(max(entry.get(f"{unit}_under", 0.0), -d.error), 3)
            if d.what == "voice" and not d.faults:  # users no fault gave an allowance: stamping only
                entry["voice_s_stamping_only"] = round(
                    max(entry.get("voice_s_stamping_only", 0.0), abs(d.error)), 3
                )
    outages: dict[str, dict[str, float]] = {}
    for r in reports:
        for kind, seconds in r.outages:
            entry = outages.setdefault(kind, {"count": 0, "max_seconds": 0.0})
            entry["count"] += 1
            entry["max_seconds"] = round(max(entry["max_seconds"], seconds), 3)
    return {
        "seeds_run": len(reports),
        "gateway_outages": outages,
        "seeds_failed": [r.seed for r in reports if not r.ok],
        "messages_undelivered": {  # sent while the bot was down or re-identifying: never seen
            cls: sum(r.undelivered for r in reports if r.seed_class == cls) for cls in SEED_CLASS.values()
        },
        "faults_by_kind": dict(sorted(faults.items())),
        "max_deviation": dict(sorted(worst.items())),
        "seconds_per_seed": reports[0].seconds if reports else 0,
        "wall_seconds": round(sum(r.wall for r in reports), 1),
        "reproduce": "python -m tests.faults.chaos SEED --minutes M",
    }


async def run_many(
    seeds: Iterable[int], seconds: float, base: Path, *, guilds: int = 3, jobs: int = 1, echo: bool = False
) -> list[SeedReport]:
    """Run ``seeds``, ``jobs`` at a time (each has its own simulator, port, bot and database)."""
    reports: list[SeedReport] = []
    limit = trio.CapacityLimiter(jobs)

    async def one(seed: int) -> None:
        async with limit:
            report = await run_seed(seed, seconds, base / f"seed-{seed}", guilds=guilds)
        reports.append(report)
        if echo:
            print(report.summary(), flush=True)

    async with trio_asyncio.open_loop(), trio.open_nursery() as nursery:
        for seed in seeds:
            nursery.start_soon(one, seed)
    return sorted(reports, key=lambda r: r.seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.faults.chaos",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("seed", type=int, nargs="?", default=1, help="the first seed (default 1)")
    parser.add_argument("--seeds", type=int, default=1, help="how many seeds (default 1)")
    parser.add_argument("--minutes", type=float, default=0.1, help="crowd time per seed (default 0.1 = 6 s)")
    parser.add_argument("--guilds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1, help="seeds run at once (default 1)")
    parser.add_argument(
        "--soak",
        type=float,
        metavar="DAYS",
        help="instead: soak the in-process pipeline for DAYS simulated days, RSS sampled",
    )
    parser.add_argument("--summary", type=Path, help="also write the summary as JSON here")
    parser.add_argument("--workdir", type=Path, help="keep databases and bot logs here (default: a temp dir)")
    args = parser.parse_args(argv)
    import tempfile

    if args.soak:
        with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
            began = time.monotonic()
            result = trio.run(
                partial(soak, Path(tmp) / "soak.db", days=args.soak, seed=args.seed),
                clock=trio.testing.MockClock(autojump_threshold=0),
            )
        result["wall_seconds"] = round(time.monotonic() - began, 1)
        print(json.dumps(result, indent=2))
        if args.summary:
            args.summary.write_text(json.dumps(result, indent=2) + "\n")
        return 0
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        base = args.workdir or Path(tmp)
        seeds = range(args.seed, args.seed + args.seeds)
        reports = trio.run(
            partial(run_many, seeds, args.minutes * 60, base, guilds=args.guilds, jobs=args.jobs, echo=True)
        )
    summary = summarize(reports)
    print(json.dumps(summary, indent=2))
    if args.summary:
        args.summary.write_text(json.dumps(summary, indent=2) + "\n")
    return 1 if summary["seeds_failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
