"""`just run` with no token: the demo runs the real bot against the simulator and exits cleanly."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_counts_and_shuts_down_cleanly(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    env |= {"DEMO_SECONDS": "3", "LEADERBOARD_DB": str(db), "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
    env |= {"OPS_PORT": "0", "BACKUP_INTERVAL_HOURS": "0"}
    result = subprocess.run(
        [sys.executable, "-m", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    final = result.stdout[result.stdout.rindex("(final)") :]
    rows = re.findall(r"│\s+(\d+) │ .+? │\s+(\d+) │\s+(\d+) │", final)
    assert rows, final
    assert all(counted == truth for _, counted, truth in rows), final  # after the final flush, exact
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT SUM(messages) FROM activity").fetchone()[0] > 0
    assert "stopped; database closed" in result.stderr


def test_demo_prints_its_page_first_and_serves_it_while_the_crowd_chats(tmp_path: Path) -> None:
    """Issue 20.5: the newcomer's first line is the page's URL, and the page is there to open."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    env |= {"DEMO_SECONDS": "8", "LEADERBOARD_DB": str(tmp_path / "demo.db"), "PYTHONPATH": str(ROOT)}
    env |= {"OPS_PORT": str(port), "BACKUP_INTERVAL_HOURS": "0", "COLUMNS": "200"}
    demo = subprocess.Popen(
        [sys.executable, "-m", "demo"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert demo.stdout is not None
        first = demo.stdout.readline()
        match = re.search(r"Open (http://127\.0\.0\.1:\d+/g/\d+) ", first)
        assert match, first
        page = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "Message Leaderboard" not in page:
            try:
                with urllib.request.urlopen(match[1], timeout=5) as answer:
                    page = answer.read().decode()
            except urllib.error.HTTPError as refused:
                assert refused.code in (404, 503), refused  # not turned on yet, or starting
                time.sleep(0.2)
            except OSError:
                time.sleep(0.2)  # not listening yet
        assert "Message Leaderboard" in page and "Voice Leaderboard" in page
        out, err = demo.communicate(timeout=60)
    finally:
        demo.kill()
    assert demo.returncode == 0, err[-2000:]
    assert "(final)" in out
