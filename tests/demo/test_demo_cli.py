"""`just run` with no token: the demo runs the real bot against the simulator and exits cleanly."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
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
