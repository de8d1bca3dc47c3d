"""The operator's commands: doctor, backup, restore, and a damaged database at start-up."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot_entry.__main__ import main
from persistence.backup import list_backups
from persistence.schema import SCHEMA_VERSION
from persistence.store import Store


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean environment (no .env, no token, no ops port) with the database in tmp_path."""
    monkeypatch.chdir(tmp_path)
    for name in ("DISCORD_TOKEN", "BACKUP_DIR", "LOG_FORMAT", "OPS_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEADERBOARD_DB", str(tmp_path / "bot.db"))
    monkeypatch.setenv("OPS_PORT", "0")
    monkeypatch.setenv("DEMO_SECONDS", "5")
    return tmp_path / "bot.db"


def test_backup_then_restore_from_the_command_line(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Store(env).close()
    assert main(["backup"]) == 0
    (backup,) = list_backups(env, env.parent / "backups")
    assert capsys.readouterr().out == f"backup written: {backup}\n"
    assert main(["restore", str(backup)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"restored {env} from {backup}; the replaced database is kept as {env}.replaced-")
    assert main(["restore", str(env.parent / "nope.db")]) == 1
    assert capsys.readouterr().err == f"restore failed: no backup file at {env.parent / 'nope.db'}\n"


def test_restore_of_a_running_database_needs_force(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Store(env).close()
    assert main(["backup"]) == 0
    (backup,) = list_backups(env, env.parent / "backups")
    running = Store(env)
    try:
        assert main(["restore", str(backup)]) == 1
        assert "pass --force" in capsys.readouterr().err
        assert main(["restore", "--force", str(backup)]) == 0
    finally:
        running.close()


def test_doctor_exit_code_follows_the_report(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Store(env).close()
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("doctor:\n  ok    config") and out.endswith("all 6 checks passed\n")
    env.write_bytes(b"garbage" * 1000)
    assert main(["doctor"]) == 1
    assert "FAIL  database" in capsys.readouterr().out


def test_a_bad_ops_setting_is_one_line(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPS_PORT", "99999")
    assert main(["doctor"]) == 2
    assert (
        capsys.readouterr().err == "config error: OPS_PORT: '99999' is not a TCP port 1-65535, or 0 for off\n"
    )


def test_a_damaged_database_stops_start_up_and_names_the_backup(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The store opens before the gateway connects, so Discord is never reached (port 9 is closed).
    monkeypatch.setenv("DISCORD_TOKEN", "not-a-real-token")
    monkeypatch.setenv("DISCORD_API_BASE", "http://127.0.0.1:9/api/v10")
    Store(env).close()
    assert main(["backup"]) == 0
    (backup,) = list_backups(env, env.parent / "backups")
    damaged = b"garbage" * 1000
    env.write_bytes(damaged)
    capsys.readouterr()
    assert main(["run"]) == 3
    err = capsys.readouterr().err
    assert (
        f"database error: database {env} cannot be opened (file is not a database); it is left untouched"
        in err
    )
    assert err.endswith(f"newest backup: {backup}; restore it with: python -m bot_entry restore {backup}\n")
    assert env.read_bytes() == damaged


def test_run_without_a_token_is_one_line_pointing_at_the_demo(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["has-token"]) == 1
    assert main(["run"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("config error: DISCORD_TOKEN is not set") and "python -m demo" in line
    assert not env.exists()  # nothing was started


def test_has_token_says_only_its_exit_code(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "MTIz.secret-looking.value")
    assert main(["has-token"]) == 0
    assert capsys.readouterr() == ("", "")


def test_run_with_a_missing_database_directory_is_one_line_and_creates_nothing(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = env.parent / "not-mounted" / "bot.db"
    monkeypatch.setenv("LEADERBOARD_DB", str(missing))
    monkeypatch.setenv("DISCORD_TOKEN", "not-a-real-token")
    monkeypatch.setenv("DISCORD_API_BASE", "http://127.0.0.1:9/api/v10")
    assert main(["run"]) == 3
    assert capsys.readouterr().err == (
        f"database error: database {missing}: its directory {missing.parent} does not exist "
        "(create it; or is a volume not mounted?); nothing was changed\n"
    )
    assert not missing.parent.exists()


def test_doctor_predicts_that_run_stops_on_a_missing_directory(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = env.parent / "not-mounted" / "bot.db"
    monkeypatch.setenv("LEADERBOARD_DB", str(missing))
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert (
        f"FAIL  database  {missing}: its directory {missing.parent} does not exist "
        "(create it; or is a volume not mounted?); `run` would stop (exit 3)\n"
    ) in out
    assert not missing.parent.exists()


@pytest.mark.parametrize("command", [["run"], ["doctor"], ["backup"], ["restore", "x.db"], ["has-token"]])
def test_an_empty_leaderboard_db_is_a_config_error_on_every_command(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("LEADERBOARD_DB", "")
    monkeypatch.setenv("DISCORD_TOKEN", "not-a-real-token")
    assert main(command) == 2
    assert capsys.readouterr() == (
        "",
        "config error: LEADERBOARD_DB: '' is not a file path (unset it for the default, leaderboard.db)\n",
    )


def test_a_backup_directory_that_cannot_be_made_is_one_line(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    Store(env).close()
    regular = env.parent / "a-file"
    regular.write_text("not a directory")
    monkeypatch.setenv("BACKUP_DIR", str(regular / "backups"))  # fails even as root
    assert main(["backup"]) == 1
    assert capsys.readouterr().err == (
        f"backup failed: cannot create the backup directory {regular / 'backups'}: Not a directory\n"
    )


def test_a_restore_into_a_directory_that_cannot_be_made_is_one_line(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    Store(env).close()
    assert main(["backup"]) == 0
    (backup,) = list_backups(env, env.parent / "backups")
    regular = env.parent / "a-file"
    regular.write_text("not a directory")
    monkeypatch.setenv("LEADERBOARD_DB", str(regular / "bot.db"))
    capsys.readouterr()
    assert main(["restore", str(backup)]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"restore failed: restore from {backup} failed: [Errno 17] File exists: '{regular}'; "
        f"{regular / 'bot.db'} was not changed\n"
    )
    assert regular.read_text() == "not a directory"


def test_help_is_plain_text_and_lists_every_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "``" not in out and "`run`" not in out
    assert "Exit codes (every command):" in out
    for code in "0123":
        assert f"\n  {code}  " in out


def chattr(flag: str, *paths: Path) -> bool:
    """Set or clear the immutable flag: read-only even for root (needs CAP_LINUX_IMMUTABLE)."""
    if shutil.which("chattr") is None:
        return False
    return subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True).returncode == 0


@pytest.fixture
def immutable(env: Path) -> Iterator[Callable[[Path], None]]:
    frozen: list[Path] = []

    def freeze(path: Path) -> None:
        if not chattr("+i", path):
            pytest.skip("chattr +i is not available here")
        frozen.append(path)

    yield freeze
    if frozen:
        chattr("-i", *frozen)


@pytest.mark.parametrize("what", ["file", "directory"])
def test_a_read_only_database_is_predicted_by_doctor_and_stops_run_in_one_line(
    env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    immutable: Callable[[Path], None],
    what: str,
) -> None:
    db = env.parent / "data" / "bot.db"
    db.parent.mkdir()
    Store(db).close()
    monkeypatch.setenv("LEADERBOARD_DB", str(db))
    before = db.read_bytes()
    immutable(db if what == "file" else db.parent)
    problem = (
        f"{db} is read-only (the bot writes to it)"
        if what == "file"
        else f"{db}: its directory {db.parent} is read-only "
        "(SQLite creates bot.db-wal and bot.db-shm beside it)"
    )
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert f"FAIL  database  {problem}; `run` would stop (exit 3)\n" in out and "damaged" not in out

    monkeypatch.setenv("DISCORD_TOKEN", "not-a-real-token")
    monkeypatch.setenv("DISCORD_API_BASE", "http://127.0.0.1:9/api/v10")
    assert main(["run"]) == 3
    assert capsys.readouterr().err == f"database error: database {problem}; nothing was changed\n"
    assert db.read_bytes() == before


def test_a_database_from_a_newer_bot_stops_run_in_one_line(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    Store(env).close()
    conn = sqlite3.connect(env)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = env.read_bytes()
    monkeypatch.setenv("DISCORD_TOKEN", "not-a-real-token")
    monkeypatch.setenv("DISCORD_API_BASE", "http://127.0.0.1:9/api/v10")
    assert main(["doctor"]) == 1
    assert "FAIL  schema" in capsys.readouterr().out
    assert main(["run"]) == 3
    assert capsys.readouterr().err == (
        f"database error: database schema version {SCHEMA_VERSION + 1} is newer than this bot "
        f"({SCHEMA_VERSION}); upgrade the bot; {env} is left untouched\n"
    )
    assert env.read_bytes() == before
