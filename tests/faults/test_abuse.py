"""Abuse: members who try to farm the boards, and non-admins who try admin commands.

Farming runs through the real gateway parsers and the real pipeline on MockClock (see
``pipeline_feed.feed_pipeline``), so every total is exact and compared with a plain oracle;
each test has a control that must count, so a rule that stopped working would fail it. The forged
interactions go through the whole bot: simulator -> disnake -> our cogs -> SQLite.
"""

from __future__ import annotations

import copy
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from bot_entry.gateway import Gateway
from discord_sim.crowd import Scenario
from discord_sim.interactions import command_interaction
from discord_sim.world import SimGuild, SimInteraction, SimMember, World
from domain.clock import WallClock
from domain.events import MessageSent
from domain.messages import GuildConfigured
from tests.bot_entry.gateway_payloads import (
    GUILD_A,
    GUILD_B,
    guild_create,
    humans,
    message_payload,
    text_channels,
    voice_channels,
    voice_payload,
    world_with_guilds,
)
from tests.faults.pipeline_feed import CALL, Frames, run_frames, stored
from tests.harness import running_bot, settings_for, wait_until
from wiring.pipeline import Faults, Pipeline

MANAGE_GUILD = 1 << 5
COOLDOWN = 10.0


@attrs.define
class Script:
    """Frames for ``run_frames`` written as what members do, one virtual second at a time."""

    world: World
    guilds: dict[int, SimGuild]
    frames: Frames = attrs.field(factory=list)
    delay: float = 0.0
    now: float = 0.0
    sent: list[tuple[int, int, float, dict[str, Any]]] = attrs.field(factory=list)  # guild, author, at
    next_id: int = 930_000_000_000_000_000

    @classmethod
    def new(cls, *guild_ids: int) -> Script:
        world, guilds = world_with_guilds()
        script = cls(world, guilds)
        for guild_id in guild_ids:
            script.emit("GUILD_CREATE", guild_create(guilds[guild_id]))
        return script

    def emit(self, name: str, payload: Any) -> None:
        self.frames.append((self.delay, name, payload))
        self.delay = 0.0

    def wait(self, seconds: float) -> None:
        self.delay += seconds
        self.now += seconds

    def say(self, guild_id: int, author: SimMember, channel: int = 0, **extra: Any) -> dict[str, Any]:
        guild = self.guilds[guild_id]
        self.next_id += 1
        payload = message_payload(
            self.world, guild, text_channels(guild)[channel], author, self.next_id, **extra
        )
        self.sent.append((guild_id, author.user_id, self.now, payload))
        self.emit("MESSAGE_CREATE", payload)
        return payload

    def voice(self, guild_id: int, member: SimMember, channel: int | None, **flags: bool) -> None:
        guild = self.guilds[guild_id]
        channel_id = None if channel is None else voice_channels(guild)[channel].channel_id
        self.emit("VOICE_STATE_UPDATE", voice_payload(guild, member, channel_id, **flags))


def cooldown_oracle(
    sent: list[tuple[int, int, float, dict[str, Any]]], cooldown: float
) -> Counter[tuple[int, int]]:
    """Per member and guild: a message counts when none counted in the ``cooldown`` seconds before it."""
    last: dict[tuple[int, int], float] = {}
    counted: Counter[tuple[int, int]] = Counter()
    for guild_id, author, at, _ in sent:
        key = (guild_id, author)
        if key not in last or at - last[key] >= cooldown:
            last[key] = at
            counted[key] += 1
    return counted


def with_cooldown(*guild_ids: int) -> Callable[..., None]:
    """Before the run: the operator's settings. During it: what ``/lbconfig set`` does (the new
    config goes into the event stream, and the router hands it to the counter)."""

    def configure(pipeline: Pipeline, gateway: Gateway | None = None) -> None:
        for guild_id in guild_ids:
            config = pipeline.configs.update(guild_id, message_cooldown=COOLDOWN)
            if gateway is not None:
                gateway.push(GuildConfigured(guild_id, config, pipeline.clock.now()))

    return configure


# -- message spam with the cooldown on ----------------------------------------------------------------


