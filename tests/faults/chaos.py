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
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

import trio
import trio.testing
import trio_asyncio
from attrs import define, field

from discord_sim.crowd import Scenario, build_scenario
from discord_sim.ratelimit import RateLimits, Rule
from discord_sim.server import DiscordSim
from discord_sim.world import TEXT, SimChannel, SimMember, World
from domain.clock import WallClock
from tests.voice_oracle import counts as voice_counts

ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT = 0.3  # VOICE_CHECKPOINT_SECONDS for the bot: short, so a run of seconds has many
FLUSH = 0.2  # MESSAGE_FLUSH_SECONDS (also the voice ledger's flush period)
# How late the bot may stamp an event compared with the simulator's clock: the frame crosses a
# loopback websocket and waits for disnake's loop (the bot stamps at its parser). Measured over 120
# seeds, 3 at a time on a shared 2-core machine: users no fault excused were off by 0.027 s at worst
# in total; 0.15 s per change of a user's counting state leaves room for a loaded machine.
STAMP = 0.15
# A message the bot received but had not yet flushed when killed: the counter flushes FLUSH
# seconds after a batch's first message, plus the write itself and the delivery (STAMP).
UNFLUSHED = FLUSH + 0.1 + STAMP
STOP_TIMEOUT = 30.0  # seconds a SIGTERM'd bot may take to stop cleanly

Interval = tuple[float, float]

KIND_SETS = {
    0: ("kill",),
    1: ("drop", "reconnect"),
    2: ("invalid_session",),
    3: ("429", "5xx", "slow", "30046"),
    4: ("db_lock",),
    5: ("kill", "drop", "reconnect", "invalid_session", "429", "5xx", "slow", "30046", "db_lock"),
}
SEED_CLASS = {0: "kill", 1: "resume", 2: "reidentify", 3: "rest", 4: "db_lock", 5: "mixed"}


# -- what happened, as the simulator saw it ------------------------------------------------------------


@define
class Record:
    start: float
    messages: list[tuple[float, int, int, bool]] = field(factory=list)  # at, guild, user, countable
    voice: list[tuple[float, int, int, int | None, dict[str, bool]]] = field(factory=list)
    bots: set[int] = field(factory=set)  # user ids of bot members
    afk: dict[int, int | None] = field(factory=dict)  # guild -> its AFK channel
    starts: list[float] = field(factory=list)  # bot processes started
    identifies: list[float] = field(factory=list)
    resumes: list[float] = field(factory=list)
    kills: list[float] = field(factory=list)
    gaps: list[tuple[str, float, float]] = field(factory=list)  # (kind, from, until): gateway outages
    locks: list[Interval] = field(factory=list)  # the database locked by another process
    faults: Counter[str] = field(factory=Counter)
    refused_30046: int = 0
    end: float = 0.0


def _after(times: Iterable[float], t: float) -> float | None:
    return next((x for x in sorted(times) if x >= t), None)


def close_gaps(record: Record, pending: list[tuple[str, float, int]]) -> None:
    """A RESUME path ends at the next RESUME or IDENTIFY; a re-IDENTIFY at the next IDENTIFY that
    was not itself spoilt: an INVALID_SESSION sent to a connection that had not identified yet
    reaches the client before its IDENTIFY is answered, so that IDENTIFY's session dies at once.
    A kill ends a re-IDENTIFY too: the next process's first IDENTIFY is a clean one (seed 803)."""
    for kind, t, spoilt in pending:
        if kind == "invalid_session":
            later = sorted(x for x in record.identifies if x >= t)
            until = later[spoilt] if spoilt < len(later) else None
            kill = _after(record.kills, t)
            restarted = _after(record.identifies, kill) if kill is not None else None
            if restarted is not None and (until is None or restarted < until):
                until = restarted
        else:
            until = _after([*record.resumes, *record.identifies], t)
        record.gaps.append((kind, t, record.end if until is None else until))


# -- the oracle ---------------------------------------------------------------------------------------


