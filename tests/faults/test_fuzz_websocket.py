"""Fuzz, end to end: nasty frames through the real disnake client over the simulator's websocket.

A handful of frames that break Discord's contract (``sim.send_raw``): the websocket is never
dropped and the counts stay exact.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from discord_sim.crowd import Scenario
from domain.clock import WallClock
from tests.harness import running_bot, settings_for, wait_until

NASTY: list[tuple[str, Any]] = [
    ("MESSAGE_CREATE", {"id": "1" * 40, "guild_id": "1", "channel_id": "2", "author": {"id": "3"}}),
    ("MESSAGE_CREATE", None),
    ("MESSAGE_CREATE", {"id": "5", "channel_id": "2", "guild_id": [], "author": {"id": "3"}}),
    ("VOICE_STATE_UPDATE", {"guild_id": "1", "user_id": -4, "channel_id": "9"}),
    ("VOICE_STATE_UPDATE", "left"),
    ("VOICE_STATE_UPDATE", {"guild_id": "1", "user_id": "4", "channel_id": "9", "self_deaf": "yes"}),
    ("GUILD_CREATE", {"id": "abc"}),
    ("GUILD_CREATE", {"id": "12", "channels": "everything"}),
    ("GUILD_CREATE", [1, 2, 3]),
    ("GUILD_MEMBER_UPDATE", {"guild_id": None}),
    ("MESSAGE_DELETE", 42),
    ("THIS_EVENT_DOES_NOT_EXIST", {"x": 1}),
]


@pytest.mark.scenario(seed=17, members=8)
async def test_nasty_frames_over_the_websocket_are_skipped_and_counts_stay_exact(
    autojump_clock: object, clock: WallClock, scenario: Scenario, tmp_path: Path
) -> None:
    db = tmp_path / "lb.db"
    sim, guild = scenario.sim, scenario.guild
    a, b, c = scenario.humans[:3]
    lounge = scenario.voice_channels[0]
    async with running_bot(sim, settings_for(db), clock) as app:
        assert app.gateway is not None
        sim.set_voice(guild, a, lounge)
        sim.set_voice(guild, b, lounge)
        for event, payload in NASTY:
            scenario.say(c)
            sim.send_raw(event, payload)
            await trio.sleep(10)
        # A huge message from a member with a huge name still counts once.
        sim.send_message(scenario.text_channels[0], attrs.evolve(c, global_name="N" * 50_000), "x" * 200_000)
        scenario.truth[c.user_id] += 1
        sim.set_voice(guild, a, None)
        sim.set_voice(guild, b, None)
        await wait_until(lambda: app.gateway.received["MESSAGE_CREATE"] >= len(NASTY) + 4, what="all frames")
        await trio.sleep(5)
    malformed = app.gateway.malformed
    assert sim.gateway.connects == 1, "the websocket was never dropped or re-opened"
    refused = Counter(e for e, _ in NASTY if e in ("MESSAGE_CREATE", "VOICE_STATE_UPDATE", "GUILD_CREATE"))
    assert {k: malformed[k] for k in refused} == dict(refused)
    with sqlite3.connect(db) as conn:
        rows = dict(conn.execute("SELECT user_id, SUM(messages) FROM activity GROUP BY user_id"))
        voice = dict(conn.execute("SELECT user_id, SUM(voice_ms) FROM activity GROUP BY user_id"))
    assert {u: n for u, n in rows.items() if n} == dict(scenario.truth)
    assert voice.get(a.user_id) == voice.get(b.user_id) == 10_000 * len(NASTY)
