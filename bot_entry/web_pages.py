"""The bot's side of the web pages: what ``web`` needs from disnake and the running pipeline.

``web`` knows nothing of disnake; here the guild names and icons come from disnake's guild cache
(the bot's guilds intent keeps it), and member checks for ``hide_departed`` go through the board
poster, as the publisher's do.
"""

from __future__ import annotations

import disnake

from actors.leaderboard_publisher import Poster
from actors.member_names import Learned, MemberNames
from domain.clock import WallClock
from persistence.store import Store
from web.chart_worker import ChartWorker
from web.source import GuildFacts, GuildLookup, PageSource
from wiring.pipeline import PipelineHandle


def guild_lookup(client: disnake.Client) -> GuildLookup:
    def facts(guild_id: int) -> GuildFacts | None:
        guild = client.get_guild(guild_id)
        if guild is None:
            return None
        return GuildFacts(guild.name, guild.icon.url if guild.icon else None)

    return facts


def page_source(
    pipeline: PipelineHandle, clock: WallClock, client: disnake.Client, poster: Poster
) -> PageSource:
    """The pages' own copy of the configs as loaded; names as the publisher finds them."""
    store: Store = pipeline.store

    async def remember(learned: Learned) -> None:
        await store.call(store.remember_names_sync, learned)

    return PageSource(
        store=store,
        configs=pipeline.configs.copy(),
        clock=clock,
        guilds=guild_lookup(client),
        names=MemberNames(poster.fetch_member, remember, clock),
        chart=ChartWorker(inline=store.inline),
    )
