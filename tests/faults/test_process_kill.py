"""The bot process is killed with SIGKILL mid-session and started again.

Real processes on the real clock (the point is the operating system's kill), so this test takes
a few seconds. The simulator runs here; the bot runs as ``python -m bot_entry run`` against it.
Promise checked: no user gains time they did not spend (downtime never counts), and each user
loses at most one checkpoint interval plus one ledger flush per kill.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import trio

from domain.clock import WallClock
from tests.bot_process import bot_env, spawn
from tests.harness import simulator

CHECKPOINT, FLUSH, SLACK = 0.3, 0.2, 0.25
SEED = int(os.environ.get("KILL_SEED", "7"))


def overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


async def wait_for(predicate: object, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await trio.sleep(0.02)


async def test_sigkill_loses_at_most_one_checkpoint_and_never_counts_downtime(
    aio_loop: object, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    db = tmp_path / "lb.db"
    identified: list[float] = []
    async with simulator(WallClock.real(), seed=SEED, members=8) as scenario:
        sim, guild = scenario.sim, scenario.guild
        sim.on_identify.append(lambda _session: identified.append(time.time()))
        lounge, gaming = scenario.voice_channels[0], scenario.voice_channels[1]
        # Three in the lounge, so the one who leaves during the downtime leaves nobody alone.
        pairs = [(lounge, scenario.humans[0:3]), (gaming, scenario.humans[3:5])]
        joined = time.time()
        for channel, members in pairs:
            for member in members:
                sim.set_voice(guild, member, channel)
        env = bot_env(
            DISCORD_TOKEN=sim.token,
            DISCORD_API_BASE=sim.base_url,
            LEADERBOARD_DB=str(db),
            VOICE_CHECKPOINT_SECONDS=str(CHECKPOINT),
            MESSAGE_FLUSH_SECONDS=str(FLUSH),
            VOICE_FLUSH_SECONDS=str(FLUSH),
        )

        def start_bot() -> subprocess.Popen[bytes]:
            return spawn(tmp_path, env, tmp_path / "bot.log")

        bot = start_bot()
        await wait_for(lambda: len(identified) == 1)
        up_1 = identified[0]
        await trio.sleep(1.0 + rng.random())
        bot.send_signal(signal.SIGKILL)
        bot.wait()
        killed = time.time()
        left_early = scenario.humans[2]  # leaves while the bot is down
        sim.set_voice(guild, left_early, None)
        left_early_at = time.time()
        await trio.sleep(0.5)
        bot = start_bot()
        await wait_for(lambda: len(identified) == 2)
        up_2 = identified[1]
        await trio.sleep(1.0 + rng.random())
        left = time.time()
        for _, members in pairs:
            for member in members:
                if member is not left_early:
                    sim.set_voice(guild, member, None)
        await trio.sleep(0.5)
        bot.send_signal(signal.SIGTERM)
        assert bot.wait(timeout=30) == 0, (tmp_path / "bot.log").read_text()[-3000:]

    with sqlite3.connect(db) as conn:
        got = dict(conn.execute("SELECT user_id, SUM(voice_ms) / 1000.0 FROM activity GROUP BY user_id"))
    report = []
    for _, members in pairs:
        for member in members:
            until = left_early_at if member is left_early else left
            truth = overlap((joined, until), (up_1, killed)) + overlap((joined, until), (up_2, left + 10))
            counted = got.get(member.user_id, 0.0)
            report.append((member.user_id, round(counted, 3), round(truth, 3)))
            assert counted <= truth + 0.05, f"seed {SEED}: user gained time: {report}"
            assert counted >= truth - (CHECKPOINT + FLUSH + SLACK), f"seed {SEED}: lost too much: {report}"
    print(f"seed {SEED}: (user, counted s, truth s): {report}")
