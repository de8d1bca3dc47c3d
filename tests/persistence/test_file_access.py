"""The one rule for "can the bot write this database file?", shared by start-up and ``doctor``."""

from __future__ import annotations

from pathlib import Path

import pytest

from persistence.file_access import PathFacts, access_problem, path_facts

DB = Path("/srv/bot/bot.db")


def facts(**changed: bool) -> PathFacts:
    usable = {
        "is_dir": False,
        "exists": True,
        "writable": True,
        "parent_is_dir": True,
        "parent_writable": True,
    }
    return PathFacts(path=DB, **(usable | changed))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changed", "problem"),
    [
        ({}, None),
        ({"exists": False, "writable": False}, None),  # the bot creates it
        ({"is_dir": True}, "/srv/bot/bot.db is a directory, not a database file"),
        (
            {"exists": False, "parent_is_dir": False, "parent_writable": False},
            "/srv/bot/bot.db: its directory /srv/bot does not exist (create it; or is a volume not mounted?)",
        ),
        ({"writable": False}, "/srv/bot/bot.db is read-only (the bot writes to it)"),
        (
            {"parent_writable": False},
            "/srv/bot/bot.db: its directory /srv/bot is read-only "
            "(SQLite creates bot.db-wal and bot.db-shm beside it)",
        ),
        (
            {"exists": False, "writable": False, "parent_writable": False},
            "/srv/bot/bot.db: its directory /srv/bot is read-only (SQLite creates the database in it)",
        ),
    ],
)
def test_access_problem_names_what_stops_the_bot(changed: dict[str, bool], problem: str | None) -> None:
    assert access_problem(facts(**changed)) == problem


def test_facts_come_from_the_file_system(tmp_path: Path) -> None:
    regular = tmp_path / "a-file"
    regular.write_text("x")
    assert path_facts(tmp_path / "new.db") == PathFacts(tmp_path / "new.db", False, False, False, True, True)
    assert not path_facts(regular / "bot.db").parent_is_dir
    assert path_facts(tmp_path).is_dir
