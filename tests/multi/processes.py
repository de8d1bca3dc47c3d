"""Several real bot processes (``python -m bot_entry run``) against one simulator and one PostgreSQL
database, each running its own ``SHARD_IDS`` of ``SHARD_COUNT``: what a deployment of several
processes is. Real processes, because SIGKILL is the operating system's.

The oracle is the test's own record of what it made the simulator send, with when each process was
up (``sim.gateway.identifies``: world time, shard, shard count).
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import psycopg
import trio

from discord_sim.server import DiscordSim
from tests.bot_process import bot_env, spawn, stop

TOKEN = "multi-process-test-token"
CHECKPOINT, FLUSH = 0.3, 0.2  # VOICE_CHECKPOINT_SECONDS; MESSAGE_FLUSH_SECONDS and VOICE_FLUSH_SECONDS
STOP_TIMEOUT = 30.0


class BotProcess:
    """One ``python -m bot_entry run`` for one shard range, restartable with another range."""

    def __init__(self, name: str, sim: DiscordSim, workdir: Path, url: str) -> None:
        self.name = name
        self.sim = sim
        self.workdir = workdir
        self.url = url
        self.log = workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at: float | None = None

    def env(self, shard_count: int, shard_ids: str) -> dict[str, str]:
        return bot_env(
            DISCORD_TOKEN=TOKEN,
            DISCORD_API_BASE=self.sim.base_url,
            DATABASE_URL=self.url,
            SHARD_COUNT=str(shard_count),
            SHARD_IDS=shard_ids,
            REST_GLOBAL_PER_SECOND="20",
            VOICE_CHECKPOINT_SECONDS=str(CHECKPOINT),
            MESSAGE_FLUSH_SECONDS=str(FLUSH),
            VOICE_FLUSH_SECONDS=str(FLUSH),
            LOG_FORMAT="console",
        )

    def start(self, shard_count: int, shard_ids: str) -> None:
        self.process = spawn(self.workdir, self.env(shard_count, shard_ids), self.log)
        self.started_at = time.time()

    def kill(self) -> float:
        """SIGKILL; returns when."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        return time.time()

    async def stop(self) -> int:
        """SIGTERM and wait for the clean stop; its exit code."""
        assert self.process is not None
        code = await stop(self.process, STOP_TIMEOUT)
        if code is None:
            raise AssertionError(f"{self.name} did not stop within {STOP_TIMEOUT:g} s:\n{self.tail()}")
        return code

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""


async def wait_for(
    predicate: Callable[[], bool], what: str, bots: Iterable[BotProcess], limit: float = 90.0
) -> None:
    """Poll (real time: real processes) until ``predicate``; fail naming ``what`` and the logs."""
    deadline = time.monotonic() + limit
    while not predicate():
        for bot in bots:
            if bot.process is not None and bot.process.poll() is not None and bot.process.returncode != -9:
                raise AssertionError(
                    f"{bot.name} exited {bot.process.returncode} waiting for {what}:\n{bot.tail()}"
                )
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {b.name}\n{b.tail()}" for b in bots)
            raise AssertionError(f"timed out waiting for {what}\n{logs}")
        await trio.sleep(0.05)


def identified_since(sim: DiscordSim, since: float, shard_count: int) -> set[int]:
    """The shards of ``shard_count`` that IDENTIFYd at or after ``since`` (epoch seconds)."""
    return {
        shard for at, shard, count in sim.gateway.identifies if count == shard_count and at >= since - 0.001
    }


def stored_activity(url: str) -> tuple[dict[tuple[int, int], int], dict[int, float]]:
    """Messages per (guild, user) and voice seconds per user, as the database holds them."""
    with psycopg.connect(url) as conn:
        messages = {
            (int(g), int(u)): int(n)
            for g, u, n in conn.execute(
                "SELECT guild_id, user_id, SUM(messages) FROM activity GROUP BY guild_id, user_id"
            )
        }
        voice = {
            int(u): float(s) / 1000.0
            for u, s in conn.execute("SELECT user_id, SUM(voice_ms) FROM activity GROUP BY user_id")
        }
    return messages, voice
