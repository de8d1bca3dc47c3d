"""scale_startup: the real bot coming up in thousands of guilds at once (issue 17).

The bot runs as its own process (``python -m bot_entry run``, as in production and in the chaos
runs) against the loopback simulator in this process, both on the real clock. The simulator
holds G guilds (``SCALE_GUILDS``, default 2,500; quick 200, tiny 20) of 50 members each
(``discord_sim.crowd.build_town``), 5% of them in voice (``SCALE_IN_VOICE``, a fraction), and
before the bot starts every guild's two boards (messages and voice) are configured in its
``#boards`` channel with an update interval
of ``LEADERBOARD_INTERVAL`` seconds (10; tiny 2), stored as an admin's ``/lbconfig set`` would.
From the bot's IDENTIFY on, five members of each guild chat steadily (``chat_per_second`` over
the whole town: guilds / 25, 2 to 50; ``SCALE_CHAT_PER_SECOND`` sets it), so every message moves a
count that a board shows. Only in the guilds whose shard has identified: before that, Discord
delivers a message to no bot, so no board could ever show it (such a message left its member's
count one behind for the whole run; the notes count those not sent,
``messages_before_their_shard_identified``). The two knobs make a lighter load, where the boards
ask for less than the budget: the issue's own load (5% in voice) asks for more than twice it.

``SCALE_BOT_PROFILE=path.pyisession`` runs the bot under pyinstrument, which writes its profile there
when the bot exits (read it with ``python -m pyinstrument --load path.pyisession``).

One run gives four figures, each with its floor or baseline from the same run:

- ``shard_startup_s``: from the first IDENTIFY until every board of every guild is posted.
  Floor: boards / the REST budget (``REST_GLOBAL_PER_SECOND``, 40 where the setting does not
  exist yet), the least time a bot that never exceeds its budget can take.
- ``global_429s``: 429s the simulator answered (its ``world.rate_limited``) from the IDENTIFY to
  the end of ``intervals`` board intervals after start-up; target 0. The notes split out those
  with ``"global": true``. No ratio (the floor is 0).
- ``board_staleness_p99_s``: for each message sent after start-up (once the start-up's backlog of
  edits has drained: ``settle``, its time a note), the time until the guild's
  messages board (polled every 0.1 s) shows the sender's new count (one still not shown
  ``tail`` seconds after the chat stopped counts as the time it waited until then). Floor, as the
  issue states it: max(interval, boards changed per interval / budget): a board cannot show a
  change sooner than its interval, nor can every changed board be edited faster than the budget
  allows. "Changed" is the demand, from the ground truth, both kinds: the messages boards of the
  guilds with a message in the interval (the chat log), and the voice boards whose shown minutes
  moved (the bot's stored voice totals, read at each interval from its database). The notes add
  the calls per second the simulator saw in the window by what they did (``calls_per_s_*``), and
  ``fair_cycle_s``: the least time in which a bot within the budget edits every changed board of
  both kinds, oldest change first (``fair_cycle``), which the issue's floor underestimates once
  the boards change faster than the budget can edit them.
- ``interaction_ack_p99_s``: ``/rank`` interactions sent during the start-up burst (4 a second),
  time to the bot's first callback (polled every 10 ms; one not answered within Discord's 3 s
  counts as 3 s, and the notes count them). Baseline: the same, sent once the bot is quiet. Only
  in guilds whose shard has identified: shards IDENTIFY 5 s apart per ``max_concurrency`` bucket,
  and before its shard is up Discord cannot deliver a guild's interaction to any bot (it tells
  the member itself); the notes count those asks (``asks_before_their_shard_identified``).

``python -m benchmarks.scale_startup [--guilds N] [--size tiny|quick|full]`` prints the four
lines from one run; ``python -m benchmarks shard_startup_s ...`` runs it inside the suite, where
the four figures share one run per repetition (cached in the suite's directory).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

import trio
import trio_asyncio
from attrs import asdict, define, field

from benchmarks.common import Sample, Size
from discord_sim.crowd import Town, build_town
from discord_sim.server import DiscordSim
from discord_sim.world import SimGuild, SimInteraction, World
from tests.bot_process import bot_env, spawn, stop_blocking

TOKEN = "scale-token-not-a-secret"
MEMBERS = 50
IN_VOICE = 0.05
CHATTERS = 5  # members per guild who talk: all of them fit on a board, so every change shows
SEED = 17
ACK_DEADLINE = 3.0
_LINE = re.compile(r"\*\*#\d+\*\* (.+?) — ([\d,]+)")  # a board line: rank, name, count


@define(frozen=True)
class Plan:
    guilds: int
    interval: float  # each board's update interval
    intervals: int  # board intervals measured after start-up
    chat_per_second: float
    in_voice: float  # the fraction of each guild's members in voice
    startup_timeout: float
    tail: float  # seconds after the chat stops in which the last changes may still show
    settle_timeout: float  # seconds at most for the start-up's backlog of edits to drain
    quiet_asks: int  # /rank interactions for the baseline, once start-up is over

    @classmethod
    def for_size(cls, size: Size, guilds: int | None = None) -> Plan:
        g = guilds or int(os.environ.get("SCALE_GUILDS") or size.pick(20, 200, 2500))
        return cls(
            guilds=g,
            interval=size.pick(2.0, 10.0, 10.0),
            intervals=size.pick(2, 10, 10),
            chat_per_second=float(os.environ.get("SCALE_CHAT_PER_SECOND") or max(2.0, min(50.0, g / 25))),
            in_voice=float(os.environ.get("SCALE_IN_VOICE") or IN_VOICE),
            startup_timeout=size.pick(90.0, 300.0, 600.0),
            tail=size.pick(10.0, 20.0, 20.0),  # two intervals, or the bot's back-off after a 429
            # every messages board's edit twice over at the default budget (40/s): g / 20 s each
            settle_timeout=max(30.0, g / 10),
            quiet_asks=size.pick(5, 20, 20),
        )


@define
class Result:
    plan: dict[str, Any]
    budget: float
    boards: int
    startup_s: float
    startup_floor_s: float
    rate_limited: int
    global_429s: int
    staleness_p99_s: float
    staleness_floor_s: float
    changed_boards_per_interval: float
    changes_measured: int
    changes_unresolved: int
    ack_p99_s: float
    ack_quiet_p99_s: float
    acks_sent: int
    acks_late: int
    acks_undeliverable: int  # asks skipped because the guild's shard had not identified yet
    backlog_drain_s: float  # after the last first post, until every messages board caught up
    messages: int
    # From the ground truth over the measured intervals: boards whose shown content changed
    # (messages boards: a guild with a message; voice boards: a member's shown minutes moved).
    demand_messages_per_interval: float = 0.0
    demand_voice_per_interval: float = 0.0
    window_calls: dict[str, float] = field(factory=dict)  # REST calls per second by what they did
    fair_cycle_s: float = 0.0  # ``fair_cycle`` of the measured demand
    chat_undeliverable: int = 0  # messages not sent because the guild's shard had not identified yet


def rest_budget() -> float:
    """The bot's REST budget: ``REST_GLOBAL_PER_SECOND`` from the environment, else its default."""
    from attrs import fields

    from bot_entry.config import Settings

    if raw := os.environ.get("REST_GLOBAL_PER_SECOND"):
        return float(raw)
    return float(fields(Settings).rest_per_second.default)


