"""Leaderboards through the whole path: simulator -> real disnake -> pipeline -> publisher -> REST.

Boards are read back as members see them: from the simulator's stored messages
(``world.messages``), and every REST call the bot made is counted from ``world.rest_calls``.
"""

from __future__ import annotations

import itertools
import random
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from actors.board_render import escape_name, format_count
from actors.board_schedule import READ_AFTER_POST, RECHECK_INTERVALS
from bot_entry.config import Settings
from discord_sim.crowd import Scenario, chat
from discord_sim.ratelimit import Rule
from discord_sim.server import DiscordSim
from domain.clock import WallClock
from tests.harness import running_bot, settings_for, simulator, wait_until

ARROW = "<a:purp_arrow:1403295268505522187>"
INTERVAL = 60.0
EDIT_ROUTE = "PATCH /channels/{channel_id}/messages/{message_id}"


class TimedCalls(list[tuple[str, str, Any]]):
    """``world.rest_calls`` that also remembers when each call arrived (simulator time)."""

    def __init__(self, clock: WallClock) -> None:
        super().__init__()
        self.clock = clock
        self.times: list[float] = []

    def append(self, call: tuple[str, str, Any]) -> None:
        self.times.append(self.clock.now())
        super().append(call)

    def at(self, method: str, channel_id: int) -> list[float]:
        """Times of ``method`` calls on messages of ``channel_id``."""
        prefix = f"/api/v10/channels/{channel_id}/messages"
        return [
            t
            for t, (m, path, _) in zip(self.times, self, strict=True)
            if m == method and path.startswith(prefix)
        ]


@contextmanager
def timed_calls(sim: DiscordSim, clock: WallClock) -> Iterator[TimedCalls]:
    calls = TimedCalls(clock)
    sim.world.rest_calls = calls
    yield calls


def boards(sim: DiscordSim, channel_id: int) -> dict[int, dict[str, Any]]:
    """The bot's board messages in ``channel_id``: message id -> the embed members see."""
    bot = str(sim.world.bot.user_id)
    return {
        message_id: message["embeds"][0]
        for message_id, message in sim.world.messages.get(channel_id, {}).items()
        if message["author"]["id"] == bot and message.get("embeds")
    }


def the_board(sim: DiscordSim, channel_id: int) -> tuple[int, dict[str, Any]]:
    (item,) = boards(sim, channel_id).items()
    return item


def shown(sim: DiscordSim, channel_id: int) -> set[tuple[str, str]] | None:
    """The ranked lines members see in ``channel_id``; None unless there is exactly one board."""
    found = boards(sim, channel_id)
    return set(lines(next(iter(found.values())))) if len(found) == 1 else None


def lines(embed: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, value) of each ranked line that has the seed look: the arrow, then a bold rank."""
    parsed = []
    for line in embed["description"].split("\n"):
        if line.startswith(f"{ARROW} **#"):
            head, value = line.rsplit(" — ", 1)
            parsed.append((head.split("** ", 1)[1], value))
    return parsed


def assert_seed_lines(embed: dict[str, Any], count: int) -> None:
    """Every line of the board is a ranked entry with the arrow before it."""
    assert len(embed["description"].split("\n")) == len(lines(embed)) == count, embed["description"]


def expected_message_lines(scenario: Scenario) -> set[tuple[str, str]]:
    """The top 10 from the simulator's own record of who said what (ties broken by user id)."""
    names = {m.user_id: m.global_name or m.username for m in scenario.humans}
    top = sorted(scenario.truth.items(), key=lambda item: (-item[1], item[0]))[:10]
    return {
        (escape_name(names[user]), f"{format_count(n)} {'message' if n == 1 else 'messages'}")
        for user, n in top
    }


def stored_boards(db: Path) -> dict[str, tuple[int, int]]:
    with sqlite3.connect(db) as conn:
        return {
            kind: (channel, message)
            for kind, channel, message in conn.execute("SELECT kind, channel_id, message_id FROM boards")
        }


