"""/rank through the real bot and the simulator: the text answer with the rank card beside it, a PNG
uploaded as Discord takes files (multipart, ``payload_json`` + ``files[0]``), read back from the
simulator and decoded; the member's avatar fetched from the CDN path once and cached, a placeholder
when it cannot be had; hostile names drawn at the card's fixed size."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import disnake
import pytest
from PIL import Image

from bot_entry.app import BotApp
from bot_entry.commands.member import MemberCommands
from discord_sim.crowd import Scenario
from discord_sim.world import SimInteraction
from domain.clock import WallClock
from domain.history import DayActivity
from domain.windows import utc_date
from pictures.chart import daily_series
from pictures.rank_card import ACCENT_BAR, AVATAR, AVATAR_AT, SIZE, RankCard, render_rank_card
from tests.e2e.test_commands_e2e import ask, bot, chat, trio_sleep, voice_ms
from tests.harness import wait_until

AVATAR_CENTRE = (AVATAR_AT[0] + AVATAR // 2, AVATAR_AT[1] + AVATAR // 2)


def card_of(scenario: Scenario, asked: SimInteraction) -> tuple[dict[str, object], bytes]:
    """The answer's one attachment and its bytes, as the simulator stored them."""
    assert asked.original is not None
    (attachment,) = asked.original["attachments"]
    return attachment, scenario.sim.world.attachments[int(attachment["id"])]


def decoded(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    image.load()
    return image.convert("RGB")


def png_of(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (256, 256), colour).save(out, "PNG")
    return out.getvalue()


def member_commands(app: BotApp) -> MemberCommands:
    assert app.gateway is not None
    cog = app.gateway.client.get_cog("MemberCommands")
    assert isinstance(cog, MemberCommands)
    return cog


@pytest.fixture
def asset_base() -> Iterator[None]:
    """The test may point ``disnake.Asset.BASE`` (where disnake builds CDN URLs) elsewhere."""
    before = disnake.Asset.BASE
    yield
    disnake.Asset.BASE = before


async def test_rank_answers_with_the_card_beside_the_text(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    db = tmp_path / "lb.db"
    async with bot(clock, db) as (scenario, _app):
        sim, guild, humans = scenario.sim, scenario.guild, scenario.humans
        await chat(scenario, db, [(humans[0], 3), (humans[6], 5)])
        sim.set_voice(guild, humans[0], scenario.voice_channels[0])
        sim.set_voice(guild, humans[3], scenario.voice_channels[0])
        await trio_sleep(600)
        sim.set_voice(guild, humans[0], None)
        await wait_until(lambda: voice_ms(db, guild.guild_id, humans[0].user_id) >= 600_000, what="voice")
        today = utc_date(clock.now())
        asked = await ask(scenario, humans[0], "rank")

    assert asked.ephemeral and asked.original is not None
    embed = asked.original["embeds"][0]
    assert embed["title"] == f"Rank of {humans[0].global_name}", "the text answer stays"
    assert embed["image"]["url"] == "attachment://rank.png"
    attachment, png = card_of(scenario, asked)
    assert (attachment["filename"], attachment["content_type"]) == ("rank.png", "image/png")
    assert (attachment["width"], attachment["height"], attachment["size"]) == (*SIZE, len(png))
    image = decoded(png)
    assert image.size == SIZE == (934, 282)
    assert image.getpixel((ACCENT_BAR // 2, SIZE[1] // 2)) == (0x57, 0x11, 0x73), "the guild's colour"
    expected = RankCard(
        display_name=humans[0].global_name or "",
        avatar=None,
        message_rank=2,
        messages=3,
        voice_rank=1,
        voice_seconds=600,
        days=daily_series([DayActivity(today, 3, 600)], today),
        period="This period",
    )
    assert png == render_rank_card(expected), "ranks, totals and the 30 days come from the store"


async def test_the_members_avatar_is_fetched_once_and_a_missing_one_is_the_placeholder(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path, asset_base: None
) -> None:
    db = tmp_path / "lb.db"
    async with bot(clock, db) as (scenario, app):
        sim, humans = scenario.sim, scenario.humans
        disnake.Asset.BASE = sim.origin  # disnake builds avatar URLs on it; the simulator is the CDN
        with_avatar, broken = humans[0], humans[1]
        with_avatar.avatar = "0123456789abcdef0123456789abcdef"
        sim.world.avatars[with_avatar.avatar] = png_of((200, 30, 30))
        broken.avatar = "ffffffffffffffffffffffffffffffff"  # the CDN has no such file: 404
        first = await ask(scenario, with_avatar, "rank")
        again = await ask(scenario, with_avatar, "rank")
        gone = await ask(scenario, broken, "rank")
        fetches = member_commands(app).avatars.fetches

    assert decoded(card_of(scenario, first)[1]).getpixel(AVATAR_CENTRE) == (200, 30, 30)
    assert card_of(scenario, again)[1] == card_of(scenario, first)[1]
    placeholder = decoded(card_of(scenario, gone)[1])
    assert placeholder.getpixel((AVATAR_AT[0] + 30, AVATAR_CENTRE[1])) == (0x57, 0x11, 0x73)
    assert fetches == 2, "one fetch per avatar: the second /rank used the cache"


HOSTILE = {
    "arabic": "مرحبا بالعالم هذا اسم طويل جدا جدا جدا",
    "hebrew": "שלום עולם",
    "emoji": "🎉🔥👩‍👩‍👧‍👦🏳️‍🌈",
    "zalgo": "Z̷̢̛̛a̸l̶g̴o̵" + "\u0301" * 80,
    "120 characters": "W" * 120,
    "markup": "**bold** <b>hi</b> @everyone",
}


async def test_hostile_names_render_at_the_cards_size(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    db = tmp_path / "lb.db"
    async with bot(clock, db, members=len(HOSTILE) + 2) as (scenario, _app):
        answers = []
        for member, name in zip(scenario.humans, HOSTILE.values(), strict=False):
            member.nick = name  # the interaction carries it: the display name the card draws
            answers.append(await ask(scenario, member, "rank"))
    for kind, asked in zip(HOSTILE, answers, strict=True):
        attachment, png = card_of(scenario, asked)
        assert decoded(png).size == SIZE, kind
        assert (attachment["width"], attachment["height"]) == SIZE, kind
