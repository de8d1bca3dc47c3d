"""Seeded scenarios: a guild full of members who chat, and a record of what really happened.

The crowd is the simulation's ground truth: tests compare the bot's database with ``truth``,
which is computed here from what the simulator actually sent, never from the bot.
"""

from __future__ import annotations

import random
from collections import Counter

import trio
from attrs import define, field

from discord_sim.server import DiscordSim
from discord_sim.world import CATEGORY, PUBLIC_THREAD, STAGE, TEXT, VOICE, SimChannel, SimGuild, SimMember

FIRST = ["Ada", "Bo", "Cyd", "Dee", "Eli", "Fen", "Gus", "Hal", "Ivy", "Jo", "Kai", "Lu", "Mo", "Nia"]
LAST = ["Quartz", "Raven", "Sol", "Thorn", "Umber", "Vale", "Wren", "Yew", "Zephyr"]
# A few names that try to break a board: markdown, mentions, length, right-to-left override.
HOSTILE = ["**bold** _it_ `code`", "@everyone", "<@123456789012345678>", "x" * 120, "\u202eevil\u202c"]


@define
class Scenario:
    """One guild with text, voice, AFK and stage channels, human members, a bot and a webhook."""

    sim: DiscordSim
    guild: SimGuild
    humans: list[SimMember]
    bot: SimMember
    text_channels: list[SimChannel]
    voice_channels: list[SimChannel]
    truth: Counter[int] = field(factory=Counter)  # messages that must count, per user

    def say(self, author: SimMember, channel: SimChannel | None = None, *, webhook: bool = False) -> None:
        channel = channel or self.text_channels[0]
        self.sim.send_message(channel, author, f"hi from {author.username}", webhook=webhook)
        if not author.bot and not webhook:
            self.truth[author.user_id] += 1


def build_scenario(
    sim: DiscordSim, rng: random.Random, *, members: int = 24, name: str = "Purple Lounge"
) -> Scenario:
    world = sim.world
    owner_id = world.new_id()
    guild = SimGuild(world.new_id(), name, owner_id, icon="a1b2c3d4e5f6")
    category = SimChannel(world.new_id(), guild.guild_id, "community", CATEGORY)
    text = [
        SimChannel(world.new_id(), guild.guild_id, n, TEXT, category.channel_id) for n in ("general", "memes")
    ]
    thread = SimChannel(world.new_id(), guild.guild_id, "long-thread", PUBLIC_THREAD, text[0].channel_id)
    voice = [
        SimChannel(world.new_id(), guild.guild_id, n, VOICE, category.channel_id)
        for n in ("Lounge", "Gaming")
    ]
    afk = SimChannel(world.new_id(), guild.guild_id, "AFK", VOICE)
    stage = SimChannel(world.new_id(), guild.guild_id, "Town Hall", STAGE)
    for channel in (category, *text, thread, *voice, afk, stage):
        guild.channels[channel.channel_id] = channel
    guild.afk_channel_id = afk.channel_id
    humans = []
    for i in range(members):
        display = HOSTILE[i % len(HOSTILE)] if i % 7 == 6 else f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        member = SimMember(world.new_id() if i else owner_id, f"user{i}", global_name=display)
        humans.append(member)
        guild.members[member.user_id] = member
    bot = SimMember(world.new_id(), "helper-bot", "Helper", bot=True)
    guild.members[bot.user_id] = bot
    guild.members[world.bot.user_id] = world.bot
    world.guilds[guild.guild_id] = guild
    return Scenario(sim, guild, humans, bot, [*text, thread], [*voice, stage])


async def chat(scenario: Scenario, rng: random.Random, *, messages: int, per_second: float = 50.0) -> None:
    """Members talk (with some bot and webhook noise that must not count), at about ``per_second``."""
    for _ in range(messages):
        roll = rng.random()
        channel = rng.choice(scenario.text_channels)
        if roll < 0.05:
            scenario.say(scenario.bot, channel)
        elif roll < 0.08:
            scenario.say(rng.choice(scenario.humans), channel, webhook=True)
        else:
            weights = [1.0 / (i + 1) for i in range(len(scenario.humans))]  # a few chatterboxes
            scenario.say(rng.choices(scenario.humans, weights)[0], channel)
        await trio.sleep(rng.expovariate(per_second))


async def wander(scenario: Scenario, rng: random.Random, *, moves: int, per_second: float = 1.0) -> None:
    """Members drift through voice: join, move, mute, deafen, go AFK, leave (seeded)."""
    guild, sim = scenario.guild, scenario.sim
    afk = guild.channels[guild.afk_channel_id] if guild.afk_channel_id else None
    rooms = [*scenario.voice_channels, *([afk] if afk else [])]
    for _ in range(moves):
        member = rng.choice(scenario.humans)
        state = guild.voice_states.get(member.user_id)
        roll = rng.random()
        if state is None:
            sim.set_voice(guild, member, rng.choice(scenario.voice_channels))
        elif roll < 0.2:
            sim.set_voice(guild, member, None)
        elif roll < 0.5:
            sim.set_voice(guild, member, rng.choice(rooms))
        else:
            channel = guild.channels[int(state["channel_id"])]
            flag = rng.choice(["self_mute", "self_deaf"])
            flags = {k: bool(state.get(k)) for k in ("self_mute", "self_deaf")} | {flag: not state.get(flag)}
            sim.set_voice(guild, member, channel, **flags)
        await trio.sleep(rng.expovariate(per_second))


@define
class Town:
    """Thousands of plain guilds (``World.add_guilds``) with a share of members in voice: the
    crowd for scale runs. ``truth`` counts, per (guild, member), the messages that must count."""

    sim: DiscordSim
    guilds: list[SimGuild]
    truth: Counter[tuple[int, int]] = field(factory=Counter)

    def humans(self, guild: SimGuild) -> list[SimMember]:
        return [m for m in guild.members.values() if not m.bot]

    def channel(self, guild: SimGuild, name: str) -> SimChannel:
        return next(c for c in guild.channels.values() if c.name == name)

    def say(self, guild: SimGuild, author: SimMember) -> None:
        self.sim.send_message(self.channel(guild, "general"), author, f"hi from {author.username}")
        self.truth[guild.guild_id, author.user_id] += 1


def build_town(
    sim: DiscordSim, rng: random.Random, *, guilds: int, members: int = 50, in_voice: float = 0.05
) -> Town:
    """``guilds`` guilds of ``members`` members, ``in_voice`` of them (seeded) in each Lounge."""
    made = sim.world.add_guilds(guilds, members=members)
    town = Town(sim, made)
    for guild in made:
        humans = town.humans(guild)
        lounge = town.channel(guild, "Lounge")
        for member in rng.sample(humans, round(len(humans) * in_voice)):
            sim.set_voice(guild, member, lounge)
    return town


async def town_chat(town: Town, rng: random.Random, *, per_second: float, seconds: float) -> None:
    """Steady chat across the town: ``per_second`` messages a second for ``seconds``, each in a
    random guild from a random member (seeded)."""
    end = trio.current_time() + seconds
    while trio.current_time() < end:
        guild = rng.choice(town.guilds)
        town.say(guild, rng.choice(town.humans(guild)))
        await trio.sleep(rng.expovariate(per_second))
