"""One chaos seed: a crowd in the simulator, the bot as a subprocess, faults at seeded moments.

``SeedRun`` holds the run's parts (simulator, scenarios, record, bot) and has one method per
fault kind; ``run_seed`` makes one and plays it. The seed decides everything the run chooses
(the fault plan, the crowd's moves); the real clock decides only when things happen.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio
import trio_asyncio
from attrs import define, field

from discord_sim.crowd import Scenario, build_scenario
from discord_sim.ratelimit import RateLimits, Rule
from discord_sim.server import DiscordSim
from discord_sim.world import TEXT, SimChannel, SimMember, World
from domain.clock import WallClock
from tests.faults.chaos_bot import Bot
from tests.faults.chaos_oracle import Bounds, Deviation, Record, close_gaps, merged_outages

KIND_SETS = {
    0: ("kill",),
    1: ("drop", "reconnect"),
    2: ("invalid_session",),
    3: ("429", "5xx", "slow", "30046"),
    4: ("db_lock",),
    5: ("kill", "drop", "reconnect", "invalid_session", "429", "5xx", "slow", "30046", "db_lock"),
}
SEED_CLASS = {0: "kill", 1: "resume", 2: "reidentify", 3: "rest", 4: "db_lock", 5: "mixed"}


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


class SeedRun:
    """The parts of one seeded run, and what it does to them: the crowd and one method per fault."""

    def __init__(
        self, seed: int, seconds: float, workdir: Path, *, guilds: int = 3, members: int = 8
    ) -> None:
        self.seed, self.seconds, self.workdir = seed, seconds, workdir
        self.db = workdir / "lb.db"
        self.rng = random.Random(seed)
        self.seed_class = SEED_CLASS[seed % 6]
        clock = WallClock.real()
        sim = self.sim = DiscordSim(World(lambda: int(clock.now() * 1000)), token=f"chaos-token-{seed}")
        self.scenarios = [
            build_scenario(sim, random.Random(seed * 31 + i), members=members, name=f"Guild {i}")
            for i in range(guilds)
        ]
        for scenario in self.scenarios:
            boards = SimChannel(sim.world.new_id(), scenario.guild.guild_id, "boards", TEXT)
            scenario.guild.channels[boards.channel_id] = boards
        record = self.record = Record(start=time.time())
        record.bots = {s.bot.user_id for s in self.scenarios} | {sim.world.bot.user_id}
        record.afk = {s.guild.guild_id: s.guild.afk_channel_id for s in self.scenarios}
        sim.on_identify.append(lambda _session: record.identifies.append(time.time()))
        resume = sim.gateway._resume

        def resumed(connection: Any, data: Any) -> None:
            record.resumes.append(time.time())
            resume(connection, data)

        sim.gateway._resume = resumed  # type: ignore[method-assign]
        sim.limits = CountingLimits(record)
        seed_board_configs(self.db, self.scenarios, time.time())
        self.kinds = KIND_SETS[seed % 6]
        if "30046" in self.kinds:
            sim.limits.old_message_age = 1.0
            sim.limits.old_message_edits = Rule(2, 3600.0)
        self.plan = plan_faults(self.rng, self.kinds, seconds)
        self.problems: list[str] = []
        self.pending_gaps: list[tuple[str, float, int]] = []
        self.bot = Bot(sim, workdir, self.db, record)

    # -- the crowd --------------------------------------------------------------------------------

    def say(self, scenario: Scenario, author: SimMember, *, webhook: bool = False) -> None:
        self.sim.send_message(self.rng.choice(scenario.text_channels), author, "hi", webhook=webhook)
        self.record.messages.append(
            (time.time(), scenario.guild.guild_id, author.user_id, not author.bot and not webhook)
        )

    def voice(self, scenario: Scenario, member: SimMember, channel: SimChannel | None, **flags: bool) -> None:
        guild = scenario.guild
        self.sim.set_voice(guild, member, channel, **flags)
        self.record.voice.append(
            (time.time(), guild.guild_id, member.user_id, channel.channel_id if channel else None, flags)
        )

    def pick_channel(self, scenario: Scenario) -> SimChannel:
        """Mostly the Lounge (company), sometimes Gaming, now and then the AFK channel."""
        lounge, gaming = scenario.voice_channels[:2]
        afk = scenario.guild.channels[scenario.guild.afk_channel_id]  # type: ignore[index]
        return self.rng.choices([lounge, gaming, afk], [5, 3, 1])[0]

    def act(self, scenario: Scenario) -> None:
        """One member does something in voice: join or move, leave, or change mute/deafen."""
        rng = self.rng
        member = scenario.bot if rng.random() < 0.08 else rng.choice(scenario.humans)
        state = scenario.guild.voice_states.get(member.user_id)
        roll = rng.random()
        if state is None or roll < 0.3:
            self.voice(scenario, member, self.pick_channel(scenario))
        elif roll < 0.5:
            self.voice(scenario, member, None)
        else:
            channel = scenario.guild.channels[int(state["channel_id"])]
            self.voice(scenario, member, channel, self_mute=rng.random() < 0.3, self_deaf=rng.random() < 0.15)

    async def crowd(self) -> None:
        rng = self.rng
        t0 = time.monotonic()
        while time.monotonic() - t0 < self.seconds:
            for scenario in self.scenarios:
                roll = rng.random()
                if roll < 0.05:
                    self.say(scenario, scenario.bot)
                elif roll < 0.08:
                    self.say(scenario, rng.choice(scenario.humans), webhook=True)
                else:
                    self.say(
                        scenario,
                        rng.choices(scenario.humans, [1 / (i + 1) for i in range(len(scenario.humans))])[0],
                    )
                if rng.random() < 0.25:
                    self.act(scenario)
            await trio.sleep(rng.uniform(0.03, 0.12))

    # -- the faults -------------------------------------------------------------------------------

    async def faults(self) -> None:
        t0 = time.monotonic()
        for at, kind in self.plan:
            await trio.sleep_until(trio.current_time() + max(0.0, t0 + at - time.monotonic()))
            await self.inject(kind)

    async def inject(self, kind: str) -> None:
        """One fault of ``kind``, counted in the record if it was injected."""
        match kind:
            case "kill":
                await self.kill()
            case "drop" | "reconnect" | "invalid_session":
                if not self.cut_gateway(kind):
                    return  # nothing to cut (the bot is down): not injected
            case "429":
                self.rate_limit_storm()
            case "5xx":
                await self.fail_5xx()
            case "slow":
                await self.slow_answers()
            case "30046":
                pass  # on from the start: every edit of a board older than 1 s past the quota
            case "db_lock":
                await self.lock_db()
        self.record.faults[kind] += 1

    async def kill(self) -> None:
        await wait_for(self.bot.identified, 60)  # kill a running bot, not one starting up
        self.bot.kill()
        self.record.kills.append(time.time())
        await trio.sleep(self.rng.uniform(0.1, 0.8))  # the crowd carries on during the downtime
        self.bot.start()

    def cut_gateway(self, kind: str) -> bool:
        """A websocket drop, op 7 RECONNECT or INVALID_SESSION; False if no connection was up."""
        now, sim = time.time(), self.sim
        if not sim.gateway.connections:
            return False
        spoilt = sum(1 for c in sim.gateway.connections if c.session is None)
        if kind == "drop":
            sim.faults.drop_websockets()
        elif kind == "reconnect":
            sim.faults.reconnect()
        else:
            sim.faults.invalid_session(resumable=False)
        self.pending_gaps.append((kind, now, spoilt))
        return True

    def rate_limit_storm(self) -> None:
        rng = self.rng
        storm = rng.randint(3, 12)
        self.sim.faults.rate_limit(
            "PATCH /channels/*/messages/*",
            times=storm,
            retry_after=rng.uniform(0.1, 1.0),
            is_global=rng.random() < 0.3,
        )
        self.sim.faults.rate_limit("POST /channels/*/messages", times=storm // 2, retry_after=0.5)

    async def fail_5xx(self) -> None:
        """A bad second or so: each call fails with some probability."""
        rng = self.rng
        status = rng.choice([500, 502, 503])
        self.sim.faults.fail_fraction(rng.uniform(0.3, 1.0), status=status, seed=rng.randrange(2**32))
        await trio.sleep(rng.uniform(0.3, 1.2))
        self.sim.faults.fail_fraction(0)

    async def slow_answers(self) -> None:
        self.sim.faults.set_delay(self.rng.uniform(0.2, 1.5))
        await trio.sleep(self.rng.uniform(0.3, 1.5))
        self.sim.faults.set_delay(0)

    async def lock_db(self) -> None:
        hold = self.rng.uniform(0.2, 1.5)
        conn = sqlite3.connect(self.db, timeout=30, check_same_thread=False, isolation_level=None)
        try:  # another process takes the write lock (waiting, off this thread, for the bot's)
            await trio.to_thread.run_sync(conn.execute, "BEGIN IMMEDIATE")
            locked = time.time()
            await trio.sleep(hold)
            conn.execute("ROLLBACK")
        finally:
            conn.close()
        self.record.locks.append((locked, time.time()))

    # -- the run ----------------------------------------------------------------------------------

    async def run(self, began: float) -> SeedReport:
        sim, record, bot, problems = self.sim, self.record, self.bot, self.problems
        await trio_asyncio.aio_as_trio(sim.start)()
        try:
            for (
                scenario
            ) in self.scenarios:  # some are in voice before the bot starts (GUILD_CREATE shows them)
                for member in scenario.humans:
                    if self.rng.random() < 0.4:
                        self.voice(scenario, member, self.pick_channel(scenario))
            bot.start()
            if not await wait_for(bot.identified, 60):
                problems.append("the bot never identified")
                raise _Abort
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self.faults)
                nursery.start_soon(self.crowd)
            clear_rest_faults(sim)
            # Settle: the last process is connected and has the guilds before everyone leaves.
            if not await wait_for(lambda: bot.identified() and bool(sim.sessions), 60):
                problems.append("the bot did not come back after the last fault")
            await trio.sleep(0.3)
            for scenario in self.scenarios:
                for user_id in list(scenario.guild.voice_states):
                    self.voice(scenario, scenario.guild.members[user_id], None)
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
        return self.report(began)

    def report(self, began: float) -> SeedReport:
        """Compare the bot's database with the oracle, once the run is over."""
        record, problems = self.record, self.problems
        close_gaps(record, self.pending_gaps)
        record.faults["30046"] = record.refused_30046 if "30046" in self.kinds else 0
        record.faults = +record.faults
        messages, voice_s = read_db(self.db)
        bounds = Bounds(record)
        deviations = bounds.messages(messages) + bounds.voice(voice_s)
        problems += check_boards(self.sim, self.scenarios)
        if problems or not all(d.ok for d in deviations):
            problems.append("bot log tail:\n" + self.bot.tail())
        outages = [("+".join(sorted(kinds)), g1 - g0) for kinds, g0, g1 in merged_outages(record)]
        return SeedReport(
            self.seed,
            self.seed_class,
            self.seconds,
            record.faults,
            deviations,
            problems,
            outages,
            bounds.undelivered(),
            time.monotonic() - began,
        )


async def run_seed(
    seed: int, seconds: float, workdir: Path, *, guilds: int = 3, members: int = 8
) -> SeedReport:
    """One seeded chaos run (inside a trio-asyncio loop); returns its report."""
    began = time.monotonic()
    await trio.Path(workdir).mkdir(parents=True, exist_ok=True)
    return await SeedRun(seed, seconds, workdir, guilds=guilds, members=members).run(began)


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