def test_a_spammer_counts_once_per_cooldown_whatever_the_channel_burst_or_guild(tmp_path: Path) -> None:
    script = Script.new(GUILD_A, GUILD_B)
    a = script.guilds[GUILD_A]
    spammer, talker = humans(a)[0], humans(a)[1]
    for second in range(180):
        burst = 20 if second % 30 == 0 else 2  # now and then a burst of 20 in one second
        for i in range(burst):
            script.say(GUILD_A, spammer, channel=i % 2, type=19 if i % 3 else 0)  # both channels, replies
        if second % 4 == 0:
            script.say(GUILD_B, spammer)  # the same member in another guild: its own cooldown
        if second % 15 == 0:
            script.say(GUILD_A, talker)  # an ordinary member, slower than the cooldown: all count
        script.wait(1)
    gateway, _ = run_frames(
        script.frames, script.world, tmp_path / "lb.db", configure=with_cooldown(GUILD_A, GUILD_B)
    )
    messages, _ = stored(tmp_path / "lb.db")
    want = cooldown_oracle(script.sent, COOLDOWN)
    assert want[(GUILD_A, spammer.user_id)] == 18 and want[(GUILD_A, talker.user_id)] == 12
    assert want[(GUILD_B, spammer.user_id)] == 15  # every 4 s with a 10 s cooldown: at 0, 12, 24...
    assert messages == want
    assert gateway.received["MESSAGE_CREATE"] > 500


def test_replayed_spam_and_a_cooldown_turned_on_midway(tmp_path: Path) -> None:
    script = Script.new(GUILD_A)
    spammer = humans(script.guilds[GUILD_A])[0]
    for _ in range(20):  # cooldown off: all 20 count
        script.say(GUILD_A, spammer)
        script.wait(1)
    script.emit(CALL, with_cooldown(GUILD_A))  # an admin turns the cooldown on (configs are live)
    first = None
    for _ in range(60):
        payload = script.say(GUILD_A, spammer)
        first = first or payload
        script.emit("MESSAGE_CREATE", copy.deepcopy(first))  # and the gateway keeps replaying one
        script.wait(1)
    run_frames(script.frames, script.world, tmp_path / "lb.db")
    messages, _ = stored(tmp_path / "lb.db")
    after = cooldown_oracle([s for s in script.sent if s[2] >= 20], COOLDOWN)[(GUILD_A, spammer.user_id)]
    assert after == 6
    assert messages[(GUILD_A, spammer.user_id)] == 20 + after


def test_a_counter_crash_does_not_reset_the_cooldown(tmp_path: Path) -> None:
    script = Script.new(GUILD_A)
    spammer = humans(script.guilds[GUILD_A])[0]
    for _ in range(60):
        script.say(GUILD_A, spammer)
        script.wait(1)
    crash_at = {int(script.sent[25][3]["id"])}  # 5 s after the counted message at t=20

    def crash_once(event: MessageSent) -> None:
        if event.message_id in crash_at:
            crash_at.clear()
            raise RuntimeError("injected counter crash")

    _, pipeline = run_frames(
        script.frames,
        script.world,
        tmp_path / "lb.db",
        configure=with_cooldown(GUILD_A),
        faults=Faults(message=crash_once),
    )
    assert pipeline.supervisor is not None and pipeline.supervisor.restarts["message_counter"] == 1
    messages, _ = stored(tmp_path / "lb.db")
    assert (
        messages[(GUILD_A, spammer.user_id)]
        == cooldown_oracle(script.sent, COOLDOWN)[(GUILD_A, spammer.user_id)]
        == 6
    )


# -- voice farming -----------------------------------------------------------------------------------


def farm(
    tmp_path: Path, play: Callable[[Script, list[SimMember], SimMember], None], **env: str
) -> tuple[dict[int, int], Pipeline]:
    """Run one voice scene in guild A; voice milliseconds per user, and the pipeline after shutdown."""
    script = Script.new(GUILD_A)
    guild = script.guilds[GUILD_A]
    helper = next(m for m in guild.members.values() if m.bot)
    play(script, humans(guild), helper)
    _, pipeline = run_frames(script.frames, script.world, tmp_path / "lb.db", **env)
    _, voice = stored(tmp_path / "lb.db")
    return {user: ms for (_, user), ms in voice.items()}, pipeline


HOUR = 3600