def windows(record: Record) -> list[Interval]:
    """When a bot process was alive and connected: from its first IDENTIFY until it was killed."""
    out = []
    for started in record.starts:
        up = _after(record.identifies, started)
        if up is not None:
            down = _after(record.kills, up)
            out.append((up, record.end if down is None else down))
    return out


def merged_outages(record: Record) -> list[tuple[set[str], float, float]]:
    """Gateway outages: overlapping gaps merged (a second INVALID_SESSION during a re-IDENTIFY
    makes one outage as long as both)."""
    merged: list[tuple[set[str], float, float]] = []
    for kind, g0, g1 in sorted(record.gaps, key=lambda g: g[1]):
        if merged and g0 <= merged[-1][2]:
            kinds, m0, m1 = merged[-1]
            merged[-1] = (kinds | {kind}, m0, max(m1, g1))
        else:
            merged.append(({kind}, g0, g1))
    return merged


def counting_at(spans: list[Interval], t: float) -> bool:
    return any(s0 <= t < s1 for s0, s1 in spans)


def overlap(a: Iterable[Interval], b: Iterable[Interval]) -> float:
    b = list(b)
    return sum(max(0.0, min(x1, y1) - max(x0, y0)) for x0, x1 in a for y0, y1 in b)


def counting_intervals(record: Record) -> dict[tuple[int, int], list[Interval]]:
    """When each user's voice time counts, by the rule in ``tests.voice_oracle``, from the simulator's
    record: who was in which channel with which flags (company = another human in the channel)."""
    by_guild: dict[int, list[tuple[float, int, int | None, dict[str, bool]]]] = defaultdict(list)
    for at, guild_id, user_id, channel_id, flags in record.voice:
        by_guild[guild_id].append((at, user_id, channel_id, flags))
    out: dict[tuple[int, int], list[Interval]] = defaultdict(list)
    for guild_id, changes in by_guild.items():
        where: dict[int, tuple[int, dict[str, bool]]] = {}
        since: dict[int, float] = {}  # user -> counting since
        for i, (at, user_id, channel_id, flags) in enumerate(changes):
            if channel_id is None:
                where.pop(user_id, None)
            elif user_id not in record.bots:
                where[user_id] = (channel_id, flags)
            if i + 1 < len(changes) and changes[i + 1][0] == at:
                continue  # settle simultaneous changes together
            for uid in set(where) | set(since):
                if uid in where:
                    channel, f = where[uid]
                    presence = {
                        "channel_id": channel,
                        **f,
                        "afk": channel == record.afk[guild_id],
                        "has_company": any(c == channel for u, (c, _) in where.items() if u != uid),
                    }
                    counting = voice_counts(presence)
                else:
                    counting = False
                if counting and uid not in since:
                    since[uid] = at
                elif not counting and uid in since:
                    out[(guild_id, uid)].append((since.pop(uid), at))
        for uid, t in since.items():
            out[(guild_id, uid)].append((t, record.end))
    return dict(out)


@define
class Deviation:
    key: tuple[int, int]
    what: str  # "messages" or "voice"
    counted: float
    truth: float  # what the bot could have seen (the oracle)
    over_allowed: float
    under_allowed: float
    faults: tuple[str, ...]  # the fault kinds that gave this user an allowance

    @property
    def error(self) -> float:
        return self.counted - self.truth

    @property
    def ok(self) -> bool:
        return -self.under_allowed - 1e-6 <= self.error <= self.over_allowed + 1e-6


