"""``python -m bot_entry run`` as a real child process: how the chaos runs, the multi-process tests
and the process benchmarks start a bot and stop it. Real processes, because SIGKILL and SIGTERM are
the operating system's.

One place for what every such child needs: the parent's environment without its own ``DISCORD_*``
and ``LEADERBOARD_*`` settings (a developer's token must never reach a test bot), no ops port and
no backups unless asked, the project on ``PYTHONPATH``, and the output appended to a log file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent


def bot_env(**settings: str) -> dict[str, str]:
    """The child's environment: the parent's minus its bot settings, quiet defaults, ``settings``."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "LEADERBOARD_"))}
    return keep | {"OPS_PORT": "0", "BACKUP_INTERVAL_HOURS": "0", "PYTHONPATH": str(ROOT)} | settings


def spawn(
    workdir: Path, env: dict[str, str], log: Path, *, wrapper: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    """Start the bot in ``workdir``, its output appended to ``log``; ``wrapper`` goes between the
    interpreter and the bot (e.g. ``("-m", "pyinstrument", ...)`` to profile it)."""
    command = [sys.executable, *wrapper, "-m", "bot_entry", "run"]
    with log.open("ab") as out:  # the child keeps its own copy of the fd
        return subprocess.Popen(command, cwd=workdir, env=env, stdout=out, stderr=out)


def stop_blocking(process: subprocess.Popen[bytes], within: float) -> int | None:
    """SIGTERM and wait for the clean stop: its exit code, or None (and SIGKILL) past ``within`` seconds."""
    if process.poll() is not None:
        return process.returncode
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(within)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None


async def stop(process: subprocess.Popen[bytes], within: float) -> int | None:
    """``stop_blocking`` from Trio code (the wait runs in a thread)."""
    return await trio.to_thread.run_sync(partial(stop_blocking, process, within))
