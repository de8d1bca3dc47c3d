"""Settings: defaults, .env loading, and one clear line naming any bad setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot_entry.config import DEFAULT_ARROW, ConfigError, load_settings

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
