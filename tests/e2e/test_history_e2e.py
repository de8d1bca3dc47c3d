"""Daily history end to end on MockClock: 40 simulated days of messages, reactions and voice
through the simulator and the real disnake client, then ``/rank window:7d`` and ``window:30d``
and the chart's daily values, each compared with an oracle built from the script alone.

The oracle knows only what the script did and when (the clock at each send), and Discord's and
the product's rules: bots and reactions to one's own message do not count, voice counts while a
member has company (a deafened member is company but does not count), days are UTC days, ranks
are competition ranks over members above zero. Voice is stamped where the bot receives it, so
voice seconds are compared within a second per session.
"""

from __future__ import annotations

import random
import sqlite3
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import trio_asyncio

from actors.board_render import format_count, format_voice
from actors.names import escape_name
from bot_entry import gateway as gateway_module
from discord_sim.crowd import Scenario, build_scenario
from discord_sim.server import DiscordSim
from discord_sim.world import SimMember, World
from domain.clock import WallClock
from domain.periods import DAY
from domain.windows import day_date, day_number, day_start, split_days
from persistence.history import guild_days_sync, member_days_sync
from tests.e2e.test_commands_e2e import ask, commands_ready
from tests.harness import running_bot, settings_for, wait_until

DAYS = 40
HOUR = 3_600


class PatientBot(gateway_module.ShardedBot):
    """disnake's client, waiting a month of virtual time for a packet (``heartbeat_timeout``): its
    heartbeats run on real time, so on MockClock only the server's requests keep the socket busy."""

    def __init__(self, **options: Any) -> None:
        super().__init__(heartbeat_timeout=30 * DAY, **options)


@asynccontextmanager
async def quiet_simulator(clock: WallClock, seed: int, members: int) -> AsyncIterator[Scenario]:
    """``harness.simulator`` with six hours between heartbeats, not enforced: 40 virtual days are
    a few thousand timer wake-ups, not a hundred thousand heartbeats racing the mock clock."""
    sim = DiscordSim(World(lambda: int(clock.now() * 1000)), token="test-token", heartbeat_ms=6 * HOUR * 1000)
    sim.gateway.heartbeat_timeout = None
    scenario = build_scenario(sim, random.Random(seed), members=members)
    await trio_asyncio.aio_as_trio(sim.start)()
    try:
        yield scenario
    finally:
        await trio_asyncio.aio_as_trio(sim.close)()


class Oracle:
    """Per (user, UTC day): messages, reactions and voice seconds, from the script alone."""

    def __init__(self) -> None:
        self.messages: Counter[tuple[int, int]] = Counter()
        self.reactions: Counter[tuple[int, int]] = Counter()
        self.voice: defaultdict[tuple[int, int], float] = defaultdict(float)
        self.skipped = 0  # reactions by a bot or to one's own message
        self.across_midnight = 0  # voice sessions that span a UTC midnight

    def said(self, user: int, at: float) -> None:
        self.messages[(user, day_number(at))] += 1

    def reacted(self, user: int, author: int, bot: bool, at: float) -> None:
        if not bot and user != author:
            self.reactions[(user, day_number(at))] += 1
        else:
            self.skipped += 1

    def counted(self, user: int, start: float, end: float) -> None:
        self.across_midnight += day_number(start) != day_number(end)
        for day, a, b in split_days(start, end):
            self.voice[(user, day)] += b - a

    def window(self, first: int, last: int) -> tuple[dict[int, int], dict[int, float]]:
        msgs: Counter[int] = Counter()
        voice: defaultdict[int, float] = defaultdict(float)
        for (user, day), n in self.messages.items():
            if first <= day <= last:
                msgs[user] += n
        for (user, day), s in self.voice.items():
            if first <= day <= last:
                voice[user] += s
        return dict(msgs), dict(voice)


def competition(values: dict[int, float], user: int) -> tuple[int | None, int]:
    ranked = [v for v in values.values() if v > 0]
    mine = values.get(user, 0)
    if mine <= 0:
        return None, len(ranked)
    return 1 + sum(v > mine for v in ranked), len(ranked)


def standing_line(label: str, rank: int | None, total: int, shown: str) -> str:
    if rank is None:
        return f"{label}: not ranked yet ({shown})"
    return f"{label}: #{rank} of {format_count(total)} · {shown}"


def messages_text(n: int) -> str:
    return f"{format_count(n)} {'message' if n == 1 else 'messages'}"


async def at(clock: WallClock, epoch: float) -> None:
    await clock.sleep_until(epoch)


