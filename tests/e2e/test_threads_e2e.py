"""Threads follow their parent channel: excluding a channel excludes every thread of it.

Whole path through the simulator: threads the bot learns from GUILD_CREATE, from THREAD_CREATE, a
forum post, and a thread the bot has never been told about (looked up over REST, once).
"""

from __future__ import annotations

from pathlib import Path

from discord_sim.world import PUBLIC_THREAD, SimChannel
from domain.clock import WallClock
from tests.harness import db_message_counts, running_bot, settings_for, simulator, wait_until

FORUM = 15


async def test_threads_of_excluded_channels_do_not_count(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    db = tmp_path / "lb.db"
    async with simulator(clock, seed=3, members=6) as scenario:
        sim, guild = scenario.sim, scenario.guild
        general, memes, old_thread = scenario.text_channels  # old_thread is general's, in GUILD_CREATE
        forum = SimChannel(sim.world.new_id(), guild.guild_id, "help-forum", FORUM)
        guild.channels[forum.channel_id] = forum
        excluded = f"{general.channel_id},{forum.channel_id}"
        settings = settings_for(db, EXCLUDED_CHANNEL_IDS=excluded)
        counted, muted = scenario.humans[0], scenario.humans[1]
        async with running_bot(sim, settings, clock) as app:
            assert app.gateway is not None
            later = sim.create_thread(general, "made-later")
            post = sim.create_thread(forum, "a forum post")
            # A thread the bot was never told about (no THREAD_CREATE reached it).
            hidden = SimChannel(
                sim.world.new_id(), guild.guild_id, "hidden", PUBLIC_THREAD, general.channel_id
            )
            guild.channels[hidden.channel_id] = hidden
            open_thread = sim.create_thread(memes, "memes-thread")
            for channel in (general, old_thread, later, post, hidden, hidden):
                sim.send_message(channel, muted, "not counted")
            for channel in (memes, open_thread):
                sim.send_message(channel, counted, "counted")
            await wait_until(lambda: app.gateway.received["MESSAGE_CREATE"] >= 8, what="8 messages")
            lookups = app.gateway.parent_lookups
        counts = db_message_counts(db, guild.guild_id)
    assert counts == {counted.user_id: 2}
    assert lookups == {"found": 1}, "the unknown thread is looked up once, then cached"


async def test_a_thread_whose_parent_cannot_be_learned_is_not_counted_where_channels_are_excluded(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    """Discord answers 404 to the lookup: the message may be in an excluded thread, so it is not
    counted in a guild that excludes channels (counting it could break the exclusion)."""
    db = tmp_path / "lb.db"
    async with simulator(clock, seed=3, members=6) as scenario:
        sim, guild = scenario.sim, scenario.guild
        general, memes, _ = scenario.text_channels
        settings = settings_for(db, EXCLUDED_CHANNEL_IDS=str(general.channel_id))
        member = scenario.humans[0]
        async with running_bot(sim, settings, clock) as app:
            assert app.gateway is not None
            gone = SimChannel(sim.world.new_id(), guild.guild_id, "gone", PUBLIC_THREAD, general.channel_id)
            sim.send_message(gone, member, "in a thread the simulator does not know")
            sim.send_message(memes, member, "counted")
            await wait_until(lambda: app.gateway.received["MESSAGE_CREATE"] >= 2, what="2 messages")
            lookups = app.gateway.parent_lookups
        counts = db_message_counts(db, guild.guild_id)
    assert counts == {member.user_id: 1}
    assert lookups == {"failed": 1}
