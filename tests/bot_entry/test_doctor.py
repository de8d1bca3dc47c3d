"""The doctor: a readable report on config, database, schema, disk, backups and the token (via the sim)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio_asyncio

from bot_entry import doctor
from bot_entry.doctor import render, run_doctor
from bot_entry.ops_http import Check
from discord_sim.server import DiscordSim
from persistence.backup import backup_now
from persistence.schema import SCHEMA_VERSION
from persistence.store import OPEN_BUSY_SECONDS, Store
from tests.harness import settings_for, wall_clock_simulator

TOKEN = "doctor-test-token-not-a-secret"
NOW = 1_790_000_000.0


@pytest.fixture
async def sim(aio_loop: object) -> AsyncIterator[DiscordSim]:
    async with wall_clock_simulator(TOKEN) as sim:
        yield sim


def healthy_db(tmp_path: Path) -> Path:
    db = tmp_path / "bot.db"
    Store(db).close()
    backup_now(db, tmp_path / "backups", keep=3, now=NOW - 3600)
    return db


async def examine(settings: object, api_base: str) -> list[Check]:
    return await trio_asyncio.aio_as_trio(run_doctor)(settings, api_base=api_base, now=NOW)


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


async def test_a_healthy_setup_passes_every_check(tmp_path: Path, sim: DiscordSim) -> None:
    settings = settings_for(healthy_db(tmp_path), DISCORD_TOKEN=TOKEN)
    checks = await examine(settings, sim.base_url)
    assert [c.name for c in checks] == ["config", "database", "schema", "disk", "backups", "token"]
    assert all(c.ok for c in checks), render(checks)
    found = by_name(checks)
    assert found["schema"].detail == f"version {SCHEMA_VERSION} (current)"
    assert found["token"].detail == f"accepted: bot leaderboard-bot (id {sim.world.bot.user_id})"
    assert found["backups"].detail.endswith("newest bot-20260921T131320Z.db (1.0h old)")
    report = render(checks)
    assert report.endswith("all 6 checks passed") and TOKEN not in report
    assert any(call[1].endswith("/users/@me") for call in sim.world.rest_calls)


async def test_a_wrong_token_fails_and_is_not_printed(tmp_path: Path, sim: DiscordSim) -> None:
    wrong = "MTA5ODc2NTQzMjEwOTg3NjU0.GhIjKl.abcdefghijklmnopqrstuvwxyzABCDEFGHIJK"
    checks = await examine(settings_for(healthy_db(tmp_path), DISCORD_TOKEN=wrong), sim.base_url)
    token = by_name(checks)["token"]
    assert token == Check("token", False, "rejected by Discord (401 Unauthorized); check DISCORD_TOKEN")
    report = render(checks)
    assert "FAIL  token" in report and report.endswith("1 of 6 checks failed") and wrong not in report
    leaked = render([Check("token", False, f"could not ask https://example.invalid/?t={wrong}")])
    assert wrong not in leaked and "[REDACTED]" in leaked  # the report is redacted as a whole too


async def test_an_unreachable_api_fails_the_token_check(tmp_path: Path, aio_loop: object) -> None:
    settings = settings_for(healthy_db(tmp_path), DISCORD_TOKEN=TOKEN)
    checks = await examine(settings, "http://127.0.0.1:1/api/v10")
    token = by_name(checks)["token"]
    assert not token.ok and token.detail.startswith("could not ask http://127.0.0.1:1/api/v10/users/@me")


async def test_no_token_skips_the_api(tmp_path: Path, aio_loop: object) -> None:
    checks = await examine(settings_for(healthy_db(tmp_path)), "http://127.0.0.1:1/api/v10")
    assert by_name(checks)["token"] == Check("token", True, "skipped: no DISCORD_TOKEN (demo mode)")
    assert all(c.ok for c in checks)


async def test_a_damaged_database_fails_names_the_backup_and_is_left_alone(
    tmp_path: Path, aio_loop: object
) -> None:
    db = healthy_db(tmp_path)
    data = bytearray(db.read_bytes())
    data[len(data) // 2 :] = b"\xff" * (len(data) - len(data) // 2)
    db.write_bytes(bytes(data))
    checks = await examine(settings_for(db), "")
    database = by_name(checks)["database"]
    newest = tmp_path / "backups" / "bot-20260921T131320Z.db"
    assert not database.ok
    assert database.detail.startswith(f"{db} is damaged (")
    assert database.detail.endswith(f"restore the newest backup: python -m bot_entry restore {newest}")
    assert db.read_bytes() == bytes(data)


@pytest.mark.parametrize(
    ("version", "ok", "detail"),
    [
        (
            SCHEMA_VERSION + 1,
            False,
            f"version {SCHEMA_VERSION + 1} is newer than this bot's ({SCHEMA_VERSION})",
        ),
        (0, True, f"version 0; the bot migrates it to {SCHEMA_VERSION} at start"),
    ],
)
async def test_schema_version_is_compared_with_the_bot(
    tmp_path: Path, aio_loop: object, version: int, ok: bool, detail: str
) -> None:
    db = tmp_path / "bot.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (x)")
    conn.execute(f"PRAGMA user_version = {version}")
    conn.close()
    schema = by_name(await examine(settings_for(db), ""))["schema"]
    assert (schema.ok, schema.detail.split("; upgrade")[0]) == (ok, detail)


async def test_low_disk_and_stale_backups_fail(
    tmp_path: Path, aio_loop: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "bot.db"
    Store(db).close()
    backup_now(db, tmp_path / "backups", keep=3, now=NOW - 20 * 3600)
    monkeypatch.setattr(doctor, "MIN_FREE_BYTES", 2**60)
    found = by_name(await examine(settings_for(db, BACKUP_INTERVAL_HOURS="6"), ""))
    assert (
        not found["disk"].ok and "free at" in found["disk"].detail and "need at least" in found["disk"].detail
    )
    assert not found["backups"].ok and found["backups"].detail.endswith("expected one every 6h")


async def test_a_missing_database_is_fine_before_the_first_start(tmp_path: Path, aio_loop: object) -> None:
    checks = await examine(settings_for(tmp_path / "new.db", BACKUP_INTERVAL_HOURS="6"), "")
    assert by_name(checks)["database"].ok and "schema" not in by_name(checks)
    assert by_name(checks)["backups"].detail == f"none yet in {tmp_path / 'backups'}"
    assert not (tmp_path / "new.db").exists()


async def test_the_token_is_checked_against_the_api_base_run_uses(tmp_path: Path, sim: DiscordSim) -> None:
    settings = settings_for(healthy_db(tmp_path), DISCORD_TOKEN=TOKEN, DISCORD_API_BASE=sim.base_url)
    checks = await trio_asyncio.aio_as_trio(run_doctor)(settings, now=NOW)  # no api_base: the settings'
    assert by_name(checks)["token"].detail == f"accepted: bot leaderboard-bot (id {sim.world.bot.user_id})"
    assert any(call[1].endswith("/users/@me") for call in sim.world.rest_calls)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the lock holder is read the Linux way")
async def test_a_database_write_locked_by_another_process_fails_and_names_it(
    tmp_path: Path, aio_loop: object
) -> None:
    db = healthy_db(tmp_path)
    holder = await trio.lowlevel.open_process(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); sys.stdin.read()",
            str(db),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert holder.stdin is not None and holder.stdout is not None
    try:
        said = b""
        while not said.endswith(b"\n"):
            said += await holder.stdout.receive_some(64)
        assert said == b"locked\n"
        database = by_name(await examine(settings_for(db), ""))["database"]
    finally:
        await holder.stdin.aclose()
        await holder.wait()
    assert database == Check(
        "database",
        False,
        f"{db} is write-locked by process {holder.pid} ({Path(sys.executable).name[:15]}); "
        f"`run` would wait {OPEN_BUSY_SECONDS:g} s, "
        "then stop",
    )