async def test_forty_days_give_rank_windows_and_daily_values_equal_to_the_oracle(
    autojump_clock: object,
    aio_loop: object,
    clock: WallClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(gateway_module, "ShardedBot", PatientBot)
    db = tmp_path / "history.db"
    rng = random.Random(20)
    oracle = Oracle()
    settings = settings_for(
        db, MESSAGE_FLUSH_SECONDS="0.5", VOICE_FLUSH_SECONDS="120", VOICE_CHECKPOINT_SECONDS="120"
    )
    async with (
        quiet_simulator(clock, seed=20, members=8) as scenario,
        running_bot(scenario.sim, settings, clock) as app,
    ):
        await commands_ready(scenario)
        sim, guild, humans = scenario.sim, scenario.guild, scenario.humans
        text, lounge = scenario.text_channels[0], scenario.voice_channels[0]
        received = app.gateway.received
        first_day = day_number(clock.now()) + 1
        sent = {"MESSAGE_CREATE": 0, "MESSAGE_REACTION_ADD": 0, "VOICE_STATE_UPDATE": 0}

        async def delivered() -> None:
            await wait_until(
                lambda: all(received[k] >= n for k, n in sent.items()),
                what=f"events received ({sent} sent, {dict(received)}, {dict(app.gateway.malformed)})",
            )

        def voice(member: SimMember, channel: Any, **flags: bool) -> None:
            sim.set_voice(guild, member, channel, **flags)
            sent["VOICE_STATE_UPDATE"] += 1

        for day in range(first_day, first_day + DAYS):
            midnight = day_start(day)
            await at(clock, midnight + 9 * HOUR + rng.randrange(3 * HOUR))
            today: list[dict[str, Any]] = []
            for member in rng.sample(humans, rng.randint(1, 5)):
                for _ in range(rng.randint(1, 4)):
                    today.append(sim.send_message(text, member, "hi"))
                    oracle.said(member.user_id, clock.now())
                    sent["MESSAGE_CREATE"] += 1
            await delivered()
            await at(clock, midnight + 13 * HOUR)
            reacted: set[tuple[str, int]] = set()
            for _ in range(rng.randint(0, 6)):
                message = rng.choice(today)
                reactor = rng.choice([*humans, scenario.bot])
                if rng.random() < 0.2:  # a reaction to one's own message
                    reactor = next(m for m in humans if m.user_id == int(message["author"]["id"]))
                if (message["id"], reactor.user_id) in reacted:
                    continue  # Discord sends one add per member, message and emoji
                reacted.add((message["id"], reactor.user_id))
                sim.add_reaction(message, reactor)
                author = int(message["author"]["id"])
                oracle.reacted(reactor.user_id, author, reactor.bot, clock.now())
                sent["MESSAGE_REACTION_ADD"] += 1
            await delivered()
            # Voice: a pair joins; one deafens (still company, no longer counting); both leave.
            # Every fourth day the session spans midnight.
            a, b = rng.sample(humans, 2)
            start = midnight + (23 * HOUR + 30 * 60 if day % 4 == 0 else 20 * HOUR) + rng.randrange(600)
            first, second = rng.randint(5, 45) * 60 + rng.randint(10, 50), rng.randint(5, 40) * 60
            await at(clock, start)
            voice(a, lounge)
            voice(b, lounge)
            joined = clock.now()
            await delivered()
            await at(clock, joined + first)
            voice(b, lounge, self_deaf=True)
            deafened = clock.now()
            await delivered()
            await at(clock, deafened + second)
            voice(a, None)
            voice(b, None)
            left = clock.now()
            await delivered()
            oracle.counted(a.user_id, joined, left)
            oracle.counted(b.user_id, joined, deafened)

        last_day = first_day + DAYS - 1
        await at(clock, day_start(last_day + 1) + 6 * HOUR)  # the next morning: sessions flushed
        today_number = day_number(clock.now())
        await wait_until(lambda: not app.pipeline.router.sessions, what="voice sessions to end")
        store = app.pipeline.store
        assert store is not None
        want_voice_ms = round(sum(oracle.voice.values()) * 1000)

        def voice_written() -> bool:
            (ms,) = store.db.execute("SELECT COALESCE(SUM(voice_ms), 0) FROM activity").fetchone()
            return abs(ms - want_voice_ms) <= 1_000 * DAYS

        await wait_until(voice_written, within=600, what="voice written")

        # /rank window:7d and window:30d for every member, against the oracle
        for window, days in (("7d", 7), ("30d", 30)):
            first, last = today_number - days + 1, today_number
            msgs, secs = oracle.window(first, last)
            for member in humans:
                asked = await ask(scenario, member, "rank", {"window": window})
                embed = asked.original["embeds"][0]  # type: ignore[index]
                label = {"7d": "Last 7 days", "30d": "Last 30 days"}[window]
                span = f"{day_date(first).isoformat()} to {day_date(last).isoformat()} (UTC)"
                assert embed["description"].startswith(f"{label}: {span}"), embed["description"]
                fields = {f["name"]: f["value"] for f in embed["fields"]}
                m_line, v_line = fields[label].splitlines()
                rank, total = competition({u: float(n) for u, n in msgs.items()}, member.user_id)
                assert m_line == standing_line(
                    "Messages", rank, total, messages_text(msgs.get(member.user_id, 0))
                ), (window, member.user_id)
                rank, total = competition(secs, member.user_id)
                mine = secs.get(member.user_id, 0.0)
                near = [v for u, v in secs.items() if u != member.user_id and abs(v - mine) < 2.0]
                assert not near, "the seed gives no near-ties (voice is stamped on receipt)"
                assert (mine % 60 < 59 and mine % 60 > 1) or mine == 0, "not on a minute's edge"
                assert v_line == standing_line("Voice", rank, total, format_voice(int(mine))), (
                    window,
                    member.user_id,
                )

        # /leaderboard window:7d: the board over the same days, ranked like the oracle
        first, last = today_number - 6, today_number
        msgs, _ = oracle.window(first, last)
        asked = await ask(scenario, humans[0], "leaderboard", {"board": "messages", "window": "7d"})
        page = asked.original
        assert page is not None
        span = f"{day_date(first).isoformat()} to {day_date(last).isoformat()} (UTC)"
        assert page["content"].startswith(f"**Last 7 days** · page 1 of 1 · {span}"), page["content"]
        names = {m.user_id: escape_name(m.global_name or m.username) for m in humans}
        order = sorted(msgs, key=lambda u: (-msgs[u], u))
        want_lines = [
            f"**#{competition({u: float(n) for u, n in msgs.items()}, u)[0]}** {names[u]} — "
            f"{messages_text(msgs[u])}"
            for u in order
        ]
        got_lines = [line.split(" ", 1)[1] for line in page["embeds"][0]["description"].splitlines()]
        ranks = [int(line.split("**")[1][1:]) for line in got_lines]
        assert ranks == sorted(ranks), "best first"
        assert sorted(got_lines) == sorted(want_lines), "ties may come in any order; ranks and values not"

        # the chart's daily values: the guild's days and each member's days
        first_date, last_date = day_date(first_day), day_date(today_number)
        days_got = await store.call(guild_days_sync, store, guild.guild_id, first_date, last_date)
        assert [d.day for d in days_got] == [
            first_date + timedelta(days=i) for i in range((last_date - first_date).days + 1)
        ]
        for got in days_got:
            number = day_number(day_start_of(got.day))
            assert got.messages == sum(n for (_, d), n in oracle.messages.items() if d == number)
            assert got.reactions == sum(n for (_, d), n in oracle.reactions.items() if d == number)
            want = sum(s for (_, d), s in oracle.voice.items() if d == number)
            assert abs(got.voice_seconds - want) <= 2.0, (got, want)
        for member in humans:
            mine = await store.call(
                member_days_sync, store, guild.guild_id, member.user_id, first_date, last_date
            )
            for got in mine:
                key = (member.user_id, day_number(day_start_of(got.day)))
                assert (got.messages, got.reactions) == (oracle.messages[key], oracle.reactions[key])
                assert abs(got.voice_seconds - oracle.voice.get(key, 0.0)) <= 2.0
        assert sum(oracle.reactions.values()) > 10 and oracle.skipped > 5, "both kinds of reaction"
        assert oracle.across_midnight > 5, "sessions across midnight"
        a_reset = store.db.execute("SELECT COUNT(*) FROM period_archive").fetchone()[0]
        assert a_reset == 1, "the 30-day period ended inside the run"

    # history and totals agree exactly, per member and period (the totals' own transactions)
    check_history_equals_totals(db)


def day_start_of(day: date) -> float:
    return day_start((day - date(1970, 1, 1)).days)


def check_history_equals_totals(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        totals = conn.execute(
            "SELECT guild_id, period, user_id, messages, voice_ms FROM activity "
            "WHERE messages > 0 OR voice_ms > 0 ORDER BY 1, 2, 3"
        ).fetchall()
        days = conn.execute(
            "SELECT guild_id, period, user_id, SUM(messages), SUM(voice_ms) FROM daily_members "
            "GROUP BY 1, 2, 3 HAVING SUM(messages) > 0 OR SUM(voice_ms) > 0 ORDER BY 1, 2, 3"
        ).fetchall()
    assert days == totals
