"""The REST budget's shell: routes to classes, and the budget on a real disnake client.

Through the real client against the simulator on ``MockClock``: the pacer's timers run on the
event loop's clock, which under trio-asyncio is Trio's, so paced calls take virtual seconds.
"""

from __future__ import annotations

import logging
import random
from functools import partial

import disnake
import pytest
import trio
import trio.lowlevel

from actors.board_protocol import Done, Posted, RateLimited
from bot_entry.board_poster import BoardPoster
from bot_entry.rest_budget import CallClass, RestPolicy
from bot_entry.rest_pacing import RestRefused, classify, install_rest_budget
from discord_sim.crowd import build_scenario
from domain.clock import WallClock
from tests.discord_sim.conftest import connected, plain_client
from tests.e2e.test_boards_e2e import timed_calls
from tests.harness import simulator

API = "http://127.0.0.1:1234/api/v10"


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/interactions/123/tok-en/callback", (CallClass.INTERACTION, False)),
        ("POST", "/webhooks/42/tok/en", (CallClass.INTERACTION, False)),
        ("PATCH", "/webhooks/42/token/messages/@original", (CallClass.INTERACTION, False)),
        ("POST", "/webhooks/42/token?wait=1", (CallClass.INTERACTION, False)),
        ("PUT", "/applications/42/commands", (CallClass.ESSENTIAL, False)),
        ("PUT", "/applications/42/guilds/7/commands", (CallClass.ESSENTIAL, False)),
        ("GET", "/users/@me", (CallClass.ESSENTIAL, False)),
        ("GET", "/gateway/bot", (CallClass.ESSENTIAL, False)),
        ("GET", "/oauth2/applications/@me", (CallClass.ESSENTIAL, False)),
        ("PATCH", "/channels/1/messages/2", (CallClass.BOARD, True)),
        ("GET", "/guilds/1/members/2", (CallClass.BOARD, True)),
        ("POST", "/channels/1/messages", (CallClass.BOARD, False)),
        ("DELETE", "/channels/1/messages/2", (CallClass.BOARD, False)),
        ("GET", "/channels/1/messages/2", (CallClass.BOARD, False)),
        ("GET", "/channels/1/messages?limit=50", (CallClass.BOARD, False)),
        ("GET", "/channels/1", (CallClass.BOARD, False)),
    ],
)
def test_each_route_has_its_class(method: str, path: str, expected: tuple[CallClass, bool]) -> None:
    assert classify(method, API + path) == expected


async def test_a_client_gets_one_budget(aio_loop: object) -> None:
    client = plain_client()
    install_rest_budget(client.http, RestPolicy.of(10))
    with pytest.raises(ValueError, match="already has a REST budget"):
        install_rest_budget(client.http, RestPolicy.of(10))


async def test_board_calls_go_out_at_the_budget_and_the_stalest_first(
    autojump_clock: object, aio_loop: object, clock: WallClock
) -> None:
    async with simulator(clock, seed=5, members=4) as scenario:
        client = plain_client()
        policy = RestPolicy(rate=2.0, burst=1.0)
        pacer = install_rest_budget(client.http, policy)
        poster = BoardPoster(client)
        # One board per channel, as in production (one channel's calls share disnake's bucket lock,
        # which keeps them in order before they reach the budget): six channels in three guilds.
        guilds = [scenario] + [build_scenario(scenario.sim, random.Random(i), members=2) for i in range(2)]
        channels = [c.channel_id for g in guilds for c in g.text_channels[:2]]
        async with connected(scenario, client):
            posted = [await poster.post(c, {"title": f"b{i}"}, f"n{i}") for i, c in enumerate(channels)]
            ids = [p.message_id for p in posted if isinstance(p, Posted)]
            await trio.sleep(5)  # the bucket refills
            now = trio.current_time()
            with timed_calls(scenario.sim, clock) as calls:
                async with trio.open_nursery() as nursery:
                    # Started newest change first; the budget must send them stalest first.
                    for age, (channel_id, message_id) in enumerate(zip(channels, ids, strict=True)):
                        check = partial(poster.check, channel_id, message_id, waiting_since=now - age)
                        nursery.start_soon(check)
                        await trio.lowlevel.checkpoint()  # each arrives in its turn
        snapshot = pacer.snapshot()
    got = [int(path.rsplit("/", 1)[1]) for _, path, _ in calls]
    # The first goes at once (the bucket's one token); the rest wait and go oldest change first.
    assert got == [ids[0], *reversed(ids[1:])], ([ids.index(g) for g in got], calls.times)
    gaps = [b - a for a, b in zip(calls.times, calls.times[1:], strict=False)]
    assert all(gap >= 1 / policy.rate - 1e-6 for gap in gaps), gaps
    assert snapshot is not None and snapshot.granted["BOARD"] >= 12 and snapshot.waited_seconds["BOARD"] > 0


async def test_past_the_invalid_fraction_edits_and_member_fetches_stop_and_it_is_logged_once(
    autojump_clock: object, aio_loop: object, clock: WallClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with simulator(clock, seed=5, members=4) as scenario:
        client = plain_client()
        # Opens at 3 invalid requests (of 6), closes below 1 (a whole window later).
        pacer = install_rest_budget(
            client.http, RestPolicy(rate=50, burst=10, invalid_limit=6, stop_fraction=0.5)
        )
        poster = BoardPoster(client)
        channel_id = scenario.text_channels[0].channel_id
        member = scenario.humans[0].user_id
        caplog.set_level(logging.INFO, logger="bot_entry.rest_pacing")
        async with connected(scenario, client):
            posted = await poster.post(channel_id, {"title": "board"}, "n1")
            assert isinstance(posted, Posted)
            # Three 429s that disnake waits out and retries on its own: each attempt counts, and
            # its fourth attempt is already stopped.
            scenario.sim.faults.rate_limit("PATCH /channels/*/messages/*", times=3, retry_after=0.5)
            first = await poster.edit(channel_id, posted.message_id, {"title": "b2"})
            assert isinstance(first, RateLimited) and first.retry_after > 500
            assert pacer.snapshot() is not None and pacer.snapshot().breaker_open  # type: ignore[union-attr]
            with timed_calls(scenario.sim, clock) as calls:
                edit = await poster.edit(channel_id, posted.message_id, {"title": "b3"})
                fetched = await poster.fetch_member(scenario.guild.guild_id, member)
                assert calls == []  # neither reached Discord
                again = await poster.post(channel_id, {"title": "new"}, "n2")  # a post still goes
                assert await poster.check(channel_id, posted.message_id) == Done()
        snapshot = pacer.snapshot()
    assert isinstance(edit, RateLimited) and edit.retry_after > 500
    assert isinstance(fetched, RateLimited) and fetched.retry_after > 500
    assert isinstance(again, Posted)
    assert snapshot is not None and snapshot.invalid_in_window == 3 and snapshot.refused["breaker"] == 3
    opened = [r for r in caplog.records if "stop until the window cools" in r.getMessage()]
    assert len(opened) == 1 and opened[0].levelno == logging.WARNING


def test_a_refusal_is_a_429_every_caller_of_disnake_already_handles() -> None:
    """Commands catch ``disnake.HTTPException`` around their own member fetches; a refusal by
    the budget is one (status 429, code 0), so no handler meets an exception it does not know."""
    refused = RestRefused(12.5, "breaker")
    assert isinstance(refused, disnake.HTTPException)
    assert (refused.status, refused.code, refused.retry_after) == (429, 0, 12.5)
    assert "breaker" in str(refused) and "12.5" in refused.text
