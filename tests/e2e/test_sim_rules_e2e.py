"""The bot under more than one plausible value of each rule Discord does not publish
(``discord_sim/rules.py``), and against what Discord sends that the simulator used to skip:
50013 on board posts and edits, GUILD_CREATE voice states without ``guild_id``, GUILD_DELETE for
a guild unavailable at connect.
"""

from __future__ import annotations

import logging
import random
import sqlite3
from pathlib import Path

import pytest
from attrs import evolve

from actors.board_render import escape_name
from actors.board_schedule import READ_AFTER_POST
from bot_entry.board_poster import CALL_TIMEOUT
from discord_sim.crowd import build_scenario, chat
from discord_sim.ratelimit import Rule
from discord_sim.world import EMBED_LINKS, SEND_MESSAGES
from domain.clock import WallClock
from tests.e2e.test_boards_e2e import (
    INTERVAL,
    board_settings,
    boards,
    expected_message_lines,
    lines,
    shown,
    stored_boards,
    the_board,
    timed_calls,
)
from tests.harness import db_message_counts, running_bot, simulator, wait_until


def voice_seconds(db: Path, guild_id: int) -> dict[int, int]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT user_id, SUM(voice_ms) FROM activity WHERE guild_id = ? GROUP BY user_id", [guild_id]
        )
        return {user: n for user, n in rows if n}


@pytest.mark.parametrize("edits_per_hour", [1, 30])
async def test_the_old_message_quota_replaces_the_board_once_whatever_its_size(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path, edits_per_hour: int
) -> None:
    db = tmp_path / "lb.db"
    async with simulator(clock, seed=9, members=12) as scenario:
        sim = scenario.sim
        channel, voice_channel = scenario.text_channels[0].channel_id, scenario.text_channels[1].channel_id
        sim.limits.old_message_age = 90.0  # "older than an hour", shortened (Discord publishes it)
        sim.rules = evolve(sim.rules, old_message_edits=Rule(edits_per_hour, 3600.0))
        with timed_calls(sim, clock) as calls:
            async with running_bot(sim, board_settings(db, scenario), clock):
                await wait_until(lambda: len(boards(sim, channel)) == 1, what="the board")
                first_id, _ = the_board(sim, channel)
                start = clock.now()
                # Chat until the quota is spent: an edit a minute, the first old one at ~120 s.
                while not calls.at("DELETE", channel):
                    assert clock.now() - start < (edits_per_hour + 5) * INTERVAL, "no 30046 came"
                    await chat(scenario, random.Random(len(calls)), messages=10, per_second=0.5)
                await wait_until(
                    lambda: shown(sim, channel) == expected_message_lines(scenario),
                    within=600,
                    what="the fresh board up to date",
                )
                fresh_id, _ = the_board(sim, channel)
                refused = [c for c in calls if c[0] == "PATCH" and f"/{first_id}" in c[1]]
        assert len(refused) >= edits_per_hour + 1  # the quota's edits went through, then one 30046
        assert fresh_id != first_id and first_id not in sim.world.messages[channel]
        assert len(boards(sim, channel)) == 1 and len(boards(sim, voice_channel)) == 1
        assert stored_boards(db)["messages"] == (channel, fresh_id)
        assert len(calls.at("POST", channel)) == 2 and len(calls.at("DELETE", channel)) == 1


NO_DEDUPLICATION = 0


@pytest.mark.parametrize("nonce_window_ms", [NO_DEDUPLICATION, 5 * 60_000])
async def test_a_board_post_whose_answer_is_lost_is_retried_into_one_board(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path, nonce_window_ms: int
) -> None:
    db = tmp_path / "lb.db"
    async with simulator(clock, seed=10, members=12) as scenario:
        sim = scenario.sim
        channel = scenario.text_channels[0].channel_id
        sim.rules = evolve(sim.rules, nonce_window_ms=nonce_window_ms)
        # The first board post is made, but its answer comes after the poster has given up.
        sim.faults.hold_answer(f"POST /channels/{channel}/messages", seconds=CALL_TIMEOUT + 30)
        with timed_calls(sim, clock) as calls:

            def posts() -> list[object]:
                return [
                    body
                    for method, path, body in calls
                    if method == "POST" and path.endswith(f"/{channel}/messages")
                ]

            async with running_bot(sim, board_settings(db, scenario), clock):
                # The poster gave up on the post; the bot posts again with its nonce (Discord
                # answers with the first within its window), and the read after the post deletes a
                # copy made past the window: one board, whatever Discord's nonce window.
                await wait_until(lambda: len(posts()) >= 2, within=600, what="the post made again")
                await chat(scenario, random.Random(3), messages=20, per_second=0.5)
                await wait_until(
                    lambda: shown(sim, channel) == expected_message_lines(scenario),  # one board
                    within=READ_AFTER_POST + 600,
                    what="the board up to date",
                )
        assert ("held", f"POST /channels/{channel}/messages") in sim.faults.log
        assert len(posts()) == 2, "the lost post is made again once, never a third time"
        assert len({body["nonce"] for body in posts()}) == 1  # type: ignore[index]
        assert len(boards(sim, channel)) == 1, "members see one board, not the lost post and its retry"
        assert stored_boards(db)["messages"] == (channel, next(iter(boards(sim, channel))))


