"""Chaos, bounded for CI: ``tests.faults.chaos`` for a few seeds, plus minimal reproductions of the
bugs it found, kept as regression tests (each names its seed). Its oracle's own tests:
``test_chaos_oracle.py``.

The long run: ``just chaos`` (1,000 seeds); one seed: ``python -m tests.faults.chaos SEED``.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
import trio

from discord_sim.crowd import Scenario
from discord_sim.faults import FailedCall
from discord_sim.ratelimit import Rule
from discord_sim.server import DiscordSim
from discord_sim.world import SimMember
from domain.clock import WallClock
from domain.guild_config import GuildConfig, config_to_json
from persistence.store import Store
from tests.faults import chaos
from tests.faults.chaos import summarize
from tests.faults.chaos_run import SEED_CLASS
from tests.harness import db_message_counts, running_bot, settings_for, simulator, wait_until

# Three seeds of each class (kill, resume, reidentify, rest, db_lock, mixed), three at a time, 1.2 s
# of crowd each: about 36 s on the shared 2-core machine (20 seeds would not fit the minute this
# suite may take in `just test`). CHAOS_SEEDS=first,count changes it; `just chaos` runs 1,000.
FIRST, COUNT = (int(x) for x in os.environ.get("CHAOS_SEEDS", "1,18").split(","))
JOBS, SECONDS = 3, 1.2


@pytest.mark.slow
async def test_chaos_seeds_stay_within_the_promised_bounds(tmp_path: Path) -> None:
    reports = await chaos.run_many(range(FIRST, FIRST + COUNT), SECONDS, tmp_path, jobs=JOBS)
    summary = summarize(reports)
    print("\n".join(r.summary() for r in reports))
    print(summary)
    assert {r.seed_class for r in reports} == set(SEED_CLASS.values()), "every class of faults ran"
    assert summary["faults_by_kind"].keys() >= {"kill", "drop", "reconnect", "invalid_session", "db_lock"}
    failed = [r.summary() for r in reports if not r.ok]
    assert not failed, "\n\n".join(failed)


# -- bugs the chaos run found: minimal reproductions ----------------------------------------------------


async def test_a_reidentify_counts_its_outage_only_for_users_counting_all_through_it(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    """Chaos seed 116 counted a user left alone during the outage through it (+9.6 s).

    After INVALID_SESSION the bot re-IDENTIFYs (disnake waits ~5 s for the identify limit) and
    learns what changed meanwhile only from GUILD_CREATE, without when: a and b's pair broke up
    at an unknown moment, so the outage counts for neither; c and d stayed together, so it counts
    for both of them in full.
    """
    db = tmp_path / "lb.db"
    async with simulator(clock, seed=31, members=6) as scenario:
        sim, guild, (a, b, c, d) = scenario.sim, scenario.guild, scenario.humans[:4]
        lounge, stage = scenario.voice_channels[:2]
        identifies: list[float] = []
        sim.on_identify.append(lambda _session: identifies.append(clock.now()))
        async with running_bot(sim, settings_for(db), clock):
            await wait_until(lambda: len(identifies) == 1, what="the first IDENTIFY")
            for user, channel in ((a, lounge), (b, lounge), (c, stage), (d, stage)):
                sim.set_voice(guild, user, channel)
            joined = clock.now()
            await trio.sleep(60)
            sim.faults.invalid_session(resumable=False)
            await trio.sleep(1)
            sim.set_voice(guild, b, None)  # during the outage: from here a is alone
            await wait_until(lambda: len(identifies) == 2, what="the re-IDENTIFY")
            outage = identifies[1] - joined - 60
            await trio.sleep(60)
            for user in (a, c, d):
                sim.set_voice(guild, user, None)
            together = clock.now() - joined
            await trio.sleep(5)
    assert outage > 3, "the outage lasted seconds"
    assert_outage_counted_only_for_the_pair_who_stayed(db, (a, b), (c, d), together)


def assert_outage_counted_only_for_the_pair_who_stayed(
    db: Path, broke_up: tuple[SimMember, SimMember], stayed: tuple[SimMember, SimMember], together: float
) -> None:
    """Each pair was together for 60 s before the outage; one pair broke up during it."""
    with sqlite3.connect(db) as conn:
        voice = dict(conn.execute("SELECT user_id, SUM(voice_ms) / 1000.0 FROM activity GROUP BY user_id"))
    assert all(59.9 <= voice.get(m.user_id, 0) <= 60.1 for m in broke_up), voice
    assert all(together - 0.1 <= voice.get(m.user_id, 0) <= together + 0.1 for m in stayed), (voice, together)


async def test_a_resume_counts_its_outage_only_for_users_counting_all_through_it(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    """A RESUME replays what the bot missed, but stamped when it arrives: b's leave during the
    outage must not count the rest of the outage for b or for a (alone from then on); c and d,
    together all along, are credited the outage in full."""
    db = tmp_path / "lb.db"
    async with simulator(clock, seed=33, members=6) as scenario:
        sim, guild, (a, b, c, d) = scenario.sim, scenario.guild, scenario.humans[:4]
        lounge, stage = scenario.voice_channels[:2]
        async with running_bot(sim, settings_for(db), clock):
            for user, channel in ((a, lounge), (b, lounge), (c, stage), (d, stage)):
                sim.set_voice(guild, user, channel)
            joined = clock.now()
            await trio.sleep(60)
            answer_resume, resumes = sim.gateway._resume, []
            sim.gateway._resume = lambda connection, data: resumes.append((connection, data))  # type: ignore[method-assign]
            sim.faults.drop_websockets()
            await wait_until(lambda: resumes, what="the RESUME")
            await trio.sleep(1)
            sim.set_voice(guild, b, None)  # the bot is away: it learns this from the replay
            await trio.sleep(9)
            sim.gateway._resume = answer_resume  # type: ignore[method-assign]
            answer_resume(*resumes[0])
            await trio.sleep(60)
            for user in (a, c, d):
                sim.set_voice(guild, user, None)
            together = clock.now() - joined
            await trio.sleep(5)
    assert together > 130
    assert_outage_counted_only_for_the_pair_who_stayed(db, (a, b), (c, d), together)


async def test_a_5xx_answer_to_the_login_call_is_retried_not_fatal(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    db = tmp_path / "lb.db"
    async with simulator(clock, seed=32, members=4) as scenario:
        scenario.sim.faults.fail_next(1, status=503)  # Discord has a bad second as the bot starts
        async with running_bot(scenario.sim, settings_for(db), clock):
            scenario.say(scenario.humans[0])
            await wait_until(
                lambda: db_message_counts(db, scenario.guild.guild_id) == dict(scenario.truth), what="counted"
            )


def fail_once(sim: DiscordSim, suffix: str, status: int = 503) -> list[str]:
    """The next REST call whose path ends with ``suffix`` answers ``status``; returns what failed."""
    failed: list[str] = []
    original = sim.faults.before_call

    def before_call(method: str, route: str, path: str) -> object:
        if path.endswith(suffix) and not failed:
            failed.append(f"{method} {path}")
            return FailedCall(
                status, {"message": f"{status}: Service Unavailable", "code": 0}, "application/json"
            )
        return original(method, route, path)

    sim.faults.before_call = before_call  # type: ignore[method-assign]
    return failed


@pytest.mark.parametrize(
    ("suffix", "seed"),
    [
        ("/applications/@me", 35),  # disnake's own start-up task (chaos seed 2129): logged, not fatal
        ("/gateway/bot", 36),  # the gateway URL at login (GatewayNotFound, chaos seed 3065): retried
    ],
)
async def test_a_5xx_on_a_login_call_does_not_end_the_bot(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path, suffix: str, seed: int
) -> None:
    db = tmp_path / "lb.db"
    async with simulator(clock, seed=seed, members=4) as scenario:
        failed = fail_once(scenario.sim, suffix)
        async with running_bot(scenario.sim, settings_for(db), clock):
            scenario.say(scenario.humans[0])
            await wait_until(
                lambda: db_message_counts(db, scenario.guild.guild_id) == dict(scenario.truth), what="counted"
            )
            await trio.sleep(5)  # a failed task disnake started by itself would surface by now
        assert failed, "the fault was injected"


def with_boards(db: Path, scenario: Scenario) -> None:
    """Both boards in the scenario's first text channel, updated every 10 s (as an admin sets them)."""
    store = Store(db)
    try:
        channel = scenario.text_channels[0].channel_id
        config = GuildConfig(
            message_board_channel_id=channel, voice_board_channel_id=channel, update_interval=10
        )
        store.save_guild_config_sync(
            scenario.guild.guild_id, config_to_json(config), 0.0, 1, "config", "test"
        )
    finally:
        store.close()