def p99(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


def shown_counts(embed: dict[str, Any]) -> dict[str, int]:
    """Name -> count on a rendered messages board (``actors.board_render``'s lines)."""
    return {name: int(count.replace(",", "")) for name, count in _LINE.findall(embed.get("description", ""))}


# -- what the simulator shows ----------------------------------------------------------------------


class Boards:
    """Every guild's two boards as the simulator holds them, and the changes waiting to show."""

    def __init__(self, town: Town) -> None:
        self.town = town
        world = town.sim.world
        self.messages = world.messages
        self.bot_id = str(world.bot.user_id)
        self.channel = {g.guild_id: town.channel(g, "boards").channel_id for g in town.guilds}
        self.unposted = {g.guild_id for g in town.guilds}
        self.all_posted_at: float | None = None
        self.seen_edit: dict[int, Any] = {}  # guild -> (id, edited_timestamp) of the board read last
        self.pending: dict[int, list[tuple[float, str, int]]] = {}  # guild -> (sent, name, count)
        self.staleness: list[float] = []
        self.measuring = False
        self.changed: Counter[int] = Counter()  # guild -> board changes seen while measuring
        self.chat_log: list[tuple[float, int]] = []  # (sent, guild) of each message while measuring

    def _board(self, guild_id: int, word: str) -> dict[str, Any] | None:
        found = None
        for message in self.messages.get(self.channel[guild_id], {}).values():
            embeds = message.get("embeds")
            if message["author"]["id"] == self.bot_id and embeds and word in str(embeds[0].get("title", "")):
                found = message  # the latest (ids increase)
        return found

    def poll(self, now: float) -> None:
        if self.unposted:
            done = {g for g in self.unposted if self._board(g, "Message") and self._board(g, "Voice")}
            self.unposted -= done
            if not self.unposted:
                self.all_posted_at = now
        for guild_id in [g for g, waiting in self.pending.items() if waiting]:
            board = self._board(guild_id, "Message")
            version = None if board is None else (board["id"], board.get("edited_timestamp"))
            if board is None or self.seen_edit.get(guild_id, (board["id"], None)) == version:
                continue  # no board, or the one seen last (a board posted before any change shows none)
            self.seen_edit[guild_id] = version
            if self.measuring:
                self.changed[guild_id] += 1
            shown = shown_counts(board["embeds"][0])
            still = []
            for sent, name, count in self.pending[guild_id]:
                if shown.get(name, 0) >= count:
                    self.staleness.append(now - sent)
                else:
                    still.append((sent, name, count))
            self.pending[guild_id] = still

    def behind(self, targets: dict[int, dict[str, int]]) -> set[int]:
        """The guilds whose messages board does not yet show ``targets`` (guild -> name -> count)."""
        late = set()
        for guild_id, wanted in targets.items():
            board = self._board(guild_id, "Message")
            shown = {} if board is None else shown_counts(board["embeds"][0])
            if any(shown.get(name, 0) < count for name, count in wanted.items()):
                late.add(guild_id)
        return late

    def changed_now(self, guild: SimGuild, name: str, count: int, now: float) -> None:
        if self.measuring:
            self.pending.setdefault(guild.guild_id, []).append((now, name, count))
            self.chat_log.append((now, guild.guild_id))

    def unshown_examples(self, origin: float, most: int = 10) -> list[str]:
        """A few changes still not shown, for the reader: what the board shows instead."""
        lines = []
        for guild_id, waiting in self.pending.items():
            if waiting and len(lines) < most:
                sent, name, count = waiting[0]
                lines.append(
                    f"# unshown: guild {guild_id}: {name!r} at {count} since +{sent - origin:.1f} s, "
                    f"{self.showing(guild_id)}"
                )
        return lines

    def showing(self, guild_id: int) -> str:
        """The guild's messages board as the simulator holds it: which message, when last edited,
        what it shows."""
        board = self._board(guild_id, "Message")
        if board is None:
            return "no board"
        shown = shown_counts(board["embeds"][0])
        return f"board {board['id']} edited {board.get('edited_timestamp')} shows {shown}"

    def unresolved(self, now: float) -> list[float]:
        return [now - sent for waiting in self.pending.values() for sent, _, _ in waiting]


# -- what the boards have to show, and where the calls went ------------------------------------------


def shown_voice_minutes(db: Path) -> dict[tuple[int, int], int]:
    """(guild, user) -> the whole minutes of voice the bot has stored, which its voice board shows
    (read-only from the bot's own database: the ground truth of what a voice board must show)."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
        rows = conn.execute("SELECT guild_id, user_id, voice_ms FROM activity WHERE voice_ms > 0")
        return {(guild, user): ms // 60_000 for guild, user, ms in rows}


def voice_boards_changed(before: dict[tuple[int, int], int], after: dict[tuple[int, int], int]) -> int:
    """Guilds whose voice board's content moved between two readings: a member's minutes changed.
    (Every member with voice time fits on the board here: 5% of 50 members are in voice.)"""
    return len({guild for (guild, user), minutes in after.items() if before.get((guild, user)) != minutes})


def messages_boards_changed(chat_log: list[tuple[float, int]], start: float, end: float) -> int:
    """Guilds with a message sent in [start, end): their messages board's content moved."""
    return len({guild for sent, guild in chat_log if start <= sent < end})


_CALLS = (
    ("posts", "POST", re.compile(r"/channels/\d+/messages$")),
    ("edits", "PATCH", re.compile(r"/channels/\d+/messages/\d+$")),
    ("reads", "GET", re.compile(r"/channels/\d+/messages$")),
    ("checks", "GET", re.compile(r"/channels/\d+/messages/\d+$")),
    ("deletes", "DELETE", re.compile(r"/channels/\d+/messages/\d+$")),
    ("member_fetches", "GET", re.compile(r"/guilds/\d+/members")),
    ("interactions", "*", re.compile(r"/(interactions|webhooks)/")),
)


def fair_cycle(demand: list[tuple[int, float]], interval: float, budget: float) -> float:
    """The least time in which a bot within ``budget`` calls/s edits every board that changed, both
    kinds served alike (the oldest change first), for boards changing at the measured rates.

    ``demand``: per kind, (boards that can change, boards changed per ``interval``). Each board's
    changes are taken as a Poisson stream, its rate from the share of boards changed per interval:
    a board edited every T seconds needs an edit per cycle with probability 1 - exp(-rate T), so
    the cycle T is where sum(boards * (1 - exp(-rate T))) / T meets the budget (bisection; the
    interval when the budget covers every change of every interval). The issue's floor, changed
    boards per interval / budget, is this cycle's first step: it leaves out that boards go on
    changing while the backlog is edited, and with changes rarer than edits that is nearly all of
    them again."""
    rates = []
    for boards, changed in demand:
        if boards and changed:
            rates.append((boards, -math.log(max(1e-9, 1 - min(changed, boards - 0.5) / boards)) / interval))

    def wanted(cycle: float) -> float:
        return sum(n * (1 - math.exp(-rate * cycle)) for n, rate in rates) / cycle

    if wanted(interval) <= budget:
        return interval
    low, high = interval, interval
    while wanted(high) > budget and high < 1e6:
        high *= 2
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if wanted(mid) > budget else (low, mid)
    return high


def call_kind(method: str, path: str, body: Any) -> str:
    """What a REST call the simulator logged did (an edit says which kind of board)."""
    for kind, verb, pattern in _CALLS:
        if verb in ("*", method) and pattern.search(path):
            if kind == "edits":
                title = str(((body or {}).get("embeds") or [{}])[0].get("title", ""))
                return "edits_voice" if "Voice" in title else "edits_messages"
            return kind
    return "other"


def calls_per_second(calls: list[tuple[str, str, Any]], seconds: float) -> dict[str, float]:
    counted = Counter(call_kind(*call) for call in calls)
    return {kind: round(n / seconds, 2) for kind, n in sorted(counted.items())} | {
        "all": round(len(calls) / seconds, 2)
    }


# -- the bot process -------------------------------------------------------------------------------


def seed_board_configs(db: Path, town: Town, interval: float) -> None:
    """Both boards of every guild in its ``#boards``, as ``/lbconfig set`` stores them."""
    from domain.guild_config import GuildConfig, config_to_json
    from persistence.store import Store

    store = Store(db)
    try:
        with store.db.atomic():
            for guild in town.guilds:
                channel = town.channel(guild, "boards").channel_id
                config = GuildConfig(
                    message_board_channel_id=channel, voice_board_channel_id=channel, update_interval=interval
                )
                store.save_guild_config_sync(
                    guild.guild_id, config_to_json(config), time.time(), 1, "config", "bench"
                )
    finally:
        store.close()


def start_bot(sim: DiscordSim, workdir: Path, db: Path) -> tuple[subprocess.Popen[bytes], Path]:
    log = workdir / "bot.log"
    env = bot_env(
        DISCORD_TOKEN=sim.token,
        DISCORD_API_BASE=sim.base_url,
        LEADERBOARD_DB=str(db),
        LOG_FORMAT="json",
        LOG_LEVEL="WARNING",
    )
    wrapper: tuple[str, ...] = ()
    if profile := os.environ.get("SCALE_BOT_PROFILE"):  # opt-in: the bot's CPU under pyinstrument
        wrapper = ("-m", "pyinstrument", "-r", "pyisession", "-o", str(Path(profile).resolve()))
    return spawn(workdir, env, log, wrapper=wrapper), log


def stop_bot(process: subprocess.Popen[bytes]) -> None:
    stop_blocking(process, 30.0)


# -- the run ---------------------------------------------------------------------------------------


@define
class Run:
    plan: Plan
    sim: DiscordSim
    town: Town
    boards: Boards
    rng: random.Random
    asked: list[tuple[float, SimInteraction]] = field(factory=list)
    acks: dict[int, float] = field(factory=dict)  # interaction id -> seconds to its first callback
    undeliverable: int = 0  # asks skipped: the guild's shard was not connected yet
    unsaid: int = 0  # messages not sent: the guild's shard was not connected yet
    chatting: bool = True

    async def chat(self) -> None:
        every = 1 / self.plan.chat_per_second
        while self.chatting:
            guild = self.rng.choice(self.town.guilds)
            author = self.rng.choice(self.town.humans(guild)[:CHATTERS])
            if not self.deliverable(guild):  # Discord would deliver it to no bot: no board could show it
                self.unsaid += 1
                await trio.sleep(every)
                continue
            self.town.say(guild, author)
            count = self.town.truth[guild.guild_id, author.user_id]
            self.boards.changed_now(guild, author.global_name or "", count, time.time())
            await trio.sleep(every)

    async def watch(self) -> None:
        """Boards every 0.1 s, interactions every 10 ms."""
        tick = 0
        while True:
            now = time.time()
            for at, interaction in self.asked:
                if interaction.interaction_id not in self.acks:
                    if interaction.answered:
                        self.acks[interaction.interaction_id] = now - at
                    elif now - at > ACK_DEADLINE:
                        self.acks[interaction.interaction_id] = ACK_DEADLINE
            if tick % 10 == 0:
                self.boards.poll(now)
            tick += 1
            await trio.sleep(0.01)

    def deliverable(self, guild: SimGuild) -> bool:
        """Discord can hand an interaction in ``guild`` to the bot: a shard that owns the guild is
        connected and identified. Before that Discord itself tells the member the application did
        not respond; no bot can answer what it never receives."""
        return any(
            s.identified and s.connection is not None and s.owns(guild.guild_id)
            for s in self.sim.gateway.sessions.values()
        )

    def ask(self) -> SimInteraction | None:
        guild = self.rng.choice(self.town.guilds)
        member = self.rng.choice(self.town.humans(guild))
        if not self.deliverable(guild):
            self.undeliverable += 1
            return None
        try:
            interaction = self.sim.interact(guild, member, self.town.channel(guild, "general"), "rank")
        except LookupError:  # the bot has not registered its commands yet
            return None
        self.asked.append((time.time(), interaction))
        return interaction

    async def ask_during_startup(self, at_least: int) -> list[int]:
        ids: list[int] = []
        while self.boards.all_posted_at is None or len(ids) < at_least:
            if (interaction := self.ask()) is not None:
                ids.append(interaction.interaction_id)
            await trio.sleep(0.25)
        return ids

    async def ask_quietly(self, n: int) -> list[int]:
        ids: list[int] = []
        while len(ids) < n:
            if (interaction := self.ask()) is not None:
                ids.append(interaction.interaction_id)
            await trio.sleep(0.25)
        while any(i not in self.acks for i in ids):  # noqa: ASYNC110 (answered, or past the deadline)
            await trio.sleep(0.05)
        return ids


async def wait_for(
    predicate: Any, within: float, what: str, log: Path, process: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if process.poll() is not None:
            raise RuntimeError(f"the bot exited ({process.returncode}) waiting for {what}:\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {within:.0f} s waiting for {what}:\n{_tail(log)}")
        await trio.sleep(0.05)


async def settle(town: Town, boards: Boards, within: float) -> float:
    """Wait until every messages board shows what its guild had said by the time the last board was
    posted (the start-up's backlog of edits: the chat during start-up leaves nearly every board
    dirty again right after its post), ``within`` seconds at most; returns the seconds it took.

    The staleness figure is a steady one (issue 17's "steady staleness"): changes made while the
    start-up backlog drains wait behind it whatever the publisher does, so they are not measured;
    the drain's own time is a note (``backlog_drain_s``).
    """
    started = time.time()
    targets: dict[int, dict[str, int]] = {}
    for guild in town.guilds:
        said = {
            m.global_name or "": town.truth[guild.guild_id, m.user_id] for m in town.humans(guild)[:CHATTERS]
        }
        targets[guild.guild_id] = {name: count for name, count in said.items() if count}
    while (late := boards.behind(targets)) and time.time() - started < within:
        targets = {g: targets[g] for g in late}
        await trio.sleep(1.0)
    for guild_id in sorted(late)[:10]:  # still behind when the wait ran out: what they show
        print(
            f"# behind: guild {guild_id} wants {targets[guild_id]}, {boards.showing(guild_id)}",
            file=sys.stderr,
        )
    return time.time() - started


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else ""


async def _run(plan: Plan, workdir: Path) -> Result:
    budget = rest_budget()
    async with trio_asyncio.open_loop():
        sim = DiscordSim(World(lambda: int(time.time() * 1000)), token=TOKEN)
        rng = random.Random(SEED)
        town = build_town(sim, rng, guilds=plan.guilds, members=MEMBERS, in_voice=plan.in_voice)
        db = workdir / "scale.db"
        seed_board_configs(db, town, plan.interval)
        # The town (125,000 members at 2,500 guilds) lives for the whole run: out of the collector's
        # sight, a full collection does not stall the simulator's loop for a tenth of a second,
        # which bunched the calls it counts (Discord's edge is not stalled by this process's GC).
        gc.collect()
        gc.freeze()
        boards = Boards(town)
        run = Run(plan, sim, town, boards, rng)
        await trio_asyncio.aio_as_trio(sim.start)()
        process, log = start_bot(sim, workdir, db)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(run.watch)
                await wait_for(lambda: sim.gateway.identifies, 120, "the IDENTIFY", log, process)
                identified = sim.gateway.identifies[0][0]
                nursery.start_soon(run.chat)
                startup_ids: list[int] = []

                async def during_startup() -> None:
                    startup_ids.extend(await run.ask_during_startup(5))

                nursery.start_soon(during_startup)
                await wait_for(
                    lambda: boards.all_posted_at is not None,
                    plan.startup_timeout,
                    "every board",
                    log,
                    process,
                )
                assert boards.all_posted_at is not None
                startup = boards.all_posted_at - identified
                settled = await settle(town, boards, plan.settle_timeout)
                boards.measuring = True
                measured_from = time.time()
                calls_from = len(sim.world.rest_calls)
                voice_demand: list[int] = []
                minutes = await trio.to_thread.run_sync(shown_voice_minutes, db)
                ticks = trio.current_time()
                for i in range(plan.intervals):  # the voice boards' content, read at each interval
                    await trio.sleep_until(ticks + (i + 1) * plan.interval)
                    now_minutes = await trio.to_thread.run_sync(shown_voice_minutes, db)
                    voice_demand.append(voice_boards_changed(minutes, now_minutes))
                    minutes = now_minutes
                run.chatting = False
                measured_until = time.time()
                window_calls = calls_per_second(
                    sim.world.rest_calls[calls_from:], measured_until - measured_from
                )
                limited = [r for r in sim.world.rate_limited if identified <= r[0] <= measured_until]
                for at, route, is_global in limited:  # what hit a limit, and when, for the reader
                    print(
                        f"# 429 at +{at - identified:.2f} s: {route}{' (global)' if is_global else ''}",
                        file=sys.stderr,
                    )
                await trio.sleep(plan.tail)  # the last changes get their chance to show
                unresolved = boards.unresolved(time.time())
                for line in boards.unshown_examples(identified):
                    print(line, file=sys.stderr)
                boards.measuring = False
                quiet_ids = await run.ask_quietly(plan.quiet_asks)
                nursery.cancel_scope.cancel()
        finally:
            await trio.to_thread.run_sync(stop_bot, process)
            await trio_asyncio.aio_as_trio(sim.close)()
    changed_per_interval = sum(boards.changed.values()) / max(
        1.0, (measured_until - measured_from) / plan.interval
    )
    messages_demand = [
        messages_boards_changed(
            boards.chat_log, measured_from + i * plan.interval, measured_from + (i + 1) * plan.interval
        )
        for i in range(plan.intervals)
    ]
    demand_messages = sum(messages_demand) / plan.intervals
    demand_voice = sum(voice_demand) / plan.intervals
    voice_boards = sum(1 for g in town.guilds if g.voice_states)  # the voice boards that move
    cycle = fair_cycle(
        [(len(town.guilds), demand_messages), (voice_boards, demand_voice)], plan.interval, budget
    )
    startup_acks = [run.acks.get(i, ACK_DEADLINE) for i in startup_ids]
    quiet_acks = [run.acks.get(i, ACK_DEADLINE) for i in quiet_ids]
    return Result(
        plan=asdict(plan),
        budget=budget,
        boards=2 * plan.guilds,
        startup_s=startup,
        startup_floor_s=2 * plan.guilds / budget,
        rate_limited=len(limited),
        global_429s=sum(1 for r in limited if r[2]),
        staleness_p99_s=p99(boards.staleness + unresolved),
        staleness_floor_s=max(plan.interval, (demand_messages + demand_voice) / budget),
        changed_boards_per_interval=changed_per_interval,
        changes_measured=len(boards.staleness) + len(unresolved),
        changes_unresolved=len(unresolved),
        ack_p99_s=p99(startup_acks),
        ack_quiet_p99_s=p99(quiet_acks),
        acks_sent=len(startup_acks),
        acks_late=sum(1 for a in startup_acks if a >= ACK_DEADLINE),
        acks_undeliverable=run.undeliverable,
        backlog_drain_s=settled,
        messages=sum(town.truth.values()),
        demand_messages_per_interval=demand_messages,
        demand_voice_per_interval=demand_voice,
        window_calls=window_calls,
        fair_cycle_s=cycle,
        chat_undeliverable=run.unsaid,
    )


def run_once(plan: Plan) -> Result:
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        return trio.run(_run, plan, Path(tmp))


def result(size: Size, cache: Path, rep: int) -> Result:
    """One run per repetition, shared by the four figures (cached in the suite's directory)."""
    plan = Plan.for_size(size)
    path = (
        cache / f"scale_startup-{size.value}-{plan.guilds}-{plan.in_voice}-{plan.chat_per_second}-{rep}.json"
    )
    if path.exists():
        return Result(**json.loads(path.read_text()))
    done = run_once(plan)
    path.write_text(json.dumps(asdict(done)))
    return done


def _notes(r: Result) -> dict[str, float]:
    return {
        "guilds": r.plan["guilds"],
        "boards": r.boards,
        "budget_per_s": r.budget,
        "messages": r.messages,
    }


def startup_sample(size: Size, cache: Path, rep: int = 0) -> Sample:
    r = result(size, cache, rep)
    return Sample(value=r.startup_s, baseline=r.startup_floor_s, notes=_notes(r))


def global_429s_sample(size: Size, cache: Path, rep: int = 0) -> Sample:
    r = result(size, cache, rep)
    return Sample(value=r.rate_limited, notes=_notes(r) | {"global_true_429s": r.global_429s})


def staleness_sample(size: Size, cache: Path, rep: int = 0) -> Sample:
    r = result(size, cache, rep)
    notes = (
        _notes(r)
        | {
            "changed_boards_per_interval": r.changed_boards_per_interval,
            "changes_measured": r.changes_measured,
            "changes_unresolved": r.changes_unresolved,
            "interval_s": r.plan["interval"],
            "backlog_drain_s": r.backlog_drain_s,
            "demand_messages_boards_per_interval": r.demand_messages_per_interval,
            "demand_voice_boards_per_interval": r.demand_voice_per_interval,
            "fair_cycle_s": r.fair_cycle_s,
            "messages_before_their_shard_identified": r.chat_undeliverable,
        }
        | {f"calls_per_s_{kind}": n for kind, n in r.window_calls.items()}
    )
    return Sample(value=r.staleness_p99_s, baseline=r.staleness_floor_s, notes=notes)


def ack_sample(size: Size, cache: Path, rep: int = 0) -> Sample:
    r = result(size, cache, rep)
    notes = _notes(r) | {
        "acks_sent": r.acks_sent,
        "acks_late_over_3s": r.acks_late,
        "asks_before_their_shard_identified": r.acks_undeliverable,
    }
    return Sample(value=r.ack_p99_s, baseline=r.ack_quiet_p99_s, notes=notes)


FIGURES = ("shard_startup_s", "global_429s", "board_staleness_p99_s", "interaction_ack_p99_s")


def main(argv: list[str] | None = None) -> int:
    from benchmarks.suite import print_one_run

    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale_startup", description=__doc__)
    parser.add_argument(
        "--guilds", type=int, help="guilds in the simulator (default: SCALE_GUILDS or the size's)"
    )
    parser.add_argument("--size", choices=[s.value for s in Size], default=Size.FULL.value)
    parser.add_argument("--in-voice", type=float, help="fraction of members in voice (default 0.05)")
    parser.add_argument("--chat-per-second", type=float, help="messages per second over all guilds")
    args = parser.parse_args(argv)
    size = Size(args.size)
    for name, value in (
        ("SCALE_GUILDS", args.guilds),
        ("SCALE_IN_VOICE", args.in_voice),
        ("SCALE_CHAT_PER_SECOND", args.chat_per_second),
    ):
        if value is not None:
            os.environ[name] = str(value)
    print_one_run(__name__, FIGURES, size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
