"""Start-up faults as the operator meets them: ``python -m bot_entry run`` in a real process.

Each ends in one line on stderr and a documented exit code (``bot_entry/__main__.py``), never a
traceback, and leaves the database as it was.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from discord_sim.server import DiscordSim
from persistence.store import OPEN_BUSY_SECONDS, Store
from tests.harness import wall_clock_simulator

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "startup-test-token-not-a-secret"
CLOSED_PORT_API = "http://127.0.0.1:9/api/v10"  # nothing listens on port 9: Discord is never reached


def bot_env(db: Path, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "LEADERBOARD_", "BACKUP_"))}
    return keep | {
        "PYTHONPATH": str(ROOT),
        "LEADERBOARD_DB": str(db),
        "OPS_PORT": "0",
        "BACKUP_INTERVAL_HOURS": "0",
        "LOG_FORMAT": "json",
        **extra,
    }


def this_process() -> str:
    return f"process {os.getpid()} ({Path(f'/proc/{os.getpid()}/comm').read_text().strip()})"


def make_rollback_journal_db(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the lock holder is read the Linux way")
@pytest.mark.parametrize(
    "make", [lambda db: Store(db).close(), make_rollback_journal_db], ids=["wal", "rollback"]
)
def test_a_write_locked_database_stops_start_up_in_seconds_naming_the_holder(
    tmp_path: Path, make: object
) -> None:
    db = tmp_path / "bot.db"
    make(db)  # type: ignore[operator]
    # Read first: closing any descriptor of the file would drop this process's POSIX locks on it.
    before = db.read_bytes()
    holder = sqlite3.connect(db, isolation_level=None)  # a real second writer: this test process
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        bot = subprocess.run(
            [sys.executable, "-m", "bot_entry", "run"],
            cwd=tmp_path,
            env=bot_env(db, DISCORD_TOKEN=TOKEN, DISCORD_API_BASE=CLOSED_PORT_API),
            capture_output=True,
            text=True,
            timeout=60,
        )
        took = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert bot.stderr.splitlines() == [
        f"database error: database {db} is write-locked by {this_process()} "
        f"(waited {OPEN_BUSY_SECONDS:g} s); let it finish or stop it, then start again; "
        "the file is left untouched"
    ]
    assert bot.returncode == 3
    assert OPEN_BUSY_SECONDS <= took < OPEN_BUSY_SECONDS + 15, took  # it was 30 s of SQLite's own wait
    assert db.read_bytes() == before


@pytest.fixture
async def sim(aio_loop: object) -> AsyncIterator[DiscordSim]:
    async with wall_clock_simulator(TOKEN) as sim:
        yield sim


async def run_bot(tmp_path: Path, sim: DiscordSim, token: str) -> subprocess.CompletedProcess[bytes]:
    env = bot_env(
        tmp_path / "bot.db", DISCORD_TOKEN=token, DISCORD_API_BASE=sim.base_url, LOG_LEVEL="WARNING"
    )
    with trio.fail_after(60):
        return await trio.run_process(
            [sys.executable, "-m", "bot_entry", "run"],
            cwd=tmp_path,
            env=env,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )


async def test_a_rejected_token_is_one_line_and_exit_2(tmp_path: Path, sim: DiscordSim) -> None:
    bot = await run_bot(tmp_path, sim, "a-token-the-simulator-does-not-know")
    assert bot.stderr.decode() == "login failed: Discord rejected the token (401)\n"
    assert bot.returncode == 2
    assert any(call[1].endswith("/users/@me") for call in sim.world.rest_calls)


async def test_a_token_the_gateway_refuses_is_one_line_and_exit_2(tmp_path: Path, sim: DiscordSim) -> None:
    sim.gateway.token = "revoked"  # REST still takes the bot's token; IDENTIFY is closed with 4004
    bot = await run_bot(tmp_path, sim, TOKEN)
    assert bot.stderr.decode() == (
        "login failed: the Discord gateway closed the connection with 4004 "
        "(authentication failed; check DISCORD_TOKEN)\n"
    )
    assert bot.returncode == 2
