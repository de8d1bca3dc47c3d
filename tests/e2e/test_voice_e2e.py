"""Voice through the whole path: simulator -> real disnake -> router -> voice actors -> SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from attrs import evolve

from discord_sim.crowd import Scenario
from domain.clock import WallClock
from domain.events import GuildSnapshot, VoiceStateChanged
from domain.periods import DAY, PeriodSpec, day_floor
from tests.harness import db_connect, running_bot, settings_for, wait_until
from tests.voice_script import Script, expected


@pytest.mark.scenario(seed=21, members=8)
async def test_join_move_deafen_afk_and_leave_count_like_the_oracle(
    autojump_clock: object, clock: WallClock, scenario: Scenario, db_target: Path | str
) -> None:
    db = db_target
    sim, guild = scenario.sim, scenario.guild
    lounge, gaming = scenario.voice_channels[0], scenario.voice_channels[1]
    afk = guild.channels[guild.afk_channel_id]
    a, b, c, d = scenario.humans[:4]
    sent: list[VoiceStateChanged] = []

    def voice(member: object, channel: object, **flags: bool) -> None:
        sim.set_voice(guild, member, channel, **flags)  # type: ignore[arg-type]
        sent.append(
            VoiceStateChanged(
                guild.guild_id,
                member.user_id,  # type: ignore[attr-defined]
                channel.channel_id if channel else None,  # type: ignore[attr-defined]
                clock.now(),
                **flags,
            )
        )

    async with running_bot(sim, settings_for(db), clock) as app:
        start = clock.now()
        steps = [
            (60, lambda: voice(a, lounge)),  # alone: paused
            (60, lambda: voice(b, lounge)),  # company: both count
            (60, lambda: voice(c, gaming)),
            (60, lambda: voice(sim.world.bot, lounge)),  # a bot is no company and never counts
            (120, lambda: voice(a, gaming)),  # a and c count; b alone with a bot
            (100, lambda: voice(c, gaming, self_deaf=True)),  # c paused, still company for a
            (100, lambda: voice(b, afk)),  # AFK never counts
            (50, lambda: voice(d, lounge, self_mute=True)),  # muted counts... but alone
            (100, lambda: voice(c, gaming)),  # undeafened
            (200, lambda: voice(b, None)),
        ]
        for delay, step in steps:
            step()
            await trio.sleep(delay)
        for member in (a, c, d, sim.world.bot):
            voice(member, None)
        end = clock.now()
        await wait_until(lambda: app.gateway.received["VOICE_STATE_UPDATE"] >= len(sent), what="updates")
        await wait_until(lambda: not app.pipeline.router.sessions, what="sessions to end")

    humans = {m.user_id for m in scenario.humans}
    script = Script(
        start,
        end,
        GuildSnapshot(guild.guild_id, guild.name, start, afk_channel_id=afk.channel_id),
        tuple(c if c.user_id in humans else evolve(c, bot=True) for c in sent),
    )
    want = expected(script, PeriodSpec(day_floor(start), 30 * DAY), frozenset())
    with db_connect(db) as conn:
        got = {
            (user, period): ms / 1000
            for user, period, ms in conn.execute(
                "SELECT user_id, period, voice_ms FROM activity WHERE guild_id = ?", [guild.guild_id]
            )
            if ms
        }
    assert set(got) == set(want), (got, want)
    for key, seconds in want.items():
        assert abs(got[key] - seconds) <= 1.0, (key, got[key], seconds)  # stamped on receipt, not on send
    # The same by hand: a counts 60-240 in the lounge with b, then 240-910 with c in gaming;
    # b only 60-240 (then alone with a bot, then AFK); c 240-360 and 610-910 (deafened between).
    assert (want[(a.user_id, 0)], want[(b.user_id, 0)], want[(c.user_id, 0)]) == (850, 180, 420)
    assert (d.user_id, 0) not in want and (sim.world.bot.user_id, 0) not in got