def test_alone_with_an_open_mic_counts_nothing_and_bots_are_no_company(tmp_path: Path) -> None:
    def play(s: Script, people: list[SimMember], helper: SimMember) -> None:
        farmer, control_a, control_b = people[0], people[2], people[3]
        s.voice(GUILD_A, farmer, 0)  # alone, unmuted
        s.voice(GUILD_A, control_a, 1)
        s.voice(GUILD_A, control_b, 1)  # the control pair: together in Gaming
        s.wait(HOUR)
        s.voice(GUILD_A, helper, 0)  # a music bot joins the farmer: no company
        s.wait(HOUR)
        s.voice(GUILD_A, s.world.bot, 0)  # and the leaderboard bot itself: still none
        s.wait(HOUR)
        for _ in range(100):  # toggling mute and deafen while alone changes nothing
            s.voice(GUILD_A, farmer, 0, self_mute=True)
            s.wait(5)
            s.voice(GUILD_A, farmer, 0)
            s.wait(5)
        for member in (farmer, control_a, control_b, helper, s.world.bot):
            s.voice(GUILD_A, member, None)

    voice, _ = farm(tmp_path, play)
    people = humans(world_with_guilds()[1][GUILD_A])
    helper_id = next(m.user_id for m in world_with_guilds()[1][GUILD_A].members.values() if m.bot)
    assert voice.get(people[0].user_id, 0) == 0, "alone (bots are no company) never counts"
    assert voice[people[2].user_id] == voice[people[3].user_id] == (3 * HOUR + 1000) * 1000, (
        "the control counts"
    )
    assert helper_id not in voice, "a bot never counts"


def test_afk_channel_and_deafened_pairs_count_nothing(tmp_path: Path) -> None:
    def play(s: Script, people: list[SimMember], helper: SimMember) -> None:
        a, b, c, d = people
        s.voice(GUILD_A, a, 2)  # the AFK channel, together
        s.voice(GUILD_A, b, 2)
        s.voice(GUILD_A, c, 0, self_deaf=True)  # a deafened pair in the Lounge
        s.voice(GUILD_A, d, 0, deaf=True)
        s.wait(HOUR)
        s.voice(GUILD_A, d, 0)  # d undeafened: d counts (c, deafened, is company); c does not
        s.wait(HOUR)
        for member in people:
            s.voice(GUILD_A, member, None)

    voice, _ = farm(tmp_path, play)
    a, b, c, d = (m.user_id for m in humans(world_with_guilds()[1][GUILD_A]))
    assert (voice.get(a, 0), voice.get(b, 0), voice.get(c, 0)) == (0, 0, 0)
    assert voice[d] == HOUR * 1000, "the control: an undeafened member with company counts"


def test_an_excluded_channel_counts_nothing(tmp_path: Path) -> None:
    guild = world_with_guilds()[1][GUILD_A]
    excluded = voice_channels(guild)[1].channel_id

    def play(s: Script, people: list[SimMember], helper: SimMember) -> None:
        for member in people[:2]:
            s.voice(GUILD_A, member, 1)
        for member in people[2:]:
            s.voice(GUILD_A, member, 0)
        s.wait(HOUR)
        for member in people:
            s.voice(GUILD_A, member, None)

    voice, _ = farm(tmp_path, play, EXCLUDED_CHANNEL_IDS=str(excluded))
    people = [m.user_id for m in humans(guild)]
    assert [voice.get(u, 0) for u in people] == [0, 0, HOUR * 1000, HOUR * 1000]


def test_a_join_leave_flood_counts_exactly_and_leaves_no_session_behind(tmp_path: Path) -> None:
    def play(s: Script, people: list[SimMember], helper: SimMember) -> None:
        anchor, flooder = people[0], people[1]
        s.voice(GUILD_A, anchor, 0)
        for i in range(2_000):  # in for 2 s, out for 1 s, hopping channels
            s.voice(GUILD_A, flooder, i % 2)
            s.wait(2)
            s.voice(GUILD_A, flooder, None)
            s.wait(1)
        s.voice(GUILD_A, anchor, None)

    voice, pipeline = farm(tmp_path, play)
    anchor, flooder = (m.user_id for m in humans(world_with_guilds()[1][GUILD_A])[:2])
    # Together only in the Lounge (every other hop), 2 s each time: 1000 x 2 s, for both.
    assert voice[anchor] == voice[flooder] == 1_000 * 2_000
    assert pipeline.router is not None and pipeline.router.sessions == {}
    assert pipeline.ledger is not None and pipeline.ledger.latest == {}
    with sqlite3.connect(tmp_path / "lb.db") as conn:  # no session state is stored: none is left open
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'voice_sessions'").fetchone() is None


