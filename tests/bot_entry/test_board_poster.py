"""The poster: Discord's error answers as the board schedule understands them, and which messages
are the bot's own boards."""

from __future__ import annotations

import pytest
import trio

from actors.board_protocol import (
    Done,
    Failed,
    Found,
    MessageMissing,
    NoAccess,
    NoneFound,
    OldMessageQuota,
    Posted,
    RateLimited,
)
from bot_entry.board_poster import PAGE_REUSE_SECONDS, BoardPoster, outcome_of_error, own_boards
from domain.clock import WallClock
from domain.kinds import BoardKind
from tests.discord_sim.conftest import aio, connected, plain_client
from tests.harness import simulator, wait_until


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (429, 0, RateLimited(2.5)),
        (400, 30046, OldMessageQuota()),
        (404, 10008, MessageMissing()),
        (404, 10003, NoAccess(10003, "unknown channel")),
        (403, 50001, NoAccess(50001, "missing access")),
        (403, 50013, NoAccess(50013, "missing permissions")),
        (400, 50008, NoAccess(50008, "not a text channel")),
        (403, 0, NoAccess(0, "forbidden")),
    ],
)
def test_each_discord_error_has_one_meaning(status: int, code: int, expected: object) -> None:
    assert outcome_of_error(status, code, "text", retry_after=2.5) == expected


def test_other_errors_are_failures_that_say_what_happened() -> None:
    outcome = outcome_of_error(400, 50035, "Invalid Form Body")
    assert isinstance(outcome, Failed) and "50035" in outcome.detail and "Invalid Form Body" in outcome.detail
    assert outcome_of_error(429, 0, "") == RateLimited(5.0)  # no Retry-After header: a safe default


# -- through the real client, against the simulator ---------------------------------------------


async def test_a_call_whose_session_closes_during_a_429_wait_is_made_once_more(
    autojump_clock: object, aio_loop: object, clock: WallClock
) -> None:
    """At shutdown the gateway closes the client's HTTP session while a board call may be sleeping
    out a 429 inside disnake; its retry then meets "Session is closed". Nothing was sent on it, so
    the poster makes the call again on a fresh session (else an old board is left behind)."""
    async with simulator(clock, seed=5, members=4) as scenario:
        client = plain_client()
        poster = BoardPoster(client)
        channel_id = scenario.text_channels[0].channel_id
        async with connected(scenario, client):
            posted = await poster.post(channel_id, {"title": "Top talkers"}, "n1")
            assert isinstance(posted, Posted)
            scenario.sim.faults.rate_limit("DELETE /channels/*/messages/*", times=1, retry_after=3.0)
            async with trio.open_nursery() as nursery:
                outcome: list[object] = []

                async def delete() -> None:
                    outcome.append(await poster.delete(channel_id, posted.message_id))

                nursery.start_soon(delete)
                await trio.sleep(1)  # the delete sleeps out the 429 in disnake
                await aio(client.close)()  # the gateway stops: the session closes
        await poster.aclose()
        assert outcome == [Done()]
        assert posted.message_id not in scenario.sim.world.messages[channel_id]


async def test_no_call_goes_out_before_the_client_has_logged_in(
    autojump_clock: object, aio_loop: object, clock: WallClock
) -> None:
    """A restarted bot's publisher restores its boards at once, before the login: its first calls
    (a check, an old message's delete) wait for the gateway's READY instead of meeting disnake
    without an HTTP session (which crashed the publisher: chaos seed 245)."""
    async with simulator(clock, seed=5, members=4) as scenario:
        client = plain_client()
        ready = trio.Event()
        poster = BoardPoster(client, ready=ready)
        channel_id = scenario.text_channels[0].channel_id
        outcome: list[object] = []
        async with trio.open_nursery() as nursery:

            async def check_early() -> None:
                outcome.append(await poster.check(channel_id, 12345))

            nursery.start_soon(check_early)
            await trio.sleep(5)
            assert outcome == [] and poster.calls["check"] == 0  # waiting, nothing sent
            async with connected(scenario, client):
                ready.set()
                await wait_until(lambda: bool(outcome), what="the check after the login")
        assert outcome == [MessageMissing()]


