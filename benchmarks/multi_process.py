"""multi_process_events_per_s: messages counted per second by 1, 2 and 4 bot processes over one
PostgreSQL database (issue 19).

The same work each time: the loopback simulator (in this process, real clock) holds G guilds
(10,000; quick 1,000; tiny 40) of two members, split over 4 shards (``SHARD_COUNT=4``,
``max_concurrency`` 4), and N processes (``python -m bot_entry run``) each run 4/N of the shards
(``SHARD_IDS``), each with ``REST_GLOBAL_PER_SECOND`` 40/N, all writing to one fresh PostgreSQL
database. Once every process has IDENTIFYd and every guild is stored, M messages (100,000; quick
20,000; tiny 400) are dispatched at once, spread evenly over the guilds; the figure is M divided by
the time from the first dispatch until the database holds all M. The ratio is against one process
measured in the same repetition (the baseline ``one-process``).

Where the figure comes from on this machine: every process, the simulator and PostgreSQL share
its cores, so N processes cannot go past what the cores allow; the notes give the core count and
each run's start-up. PostgreSQL: ``BENCH_DATABASE_URL`` or ``PYTEST_POSTGRES_URL`` (a server where
databases may be created), else a throwaway server (``tests/pg.py``); without one the suite prints
``# multi_process_events_per_s_*: skipped (...)``.

``python -m benchmarks.multi_process [--size tiny|quick|full]`` prints the three lines of one run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import trio
import trio.lowlevel
import trio_asyncio
from attrs import asdict, define, evolve

from benchmarks.common import Sample, Size
from discord_sim.server import DiscordSim
from discord_sim.world import SimGuild, World
from tests.bot_process import bot_env, spawn, stop

TOKEN = "bench-multi-process-token"
SHARDS = 4
PROCESSES = (1, 2, 4)
REST_TOTAL = 40.0
FIGURES = tuple(f"multi_process_events_per_s_{n}p" for n in PROCESSES)


@define(frozen=True)
class Plan:
    guilds: int
    messages: int
    startup_timeout: float
    count_timeout: float

    @classmethod
    def for_size(cls, size: Size) -> Plan:
        return cls(
            guilds=size.pick(40, 1_000, 10_000),
            messages=size.pick(400, 20_000, 100_000),
            startup_timeout=size.pick(90.0, 180.0, 600.0),
            count_timeout=size.pick(60.0, 300.0, 900.0),
        )


@define(frozen=True)
class Result:
    plan: dict[str, object]
    rates: dict[str, float]  # processes -> messages/s
    startups: dict[str, float]  # processes -> seconds from start to every guild stored
    cores: int
    cpu_us: dict[str, dict[str, float]]  # processes -> {"bots", "sim", "postgres"}: CPU us per message


def server_url() -> str | None:
    return (
        os.environ.get("BENCH_DATABASE_URL") or os.environ.get("PYTEST_POSTGRES_URL") or ""
    ).strip() or None


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A PostgreSQL server's URL: the configured one, else a throwaway server for this run."""
    if (url := server_url()) is not None:
        yield url
        return
    from tests import pg  # the tests' throwaway server (initdb + pg_ctl)

    directory = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    try:
        yield pg.start(directory)
    finally:
        pg.stop(directory)


def unavailable() -> str | None:
    """Why this benchmark cannot run here (no PostgreSQL), or None."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed"
    if server_url() is not None:
        return None
    from tests import pg

    try:
        pg.bindir()
    except pg.Unavailable as exc:
        return f"no PostgreSQL: {exc}; set BENCH_DATABASE_URL"
    return None


def fresh_database(server: str) -> str:
    import psycopg

    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    base, _, rest = server.partition("://")
    hostpart, _, tail = rest.partition("/")
    query = tail.partition("?")[2]
    return f"{base}://{hostpart}/{name}" + (f"?{query}" if query else "")


def drop_database(server: str, url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1].partition("?")[0]
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def stored(url: str) -> tuple[int, int]:
    """(guilds stored, messages counted) in the database."""
    import psycopg

    with psycopg.connect(url) as conn:
        guilds = conn.execute("SELECT COUNT(*) FROM guilds").fetchone()
        messages = conn.execute("SELECT COALESCE(SUM(messages), 0) FROM activity").fetchone()
    return int(guilds[0]) if guilds else 0, int(messages[0]) if messages else 0


CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a live process has used, from /proc; 0 when it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14, 15)


def postgres_cpu() -> dict[int, float]:
    """CPU seconds of every process on this machine named ``postgres`` (the server and its backends;
    the server may be one the benchmark did not start, so it is found by name)."""
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    found[int(entry.name)] = process_cpu(int(entry.name))
    return found


def cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two readings by the processes of ``after`` (those new since count from 0)."""
    return sum(max(0.0, t - before.get(pid, 0.0)) for pid, t in after.items())


def ranges(processes: int) -> list[str]:
    per = SHARDS // processes
    return [f"{i * per}-{(i + 1) * per - 1}" for i in range(processes)]


def start_bot(
    sim: DiscordSim, workdir: Path, url: str, shard_ids: str, rest: float
) -> subprocess.Popen[bytes]:
    env = bot_env(
        DISCORD_TOKEN=sim.token,
        DISCORD_API_BASE=sim.base_url,
        DATABASE_URL=url,
        SHARD_COUNT=str(SHARDS),
        SHARD_IDS=shard_ids,
        REST_GLOBAL_PER_SECOND=f"{rest:g}",
        MESSAGE_FLUSH_MAX="5000",
        LOG_FORMAT="json",
        LOG_LEVEL="WARNING",
    )
    return spawn(workdir, env, workdir / f"bot-{shard_ids}.log")