def bot_messages(scenario: Scenario) -> list[dict[str, object]]:
    channel = scenario.text_channels[0].channel_id
    bot = str(scenario.sim.world.bot.user_id)
    return [m for m in scenario.sim.world.messages.get(channel, {}).values() if m["author"]["id"] == bot]  # type: ignore[index]


async def test_a_clean_stop_is_bounded_while_discord_answers_5xx(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    db = tmp_path / "lb.db"
    async with simulator(clock, seed=33, members=4) as scenario:
        with_boards(db, scenario)
        async with running_bot(scenario.sim, settings_for(db), clock):
            await wait_until(lambda: len(bot_messages(scenario)) == 2, what="both boards posted")
            sim, (a, b) = scenario.sim, scenario.humans[:2]
            sim.set_voice(scenario.guild, a, scenario.voice_channels[0])
            sim.set_voice(scenario.guild, b, scenario.voice_channels[0])
            scenario.say(a)  # both boards have news
            # Discord's API has a bad minute: the message board's edit waits out a 429 (8 s, inside
            # disnake) and every other call answers 500 (which disnake retries for 25 s).
            sim.faults.rate_limit("PATCH /channels/*/messages/*", times=1, retry_after=8.0)
            sim.faults.fail_fraction(1.0, status=500)
            await trio.sleep(12)  # the round is in the message board's 429 wait
            stopping = trio.current_time()
        took = trio.current_time() - stopping
    assert took <= 15, f"the stop took {took:.0f} s"


async def test_no_board_is_left_behind_when_the_stop_catches_a_delete_in_a_429(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    db = tmp_path / "lb.db"
    async with simulator(clock, seed=34, members=4) as scenario:
        sim = scenario.sim
        with_boards(db, scenario)
        sim.limits.old_message_age = 5.0  # every edit of a board older than 5 s answers 30046
        sim.limits.old_message_edits = Rule(0, 3600.0)
        async with running_bot(sim, settings_for(db), clock):
            await wait_until(lambda: len(bot_messages(scenario)) == 2, what="both boards posted")
            sim.faults.rate_limit("DELETE /channels/*/messages/*", times=1, retry_after=3.0)
            scenario.say(scenario.humans[0])  # the message board changes: edit -> 30046 -> post, delete
            await wait_until(lambda: len(bot_messages(scenario)) == 3, what="the fresh board posted")
            await trio.sleep(1)  # the old board's DELETE is in disnake's 429 wait
    assert len(bot_messages(scenario)) == 2, [m["id"] for m in bot_messages(scenario)]


async def test_a_post_cut_short_by_the_stop_is_not_posted_twice(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    """Discord takes 20 s to answer: a board's first post is in flight when the bot stops. The
    stop cuts it and the last round posts again, while Discord goes on to create the first one
    anyway. The same nonce (enforce_nonce) makes the second post return the first message."""
    db = tmp_path / "lb.db"

    def posts() -> list[object]:
        calls = scenario.sim.world.rest_calls
        return [
            body["nonce"] for method, path, body in calls if method == "POST" and path.endswith("/messages")
        ]  # type: ignore[index]

    async with simulator(clock, seed=35, members=4) as scenario:
        with_boards(db, scenario)
        scenario.sim.faults.set_delay(20.0)
        async with running_bot(scenario.sim, settings_for(db), clock):
            await wait_until(lambda: len(posts()) == 2, what="the second board's post in flight")
            stopping = trio.current_time()
        assert trio.current_time() - stopping <= 15, "the stop is bounded"
        await trio.sleep(60)  # Discord finishes every request it received
        nonces = posts()
        # Made again (by the poster on a fresh session, and by the last round), always with its nonce.
        assert len(nonces) >= 3 and set(nonces[1:]) == {nonces[1]} != {nonces[0]}, nonces
        assert len(bot_messages(scenario)) == 2, [m["embeds"] for m in bot_messages(scenario)]
