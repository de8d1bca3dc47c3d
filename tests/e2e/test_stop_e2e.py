"""A stop is bounded when the database fails: the last flush retries within a bound, the log says
exactly what was not written (per guild), the process stops non-zero, and the next start goes on
from what was committed."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import trio

import bot_entry.__main__
from bot_entry.__main__ import _found, main
from bot_entry.config import Settings
from domain.clock import WallClock
from persistence.errors import FlushIncomplete
from tests.harness import db_message_counts, running_bot, settings_for, simulator, wait_until

MORE = 4_000  # messages sent once the disk is full


async def test_a_stop_on_a_full_disk_is_bounded_reports_per_guild_and_the_next_start_recovers(
    autojump_clock: object,
    aio_loop: object,
    clock: WallClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    db = tmp_path / "lb.db"
    settings = settings_for(db, MESSAGE_FLUSH_SECONDS="1")
    async with simulator(clock, seed=5, members=10) as scenario:
        guild, humans = scenario.guild, scenario.humans
        began = ended = 0.0
        with pytest.raises(BaseExceptionGroup) as stopped:
            try:
                async with running_bot(scenario.sim, settings, clock) as app:
                    for member in humans[:3]:
                        scenario.say(member)
                    await wait_until(lambda: sum(db_message_counts(db, guild.guild_id).values()) == 3)
                    store = app.pipeline.store
                    assert store is not None
                    # The disk is full: the file may not grow by one page any more (a real SQLITE_FULL).
                    # Enough messages that their ids (8 bytes each, schema v10) outgrow the free
                    # pages and the room left in the file's pages.
                    (pages,) = store.db.execute("PRAGMA page_count").fetchone()
                    store.db.execute(f"PRAGMA max_page_count = {pages}")
                    for i in range(MORE):
                        scenario.say(humans[i % len(humans)])
                    assert app.gateway is not None
                    await wait_until(
                        lambda: app.gateway.received["MESSAGE_CREATE"] >= MORE + 3, what=f"{MORE + 3} sent"
                    )
                    await trio.sleep(5)  # running flushes fail and keep the batch
                    began = trio.current_time()
            finally:
                ended = trio.current_time()
        stop_took = ended - began
        error = _found(stopped.value, FlushIncomplete)
        assert isinstance(error, FlushIncomplete), stopped.value
        stored = sum(db_message_counts(db, guild.guild_id).values())
        lost = MORE + 3 - stored
        assert lost > 0, "the test must make the disk full before some messages were written"
        assert f"messages: guild {guild.guild_id}: {lost}" in str(error)
        lines = [r.getMessage() for r in caplog.records if "stopping without writing" in r.getMessage()]
        assert len(lines) == 1 and re.search(rf"guild {guild.guild_id}: {lost}\b", lines[0]), lines
        assert stop_took < 10.0, f"the stop took {stop_took:.1f} s of (virtual) time"

        # The next start (the disk has room again) keeps every committed count and counts anew.
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            async with running_bot(scenario.sim, settings, clock) as app:
                scenario.say(humans[0])
                await wait_until(lambda: sum(db_message_counts(db, guild.guild_id).values()) == stored + 1)
        assert not [r for r in caplog.records if "stopping without writing" in r.getMessage()]


def test_a_stop_that_could_not_write_everything_exits_4_and_says_what(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    for name in ("BACKUP_DIR", "LOG_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEADERBOARD_DB", str(tmp_path / "bot.db"))
    monkeypatch.setenv("OPS_PORT", "0")
    monkeypatch.setenv("DISCORD_TOKEN", "not-a-real-token")

    async def stops_unwritten(settings: Settings) -> None:  # what the pipeline's nurseries raise
        raise ExceptionGroup("nursery", [FlushIncomplete("messages: guild 7: 12")])

    monkeypatch.setattr(bot_entry.__main__, "_main", stops_unwritten)
    assert main(["run"]) == 4
    assert "stopped without writing everything: messages: guild 7: 12" in capsys.readouterr().err
