"""Settings: defaults, .env loading, and one clear line naming any bad setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from bot_entry.config import (
    DEFAULT_ARROW,
    ConfigError,
    Settings,
    declared,
    load_settings,
    read_environment,
    settings_from,
    warn_once,
)
from bot_entry.doctor import check_config
from demo.settings import demo_files, load_demo_settings
from domain.clock import WallClock
from domain.events import Event
from tests.harness import EPOCH, settings_for
from wiring.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_seed_look() -> None:
    settings = load_settings({}, env_file=None)
    assert settings.colour == 0x571173
    assert settings.arrow_emoji == DEFAULT_ARROW == "<a:purp_arrow:1403295268505522187>"
    assert settings.leaderboard_interval == 60.0
    assert settings.voice_checkpoint == 5.0
    assert settings.period_days == 30
    assert settings.demo


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LEADERBOARD_COLOUR", "#zzz"),
        ("LEADERBOARD_COLOUR", "571173ff"),
        ("LEADERBOARD_ARROW_EMOJI", "arrow"),
        ("LEADERBOARD_INTERVAL_SECONDS", "soon"),
        ("MESSAGE_FLUSH_MAX", "1.5"),
        ("GUILD_ID", "my-guild"),
        ("MESSAGE_BOARD_CHANNEL_ID", "-1"),
        ("EXCLUDED_CHANNEL_IDS", "1,two"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_a_bad_value_is_refused_naming_the_setting(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{name}: '{value}' is not "):
        load_settings({name: value}, env_file=None)


@pytest.mark.parametrize(
    ("name", "value", "bounds"),
    [
        ("LEADERBOARD_INTERVAL_SECONDS", "0", "10 to 86400 seconds"),
        ("VOICE_CHECKPOINT_SECONDS", "-5", "0.1 to 86400 seconds"),
        ("PERIOD_DAYS", "0", "1 to 365 days"),
    ],
)
def test_a_value_out_of_bounds_is_refused_with_the_bounds(name: str, value: str, bounds: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({name: value}, env_file=None)
    assert str(refused.value) == f"{name}: '{value}' is out of range: it must be {bounds}"


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("LEADERBOARD_COLOUR=#000001\nPERIOD_DAYS=7\nDISCORD_TOKEN=from-file\n")
    settings = load_settings({"PERIOD_DAYS": "14"}, env_file=env_file)
    assert settings.colour == 1
    assert settings.period_days == 14
    assert settings.token.reveal() == "from-file"
    assert not settings.demo


def test_the_token_never_shows_in_repr_or_str() -> None:
    token = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnopqrstuvwxyz0123"
    settings = load_settings({"DISCORD_TOKEN": token}, env_file=None)
    assert token not in repr(settings)
    assert token not in str(settings.token)
    assert token not in f"{settings.token}"


def test_cli_stops_with_one_line_naming_the_bad_setting(tmp_path: Path) -> None:
    env = {**os.environ, "LEADERBOARD_COLOUR": "#zzz", "LEADERBOARD_DB": str(tmp_path / "x.db")}
    result = subprocess.run(
        [sys.executable, "-m", "bot_entry", "run"],
        cwd=tmp_path,
        env=env | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "config error: LEADERBOARD_COLOUR: '#zzz' is not a colour like #571173"
    ]
    assert not (tmp_path / "x.db").exists()


# -- names that are not settings, and which .env was read -------------------------------------------


def test_a_misspelt_setting_is_reported_with_the_closest_name(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("LEADERBOARD_COLOR=#000001\nPERIOD_DAY=7\nWHATEVER=1\nDEMO_SECONDS=3\n")
    settings = load_settings({"VOICE_CHECKPOINT_SECOND": "2", "HOME": "/root"}, env_file=env_file)
    assert settings.colour == 0x571173, "a misspelt setting is not taken"
    where = f"in {env_file.resolve()}"
    assert settings.warnings == (
        f"LEADERBOARD_COLOR ({where}) is not a setting and is ignored: did you mean LEADERBOARD_COLOUR?",
        f"PERIOD_DAY ({where}) is not a setting and is ignored: did you mean PERIOD_DAYS?",
        "VOICE_CHECKPOINT_SECOND (in the environment) is not a setting and is ignored: "
        "did you mean VOICE_CHECKPOINT_SECONDS?",
        f"WHATEVER ({where}) is not a setting and is ignored",
    )  # the demo's DEMO_SECONDS and the system's HOME are not the bot's business


def test_each_warning_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings({"LEADERBOARD_COLOR": "#000001"}, env_file=None)
    warn_once(settings.warnings)
    warn_once(load_settings({"LEADERBOARD_COLOR": "#000001"}, env_file=None).warnings)
    assert [r.getMessage() for r in caplog.records if "LEADERBOARD_COLOR " in r.getMessage()] == [
        "config: LEADERBOARD_COLOR (in the environment) is not a setting and is ignored: "
        "did you mean LEADERBOARD_COLOUR?"
    ]


def test_the_env_file_read_is_named_and_doctor_says_it(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PERIOD_DAYS=7\n")
    settings = load_settings({}, env_file=env_file)
    assert settings.env_file_used == env_file.resolve()
    assert f"read {env_file.resolve()}" in check_config(settings).detail
    assert load_settings({}, env_file=tmp_path / "none").env_file_used is None
    assert "no .env in the current directory" in check_config(load_settings({}, env_file=None)).detail


# -- operator settings: every number bounded; the voice ledger's own flush ------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("VOICE_CHECKPOINT_SECONDS", "inf"),
        ("VOICE_CHECKPOINT_SECONDS", "1e-9"),
        ("MESSAGE_FLUSH_SECONDS", "nan"),
        ("VOICE_FLUSH_SECONDS", "0"),
        ("MESSAGE_FLUSH_MAX", "0"),
        ("SUPERVISOR_INTENSITY", "1e99"),
        ("SUPERVISOR_PERIOD_SECONDS", "-inf"),
        ("HEALTH_MAX_CHECKPOINT_AGE_SECONDS", "0"),
        ("BACKUP_INTERVAL_HOURS", "1e12"),
        ("BACKUP_KEEP", "0"),
        ("OPS_PORT", "-1"),
        ("LEADERBOARD_DB", ""),
    ],
)
def test_every_operator_number_has_bounds(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{name}: '{value}' is "):
        load_settings({name: value}, env_file=None)


def test_every_operator_setting_is_declared_once() -> None:
    names = [d.env for d in declared(Settings)]
    assert len(names) == len(set(names))
    assert "DEMO_SECONDS" not in names and "DEMO_SEED" not in names  # the demo declares its own


def test_voice_flush_is_its_own_setting() -> None:
    pipeline = load_settings(
        {"MESSAGE_FLUSH_SECONDS": "3", "VOICE_FLUSH_SECONDS": "7"}, env_file=None
    ).pipeline
    assert (pipeline.message_flush, pipeline.voice_flush) == (3.0, 7.0)
    assert load_settings({"MESSAGE_FLUSH_SECONDS": "3"}, env_file=None).pipeline.voice_flush == 1.0


async def test_the_voice_ledger_flushes_on_voice_flush_seconds(
    autojump_clock: object, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path / "x.db", MESSAGE_FLUSH_SECONDS="3", VOICE_FLUSH_SECONDS="7")
    pipeline = Pipeline(settings.pipeline, WallClock.starting_at(EPOCH), inline_db=True)
    send, receive = trio.open_memory_channel[Event](1)
    async with trio.open_nursery() as nursery:
        await nursery.start(pipeline.run, receive)
        assert pipeline.ledger is not None and pipeline.ledger.flush_seconds == 7.0
        await send.aclose()


# -- the demo's own settings and files ----------------------------------------------------------------------


def test_the_demo_reads_its_own_settings_and_keeps_off_the_production_files(tmp_path: Path) -> None:
    env = read_environment({"DEMO_SECONDS": "20", "DEMO_SEEDS": "4"}, env_file=None)
    demo, unknown = load_demo_settings(env)
    assert (demo.seconds, demo.seed) == (20.0, 1)
    assert unknown == (
        "DEMO_SEEDS (in the environment) is not a setting and is ignored: did you mean DEMO_SEED?",
    )
    settings = demo_files(settings_from(env), env)
    assert (settings.db_path, settings.backup_dir) == (Path("demo.db"), Path("demo-backups"))
    chosen = read_environment({"LEADERBOARD_DB": str(tmp_path / "mine.db")}, env_file=None)
    assert demo_files(settings_from(chosen), chosen).db_path == tmp_path / "mine.db"
    with pytest.raises(ConfigError, match=r"^DEMO_SECONDS: 'soon' is not a number$"):
        load_demo_settings(read_environment({"DEMO_SECONDS": "soon"}, env_file=None))
