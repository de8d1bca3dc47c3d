"""Files as Discord takes them (multipart/form-data: ``payload_json`` plus ``files[n]``) on messages,
interaction answers, deferred answers and follow-ups: stored on the message with id, file name,
size, content type (and a PNG's width and height), the bytes served at the attachment's URL; and
avatars served at their CDN path."""

from __future__ import annotations

import io
from collections.abc import Iterator

import aiohttp
import disnake
import pytest
from disnake.ext import commands
from PIL import Image

from discord_sim.crowd import Scenario
from discord_sim.errors import ApiError
from discord_sim.rest.base import MAX_UPLOAD, Upload, check_uploads, png_size
from discord_sim.world import EPHEMERAL
from domain.clock import WallClock
from tests.discord_sim.conftest import aio, connected, intents, plain_client
from tests.discord_sim.test_interactions import commands_synced
from tests.harness import wait_until


def png(size: tuple[int, int], colour: tuple[int, int, int] = (87, 17, 115)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


async def served(url: str) -> tuple[int, str, bytes]:
    """GET ``url`` as any HTTP client would (status, content type, body)."""
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, response.content_type, await response.read()


@pytest.fixture
def cdn_at_the_simulator(scenario: Scenario) -> Iterator[None]:
    """disnake builds asset URLs on ``Asset.BASE``: point it at the simulator, which serves the CDN."""
    before = disnake.Asset.BASE
    disnake.Asset.BASE = scenario.sim.origin
    try:
        yield
    finally:
        disnake.Asset.BASE = before


async def test_a_message_file_is_stored_and_served_with_its_type_and_size(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    channel_id = scenario.text_channels[0].channel_id
    picture = png((934, 282))
    async with connected(scenario, plain_client()) as client:
        message = await aio(client.get_channel(channel_id).send)(
            "the card", file=disnake.File(io.BytesIO(picture), "rank.png")
        )
        (attachment,) = message.attachments
        status, content_type, body = await aio(served)(attachment.url)
        read = await aio(attachment.read)()
    (stored,) = scenario.sim.world.messages[channel_id][message.id]["attachments"]
    assert stored["filename"] == "rank.png" and stored["size"] == len(picture)
    assert stored["content_type"] == "image/png"
    assert (stored["width"], stored["height"]) == (934, 282)
    assert (attachment.width, attachment.height, attachment.content_type) == (934, 282, "image/png")
    assert scenario.sim.world.attachments[int(stored["id"])] == picture
    assert (status, content_type, body) == (200, "image/png", picture)
    assert read == picture


async def test_an_upload_over_discords_size_limit_is_refused_with_413(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    channel_id = scenario.text_channels[0].channel_id
    async with connected(scenario, plain_client()) as client:
        with pytest.raises(disnake.HTTPException) as refused:
            big = disnake.File(io.BytesIO(b"\0" * (MAX_UPLOAD + 1)), "big.bin")
            await aio(client.get_channel(channel_id).send)(file=big)
    assert (refused.value.status, refused.value.code) == (413, 40005)
    assert not scenario.sim.world.messages.get(channel_id), "nothing was posted"


def test_more_than_ten_files_are_refused() -> None:
    check_uploads([Upload(i, f"{i}.txt", b"x", "text/plain") for i in range(10)])
    with pytest.raises(ApiError) as refused:
        check_uploads([Upload(i, f"{i}.txt", b"x", "text/plain") for i in range(11)])
    assert refused.value.status == 400 and "attachments" in str(refused.value.body())


def test_only_a_png_header_gives_dimensions() -> None:
    assert png_size(png((3, 7))) == (3, 7)
    assert png_size(b"\x89PNG fake") is None
    assert png_size(b"GIF89a" + b"\0" * 30) is None


def file_bot(guild_id: int) -> commands.InteractionBot:
    bot = commands.InteractionBot(
        intents=intents(),
        gateway_params=disnake.GatewayParams(encoding="json", zlib=False),
        test_guilds=[guild_id],
        chunk_guilds_at_startup=False,
    )

    @bot.slash_command(name="now", description="Answer with a file at once")
    async def now(inter: disnake.ApplicationCommandInteraction) -> None:
        await inter.response.send_message("now", file=disnake.File(io.BytesIO(png((4, 2))), "now.png"))

    @bot.slash_command(name="later", description="Defer, then answer with a file and follow up with one")
    async def later(inter: disnake.ApplicationCommandInteraction) -> None:
        await inter.response.defer(ephemeral=True)
        await inter.edit_original_response(
            content="later", file=disnake.File(io.BytesIO(png((6, 5))), "later.png")
        )
        await inter.followup.send(
            "and more", file=disnake.File(io.BytesIO(b"a,b\n1,2\n"), "more.csv"), ephemeral=True
        )

    return bot


async def test_interaction_answers_and_followups_carry_files(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    sim, guild, channel = scenario.sim, scenario.guild, scenario.text_channels[0]
    async with connected(scenario, file_bot(guild.guild_id)):
        await commands_synced(scenario, "now", "later")
        at_once = sim.interact(guild, scenario.humans[0], channel, "now")
        deferred = sim.interact(guild, scenario.humans[1], channel, "later")
        await wait_until(lambda: at_once.answered and len(deferred.followups) == 1, what="the answers")
        urls = [
            a["url"]
            for m in (at_once.original, deferred.original, deferred.followups[0])
            for a in m["attachments"]  # type: ignore[index]
        ]
        bodies = [await aio(served)(url) for url in urls]
    assert at_once.original is not None and deferred.original is not None
    (first,) = at_once.original["attachments"]
    (second,) = deferred.original["attachments"]
    (third,) = deferred.followups[0]["attachments"]
    assert (first["filename"], first["width"], first["height"]) == ("now.png", 4, 2)
    assert (second["filename"], second["width"], second["height"]) == ("later.png", 6, 5)
    assert (third["filename"], third["content_type"], third["size"]) == ("more.csv", "text/csv", 8)
    assert "width" not in third
    assert deferred.original["flags"] & EPHEMERAL and deferred.original["content"] == "later"
    assert sim.world.attachments[int(second["id"])] == png((6, 5))
    assert [(status, kind) for status, kind, _ in bodies] == [
        (200, "image/png"),
        (200, "image/png"),
        (200, "text/csv"),
    ]
    assert bodies[2][2] == b"a,b\n1,2\n"


async def test_an_avatar_is_served_at_its_cdn_path_while_it_is_the_avatar(
    autojump_clock: object, scenario: Scenario, clock: WallClock, cdn_at_the_simulator: None
) -> None:
    member = scenario.humans[0]
    member.avatar = "0123456789abcdef0123456789abcdef"
    scenario.sim.world.avatars[member.avatar] = png((128, 128))
    async with connected(scenario, plain_client()) as client:
        user = await aio(client.fetch_user)(member.user_id)
        assert user.avatar is not None
        assert user.avatar.url.startswith(scenario.sim.origin + f"/avatars/{member.user_id}/")
        picture = await aio(user.avatar.read)()
        member.avatar = "fedcba9876543210fedcba9876543210"  # changed: the old URL is gone
        with pytest.raises(disnake.NotFound):
            await aio(user.avatar.read)()
    assert picture == png((128, 128))
