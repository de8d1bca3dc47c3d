"""REST through the real disnake client: messages as users see them, Discord's errors and limits."""

from __future__ import annotations

import io

import disnake
import pytest
import trio

from discord_sim.crowd import Scenario
from discord_sim.ratelimit import Rule
from domain.clock import WallClock
from tests.discord_sim.conftest import aio, connected, plain_client
from tests.harness import wait_until


def posts(scenario: Scenario, channel_id: int) -> list[str]:
    return [
        path
        for method, path, _ in scenario.sim.world.rest_calls
        if method == "POST" and path.endswith(f"/channels/{channel_id}/messages")
    ]


async def test_post_edit_get_delete_a_board_embed(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    client = plain_client()
    seen: list[disnake.Message] = []
    client.event(_collector(seen))
    channel_id = scenario.text_channels[0].channel_id
    async with connected(scenario, client):
        channel = client.get_channel(channel_id)
        board = disnake.Embed(title="Top talkers", description="This week", color=0x5865F2)
        board.add_field("1. Ada Quartz", "42 messages", inline=False).set_footer(text="updated now")
        message = await aio(channel.send)(embed=board)

        stored = scenario.sim.world.messages[channel_id][message.id]
        assert stored["author"]["id"] == str(client.user.id)
        assert stored["embeds"][0]["title"] == "Top talkers"
        assert stored["embeds"][0]["fields"] == [
            {"name": "1. Ada Quartz", "value": "42 messages", "inline": False}
        ]
        assert stored["embeds"][0]["footer"] == {"text": "updated now"}
        await wait_until(lambda: any(m.id == message.id for m in seen), what="our own MESSAGE_CREATE")

        board.set_field_at(0, name="1. Bo Raven", value="43 messages")
        await aio(message.edit)(embed=board)
        assert stored["embeds"][0]["fields"][0]["name"] == "1. Bo Raven"
        assert stored["edited_timestamp"] is not None

        fetched = await aio(channel.fetch_message)(message.id)
        assert fetched.embeds[0].fields[0].value == "43 messages"
        assert fetched.edited_at is not None

        await aio(message.delete)()
        assert message.id not in scenario.sim.world.messages[channel_id]
        with pytest.raises(disnake.NotFound) as gone:
            await aio(channel.fetch_message)(message.id)
        assert gone.value.code == 10008


def _collector(seen: list[disnake.Message]):  # type: ignore[no-untyped-def]
    async def on_message(message: disnake.Message) -> None:
        seen.append(message)

    return on_message


@pytest.mark.parametrize(
    ("embeds", "where"),
    [
        ([disnake.Embed(title="t" * 257)], "In embeds.0.title: Must be 256 or fewer in length."),
        ([disnake.Embed(description="d" * 4097)], "In embeds.0.description: Must be 4096 or fewer"),
        ([disnake.Embed().add_field("n", "v" * 1025)], "In embeds.0.fields.0.value: Must be 1024 or fewer"),
        (
            [disnake.Embed(description="d" * 1600) for _ in range(4)],
            "Embed size exceeds maximum size of 6000",
        ),
    ],
    ids=["title", "description", "field-value", "total-6000"],
)
async def test_an_embed_over_discords_limits_is_refused_with_50035(
    autojump_clock: object, scenario: Scenario, clock: WallClock, embeds: list[disnake.Embed], where: str
) -> None:
    channel_id = scenario.text_channels[0].channel_id
    async with connected(scenario, plain_client()) as client:
        with pytest.raises(disnake.HTTPException) as refused:
            await aio(client.get_channel(channel_id).send)(embeds=embeds)
    assert (refused.value.status, refused.value.code) == (400, 50035)
    assert where in refused.value.text
    assert not scenario.sim.world.messages.get(channel_id)


async def test_too_many_fields_and_empty_messages_are_refused(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    channel = scenario.text_channels[0]
    embed = disnake.Embed(title="many")
    for i in range(26):
        embed.add_field(f"n{i}", "v")
    async with connected(scenario, plain_client()) as client:
        target = client.get_channel(channel.channel_id)
        with pytest.raises(disnake.HTTPException) as fields:
            await aio(target.send)(embed=embed)
        with pytest.raises(disnake.HTTPException) as empty:
            await aio(client.http.send_message)(channel.channel_id, content="")
    assert "In embeds.0.fields: Must be 25 or fewer in length." in fields.value.text
    assert (empty.value.code, empty.value.text) == (50006, "Cannot send an empty message")


async def test_a_429_is_retried_after_retry_after_and_then_succeeds(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    channel_id = scenario.text_channels[0].channel_id
    scenario.sim.faults.rate_limit("POST /channels/{channel_id}/messages", times=1, retry_after=1.5)
    async with connected(scenario, plain_client()) as client:
        start = trio.current_time()
        message = await aio(client.get_channel(channel_id).send)("after the limit")
        waited = trio.current_time() - start
    assert 1.5 <= waited < 3
    assert len(posts(scenario, channel_id)) == 2, "one refused, one accepted"
    assert scenario.sim.faults.log == [("429", f"POST /channels/{channel_id}/messages")]
    assert scenario.sim.world.messages[channel_id][message.id]["content"] == "after the limit"


async def test_bucket_headers_make_disnake_wait_instead_of_being_refused(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    """5 posts per 5 s per channel: the 6th waits for the reset the headers announced."""
    channel_id = scenario.text_channels[0].channel_id
    async with connected(scenario, plain_client()) as client:
        channel = client.get_channel(channel_id)
        start = trio.current_time()
        for i in range(6):
            await aio(channel.send)(f"post {i}")
        waited = trio.current_time() - start
    assert 4.9 <= waited < 6
    assert len(posts(scenario, channel_id)) == 6, "no call was refused, so none was repeated"


async def test_the_rate_limit_answer_has_discords_shape(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    sim = scenario.sim
    sim.limits.rules["POST /channels/{channel_id}/messages"] = Rule(1, 10.0)
    channel_id = scenario.text_channels[0].channel_id
    url = f"{sim.base_url}/channels/{channel_id}/messages"
    headers = {"Authorization": f"Bot {sim.token}"}

    async def post_twice() -> list[tuple[int, dict[str, str], object]]:
        import aiohttp

        answers = []
        async with aiohttp.ClientSession() as http:
            for _ in range(2):
                async with http.post(url, json={"content": "x"}, headers=headers) as response:
                    answers.append((response.status, dict(response.headers), await response.json()))
        return answers

    (ok, ok_headers, _), (limited, headers_429, body) = await aio(post_twice)()
    assert (ok, limited) == (200, 429)
    assert ok_headers["X-RateLimit-Limit"] == "1" and ok_headers["X-RateLimit-Remaining"] == "0"
    assert float(ok_headers["X-RateLimit-Reset-After"]) == pytest.approx(10.0)
    assert headers_429["Retry-After"] == "10" and headers_429["X-RateLimit-Scope"] == "user"
    assert headers_429["X-RateLimit-Bucket"] == ok_headers["X-RateLimit-Bucket"]
    assert body == {"message": "You are being rate limited.", "retry_after": 10.0, "global": False}
    ((at, route, is_global),) = sim.world.rate_limited  # the record scale runs count 429s from
    assert (
        route == "POST /channels/{channel_id}/messages" and not is_global and at <= sim.world.now_ms() / 1000
    )


async def test_editing_an_old_message_too_often_answers_30046(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    scenario.sim.limits.old_message_edits = Rule(2, 3600.0)
    channel_id = scenario.text_channels[0].channel_id
    async with connected(scenario, plain_client()) as client:
        channel = client.get_channel(channel_id)
        old = await aio(channel.send)("board v1")
        await trio.sleep(3601)  # an hour of simulated time, on one live connection
        fresh = await aio(channel.send)("another board")
        await aio(old.edit)(content="board v2")
        await aio(old.edit)(content="board v3")
        with pytest.raises(disnake.HTTPException) as quota:
            await aio(old.edit)(content="board v4")
        await aio(fresh.edit)(content="young messages are not limited")
    assert (quota.value.status, quota.value.code) == (400, 30046)
    assert scenario.sim.world.messages[channel_id][old.id]["content"] == "board v3"
    assert scenario.sim.gateway.connects == 1, "an idle simulated hour must not cost a reconnect"


async def test_unknown_objects_answer_discords_404_codes(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    guild, channel = scenario.guild, scenario.text_channels[0]
    async with connected(scenario, plain_client()) as client:
        codes = {}
        for name, call in {
            "channel": lambda: client.fetch_channel(1234567890123),
            "message": lambda: client.get_channel(channel.channel_id).fetch_message(1234567890123),
            "member": lambda: client.get_guild(guild.guild_id).fetch_member(1234567890123),
            "guild": lambda: client.fetch_guild(1234567890123),
        }.items():
            with pytest.raises(disnake.NotFound) as missing:
                await aio(call)()
            codes[name] = missing.value.code
        member = await aio(client.get_guild(guild.guild_id).fetch_member)(scenario.humans[0].user_id)
        fetched = await aio(client.fetch_channel)(channel.channel_id)
    assert codes == {"channel": 10003, "message": 10008, "member": 10007, "guild": 10004}
    assert member.name == scenario.humans[0].username
    assert fetched.name == channel.name


async def test_server_errors_and_delays_are_survived(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    channel_id = scenario.text_channels[0].channel_id
    faults = scenario.sim.faults
    async with connected(scenario, plain_client()) as client:
        channel = client.get_channel(channel_id)
        faults.fail_next(1, status=500)
        faults.fail_next(1, status=502)
        start = trio.current_time()
        await aio(channel.send)("through two failures")
        retried = trio.current_time() - start
        faults.set_delay(2.0)
        start = trio.current_time()
        await aio(channel.send)("slowly")
        delayed = trio.current_time() - start
    assert [kind for kind, _ in faults.log] == ["500", "502"]
    assert retried >= 1 + 3, "disnake sleeps 1 s then 3 s between its retries"
    assert delayed >= 2.0 - 1e-6
    contents = [m["content"] for m in scenario.sim.world.messages[channel_id].values()]
    assert contents == ["through two failures", "slowly"]


async def test_a_file_upload_becomes_an_attachment(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    channel_id = scenario.text_channels[0].channel_id
    async with connected(scenario, plain_client()) as client:
        picture = disnake.File(io.BytesIO(b"\x89PNG fake board"), "board.png", description="the board")
        message = await aio(client.get_channel(channel_id).send)("see attached", file=picture)
        downloaded = await aio(message.attachments[0].read)()
    stored = scenario.sim.world.messages[channel_id][message.id]["attachments"]
    assert [(a["filename"], a["size"], a.get("description")) for a in stored] == [
        ("board.png", 15, "the board")
    ]
    assert downloaded == b"\x89PNG fake board"


async def test_a_fraction_of_failing_calls_is_retried_through(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    channel_id = scenario.text_channels[0].channel_id
    async with connected(scenario, plain_client()) as client:
        channel = client.get_channel(channel_id)
        scenario.sim.faults.fail_fraction(0.3, status=502, seed=7)
        for i in range(10):
            await aio(channel.send)(f"post {i}")
    failures = [kind for kind, _ in scenario.sim.faults.log]
    assert failures and set(failures) == {"502"}
    assert len(posts(scenario, channel_id)) == 10 + len(failures)
    assert len(scenario.sim.world.messages[channel_id]) == 10


async def test_a_wrong_token_is_refused(autojump_clock: object, scenario: Scenario, clock: WallClock) -> None:
    client = plain_client()
    disnake.http.Route.BASE = scenario.sim.base_url
    with pytest.raises(disnake.LoginFailure):
        await aio(client.start)("not-the-token")
    await aio(client.close)()
    assert scenario.sim.world.rest_calls == [("GET", "/api/v10/users/@me", None)]


async def test_a_post_repeated_with_enforce_nonce_returns_the_first_message(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    client = plain_client()
    channel_id = scenario.text_channels[0].channel_id
    body = {"embeds": [{"title": "Top talkers"}], "nonce": "board-1", "enforce_nonce": True}
    async with connected(scenario, client):
        route = disnake.http.Route("POST", "/channels/{channel_id}/messages", channel_id=channel_id)
        first = await aio(client.http.request)(route, json=body)
        again = await aio(client.http.request)(route, json=body)
        unenforced = await aio(client.http.request)(route, json={**body, "enforce_nonce": False})
        with pytest.raises(disnake.HTTPException) as too_long:
            await aio(client.http.request)(route, json={**body, "nonce": "x" * 26})
    assert again["id"] == first["id"] and unenforced["id"] != first["id"]
    assert len(scenario.sim.world.messages[channel_id]) == 2
    assert too_long.value.code == 50035
