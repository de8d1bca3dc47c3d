"""History equals the totals after a seeded run with crashes: the real gateway parsers feed the
real pipeline (``pipeline_feed``) a day of messages, reactions and voice, across a UTC
midnight and an early reset, while the message counter and voice sessions crash now and then.

Days are written in the totals' own transactions, so whatever a crash loses or a restart
resumes, the sum of each member's days per period is exactly that period's total, and each
day's channel messages add up to the same messages.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

from actors.reset_clock import ResetRequested
from domain.events import MessageSent
from tests.bot_entry.gateway_payloads import GUILD_A, humans
from tests.e2e.test_history_e2e import check_history_equals_totals
from tests.faults.pipeline_feed import CALL, run_frames, stored
from tests.faults.test_abuse import Script
from wiring.pipeline import Faults, Pipeline


def early_reset(pipeline: Pipeline, _gateway: Any) -> None:
    """What ``/lbreset`` does once confirmed: a message to the reset clock."""
    assert pipeline.handle is not None
    pipeline.handle.reset_inbox.sender.send_nowait(ResetRequested(GUILD_A, 1, pipeline.clock.now() + 60))


def test_history_equals_the_totals_after_a_run_with_crashes_a_midnight_and_an_early_reset(
    tmp_path: Path,
) -> None:
    rng = random.Random(9)
    script = Script.new(GUILD_A)
    guild = script.guilds[GUILD_A]
    members = humans(guild)[:6]
    messages: list[dict[str, Any]] = []
    in_voice: set[int] = set()
    for step in range(900):  # about 23 virtual hours from EPOCH (14:13 UTC): one midnight
        script.wait(rng.choice([1, 5, 30, 120, 300]))
        roll = rng.random()
        member = rng.choice(members)
        if roll < 0.5:
            messages.append(script.say(GUILD_A, member, channel=rng.randrange(2)))
        elif roll < 0.7 and messages:
            target = rng.choice(messages)
            script.emit("MESSAGE_REACTION_ADD", script.world.reaction_payload(target, member))
        elif member.user_id in in_voice:
            in_voice.discard(member.user_id)
            script.voice(GUILD_A, member, None)
        else:
            in_voice.add(member.user_id)
            script.voice(GUILD_A, member, 0, self_deaf=rng.random() < 0.1)
        if step == 600:
            script.emit(CALL, early_reset)
    for member in members:
        script.voice(GUILD_A, member, None)
    script.wait(60)

    crash_messages = {int(p["id"]) for p in rng.sample(messages, 4)}
    voice_crashes = [0]

    def message_fault(event: MessageSent) -> None:
        if event.message_id in crash_messages:
            crash_messages.discard(event.message_id)  # once each: the restarted counter takes it
            raise RuntimeError("injected counter crash")

    def voice_fault(_key: object, _event: object) -> None:
        voice_crashes[0] += 1
        if voice_crashes[0] % 17 == 0:
            raise RuntimeError("injected voice session crash")

    db = tmp_path / "chaos.db"
    _, pipeline = run_frames(
        script.frames, script.world, db, faults=Faults(message=message_fault, voice=voice_fault)
    )
    assert pipeline.supervisor is not None
    assert pipeline.supervisor.restarts["message_counter"] == 4
    assert pipeline.voice_supervisor is not None and sum(pipeline.voice_supervisor.restarts.values()) > 3
    counted, voice = stored(db)
    assert sum(counted.values()) > 300 and sum(voice.values()) > 0
    check_history_equals_totals(db)
    with sqlite3.connect(db) as conn:
        (days,) = conn.execute("SELECT COUNT(DISTINCT day) FROM daily_members").fetchone()
        (periods,) = conn.execute("SELECT COUNT(DISTINCT period) FROM daily_members").fetchone()
        (by_channel,) = conn.execute("SELECT SUM(messages) FROM daily_channels").fetchone()
        (reactions,) = conn.execute("SELECT SUM(reactions) FROM daily_members").fetchone()
        split = conn.execute(
            "SELECT COUNT(*) FROM (SELECT day FROM daily_members GROUP BY day "
            "HAVING COUNT(DISTINCT period) > 1)"
        ).fetchone()[0]
    assert days == 2 and periods == 2, "a midnight and an early reset inside the run"
    assert split == 1, "the reset's day is split between the two periods"
    assert by_channel == sum(counted.values())
    assert reactions > 50
