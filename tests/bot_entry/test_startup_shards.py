"""Sharding refusals as the operator meets them: ``python -m bot_entry run`` in a real process.

A shard over Discord's guild limit (close 4011) and a session start limit too low for this
process's shards each end in one line on stderr and their documented exit code.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from attrs import evolve

from discord_sim.server import DiscordSim
from tests.bot_entry.test_startup import TOKEN, bot_env
from tests.harness import wall_clock_simulator


@pytest.fixture
async def sim(aio_loop: object) -> AsyncIterator[DiscordSim]:
    async with wall_clock_simulator(TOKEN) as sim:
        yield sim


async def run_bot(tmp_path: Path, sim: DiscordSim, **env: str) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(60):
        return await trio.run_process(
            [sys.executable, "-m", "bot_entry", "run"],
            cwd=tmp_path,
            env=bot_env(
                tmp_path / "bot.db",
                DISCORD_TOKEN=TOKEN,
                DISCORD_API_BASE=sim.base_url,
                LOG_LEVEL="WARNING",
                **env,
            ),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )


async def test_a_shard_over_the_guild_limit_says_to_set_shard_count_and_exits_2(
    tmp_path: Path, sim: DiscordSim
) -> None:
    sim.rules = evolve(sim.rules, shard_guild_limit=2)
    sim.world.add_guilds(3, members=2)
    bot = await run_bot(tmp_path, sim, SHARD_COUNT="1")
    assert bot.stderr.decode() == (
        "login failed: the Discord gateway closed the connection with 4011 (sharding required); a shard "
        "carries more than 2,500 guilds: set SHARD_COUNT to a larger number (or SHARD_COUNT=auto, what "
        "Discord recommends)\n"
    )
    assert bot.returncode == 2
    assert [why for _, _, why in sim.gateway.refused_identifies] == ["4011"]


async def test_too_few_session_starts_left_refuse_the_start_with_one_line_and_exit_5(
    tmp_path: Path, sim: DiscordSim
) -> None:
    sim.rules = evolve(sim.rules, session_start_remaining=1, session_start_reset_after_ms=3_600_000)
    bot = await run_bot(tmp_path, sim, SHARD_COUNT="4", SHARD_IDS="1-2")
    assert bot.stderr.decode() == (
        "login failed: Discord allows 1 more session starts (of 1000 a day) and this process runs 2 "
        "shards; the limit resets in 3600 s: start the bot again then\n"
    )
    assert bot.returncode == 5
    assert sim.gateway.identifies == [], "no IDENTIFY spent"


async def test_shard_ids_beyond_discords_recommended_count_are_a_config_error(
    tmp_path: Path, sim: DiscordSim
) -> None:
    bot = await run_bot(tmp_path, sim, SHARD_COUNT="auto", SHARD_IDS="0-1")  # Discord recommends 1
    assert bot.stderr.decode() == (
        "config error: SHARD_IDS names shard 1, but Discord's recommended count (SHARD_COUNT=auto) is 1 "
        "(shards 0 to 0)\n"
    )
    assert bot.returncode == 2