@define
class Bounds:
    """The promises, per user, as allowances around the oracle:

    - Voice: the oracle is the user's counting time while a bot process was up (downtime never
      counts). Over by at most STAMP per change of the user's counting state (the bot stamps at
      receipt); under by as much plus, per kill while the user counted in the last moments,
      CHECKPOINT + FLUSH (and any time the database was locked just before). A gateway outage
      counts for a user only if they were counting all through it as far as the bot can tell, so it
      allows its length under to users whose counting state changed during it; and over only where
      the bot cannot tell: a re-IDENTIFY shows only the end state, so a user counting at both ends
      who stopped in between (left and came back) looks as if they never stopped.
    - Messages: the oracle counts human, non-webhook messages sent while a bot process could
      receive them (not during downtime nor between INVALID_SESSION and the next IDENTIFY); never
      over, and under only by the user's messages sent in the last UNFLUSHED seconds before a kill
      (plus any database lock then). Without kills: exact.
    """

    record: Record

    def voice(self, db: dict[tuple[int, int], float]) -> list[Deviation]:
        record, up = self.record, windows(self.record)
        out = []
        intervals = counting_intervals(record)
        for key in set(intervals) | set(db):
            spans = intervals.get(key, [])
            truth = overlap(spans, up)
            edges = [t for span in spans for t in span if t < record.end]
            edges += [t for w in up for t in w if any(s0 <= t <= s1 for s0, s1 in spans)]
            over = under = STAMP * len(edges)
            kinds: set[str] = set()
            for kill in record.kills:
                lead = (kill - CHECKPOINT - FLUSH - STAMP - self._locked_before(kill), kill)
                if overlap(spans, [lead]) > 0:
                    under += lead[1] - lead[0]
                    kinds.add("kill")
            for outage_kinds, g0, g1 in merged_outages(record):
                if any(g0 - STAMP <= t <= g1 + STAMP for t in edges):
                    under += g1 - g0 + STAMP
                    kinds |= outage_kinds
                    if (
                        "invalid_session" in outage_kinds
                        and counting_at(spans, g0)
                        and counting_at(spans, g1)
                    ):
                        over += g1 - g0 + STAMP
            out.append(Deviation(key, "voice", db.get(key, 0.0), truth, over, under, tuple(sorted(kinds))))
        return out

    def delivered(self, at: float) -> bool:
        """Was a bot session there to receive a message sent at ``at`` (now or by RESUME replay)?"""
        record = self.record
        dead = [(g0, g1) for kind, g0, g1 in record.gaps if kind == "invalid_session"]
        return any(u0 <= at < u1 for u0, u1 in windows(record)) and not any(g0 <= at < g1 for g0, g1 in dead)

    def undelivered(self) -> int:
        """Countable messages no bot process could see: sent while it was down or re-identifying."""
        return sum(1 for at, _, _, countable in self.record.messages if countable and not self.delivered(at))

    def messages(self, db: dict[tuple[int, int], int]) -> list[Deviation]:
        record = self.record
        truth: Counter[tuple[int, int]] = Counter()
        at_risk: Counter[tuple[int, int]] = Counter()
        for at, guild_id, user_id, countable in record.messages:
            if not countable or not self.delivered(at):
                continue
            truth[(guild_id, user_id)] += 1
            if any(k - UNFLUSHED - self._locked_before(k) <= at <= k for k in record.kills):
                at_risk[(guild_id, user_id)] += 1
        return [
            Deviation(
                key,
                "messages",
                db.get(key, 0),
                truth[key],
                0,
                at_risk[key],
                ("kill",) if at_risk[key] else (),
            )
            for key in set(truth) | set(db)
        ]

    def _locked_before(self, t: float) -> float:
        """How long the database was locked in the few seconds before ``t`` (nothing flushed then)."""
        return overlap(self.record.locks, [(t - 5.0, t)])


# -- the run ------------------------------------------------------------------------------------------


