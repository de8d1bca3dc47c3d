"""Malformed gateway payloads are logged and skipped; the bot keeps running and counts stay exact."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from domain.clock import WallClock
from tests.harness import db_message_counts, running_bot, settings_for, simulator, wait_until

MALFORMED = [
    {"id": "not-a-number", "guild_id": "1", "channel_id": "2", "author": {"id": "3"}},
    {"guild_id": "1", "channel_id": "2"},  # no id, no author
    {"id": "5", "guild_id": "1", "channel_id": "2", "author": "someone"},
    {"id": "6", "guild_id": "1", "channel_id": "2", "author": {"id": "3", "bot": "yes"}},
    ["not", "an", "object"],
]


async def test_malformed_message_payloads_are_skipped_and_counts_stay_exact(
    autojump_clock: object,
    aio_loop: object,
    clock: WallClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    db = tmp_path / "lb.db"
    async with simulator(clock, seed=11) as scenario:
        async with running_bot(scenario.sim, settings_for(db), clock) as app:
            for i, bad in enumerate(MALFORMED):
                scenario.say(scenario.humans[i])
                scenario.sim.send_raw("MESSAGE_CREATE", bad)
            for member in scenario.humans:
                scenario.say(member)
            total = len(MALFORMED) * 2 + len(scenario.humans)
            await wait_until(lambda: app.gateway.received["MESSAGE_CREATE"] >= total, what="all payloads")
        assert app.gateway.malformed["MESSAGE_CREATE"] == len(MALFORMED)
        assert db_message_counts(db, scenario.guild.guild_id) == dict(scenario.truth)
    skipped = [r for r in caplog.records if "malformed MESSAGE_CREATE" in r.getMessage()]
    assert len(skipped) == len(MALFORMED)
    assert all(r.levelno == logging.WARNING for r in skipped)
