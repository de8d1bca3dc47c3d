"""Operations on PostgreSQL against a real server (tests/pg.py): the doctor's connection, schema and
write checks, and backups with pg_dump (or the exact command when pg_dump is missing)."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import psycopg
import pytest

from bot_entry.doctor import check_postgres
from persistence.backup import BackupError, list_pg_backups, pg_backup_now, pg_restore_command
from persistence.schema import SCHEMA_VERSION
from persistence.store import Store
from tests import pg


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"postgresql://postgres@127.0.0.1:{port}/nothing"


def test_doctor_on_a_fresh_database_connects_sees_no_schema_and_can_write(pg_url: str) -> None:
    checks = {c.name: c for c in check_postgres(pg_url)}
    assert checks["database"].ok and "connected to" in checks["database"].detail
    assert checks["schema"].ok and checks["schema"].detail == "no schema yet; the bot creates it at start"
    assert checks["writable"].ok
    with psycopg.connect(pg_url) as conn:  # the probe left nothing behind
        assert conn.execute("SELECT to_regclass('leaderboard_doctor_probe')").fetchone() == (None,)


def test_doctor_after_the_bot_created_the_schema_says_current(pg_url: str) -> None:
    Store(pg_url).close()
    checks = {c.name: c for c in check_postgres(pg_url)}
    assert checks["schema"].ok and checks["schema"].detail == f"version {SCHEMA_VERSION} (current)"


def test_doctor_fails_on_a_newer_schema(pg_url: str) -> None:
    Store(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE schema_version SET version = %s", [SCHEMA_VERSION + 1])
    schema = {c.name: c for c in check_postgres(pg_url)}["schema"]
    assert not schema.ok and "newer than this bot's" in schema.detail


def test_doctor_fails_on_an_unreachable_server_in_one_line() -> None:
    (check,) = check_postgres(closed_port_url())
    assert not check.ok and check.detail.startswith("cannot connect to postgresql://postgres@127.0.0.1:")
    assert check.detail.endswith("`run` would stop (exit 3)") and "\n" not in check.detail


def test_doctor_fails_for_a_user_that_cannot_write(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS doctor_reader")
        conn.execute("CREATE ROLE doctor_reader LOGIN")
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    base, _, rest = pg_url.partition("://")
    reader = f"{base}://doctor_reader@{rest.partition('@')[2]}"
    try:
        writable = {c.name: c for c in check_postgres(reader)}["writable"]
        assert not writable.ok and writable.detail.startswith("cannot write: permission denied")
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("DROP OWNED BY doctor_reader")
            conn.execute("DROP ROLE doctor_reader")


@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump is not installed")
def test_backup_runs_pg_dump_and_keeps_the_newest(pg_url: str, tmp_path: Path) -> None:
    Store(pg_url).close()
    backups = tmp_path / "backups"
    first = pg_backup_now(pg_url, backups, keep=2, now=1_700_000_000)
    second = pg_backup_now(pg_url, backups, keep=2, now=1_700_000_001)
    third = pg_backup_now(pg_url, backups, keep=2, now=1_700_000_002)
    assert list_pg_backups(pg_url, backups) == [second, third] and not first.exists()
    listing = subprocess.run(["pg_restore", "--list", str(third)], capture_output=True, text=True, check=True)
    assert "schema_version" in listing.stdout
    assert not list(backups.glob(".*partial"))
    restore = pg_restore_command(pg_url, third)
    assert restore.startswith("PGPASSWORD=... pg_restore --clean --if-exists") and str(third) in restore


def test_backup_without_pg_dump_says_exactly_what_to_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no pg_dump here
    url = "postgresql://bot:s3cret@db.example:5432/leaderboard"
    with pytest.raises(BackupError) as caught:
        pg_backup_now(url, tmp_path / "backups", keep=3, now=1_700_000_000)
    message = str(caught.value)
    assert "pg_dump is not installed" in message and "s3cret" not in message
    assert (
        "PGPASSWORD=... pg_dump --format=custom --no-owner "
        f"--file={tmp_path}/backups/leaderboard-20231114T221320Z.dump "
        "--dbname=postgresql://bot@db.example:5432/leaderboard"
    ) in message


def test_a_dump_is_named_for_the_database_and_never_carries_the_password_in_argv() -> None:
    from persistence.backup import pg_dump_command

    command = pg_dump_command("postgresql://bot:pw@h/db", Path("/b/db-x.dump"))
    assert command == [
        "pg_dump",
        "--format=custom",
        "--no-owner",
        "--file=/b/db-x.dump",
        "--dbname=postgresql://bot@h/db",
    ]
    assert pg.with_database("postgresql://a@h:1/x", "y") == "postgresql://a@h:1/y"


@pytest.fixture
def pg_env(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The command line's environment with DATABASE_URL on a fresh PostgreSQL database."""
    monkeypatch.chdir(tmp_path)
    for name in ("DISCORD_TOKEN", "BACKUP_DIR", "LOG_FORMAT", "LEADERBOARD_DB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path / "dumps"))
    monkeypatch.setenv("OPS_PORT", "0")
    return tmp_path / "dumps"


@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump is not installed")
def test_the_backup_command_on_postgresql_writes_a_dump_and_restore_says_what_to_run(
    pg_env: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot_entry.__main__ import main

    Store(pg_url).close()
    assert main(["backup"]) == 0
    (dump,) = list_pg_backups(pg_url, pg_env)
    assert capsys.readouterr().out.strip() == f"backup written: {dump}"
    assert main(["restore", str(dump)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("restore failed: with PostgreSQL the bot does not restore itself; stop every")
    assert f"pg_restore --clean --if-exists --no-owner --dbname={pg_url} {dump}" in err


def test_the_doctor_command_on_postgresql_reports_each_check(
    pg_env: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot_entry.__main__ import main

    Store(pg_url).close()
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    names = [line.split()[1] for line in out.splitlines()[1:-1]]
    assert names == ["config", "database", "schema", "writable", "backups", "token"], out
    assert "PostgreSQL postgresql://" in out and f"version {SCHEMA_VERSION} (current)" in out