async def test_a_call_cut_inside_a_global_rate_limit_wait_does_not_stall_the_next_ones(
    autojump_clock: object, aio_loop: object, clock: WallClock
) -> None:
    """disnake clears its global rate-limit event while it sleeps out a global 429; a call cut in
    that sleep (the poster's timeout, or the stop) used to leave every later call waiting forever
    (chaos seed 39: no board posted in a whole 10 s stop)."""
    async with simulator(clock, seed=5, members=4) as scenario:
        client = plain_client()
        poster = BoardPoster(client, timeout=5.0)
        channel_id = scenario.text_channels[0].channel_id
        async with connected(scenario, client):
            scenario.sim.faults.rate_limit(
                "POST /channels/*/messages", times=1, retry_after=30.0, is_global=True
            )
            cut = await poster.post(channel_id, {"title": "Top talkers"}, "n1")
            assert "no answer within 5s" in repr(cut)  # cut by the timeout inside disnake's 30 s sleep
            with trio.fail_after(10):
                posted = await poster.post(channel_id, {"title": "Top talkers"}, "n2")
        assert isinstance(posted, Posted)


BOT = 42


def message(
    message_id: int, *, author: int = BOT, title: str = "Message Leaderboard", **extra: object
) -> dict:
    embed = {"title": title, "footer": {"text": "Updated 2025-01-01 00:00 UTC · Next reset 2025-01-31"}}
    return {"id": str(message_id), "author": {"id": str(author)}, "type": 0, "embeds": [embed], **extra}


def test_own_boards_are_the_bots_plain_messages_with_a_boards_title_and_footer_newest_first() -> None:
    page = [
        message(5),
        message(9),
        message(7, author=1),  # a member's lookalike
        message(8, title="Voice Leaderboard"),  # the other kind
        message(6, type=20),  # a public /leaderboard answer
        message(4, webhook_id="3"),
        message(3, interaction_metadata={"id": "1"}),
        {**message(2), "embeds": [{"title": "Message Leaderboard"}]},  # no board footer
        {**message(1), "embeds": []},
        "garbage",
        {"id": "x", "author": None},
    ]
    assert own_boards(page, BOT, BoardKind.MESSAGES) == (9, 5)
    assert own_boards(page, BOT, BoardKind.VOICE) == (8,)
    assert own_boards(page, None, BoardKind.MESSAGES) == ()


def board_embed(title: str) -> dict:
    return {"title": title, "footer": {"text": "Updated 2025-01-01 00:00 UTC · Next reset 2025-01-31"}}


async def test_one_page_read_answers_both_kinds_of_scan_in_a_channel(
    autojump_clock: object, aio_loop: object, clock: WallClock
) -> None:
    """A guild's two boards share a channel, and each reads it before its first post: at a start of
    thousands of guilds that doubled the REST calls (issue 17). The second kind's scan takes what the
    first one's page said of it, once, unless a board of that kind was written there since."""
    async with simulator(clock, seed=5, members=4) as scenario:
        client = plain_client()
        poster = BoardPoster(client)
        channel_id = scenario.text_channels[0].channel_id
        async with connected(scenario, client):
            voice = await poster.post(channel_id, board_embed("Voice Leaderboard"), "v1")
            assert isinstance(voice, Posted)
            assert await poster.scan(channel_id, BoardKind.MESSAGES) == NoneFound()
            assert await poster.scan(channel_id, BoardKind.VOICE) == Found((voice.message_id,))
            assert (poster.calls["scan"], poster.pages_shared) == (1, 1)  # one read for both
            assert await poster.scan(channel_id, BoardKind.VOICE) == Found((voice.message_id,))
            assert poster.calls["scan"] == 2  # the note is taken once: the next scan reads again
            assert await poster.scan(channel_id, BoardKind.MESSAGES) == NoneFound()  # that read's note
            assert (poster.calls["scan"], poster.pages_shared) == (2, 2)
            # A write of a kind makes the page old for that kind: the next scan of it reads.
            assert await poster.scan(channel_id, BoardKind.MESSAGES) == NoneFound()  # notes voice
            again = await poster.post(channel_id, board_embed("Voice Leaderboard"), "v2")
            assert isinstance(again, Posted)
            found = await poster.scan(channel_id, BoardKind.VOICE)
            assert found == Found((again.message_id, voice.message_id)) and poster.calls["scan"] == 4
            # ... and a page read goes stale after PAGE_REUSE_SECONDS (this one noted messages).
            await trio.sleep(PAGE_REUSE_SECONDS + 1)
            assert await poster.scan(channel_id, BoardKind.MESSAGES) == NoneFound()
            assert (poster.calls["scan"], poster.pages_shared) == (5, 2)