@define
class SeedReport:
    seed: int
    seed_class: str
    seconds: float
    faults: Counter[str]
    deviations: list[Deviation]
    problems: list[str]  # anything else that went wrong (the bot died, did not come back...)
    outages: list[tuple[str, float]] = field(factory=list)  # gateway outages: kind, seconds
    undelivered: int = 0  # countable messages sent while no bot session could receive them
    wall: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems and all(d.ok for d in self.deviations)

    def worst(self, what: str) -> tuple[Deviation | None, Deviation | None]:
        """The largest excess over the truth and the largest shortfall."""
        mine = [d for d in self.deviations if d.what == what]
        over = max(mine, key=lambda d: d.error, default=None)
        under = min(mine, key=lambda d: d.error, default=None)
        return over, under

    def summary(self) -> str:
        faults = ", ".join(f"{k} x{n}" for k, n in sorted(self.faults.items())) or "none"
        verdict = "ok" if self.ok else "FAILED"
        lines = [f"seed {self.seed} [{self.seed_class}] {verdict} in {self.wall:.1f}s: faults {faults}"]
        if self.outages:
            lines.append("  gateway outages: " + ", ".join(f"{k} {s:.2f}s" for k, s in self.outages))
        if self.undelivered:
            lines.append(f"  {self.undelivered} messages sent while no bot session could receive them")
        for what, unit in (("messages", ""), ("voice", "s")):
            over, under = self.worst(what)
            if over is None or under is None:
                continue
            lines.append(
                f"  {what}: worst over {over.error:+.3f}{unit} (allowed {over.over_allowed:.3f}), "
                f"worst under {under.error:+.3f}{unit} (allowed -{under.under_allowed:.3f}); "
                f"{sum(1 for d in self.deviations if d.what == what)} users"
            )
        for d in self.deviations:
            if not d.ok:
                why = ", ".join(d.faults) or "no fault"
                lines.append(
                    f"  OUT OF BOUNDS {d.what} {d.key}: counted {d.counted:.3f}, truth {d.truth:.3f}, "
                    f"allowed +{d.over_allowed:.3f}/-{d.under_allowed:.3f} ({why})"
                )
        lines += [f"  PROBLEM {p}" for p in self.problems]
        if not self.ok:
            lines.append(
                f"  replay: python -m tests.faults.chaos {self.seed} --minutes {self.seconds / 60:g}"
            )
        return "\n".join(lines)


