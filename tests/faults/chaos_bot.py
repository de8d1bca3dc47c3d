"""The bot under chaos: ``python -m bot_entry run`` as a subprocess against the simulator.

A real process, because SIGKILL is the operating system's: a killed bot must lose no more than
the design allows (``tests.faults.chaos_oracle.Bounds``). Every start is written to the record,
so the oracle knows when a process was up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from tests.faults.chaos_oracle import CHECKPOINT, FLUSH, Record

if TYPE_CHECKING:
    from discord_sim.server import DiscordSim

ROOT = Path(__file__).resolve().parents[2]
STOP_TIMEOUT = 30.0  # seconds a SIGTERM'd bot may take to stop cleanly


class Bot:
    """``python -m bot_entry run`` against the simulator, restartable."""

    def __init__(self, sim: DiscordSim, workdir: Path, db: Path, record: Record) -> None:
        self.sim = sim
        self.workdir = workdir
        self.record = record
        self.log = workdir / "bot.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "LEADERBOARD_"))} | {
            "DISCORD_TOKEN": sim.token,
            "LEADERBOARD_DB": str(db),
            "VOICE_CHECKPOINT_SECONDS": str(CHECKPOINT),
            "MESSAGE_FLUSH_SECONDS": str(FLUSH),
            "VOICE_FLUSH_SECONDS": str(FLUSH),
            "OPS_PORT": "0",
            "BACKUP_INTERVAL_HOURS": "0",
            "LOG_FORMAT": "console",
            "SUPERVISOR_INTENSITY": "50",
            "PYTHONPATH": str(ROOT),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.exits: list[int] = []  # exit codes of processes that ended without our SIGKILL

    def start(self) -> None:
        with self.log.open("ab") as log:  # the child keeps its own copy of the fd
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot_entry", "run"],
                cwd=self.workdir,
                env=self.env | {"DISCORD_API_BASE": self.sim.base_url},  # its port: known once it listens
                stdout=log,
                stderr=log,
            )
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
        process = self.process
        assert process is not None
        process.send_signal(signal.SIGTERM)
        try:
            return await trio.to_thread.run_sync(partial(process.wait, STOP_TIMEOUT))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return None

    def tail(self, n: int = 2500) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""