async def wait_for(
    predicate: object, within: float, what: str, processes: list[subprocess.Popen[bytes]]
) -> None:
    deadline = time.monotonic() + within
    while not predicate():  # type: ignore[operator]
        if any(p.poll() is not None for p in processes):
            raise RuntimeError(f"a bot process exited waiting for {what}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {within:g} s waiting for {what}")
        await trio.sleep(0.1)


async def one_config(
    plan: Plan, processes: int, server: str, workdir: Path
) -> tuple[float, float, dict[str, float]]:
    """(messages/s, start-up seconds, CPU us per message of the bots, the simulator and PostgreSQL)
    for ``processes`` processes; the CPU is measured over the counting only."""
    sim = DiscordSim(World(lambda: int(time.time() * 1000)), token=TOKEN)
    sim.rules = evolve(sim.rules, max_concurrency=SHARDS)
    guilds: list[SimGuild] = sim.world.add_guilds(plan.guilds, members=2)
    url = await trio.to_thread.run_sync(fresh_database, server)
    await trio_asyncio.aio_as_trio(sim.start)()
    bots: list[subprocess.Popen[bytes]] = []
    try:
        started = time.time()
        bots = [start_bot(sim, workdir, url, ids, REST_TOTAL / processes) for ids in ranges(processes)]
        await wait_for(
            lambda: {s for _, s, _ in sim.gateway.identifies} == set(range(SHARDS)),
            plan.startup_timeout,
            "every shard's IDENTIFY",
            bots,
        )
        seen = 0

        def all_guilds_stored() -> bool:
            nonlocal seen
            seen = stored(url)[0]
            return seen >= plan.guilds

        await wait_for(all_guilds_stored, plan.startup_timeout, "every guild stored", bots)
        startup = time.time() - started
        channels = [next(c for c in g.channels.values() if c.name == "general") for g in guilds]
        authors = [next(m for m in g.members.values() if not m.bot) for g in guilds]
        bots_before = {bot.pid: process_cpu(bot.pid) for bot in bots}
        pg_before, sim_before = postgres_cpu(), time.process_time()
        first = time.perf_counter()
        for i in range(plan.messages):
            k = i % len(guilds)
            sim.send_message(channels[k], authors[k])
            if i % 500 == 499:
                await trio.lowlevel.checkpoint()  # let the simulator's writers run
        counted = 0

        def all_counted() -> bool:
            nonlocal counted
            counted = stored(url)[1]
            return counted >= plan.messages

        await wait_for(all_counted, plan.count_timeout, f"{plan.messages} messages counted", bots)
        elapsed = time.perf_counter() - first
        per_message = 1e6 / plan.messages
        cpu = {
            "bots": cpu_between(bots_before, {b.pid: process_cpu(b.pid) for b in bots}) * per_message,
            "sim": (time.process_time() - sim_before) * per_message,
            "postgres": cpu_between(pg_before, postgres_cpu()) * per_message,
        }
    finally:
        for bot in bots:
            await stop(bot, 60.0)
        await trio_asyncio.aio_as_trio(sim.close)()
        await trio.to_thread.run_sync(drop_database, server, url)
    return plan.messages / elapsed, startup, cpu


async def _run(plan: Plan, workdir: Path) -> Result:
    rates: dict[str, float] = {}
    startups: dict[str, float] = {}
    cpu_us: dict[str, dict[str, float]] = {}
    with postgres() as server:
        async with trio_asyncio.open_loop():
            for n in PROCESSES:
                rate, startup, cpu = await one_config(plan, n, server, workdir)
                rates[str(n)], startups[str(n)], cpu_us[str(n)] = rate, startup, cpu
    return Result(asdict(plan), rates, startups, os.cpu_count() or 1, cpu_us)


def result(size: Size, cache: Path, rep: int) -> Result:
    """One run per repetition, shared by the three figures (cached in the suite's directory)."""
    plan = Plan.for_size(size)
    path = cache / f"multi_process-{size.value}-{plan.guilds}-{rep}.json"
    if path.exists():
        return Result(**json.loads(path.read_text()))
    with tempfile.TemporaryDirectory(prefix="multi-") as tmp:
        done = trio.run(_run, plan, Path(tmp))
    path.write_text(json.dumps(asdict(done)))
    return done


def _sample(processes: int, size: Size, cache: Path, rep: int) -> Sample:
    r = result(size, cache, rep)
    cpu = r.cpu_us[str(processes)]
    notes = {f"startup_s_{n}p": r.startups[str(n)] for n in PROCESSES} | {"cores": float(r.cores)}
    notes |= {f"cpu_us_per_message_{part}": cpu[part] for part in ("bots", "sim", "postgres")}
    return Sample(r.rates[str(processes)], baseline=r.rates["1"], notes=notes)


def one_sample(size: Size, cache: Path, rep: int = 0) -> Sample:
    return _sample(1, size, cache, rep)


def two_sample(size: Size, cache: Path, rep: int = 0) -> Sample:
    return _sample(2, size, cache, rep)


def four_sample(size: Size, cache: Path, rep: int = 0) -> Sample:
    return _sample(4, size, cache, rep)


def main(argv: list[str] | None = None) -> int:
    from benchmarks.suite import print_one_run

    parser = argparse.ArgumentParser(prog="python -m benchmarks.multi_process", description=__doc__)
    parser.add_argument("--size", choices=[s.value for s in Size], default=Size.FULL.value)
    args = parser.parse_args(argv)
    if (why := unavailable()) is not None:
        for name in FIGURES:
            print(f"# {name}: skipped ({why})")
        return 0
    print_one_run(__name__, FIGURES, Size(args.size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