def board_settings(db: Path, scenario: Scenario, **env: str) -> Settings:
    return settings_for(
        db,
        MESSAGE_BOARD_CHANNEL_ID=str(scenario.text_channels[0].channel_id),
        VOICE_BOARD_CHANNEL_ID=str(scenario.text_channels[1].channel_id),
        **env,
    )


@pytest.mark.scenario(seed=7, members=20)
async def test_boards_are_posted_updated_reposted_when_deleted_and_not_duplicated_on_restart(
    autojump_clock: object, clock: WallClock, scenario: Scenario, tmp_path: Path
) -> None:
    db = tmp_path / "lb.db"
    sim, guild = scenario.sim, scenario.guild
    messages_channel, voice_channel = (
        scenario.text_channels[0].channel_id,
        scenario.text_channels[1].channel_id,
    )
    ids = {str(m.user_id) for m in scenario.humans}
    with timed_calls(sim, clock) as calls:
        async with running_bot(sim, board_settings(db, scenario), clock) as app:
            # First start: both boards, empty, in the seed look.
            await wait_until(
                lambda: boards(sim, messages_channel) and boards(sim, voice_channel), what="both boards"
            )
            for channel, title, empty in (
                (messages_channel, "Message Leaderboard", "start chatting"),
                (voice_channel, "Voice Leaderboard", "hop into a voice channel"),
            ):
                _, embed = the_board(sim, channel)
                assert embed["title"] == title and embed["color"] == 0x571173  # Discord shows titles bold
                icon = f"https://cdn.discordapp.com/icons/{guild.guild_id}/{guild.icon}.png"
                assert embed["thumbnail"]["url"] == icon
                assert empty in embed["description"] and "Next reset" in embed["footer"]["text"]

            # A crowd chats and two members talk in voice: the boards follow, an interval at a time.
            lounge = scenario.voice_channels[0]
            for member in scenario.humans[:2]:
                sim.set_voice(guild, member, lounge)
            await chat(scenario, random.Random(7), messages=400)
            for member in scenario.humans[:2]:
                sim.set_voice(guild, member, None)
            await wait_until(
                lambda: shown(sim, messages_channel) == expected_message_lines(scenario),
                what="the message board to show the crowd's top 10",
            )
            await wait_until(lambda: len(shown(sim, voice_channel) or ()) == 2, what="the voice board")
            _, embed = the_board(sim, messages_channel)
            assert_seed_lines(embed, 10)
            assert not any(i in embed["description"] for i in ids)  # display names, never ids
            _, voice_embed = the_board(sim, voice_channel)
            assert_seed_lines(voice_embed, 2)
            talkers = {escape_name(m.global_name or m.username) for m in scenario.humans[:2]}
            assert {name for name, _ in lines(voice_embed)} == talkers
            assert all(re.fullmatch(r"\d+h \d\dm", value) for _, value in lines(voice_embed))
            posts, edits = calls.at("POST", messages_channel), calls.at("PATCH", messages_channel)
            assert len(posts) == 1 and edits
            assert all(b - a >= INTERVAL for a, b in itertools.pairwise([posts[0], *edits]))

            # A moderator deletes the message board: the next update posts a new one.
            old_id, _ = the_board(sim, messages_channel)
            sim.delete_message(scenario.text_channels[0], old_id)
            scenario.say(scenario.humans[3])
            await wait_until(lambda: len(boards(sim, messages_channel)) == 1, what="the board back")
            new_id, embed = the_board(sim, messages_channel)
            assert new_id != old_id and set(lines(embed)) == expected_message_lines(scenario)

            # Shutdown right after a change: the last state goes out without waiting for the interval.
            received = app.gateway.received["MESSAGE_CREATE"]  # type: ignore[union-attr]
            for member in scenario.humans[8:11]:
                scenario.say(member)
            await wait_until(
                lambda: app.gateway.received["MESSAGE_CREATE"] >= received + 3,  # type: ignore[union-attr]
                what="the last messages",
            )
            stopping_at = clock.now()
        assert max(calls.at("PATCH", messages_channel)) >= stopping_at
        assert shown(sim, messages_channel) == expected_message_lines(scenario)
        assert stored_boards(db)["messages"] == (messages_channel, new_id)

        # Restart: the stored boards are checked (GET) and edited in place, never posted again.
        posts_before = len(calls.at("POST", messages_channel) + calls.at("POST", voice_channel))
        async with running_bot(sim, board_settings(db, scenario), clock):
            await wait_until(
                lambda: calls.at("GET", messages_channel) and calls.at("GET", voice_channel),
                what="the stored boards checked",
            )
            for member in scenario.humans[5:8]:
                scenario.say(member)
            await wait_until(
                lambda: shown(sim, messages_channel) == expected_message_lines(scenario),
                what="the board edited after the restart",
            )
    assert len(calls.at("POST", messages_channel) + calls.at("POST", voice_channel)) == posts_before
    assert list(boards(sim, messages_channel)) == [new_id]
    assert len(boards(sim, voice_channel)) == 1


