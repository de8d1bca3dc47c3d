"""Slash commands and buttons through disnake's InteractionBot: registration, answers, follow-ups."""

from __future__ import annotations

import disnake
import pytest
from disnake.ext import commands

from discord_sim.crowd import Scenario
from discord_sim.errors import ApiError
from discord_sim.interactions import callback, command_interaction
from discord_sim.ratelimit import RateLimits
from discord_sim.world import EPHEMERAL, SimChannel, SimGuild, SimMember, World
from domain.clock import WallClock
from tests.discord_sim.conftest import aio, connected, intents
from tests.harness import wait_until

MANAGE_GUILD = 1 << 5


def leaderboard_bot(guild_id: int) -> commands.InteractionBot:
    bot = commands.InteractionBot(
        intents=intents(),
        gateway_params=disnake.GatewayParams(encoding="json", zlib=False),
        test_guilds=[guild_id],
        chunk_guilds_at_startup=False,
    )

    @bot.slash_command(name="rank", description="Your place on the board")
    async def rank(inter: disnake.ApplicationCommandInteraction, period: str = "week") -> None:
        await inter.response.send_message(f"you are #3 this {period}", ephemeral=True)

    @bot.slash_command(name="board", description="Post the board", default_member_permissions=MANAGE_GUILD)
    async def board(inter: disnake.ApplicationCommandInteraction) -> None:
        await inter.response.defer()
        await trio_sleep_in_asyncio(1.0)  # building the board takes a while
        embed = disnake.Embed(title="Top talkers", description="1. Ada - 42")
        await inter.edit_original_response(
            embed=embed, components=[disnake.ui.Button(label="Refresh", custom_id="board:refresh")]
        )
        await inter.followup.send("posted", ephemeral=True)

    @bot.listen("on_button_click")
    async def refreshed(inter: disnake.MessageInteraction) -> None:
        if inter.component.custom_id == "board:refresh":
            await inter.response.edit_message(
                embed=disnake.Embed(title="Top talkers", description="1. Bo - 43")
            )

    return bot


async def trio_sleep_in_asyncio(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


async def commands_synced(scenario: Scenario, *names: str) -> None:
    registered = scenario.sim.world.commands

    def synced() -> bool:
        found = {c["name"] for c in registered.get(scenario.guild.guild_id, {}).values()}
        return set(names) <= found

    await wait_until(synced, within=60, what=f"guild commands {names}")


async def test_an_ephemeral_answer_to_a_slash_command(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    sim, guild, channel = scenario.sim, scenario.guild, scenario.text_channels[0]
    async with connected(scenario, leaderboard_bot(guild.guild_id)):
        await commands_synced(scenario, "rank", "board")
        before = dict(sim.world.messages.get(channel.channel_id, {}))
        asked = sim.interact(guild, scenario.humans[1], channel, "rank", {"period": "month"})
        await wait_until(lambda: asked.answered, what="the answer to /rank")
    assert asked.response_type == 4
    assert asked.ephemeral
    assert asked.original is not None and asked.original["content"] == "you are #3 this month"
    assert asked.original["flags"] & EPHEMERAL
    assert sim.world.messages.get(channel.channel_id, {}) == before, "nobody else sees an ephemeral answer"
    assert sim.world.interactions[asked.interaction_id] is asked


async def test_a_deferred_board_is_filled_then_refreshed_by_its_button(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    sim, guild, channel = scenario.sim, scenario.guild, scenario.text_channels[0]
    admin = scenario.humans[0]
    async with connected(scenario, leaderboard_bot(guild.guild_id)):
        await commands_synced(scenario, "board")
        with pytest.raises(PermissionError):
            sim.interact(guild, scenario.humans[2], channel, "board")  # hidden without Manage Server
        asked = sim.interact(guild, admin, channel, "board", permissions=MANAGE_GUILD)
        await wait_until(lambda: len(asked.followups) == 1, what="the board and its follow-up")
        board = asked.original
        assert board is not None
        assert sim.world.messages[channel.channel_id][int(board["id"])] is board, "the board is public"
        assert board["flags"] == 0, "no longer 'thinking'"
        assert board["interaction_metadata"]["user"]["id"] == str(admin.user_id)
        assert board["embeds"][0]["description"] == "1. Ada - 42"
        assert asked.followups[0]["content"] == "posted" and asked.followups[0]["flags"] & EPHEMERAL

        clicked = sim.click(guild, scenario.humans[3], board, "board:refresh")
        await wait_until(lambda: clicked.answered, what="the refresh")
    assert clicked.response_type == 7
    assert (
        sim.world.messages[channel.channel_id][int(board["id"])]["embeds"][0]["description"] == "1. Bo - 43"
    )


async def test_bulk_overwrite_keeps_ids_and_get_returns_them(
    autojump_clock: object, scenario: Scenario, clock: WallClock
) -> None:
    sim, guild = scenario.sim, scenario.guild
    async with connected(scenario, leaderboard_bot(guild.guild_id)) as bot:
        await commands_synced(scenario, "rank", "board")
        rank = disnake.SlashCommand("rank", "Your place on the board")
        top = disnake.SlashCommand("top", "The top ten")
        first = await aio(bot.bulk_overwrite_global_commands)([rank])
        second = await aio(bot.bulk_overwrite_global_commands)([rank, top])
        listed = await aio(bot.fetch_global_commands)()
        guild_listed = await aio(bot.fetch_guild_commands)(guild.guild_id)
        with pytest.raises(disnake.HTTPException) as invalid:
            bad = [{"name": "Bad Name", "description": "x"}, {"name": "top", "description": ""}]
            await aio(bot.http.bulk_upsert_global_commands)(bot.application_id, bad)
    assert first[0].id == second[0].id, "overwriting a command keeps its id"
    assert {c.name for c in listed} == {"rank", "top"}
    assert {c.name for c in guild_listed} == {"rank", "board"}
    assert invalid.value.code == 50035
    assert "In 0.name: Command name is invalid" in invalid.value.text
    assert "In 1.description: This field is required" in invalid.value.text
    puts = [p for m, p, _ in sim.world.rest_calls if m == "PUT"]
    assert f"/api/v10/applications/{sim.world.application_id}/guilds/{guild.guild_id}/commands" in puts


def test_a_late_or_second_answer_is_refused_as_discord_does() -> None:
    now = [1_790_000_000_000]
    world = World(lambda: now[0])
    guild = SimGuild(world.new_id(), "g", 1)
    channel = SimChannel(world.new_id(), guild.guild_id, "general")
    member = SimMember(world.new_id(), "ada")
    guild.channels[channel.channel_id], guild.members[member.user_id] = channel, member
    world.guilds[guild.guild_id] = guild
    world.overwrite_commands(None, [{"name": "rank", "description": "d"}])
    limits = RateLimits()

    late = command_interaction(world, guild, member, channel, "rank")
    now[0] += 3_001
    with pytest.raises(ApiError) as expired:
        callback(world, limits, late, {"type": 4, "data": {"content": "too late"}}, [])
    on_time = command_interaction(world, guild, member, channel, "rank")
    callback(world, limits, on_time, {"type": 5}, [])
    with pytest.raises(ApiError) as twice:
        callback(world, limits, on_time, {"type": 4, "data": {"content": "again"}}, [])
    with pytest.raises(LookupError):
        command_interaction(world, guild, member, channel, "unknown")
    assert (expired.value.status, expired.value.code) == (404, 10062)
    assert (twice.value.status, twice.value.code) == (400, 40060)
    assert on_time.original is not None and on_time.original["flags"] == 1 << 7  # LOADING