@pytest.mark.parametrize("heartbeat_timeout", [1.5, None])
async def test_the_bot_stays_connected_with_or_without_heartbeat_enforcement(
    autojump_clock: object,
    aio_loop: object,
    clock: WallClock,
    tmp_path: Path,
    heartbeat_timeout: float | None,
) -> None:
    db = tmp_path / "lb.db"
    async with simulator(clock, seed=11, members=12) as scenario:
        sim = scenario.sim
        sim.rules = evolve(sim.rules, heartbeat_timeout=heartbeat_timeout)
        async with running_bot(sim, board_settings(db, scenario), clock) as app:
            for _ in range(10):  # ten minutes: many heartbeat intervals
                await chat(scenario, random.Random(len(scenario.truth)), messages=10, per_second=1 / 6)
            await wait_until(
                lambda: shown(sim, scenario.text_channels[0].channel_id) == expected_message_lines(scenario),
                what="the board up to date",
            )
            assert app.gateway is not None and app.gateway.connected
        assert sim.gateway.connects == 1, "never disconnected"
        assert db_message_counts(db, scenario.guild.guild_id) == dict(scenario.truth)


@pytest.mark.parametrize("denied", ["embeds before the first post", "embeds after the first post", "sending"])
async def test_missing_permissions_pause_the_board_with_one_warning(
    autojump_clock: object,
    aio_loop: object,
    clock: WallClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    denied: str,
) -> None:
    db = tmp_path / "lb.db"
    caplog.set_level(logging.WARNING)
    async with simulator(clock, seed=12, members=12) as scenario:
        sim = scenario.sim
        text = scenario.text_channels[0]
        channel, voice_channel = text.channel_id, scenario.text_channels[1].channel_id
        permissions = SEND_MESSAGES if denied == "sending" else EMBED_LINKS
        if denied != "embeds after the first post":
            sim.deny_bot(text, permissions)
        with timed_calls(sim, clock) as calls:
            async with running_bot(sim, board_settings(db, scenario), clock):
                await wait_until(lambda: len(boards(sim, voice_channel)) == 1, what="the other board")
                if denied == "embeds after the first post":
                    await wait_until(lambda: len(boards(sim, channel)) == 1, what="the board")
                    sim.deny_bot(text, permissions)
                for _ in range(10):  # ten minutes of chat: ten intervals in which to try again
                    await chat(scenario, random.Random(len(calls)), messages=10, per_second=1 / 6)
                writes = [c for c in calls if c[0] in ("POST", "PATCH") and f"/channels/{channel}/" in c[1]]
            counted = db_message_counts(db, scenario.guild.guild_id)
        refused = {"POST": 1} if denied != "embeds after the first post" else {"POST": 1, "PATCH": 1}
        assert {m: sum(1 for c in writes if c[0] == m) for m in refused} == refused, "one try, then paused"
        paused = [
            r for r in caplog.records if f"channel {channel}" in r.getMessage() and "50013" in r.getMessage()
        ]
        assert len(paused) == 1, [r.getMessage() for r in caplog.records]
        assert counted == dict(scenario.truth), "activity is still counted"


async def test_voice_states_in_guild_create_without_guild_id_are_attributed(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    db = tmp_path / "lb.db"
    async with simulator(clock, seed=13, members=12) as scenario:
        sim, guild = scenario.sim, scenario.guild
        talkers = scenario.humans[:2]
        for member in talkers:  # in voice before the bot connects: only GUILD_CREATE says so
            sim.set_voice(guild, member, scenario.voice_channels[0])
        assert all("guild_id" not in s for s in guild.create_payload()["voice_states"])
        voice_channel = scenario.text_channels[1].channel_id
        async with running_bot(sim, board_settings(db, scenario), clock):
            await wait_until(
                lambda: len(shown(sim, voice_channel) or ()) == 2, within=600, what="both talkers"
            )
            _, embed = the_board(sim, voice_channel)
        assert {name for name, _ in lines(embed)} == {
            escape_name(m.global_name or m.username) for m in talkers
        }
        counts = voice_seconds(db, guild.guild_id)
        assert set(counts) == {m.user_id for m in talkers} and all(counts.values())


async def test_a_guild_unavailable_at_connect_is_neither_a_crash_nor_counted(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    db = tmp_path / "lb.db"
    async with simulator(clock, seed=14, members=12) as scenario:
        sim = scenario.sim
        down = build_scenario(sim, random.Random(15), members=4, name="Down Under")
        sim.leave_guild(down.guild, unavailable=True)  # READY lists it; GUILD_DELETE follows
        async with running_bot(sim, board_settings(db, scenario), clock) as app:
            gateway = app.gateway
            assert gateway is not None
            await wait_until(lambda: gateway.received["GUILD_DELETE"] == 1, what="the GUILD_DELETE")
            await chat(scenario, random.Random(16), messages=30, per_second=1)
            await wait_until(
                lambda: shown(sim, scenario.text_channels[0].channel_id) == expected_message_lines(scenario),
                what="the available guild's board",
            )
            router = app.pipeline.router
            assert router is not None and down.guild.guild_id not in router.guilds
            assert gateway.connected and not gateway.malformed
        assert sim.gateway.connects == 1
        assert db_message_counts(db, down.guild.guild_id) == {}
        assert db_message_counts(db, scenario.guild.guild_id) == dict(scenario.truth)
        assert all(
            int(m.get("guild_id", 0)) != down.guild.guild_id
            for ms in sim.world.messages.values()
            for m in ms.values()
            if m["author"]["id"] == str(sim.world.bot.user_id)
        )