# -- forged interactions: admin commands from a member without Manage Server ---------------------------


def admin_calls(victim: SimMember) -> list[tuple[str, dict[str, Any] | None]]:
    return [
        ("lbconfig set", {"message_cooldown": 0, "count_alone": True}),
        ("lbconfig show", None),
        ("lbreset", None),
        ("lbexport", None),
        ("lbforget", {"member": victim}),
    ]


def no_permissions(payload: dict[str, Any]) -> None:
    """The member holds nothing (the command was hidden from them; the client sent it anyway)."""
    payload["member"]["permissions"] = "0"


def only_the_bot_may(payload: dict[str, Any]) -> None:
    """The bot's permissions (app_permissions) and the channel's include Manage Server; the member's not."""
    payload["app_permissions"] = str((1 << 41) - 1)
    payload["member"]["permissions"] = "0"


def no_permissions_field(payload: dict[str, Any]) -> None:
    del payload["member"]["permissions"]


FORGERIES: dict[str, Callable[[dict[str, Any]], None]] = {
    "no permissions": no_permissions,
    "only the bot may": only_the_bot_may,
    "no permissions field": no_permissions_field,
}


def forge(
    world: World, guild: SimGuild, member: SimMember, channel: Any, name: str, options: Any, how: str
) -> SimInteraction:
    """An INTERACTION_CREATE that Discord would not send: built as an admin's, then altered."""
    interaction = command_interaction(world, guild, member, channel, name, options, permissions=MANAGE_GUILD)
    FORGERIES[how](interaction.payload)
    return interaction


def snapshot_db(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (config, audit, archives, totals, names...)."""
    with sqlite3.connect(db) as conn:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}


@pytest.mark.scenario(seed=23, members=8)
async def test_forged_admin_interactions_from_a_member_change_nothing(
    autojump_clock: object, clock: WallClock, scenario: Scenario, tmp_path: Path
) -> None:
    db = tmp_path / "lb.db"
    sim, guild = scenario.sim, scenario.guild
    victim, attacker = scenario.humans[0], scenario.humans[5]
    async with running_bot(sim, settings_for(db, MESSAGE_FLUSH_SECONDS="0.5"), clock) as app:
        registered = sim.world.commands
        calls = admin_calls(victim)
        names = {name.split()[0] for name, _ in calls}
        await wait_until(
            lambda: {c["name"] for c in registered.get(None, {}).values()} >= names,
            within=30,
            what="the admin commands registered",
        )
        for member in (victim, victim, attacker):
            scenario.say(member)
        await wait_until(lambda: message_total(db) == 3, what="messages stored")
        before, config_before = snapshot_db(db), app.pipeline.configs.get(guild.guild_id)
        answers: list[tuple[str, str, SimInteraction]] = []
        for how in FORGERIES:
            for name, options in calls:
                forged = forge(sim.world, guild, attacker, scenario.text_channels[0], name, options, how)
                sim.dispatch("INTERACTION_CREATE", forged.payload)
                answers.append((how, name, forged))
        await wait_until(lambda: all(a.original is not None for _, _, a in answers), what="every answer")
        for how, name, forged in answers:
            assert forged.ephemeral, (how, name)
            assert forged.original is not None
            assert (
                forged.original["content"] == "You need the Manage Server permission to use this command."
            ), (how, name)
            assert not forged.original.get("attachments") and not forged.original.get("components"), (
                how,
                name,
            )
        assert app.pipeline.configs.get(guild.guild_id) == config_before
        assert snapshot_db(db) == before, "a forged admin command changed the database"
        # The control: the same payload, unaltered (an admin's), does change things.
        real = command_interaction(
            sim.world,
            guild,
            attacker,
            scenario.text_channels[0],
            *calls[0],
            permissions=MANAGE_GUILD,
        )
        sim.dispatch("INTERACTION_CREATE", real.payload)
        await wait_until(
            lambda: real.original is not None and "Saved" in real.original["content"], what="saved"
        )
        assert app.pipeline.configs.get(guild.guild_id).count_alone
    assert snapshot_db(db) != before


def message_total(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COALESCE(SUM(messages), 0) FROM activity").fetchone()[0]
