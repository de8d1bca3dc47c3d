"""The bot under chaos: ``python -m bot_entry run`` as a subprocess against the simulator.

A real process, because SIGKILL is the operating system's: a killed bot must lose no more than
the design allows (``tests.faults.chaos_oracle.Bounds``). Every start is written to the record,
so the oracle knows when a process was up.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tests.bot_process import bot_env, spawn, stop
from tests.faults.chaos_oracle import CHECKPOINT, FLUSH, Record

if TYPE_CHECKING:
    from discord_sim.server import DiscordSim

STOP_TIMEOUT = 30.0  # seconds a SIGTERM'd bot may take to stop cleanly


class Bot:
    """``python -m bot_entry run`` against the simulator, restartable."""

    def __init__(self, sim: DiscordSim, workdir: Path, db: Path, record: Record) -> None:
        self.sim = sim
        self.workdir = workdir
        self.record = record
        self.log = workdir / "bot.log"
        self.env = bot_env(
            DISCORD_TOKEN=sim.token,
            LEADERBOARD_DB=str(db),
            VOICE_CHECKPOINT_SECONDS=str(CHECKPOINT),
            MESSAGE_FLUSH_SECONDS=str(FLUSH),
            VOICE_FLUSH_SECONDS=str(FLUSH),
            LOG_FORMAT="console",
            SUPERVISOR_INTENSITY="50",
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.exits: list[int] = []  # exit codes of processes that ended without our SIGKILL

    def start(self) -> None:
        # the simulator's port is known once it listens, so the base URL is added at each start
        self.process = spawn(self.workdir, self.env | {"DISCORD_API_BASE": self.sim.base_url}, self.log)
        self.record.starts.append(time.time())

    def identified(self) -> bool:
        """The current process has connected (IDENTIFY) at least once."""
        record = self.record
        return bool(record.starts and record.identifies and record.identifies[-1] >= record.starts[-1])

    def kill(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:  # it ended by itself before we came to kill it
            self.exits.append(self.process.returncode)
            return
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def stop(self) -> int | None:
        """SIGTERM and wait for the clean shutdown; None if it did not exit in time."""
        assert self.process is not None
        return await stop(self.process, STOP_TIMEOUT)

    def tail(self, n: int = 2500) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""
