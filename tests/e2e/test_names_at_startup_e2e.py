"""Names at start-up without a fetch storm: the boards of many guilds show every member by name, and
the only member fetched over REST is one whose name nothing carried and the store does not know.

Where the names come from (``actors.member_names``): the last-known name stored with a member's
activity; the members GUILD_CREATE lists (everyone in voice: their ``voice_states`` carry no
member); VOICE_STATE_UPDATE and MESSAGE_CREATE members. A start-up that fetched every member in
voice is what the 6,407 fetches at 2,500 guilds were.
"""

from __future__ import annotations

import random
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import pytest
import trio_asyncio

from actors.board_render import escape_name
from discord_sim.crowd import Scenario, build_scenario
from discord_sim.server import DiscordSim
from discord_sim.world import TEXT, SimChannel, SimMember, World
from domain.checkpoints import MessageBatch, VoiceBatch
from domain.clock import WallClock
from domain.guild_config import GuildConfig, config_to_json
from persistence.store import Store
from tests.e2e.test_boards_e2e import boards, lines
from tests.harness import EPOCH, running_bot, settings_for, wait_until

GUILDS = 200
MEMBERS = 20
CHATTERS = range(0, 4)  # talk after start: MESSAGE_CREATE carries their names
IN_VOICE = range(4, 9)  # in voice at start: GUILD_CREATE ``members`` carries their names
UPGRADED = range(4, 6)  # ... and already on the boards, stored without a name (an older version)
STORED = range(9, 12)  # on the boards with a stored name, and not seen at all this run
NAMELESS = 12  # in the first guild only: on the boards, no stored name, not seen: fetched


@attrs.define
class Crowd:
    sim: DiscordSim
    scenarios: list[Scenario]

    def board_channel(self, scenario: Scenario) -> int:
        return next(c.channel_id for c in scenario.guild.channels.values() if c.name == "boards")


def member_fetches(sim: DiscordSim) -> list[str]:
    fetch = re.compile(r"^/api/v10/guilds/\d+/members/\d+$")
    return [path for method, path, _ in sim.world.rest_calls if method == "GET" and fetch.match(path)]


def name_of(member: SimMember) -> str:
    return member.nick or member.global_name or member.username


@asynccontextmanager
async def crowd(clock: WallClock, db: Path) -> AsyncIterator[Crowd]:
    """``GUILDS`` guilds of ``MEMBERS``, boards in each one's #boards (every 10 s), some members in
    voice, activity from an earlier run in the database; the simulator started."""
    sim = DiscordSim(World(lambda: int(clock.now() * 1000)), token="test-token-not-a-secret")
    scenarios = [
        build_scenario(sim, random.Random(i), members=MEMBERS, name=f"Guild {i}") for i in range(GUILDS)
    ]
    store = Store(db)
    before = EPOCH - 3600
    try:
        for scenario in scenarios:
            guild, humans = scenario.guild, scenario.humans
            channel = SimChannel(sim.world.new_id(), guild.guild_id, "boards", TEXT)
            guild.channels[channel.channel_id] = channel
            config = GuildConfig(
                message_board_channel_id=channel.channel_id,
                voice_board_channel_id=channel.channel_id,
                update_interval=10.0,
            )
            store.save_guild_config_sync(guild.guild_id, config_to_json(config), before, 1, "config", "test")
            store.period_spec_sync(guild.guild_id, before)
            earlier = [*UPGRADED, *STORED] + ([NAMELESS] if scenario is scenarios[0] else [])
            store.apply_messages_sync(
                MessageBatch(
                    counts={(guild.guild_id, humans[i].user_id, int(before) + 60): 2 for i in earlier},
                    message_ids=(),
                    names={(guild.guild_id, humans[i].user_id): (name_of(humans[i]), before) for i in STORED},
                )
            )
            store.apply_voice_sync(
                VoiceBatch(
                    intervals=tuple((guild.guild_id, humans[i].user_id, before, before + 60) for i in earlier)
                )
            )
            for i in IN_VOICE:
                sim.set_voice(guild, humans[i], scenario.voice_channels[0])
    finally:
        store.close()
    await trio_asyncio.aio_as_trio(sim.start)()
    try:
        yield Crowd(sim, scenarios)
    finally:
        await trio_asyncio.aio_as_trio(sim.close)()


def shown_names(crowd: Crowd, scenario: Scenario) -> tuple[set[str], set[str]]:
    """The names on the guild's message board and on its voice board."""
    posted = list(boards(crowd.sim, crowd.board_channel(scenario)).values())
    by_title = {embed["title"].split()[0].lower(): {name for name, _ in lines(embed)} for embed in posted}
    return by_title.get("message", set()), by_title.get("voice", set())


def expected(scenario: Scenario, first: bool) -> tuple[set[str], set[str]]:
    humans = scenario.humans
    messages = [*CHATTERS, *UPGRADED, *STORED] + ([NAMELESS] if first else [])
    voice = [*IN_VOICE, *STORED] + ([NAMELESS] if first else [])
    return (
        {escape_name(name_of(humans[i])) for i in messages},
        {escape_name(name_of(humans[i])) for i in voice},
    )


# Voice flushed every second (the default), and every 30 s: then the first boards are drawn before
# the voice ledger has stored any name, and the names GUILD_CREATE carried must reach them directly.
@pytest.mark.parametrize("voice_flush", ["1", "30"])
async def test_a_start_up_of_many_guilds_fetches_only_the_one_name_nobody_carried(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path, voice_flush: str
) -> None:
    """200 guilds x 20 members: before, 1,001 distinct members were fetched (everyone in voice)."""
    db = tmp_path / "lb.db"
    async with (
        crowd(clock, db) as world,
        running_bot(world.sim, settings_for(db, VOICE_FLUSH_SECONDS=voice_flush), clock),
    ):
        for scenario in world.scenarios:
            for i in CHATTERS:
                scenario.say(scenario.humans[i])

        def all_shown() -> bool:
            return all(shown_names(world, s) == expected(s, s is world.scenarios[0]) for s in world.scenarios)

        await wait_until(all_shown, within=600, what="every guild's boards with every name")
        first = world.scenarios[0]
        assert member_fetches(world.sim) == [
            f"/api/v10/guilds/{first.guild.guild_id}/members/{first.humans[NAMELESS].user_id}"
        ]
    # What voice carried is stored too: the next start needs neither GUILD_CREATE nor a fetch.
    with sqlite3.connect(db) as conn:
        stored = dict(
            ((g, u), name) for g, u, name in conn.execute("SELECT guild_id, user_id, name FROM members")
        )
    for scenario in world.scenarios:
        for i in IN_VOICE:
            member = scenario.humans[i]
            assert stored[(scenario.guild.guild_id, member.user_id)] == name_of(member)