class Bot:
    """``python -m bot_entry run`` against the simulator, restartable."""

    def __init__(self, sim: DiscordSim, workdir: Path, db: Path, record: Record) -> None:
        self.workdir = workdir
        self.record = record
        self.log = workdir / "bot.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "LEADERBOARD_"))} | {
            "DISCORD_TOKEN": sim.token,
            "DISCORD_API_BASE": sim.base_url,
            "LEADERBOARD_DB": str(db),
            "VOICE_CHECKPOINT_SECONDS": str(CHECKPOINT),
            "MESSAGE_FLUSH_SECONDS": str(FLUSH),
            "OPS_PORT": "0",
            "BACKUP_INTERVAL_HOURS": "0",
            "LOG_FORMAT": "console",
            "SUPERVISOR_INTENSITY": "50",
            "PYTHONPATH": str(ROOT),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.exits: list[int] = []  # exit codes of processes that ended without our SIGKILL

    def start(self) -> None:
        with self.log.open("ab") as log:  # the child keeps its own copy of the fd
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot_entry", "run"],
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=log,
            )
        self.record.starts.append(time.time())

    def identified(self) -> bool:
        """The current process has connected (IDENTIFY) at least once."""
        record = self.record
        return bool(record.starts and record.identifies and record.identifies[-1] >= record.starts[-1])

    def kill(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:  # it ended by itself before we came to kill it
            self.exits.append(self.process.returncode)
            return
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def stop(self) -> int | None:
        """SIGTERM and wait for the clean shutdown; None if it did not exit in time."""
        process = self.process
        assert process is not None
        process.send_signal(signal.SIGTERM)
        try:
            return await trio.to_thread.run_sync(partial(process.wait, STOP_TIMEOUT))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return None

    def tail(self, n: int = 2500) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""


def plan_faults(rng: random.Random, kinds: tuple[str, ...], seconds: float) -> list[tuple[float, str]]:
    """Seeded fault moments within the run (none in the first and last fifth, so the bot is up
    at the start and has settled at the end)."""
    per_kind = {"kill": (1, 2), "db_lock": (1, 2)}
    plan = []
    for kind in kinds:
        lo, hi = per_kind.get(kind, (1, 3))
        for _ in range(rng.randint(lo, hi)):
            plan.append((rng.uniform(0.2, 0.75) * seconds, kind))
    return sorted(plan)


def clear_rest_faults(sim: DiscordSim) -> None:
    """Take back the REST faults not spent yet, before the clean stop.

    The stop is bounded whatever Discord does (tests/faults/test_chaos.py), but a board call it
    cuts may leave an old board behind; with Discord healthy at the end, ``check_boards`` can
    hold the bot to exactly two boards per guild.
    """
    sim.faults.fail_fraction(0)
    sim.faults._fail_next.clear()  # the simulator has no public way to take these back
    sim.faults._rate_limits.clear()
    sim.faults.set_delay(0)


def board_channel(scenario: Scenario) -> SimChannel:
    return next(c for c in scenario.guild.channels.values() if c.name == "boards")


def seed_board_configs(db: Path, scenarios: list[Scenario], now: float) -> None:
    """Each guild's boards in its own #boards channel, updated every second (stored as admins would)."""
    from domain.guild_config import GuildConfig, config_to_json
    from persistence.store import Store

    store = Store(db)
    try:
        for scenario in scenarios:
            channel = board_channel(scenario).channel_id
            config = GuildConfig(
                message_board_channel_id=channel, voice_board_channel_id=channel, update_interval=1.0
            )
            store.save_guild_config_sync(
                scenario.guild.guild_id, config_to_json(config), now, 1, "config", "chaos"
            )
    finally:
        store.close()


def read_db(db: Path) -> tuple[dict[tuple[int, int], int], dict[tuple[int, int], float]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT guild_id, user_id, SUM(messages), SUM(voice_ms) FROM activity GROUP BY 1, 2"
        ).fetchall()
    return ({(g, u): n for g, u, n, _ in rows if n}, {(g, u): ms / 1000 for g, u, _, ms in rows if ms})


async def run_seed(
    seed: int, seconds: float, workdir: Path, *, guilds: int = 3, members: int = 8
) -> SeedReport:
    """One seeded chaos run (inside a trio-asyncio loop); returns its report."""
    began = time.monotonic()
    await trio.Path(workdir).mkdir(parents=True, exist_ok=True)
    db = workdir / "lb.db"
    rng = random.Random(seed)
    seed_class = SEED_CLASS[seed % 6]
    clock = WallClock.real()
    sim = DiscordSim(World(lambda: int(clock.now() * 1000)), token=f"chaos-token-{seed}")
    scenarios = [
        build_scenario(sim, random.Random(seed * 31 + i), members=members, name=f"Guild {i}")
        for i in range(guilds)
    ]
    for scenario in scenarios:
        boards = SimChannel(sim.world.new_id(), scenario.guild.guild_id, "boards", TEXT)
        scenario.guild.channels[boards.channel_id] = boards
    record = Record(start=time.time())
    record.bots = {s.bot.user_id for s in scenarios} | {sim.world.bot.user_id}
    record.afk = {s.guild.guild_id: s.guild.afk_channel_id for s in scenarios}
    sim.on_identify.append(lambda _session: record.identifies.append(time.time()))
    resume = sim.gateway._resume

    def resumed(connection: Any, data: Any) -> None:
        record.resumes.append(time.time())
        resume(connection, data)

    sim.gateway._resume = resumed  # type: ignore[method-assign]
    sim.limits = CountingLimits(record)
    seed_board_configs(db, scenarios, time.time())

    def say(scenario: Scenario, author: SimMember, *, webhook: bool = False) -> None:
        sim.send_message(rng.choice(scenario.text_channels), author, "hi", webhook=webhook)
        record.messages.append(
            (time.time(), scenario.guild.guild_id, author.user_id, not author.bot and not webhook)
        )

    def voice(scenario: Scenario, member: SimMember, channel: SimChannel | None, **flags: bool) -> None:
        guild = scenario.guild
        sim.set_voice(guild, member, channel, **flags)
        record.voice.append(
            (time.time(), guild.guild_id, member.user_id, channel.channel_id if channel else None, flags)
        )

    def pick_channel(scenario: Scenario) -> SimChannel:
        """Mostly the Lounge (company), sometimes Gaming, now and then the AFK channel."""
        lounge, gaming = scenario.voice_channels[:2]
        afk = scenario.guild.channels[scenario.guild.afk_channel_id]  # type: ignore[index]
        return rng.choices([lounge, gaming, afk], [5, 3, 1])[0]

    def act(scenario: Scenario) -> None:
        """One member does something in voice: join or move, leave, or change mute/deafen."""
        member = scenario.bot if rng.random() < 0.08 else rng.choice(scenario.humans)
        state = scenario.guild.voice_states.get(member.user_id)
        roll = rng.random()
        if state is None or roll < 0.3:
            voice(scenario, member, pick_channel(scenario))
        elif roll < 0.5:
            voice(scenario, member, None)
        else:
            channel = scenario.guild.channels[int(state["channel_id"])]
            voice(scenario, member, channel, self_mute=rng.random() < 0.3, self_deaf=rng.random() < 0.15)

    kinds = KIND_SETS[seed % 6]
    if "30046" in kinds:
        sim.limits.old_message_age = 1.0
        sim.limits.old_message_edits = Rule(2, 3600.0)
    plan = plan_faults(rng, kinds, seconds)
    problems: list[str] = []
    pending_gaps: list[tuple[str, float, int]] = []

    await trio_asyncio.aio_as_trio(sim.start)()
    bot = Bot(sim, workdir, db, record)  # after start: the simulator's port is in its environment
    try:
        for scenario in scenarios:  # some are in voice before the bot starts (GUILD_CREATE shows them)
            for member in scenario.humans:
                if rng.random() < 0.4:
                    voice(scenario, member, pick_channel(scenario))
        bot.start()
        if not await wait_for(bot.identified, 60):
            problems.append("the bot never identified")
            raise _Abort

        async def faults() -> None:
            t0 = time.monotonic()
            for at, kind in plan:
                await trio.sleep_until(trio.current_time() + max(0.0, t0 + at - time.monotonic()))
                await inject(kind)

        async def inject(kind: str) -> None:
            now = time.time()
            if kind == "kill":
                await wait_for(bot.identified, 60)  # kill a running bot, not one starting up
                bot.kill()
                record.kills.append(time.time())
                await trio.sleep(rng.uniform(0.1, 0.8))  # the crowd carries on during the downtime
                bot.start()
            elif kind in ("drop", "reconnect", "invalid_session"):
                if not sim.gateway.connections:
                    return  # nothing to cut (the bot is down): not injected
                spoilt = sum(1 for c in sim.gateway.connections if c.session is None)
                if kind == "drop":
                    sim.faults.drop_websockets()
                elif kind == "reconnect":
                    sim.faults.reconnect()
                else:
                    sim.faults.invalid_session(resumable=False)
                pending_gaps.append((kind, now, spoilt))
            elif kind == "429":
                storm = rng.randint(3, 12)
                sim.faults.rate_limit(
                    "PATCH /channels/*/messages/*",
                    times=storm,
                    retry_after=rng.uniform(0.1, 1.0),
                    is_global=rng.random() < 0.3,
                )
                sim.faults.rate_limit("POST /channels/*/messages", times=storm // 2, retry_after=0.5)
            elif kind == "5xx":  # a bad second or so: each call fails with some probability
                status = rng.choice([500, 502, 503])
                sim.faults.fail_fraction(rng.uniform(0.3, 1.0), status=status, seed=rng.randrange(2**32))
                await trio.sleep(rng.uniform(0.3, 1.2))
                sim.faults.fail_fraction(0)
            elif kind == "slow":
                sim.faults.set_delay(rng.uniform(0.2, 1.5))
                await trio.sleep(rng.uniform(0.3, 1.5))
                sim.faults.set_delay(0)
            elif kind == "30046":
                pass  # on from the start: every edit of a board older than 1 s past the quota
            elif kind == "db_lock":
                hold = rng.uniform(0.2, 1.5)
                conn = sqlite3.connect(db, timeout=30, check_same_thread=False, isolation_level=None)
                try:  # another process takes the write lock (waiting, off this thread, for the bot's)
                    await trio.to_thread.run_sync(conn.execute, "BEGIN IMMEDIATE")
                    locked = time.time()
                    await trio.sleep(hold)
                    conn.execute("ROLLBACK")
                finally:
                    conn.close()
                record.locks.append((locked, time.time()))
            record.faults[kind] += 1

        async def crowd() -> None:
            t0 = time.monotonic()
            while time.monotonic() - t0 < seconds:
                for scenario in scenarios:
                    roll = rng.random()
                    if roll < 0.05:
                        say(scenario, scenario.bot)
                    elif roll < 0.08:
                        say(scenario, rng.choice(scenario.humans), webhook=True)
                    else:
                        say(
                            scenario,
                            rng.choices(scenario.humans, [1 / (i + 1) for i in range(len(scenario.humans))])[
                                0
                            ],
                        )
                    if rng.random() < 0.25:
                        act(scenario)
                await trio.sleep(rng.uniform(0.03, 0.12))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(faults)
            nursery.start_soon(crowd)
        clear_rest_faults(sim)
        # Settle: the last process is connected and has the guilds before everyone leaves.
        if not await wait_for(lambda: bot.identified() and bool(sim.sessions), 60):
            problems.append("the bot did not come back after the last fault")
        await trio.sleep(0.3)
        for scenario in scenarios:
            for user_id in list(scenario.guild.voice_states):
                voice(scenario, scenario.guild.members[user_id], None)
        await trio.sleep(0.3)  # the leaves arrive; the clean stop below flushes everything
        record.end = time.time()
        if not bot.alive():
            problems.append(f"the bot died (exit {bot.process.returncode if bot.process else None})")
        problems += [
            f"a bot process ended by itself (exit {code}) before it was killed" for code in bot.exits
        ]
        code = await bot.stop()
        if code != 0:
            problems.append(f"the bot did not shut down cleanly (exit {code})")
    except _Abort:
        record.end = time.time()
        if bot.alive():
            await bot.stop()
    finally:
        await trio_asyncio.aio_as_trio(sim.close)()
    close_gaps(record, pending_gaps)
    record.faults["30046"] = record.refused_30046 if "30046" in kinds else 0
    record.faults = +record.faults
    messages, voice_s = read_db(db)
    bounds = Bounds(record)
    deviations = bounds.messages(messages) + bounds.voice(voice_s)
    problems += check_boards(sim, scenarios)
    if problems or not all(d.ok for d in deviations):
        problems.append("bot log tail:\n" + bot.tail())
    outages = [("+".join(sorted(kinds)), g1 - g0) for kinds, g0, g1 in merged_outages(record)]
    return SeedReport(
        seed,
        seed_class,
        seconds,
        record.faults,
        deviations,
        problems,
        outages,
        bounds.undelivered(),
        time.monotonic() - began,
    )


class CountingLimits(RateLimits):
    """Discord's limits, counting the 30046 refusals (old-message edits past the quota)."""

    def __init__(self, record: Record) -> None:
        super().__init__()
        self.record = record

    def old_edit_allowed(self, channel_id: int, now: float) -> bool:
        ok = super().old_edit_allowed(channel_id, now)
        self.record.refused_30046 += not ok
        return ok


class _Abort(Exception):
    pass


def check_boards(sim: DiscordSim, scenarios: list[Scenario]) -> list[str]:
    """After a clean shutdown each guild should show exactly one message board and one voice board."""
    problems = []
    for scenario in scenarios:
        channel = board_channel(scenario).channel_id
        mine = [
            m
            for m in sim.world.messages.get(channel, {}).values()
            if m["author"]["id"] == str(sim.world.bot.user_id)
        ]
        if len(mine) != 2:
            problems.append(f"guild {scenario.guild.guild_id}: {len(mine)} board messages in #boards, want 2")
    return problems


async def wait_for(predicate: Callable[[], bool], limit: float) -> bool:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await trio.sleep(0.02)
    return True


# -- soak: a simulated week through the in-process pipeline ----------------------------------------------


def rss_bytes() -> int:
    """This process's resident set size now (Linux)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x."""
    n = len(points)
    mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0


async def soak(
    db: Path, *, days: float = 7.0, users: int = 3_000, per_second: float = 2.0, seed: int = 1
) -> dict[str, Any]:
    """``days`` of simulated time (MockClock, inline store) at ``per_second`` messages plus voice
    traffic from ``users`` members in 3 guilds; RSS and the pipeline's tables sampled hourly."""
    from domain.events import Event, GuildSnapshot, MessageSent, VoiceStateChanged
    from tests.harness import EPOCH, settings_for
    from wiring.pipeline import Pipeline

    rng = random.Random(seed)
    clock = WallClock.starting_at(EPOCH)
    # A reset every day; checkpoints and flushes less often than in production, so a week of
    # thousands of open voice sessions runs in minutes (memory does not depend on how often).
    settings = settings_for(
        db,
        PERIOD_DAYS="1",
        VOICE_CHECKPOINT_SECONDS="600",
        MESSAGE_FLUSH_SECONDS="30",
        VOICE_FLUSH_SECONDS="30",
    )
    pipeline = Pipeline(settings.pipeline, clock, inline_db=True)
    guilds = [1_000 + g for g in range(3)]
    channels = {g: [g * 100 + c for c in range(4)] for g in guilds}  # the last one is the AFK channel
    members = [(rng.choice(guilds), 10_000 + u) for u in range(users)]
    where: dict[tuple[int, int], int] = {}
    samples: list[tuple[float, int, int, int]] = []  # day, rss, voice sessions, dedupe window
    send, receive = trio.open_memory_channel[Event](10_000)
    next_id = 10**15
    burst = 10.0  # seconds of traffic sent at once
    async with trio.open_nursery() as nursery:
        await nursery.start(pipeline.run, receive)
        async with send:
            for g in guilds:
                await send.send(
                    GuildSnapshot(
                        g,
                        f"soak {g}",
                        clock.now(),
                        afk_channel_id=channels[g][-1],
                        voice_channel_ids=frozenset(channels[g]),
                    )
                )
            start, hour = clock.now(), 0
            while clock.now() - start < days * 86_400:
                now = clock.now()
                for _ in range(int(per_second * burst)):
                    guild, user = rng.choice(members)
                    next_id += 1
                    await send.send(
                        MessageSent(guild, channels[guild][0], next_id, user, f"user {user}", now)
                    )
                for _ in range(int(per_second * burst / 10)):  # a tenth as many voice changes
                    guild, user = rng.choice(members)
                    channel = (
                        None if (guild, user) in where and rng.random() < 0.5 else rng.choice(channels[guild])
                    )
                    if channel is None:
                        where.pop((guild, user), None)
                    else:
                        where[(guild, user)] = channel
                    await send.send(
                        VoiceStateChanged(guild, user, channel, now, self_mute=rng.random() < 0.2)
                    )
                if now - start >= hour * 3_600:
                    router, tally_window = pipeline.router, 0
                    samples.append(
                        (
                            (now - start) / 86_400,
                            rss_bytes(),
                            len(router.sessions) if router else 0,
                            tally_window,
                        )
                    )
                    hour += 1
                await trio.sleep(burst)
    late = [(day, rss / 2**20) for day, rss, _, _ in samples if day >= days / 2]
    return {
        "days": days,
        "messages": int(days * 86_400 * per_second),
        "rss_mb_first_hour": round(samples[0][1] / 2**20, 1),
        "rss_mb_end": round(samples[-1][1] / 2**20, 1),
        "rss_mb_max": round(max(s[1] for s in samples) / 2**20, 1),
        "rss_slope_mb_per_day_second_half": round(slope(late), 3),
        "voice_sessions_max": max(s[2] for s in samples),
        "samples": [
            (round(d, 3), round(r / 2**20, 1), v) for d, r, v, _ in samples[:: max(1, len(samples) // 28)]
        ],
    }


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