async def test_a_429_storm_is_waited_out_without_an_edit_storm(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    db = tmp_path / "lb.db"
    async with simulator(clock, seed=8, members=12) as scenario:
        sim, channel = scenario.sim, scenario.text_channels[0]
        with timed_calls(sim, clock) as calls:
            async with running_bot(sim, board_settings(db, scenario), clock) as app:
                await wait_until(lambda: len(boards(sim, channel.channel_id)) == 1, what="the board")
                poster = app.pipeline.poster
                assert poster is not None
                attempts: list[float] = []  # our own edits; disnake's retries of each come inside it
                edit = poster.edit

                async def timed_edit(*args: Any, **kwargs: Any) -> Any:
                    attempts.append(clock.now())
                    return await edit(*args, **kwargs)

                poster.edit = timed_edit  # type: ignore[method-assign]
                # disnake retries a 429 five times itself; 12 in a row make two of our edits fail.
                sim.faults.rate_limit(EDIT_ROUTE, times=12, retry_after=4.0)
                start = clock.now()
                for _ in range(20):  # ten minutes of steady chat
                    await chat(scenario, random.Random(len(calls)), messages=10, per_second=1 / 3)
                await wait_until(
                    lambda: shown(sim, channel.channel_id) == expected_message_lines(scenario),
                    within=900,
                    what="the board to converge after the storm",
                )
                elapsed = clock.now() - start
        refused = sum(1 for kind, what in sim.faults.log if kind == "429" and what.startswith("PATCH"))
        assert refused == 12
        assert all(b - a >= INTERVAL for a, b in itertools.pairwise(attempts))  # never faster than that
        assert len(attempts) <= elapsed / INTERVAL + 1
        # No storm: every PATCH beyond one per attempt is one of disnake's own retries of a 429.
        assert len(calls.at("PATCH", channel.channel_id)) <= len(attempts) + refused


async def test_30046_posts_a_fresh_board_and_deletes_the_old_one(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    db = tmp_path / "lb.db"
    async with simulator(clock, seed=9, members=12) as scenario:
        sim, channel = scenario.sim, scenario.text_channels[0]
        sim.limits.old_message_age = 90.0  # "older than an hour", shortened
        sim.limits.old_message_edits = Rule(1, 3600.0)  # one edit of an old message per hour
        with timed_calls(sim, clock) as calls:
            async with running_bot(sim, board_settings(db, scenario), clock):
                await wait_until(lambda: len(boards(sim, channel.channel_id)) == 1, what="the board")
                first_id, _ = the_board(sim, channel.channel_id)
                for _ in range(12):  # four minutes of chat: edits at ~60 s, ~120 s (old: 1 allowed), ~180 s
                    await chat(scenario, random.Random(len(calls)), messages=10, per_second=0.5)
                await wait_until(
                    lambda: calls.at("DELETE", channel.channel_id), within=600, what="the old board deleted"
                )
                await wait_until(
                    lambda: shown(sim, channel.channel_id) == expected_message_lines(scenario),
                    within=600,
                    what="the fresh board up to date",
                )
                fresh_id, _ = the_board(sim, channel.channel_id)
        assert fresh_id != first_id and first_id not in sim.world.messages[channel.channel_id]
        assert stored_boards(db)["messages"] == (channel.channel_id, fresh_id)
        assert (
            len(calls.at("POST", channel.channel_id)) == 2
            and len(calls.at("DELETE", channel.channel_id)) == 1
        )


def lookalike(scenario: Scenario, channel_index: int = 0) -> int:
    """A member posts an embed that looks like the message board (title and footer)."""
    sim, channel = scenario.sim, scenario.text_channels[channel_index]
    embed = {
        "title": "Message Leaderboard",
        "description": "fake standings",
        "footer": {"text": "Updated 2025-01-01 00:00 UTC"},
    }
    payload = sim.world.message_payload(channel, scenario.humans[0], embeds=[embed])
    return int(sim.world.store_message(payload)["id"])


async def test_a_post_cut_by_a_kill_leaves_one_board_per_kind_after_a_restart_past_the_nonce_window(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    """Issue 15.4: Discord forgets nonces at once (window 0); the bot is killed while both first
    posts are in flight, and Discord creates them anyway. At the restart a board whose answer was
    lost posts again (issue 17: a board with no known message posts first), then reads its channel
    after the post, keeps its new board and deletes the copy the killed run left: one board per
    kind. A member's lookalike of a board is neither adopted, edited nor deleted."""
    db = tmp_path / "lb.db"
    async with simulator(clock, seed=15, members=6) as scenario:
        sim = scenario.sim
        sim.nonce_window_ms = 0
        channels = [scenario.text_channels[i].channel_id for i in (0, 1)]
        fake = lookalike(scenario)
        fake_before = dict(sim.world.messages[channels[0]][fake])
        with timed_calls(sim, clock) as calls:

            def posts() -> int:
                return sum(len(calls.at("POST", c)) for c in channels)

            sim.faults.set_delay(20.0)  # Discord is slow: both posts are in flight at the kill
            with trio.CancelScope() as kill:
                async with running_bot(sim, board_settings(db, scenario), clock):
                    await wait_until(lambda: posts() == 2, within=600, what="both posts in flight")
                    kill.cancel()  # no shutdown round: the process is gone
            sim.faults.set_delay(0.0)
            await trio.sleep(60)  # Discord finishes the posts it received
            assert all(len(boards(sim, c)) == 1 for c in channels)  # each post made, the bot never knew
            first = {c: the_board(sim, c)[0] for c in channels}
            async with running_bot(sim, board_settings(db, scenario), clock):
                scenario.say(scenario.humans[1])
                await wait_until(
                    lambda: all(len(boards(sim, c)) == 1 for c in channels) and posts() > 2,
                    within=READ_AFTER_POST + 300,
                    what="the copy of the killed run deleted",
                )
                await wait_until(
                    lambda: (shown(sim, channels[0]) or set()) == expected_message_lines(scenario),
                    within=300,
                    what="the board edited",
                )
                await trio.sleep(300)
        # The messages post's answer came back before the kill (its row was stored): confirmed and
        # kept, not posted again. The voice post's did not: posted again, and the read after the
        # post deleted the copy the killed run left. Never a third post of a kind.
        assert posts() == 3
        latest = {c: the_board(sim, c)[0] for c in channels}
        assert latest[channels[0]] == first[channels[0]] and latest[channels[1]] > first[channels[1]]
        assert calls.at("DELETE", channels[1]) and not calls.at("DELETE", channels[0])
        assert {c: list(boards(sim, c)) for c in channels} == {c: [latest[c]] for c in channels}
        assert stored_boards(db) == {
            "messages": (channels[0], latest[channels[0]]),
            "voice": (channels[1], latest[channels[1]]),
        }
        assert sim.world.messages[channels[0]][fake] == fake_before  # the lookalike is untouched


async def test_copies_left_by_an_earlier_run_are_deleted_and_the_newest_adopted(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    """Boards a bot without the scan left behind: at the restart the newest is kept, every other
    copy of that kind by the bot is deleted, and nothing a member wrote is touched."""
    db = tmp_path / "lb.db"
    async with simulator(clock, seed=16, members=6) as scenario:
        sim, channel = scenario.sim, scenario.text_channels[0]
        async with running_bot(sim, board_settings(db, scenario), clock):
            await wait_until(lambda: len(boards(sim, channel.channel_id)) == 1, what="the board")
        stored, embed = the_board(sim, channel.channel_id)
        copies = []
        for _ in range(2):  # two more copies by the bot, newer than the stored one
            payload = sim.world.message_payload(channel, sim.world.bot, embeds=[embed])
            copies.append(int(sim.world.store_message(payload)["id"]))
        fake = lookalike(scenario)
        with timed_calls(sim, clock) as calls:
            async with running_bot(sim, board_settings(db, scenario), clock):
                await wait_until(lambda: len(boards(sim, channel.channel_id)) == 1, what="one board left")
                await trio.sleep(120)
        assert list(boards(sim, channel.channel_id)) == [max(copies)]
        assert stored_boards(db)["messages"] == (channel.channel_id, max(copies))
        assert (
            fake in sim.world.messages[channel.channel_id]
            and stored not in sim.world.messages[channel.channel_id]
        )
        assert calls.at("POST", channel.channel_id) == []
        assert len(calls.at("DELETE", channel.channel_id)) == 2


async def test_a_board_deleted_in_a_quiet_server_comes_back_with_only_the_slow_check(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    """Issue 15.6: nobody talks; a moderator deletes the message board. The slow check (every
    ten intervals without a write) finds it gone and reposts it; meanwhile the only calls are
    those checks."""
    db = tmp_path / "lb.db"
    async with simulator(clock, seed=17, members=6) as scenario:
        sim = scenario.sim
        channels = [scenario.text_channels[i].channel_id for i in (0, 1)]
        with timed_calls(sim, clock) as calls:
            async with running_bot(sim, board_settings(db, scenario), clock):
                await wait_until(lambda: all(boards(sim, c) for c in channels), what="both boards")
                await trio.sleep(2 * INTERVAL)  # settled: nothing changes any more
                old_id, _ = the_board(sim, channels[0])
                quiet_from = len(calls)
                sim.delete_message(scenario.text_channels[0], old_id)
                deleted_at = clock.now()
                await wait_until(
                    lambda: len(boards(sim, channels[0])) == 1,
                    within=RECHECK_INTERVALS * INTERVAL + INTERVAL,
                    what="the board back",
                )
                back_at = clock.now()
                await trio.sleep(RECHECK_INTERVALS * INTERVAL * 2)
        assert the_board(sim, channels[0])[0] != old_id and back_at - deleted_at <= 11 * INTERVAL
        quiet = [(t, m, p) for t, (m, p, _) in zip(calls.times, calls, strict=True)][quiet_from:]
        board_paths = tuple(f"/api/v10/channels/{c}/messages" for c in channels)
        assert all(p.startswith(board_paths) for _, _, p in quiet), quiet  # nothing but the boards
        board_calls = [(m, p) for _, m, p in quiet if m != "GET" or p in board_paths]
        # The reads after the first posts (issue 17), then the board posted again, then the read
        # after that post: none of ours left besides it.
        assert sorted(board_calls[:2]) == [("GET", board_paths[0]), ("GET", board_paths[1])]
        assert board_calls[2:] == [("POST", board_paths[0]), ("GET", board_paths[0])]
        for path in board_paths:
            checks = [t for t, m, p in quiet if m == "GET" and p.startswith(path + "/")]
            assert checks and all(
                b - a >= RECHECK_INTERVALS * INTERVAL for a, b in itertools.pairwise(checks)
            )
            assert len(checks) <= 4, checks  # 2,400 s quiet at most: one read back per ten intervals
