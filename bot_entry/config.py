"""Settings from the environment or ``.env``, validated once at start.

Why environ-config: it turns an attrs class into a typed, documented settings object and reports
missing variables by name. Every converter here names its setting in the error, so a bad value
stops start-up with one line such as ``LEADERBOARD_COLOUR: '#zzz' is not a colour like #571173``.
The token is held in ``Secret``, whose repr and str never show it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import environ
from dotenv import dotenv_values

from domain.guild_config import GuildConfig
from wiring.pipeline import PipelineSettings

DEFAULT_ARROW = "<a:purp_arrow:1403295268505522187>"
DEFAULT_COLOUR = 0x571173


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names it."""


class Secret:
    """A value that must never be printed or logged."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__


def _setting(name: str, parse: Callable[[str], object], expected: str) -> Callable[[object], object]:
    def convert(raw: object) -> object:
        if not isinstance(raw, str):
            return raw  # a default, already parsed
        try:
            return parse(raw.strip())
        except (ValueError, TypeError):
            raise ConfigError(f"{name}: {raw!r} is not {expected}") from None

    return convert


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError(raw)
    return value


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError(raw)
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if value < 0:
        raise ValueError(raw)
    return value


def _snowflake(raw: str) -> int | None:
    if raw == "":
        return None
    if not raw.isdigit() or not 0 < int(raw) < 2**64:
        raise ValueError(raw)
    return int(raw)


def _snowflakes(raw: str) -> frozenset[int]:
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    ids = {_snowflake(p) for p in parts}
    return frozenset(i for i in ids if i is not None)


def _colour(raw: str) -> int:
    if not re.fullmatch(r"#?[0-9a-fA-F]{6}", raw):
        raise ValueError(raw)
    return int(raw.lstrip("#"), 16)


def _emoji(raw: str) -> str:
    custom = re.fullmatch(r"<a?:[A-Za-z0-9_]{2,32}:\d{15,21}>", raw)
    if not custom and not (0 < len(raw) <= 8 and not any(c.isalnum() or c.isspace() for c in raw)):
        raise ValueError(raw)
    return raw


def _api_base(raw: str) -> str:
    if raw and not re.fullmatch(r"https?://[^\s/]+(/[^\s]*)?/api/v\d+", raw):
        raise ValueError(raw)
    return raw


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError(raw)
    return level


def _log_format(raw: str) -> str:
    value = raw.lower()
    if value not in {"auto", "json", "console"}:
        raise ValueError(raw)
    return value


def _host(raw: str) -> str:
    if not raw or any(c.isspace() for c in raw):
        raise ValueError(raw)
    return raw


def _port(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 65535:
        raise ValueError(raw)
    return value


def _optional_path(raw: str) -> Path | None:
    return Path(raw).expanduser() if raw else None


@environ.config(prefix="", frozen=True)
class Settings:
    token: Secret = environ.var(
        "", name="DISCORD_TOKEN", converter=lambda v: v if isinstance(v, Secret) else Secret(v)
    )
    api_base: str = environ.var(
        "",
        name="DISCORD_API_BASE",
        converter=_setting("DISCORD_API_BASE", _api_base, "an http(s) URL ending in /api/v10"),
    )
    db_path: Path = environ.var("leaderboard.db", name="LEADERBOARD_DB", converter=Path)
    guild_id: int | None = environ.var(
        None, name="GUILD_ID", converter=_setting("GUILD_ID", _snowflake, "a Discord id (digits)")
    )
    message_board_channel_id: int | None = environ.var(
        None,
        name="MESSAGE_BOARD_CHANNEL_ID",
        converter=_setting("MESSAGE_BOARD_CHANNEL_ID", _snowflake, "a Discord channel id (digits)"),
    )
    voice_board_channel_id: int | None = environ.var(
        None,
        name="VOICE_BOARD_CHANNEL_ID",
        converter=_setting("VOICE_BOARD_CHANNEL_ID", _snowflake, "a Discord channel id (digits)"),
    )
    excluded_channel_ids: frozenset[int] = environ.var(
        frozenset(),
        name="EXCLUDED_CHANNEL_IDS",
        converter=_setting("EXCLUDED_CHANNEL_IDS", _snowflakes, "a comma-separated list of channel ids"),
    )
    arrow_emoji: str = environ.var(
        DEFAULT_ARROW,
        name="LEADERBOARD_ARROW_EMOJI",
        converter=_setting("LEADERBOARD_ARROW_EMOJI", _emoji, "an emoji like <a:name:123456789012345678>"),
    )
    colour: int = environ.var(
        DEFAULT_COLOUR,
        name="LEADERBOARD_COLOUR",
        converter=_setting("LEADERBOARD_COLOUR", _colour, "a colour like #571173"),
    )
    leaderboard_interval: float = environ.var(
        60.0,
        name="LEADERBOARD_INTERVAL_SECONDS",
        converter=_setting("LEADERBOARD_INTERVAL_SECONDS", _positive_float, "a positive number of seconds"),
    )
    voice_checkpoint: float = environ.var(
        5.0,
        name="VOICE_CHECKPOINT_SECONDS",
        converter=_setting("VOICE_CHECKPOINT_SECONDS", _positive_float, "a positive number of seconds"),
    )
    message_flush: float = environ.var(
        1.0,
        name="MESSAGE_FLUSH_SECONDS",
        converter=_setting("MESSAGE_FLUSH_SECONDS", _positive_float, "a positive number of seconds"),
    )
    message_flush_max: int = environ.var(
        1000,
        name="MESSAGE_FLUSH_MAX",
        converter=_setting("MESSAGE_FLUSH_MAX", _positive_int, "a positive whole number"),
    )
    period_days: int = environ.var(
        30,
        name="PERIOD_DAYS",
        converter=_setting("PERIOD_DAYS", _positive_int, "a positive whole number of days"),
    )
    supervisor_intensity: int = environ.var(
        5,
        name="SUPERVISOR_INTENSITY",
        converter=_setting("SUPERVISOR_INTENSITY", _positive_int, "a positive whole number"),
    )
    supervisor_period: float = environ.var(
        10.0,
        name="SUPERVISOR_PERIOD_SECONDS",
        converter=_setting("SUPERVISOR_PERIOD_SECONDS", _positive_float, "a positive number of seconds"),
    )
    demo_seconds: float = environ.var(
        0.0,
        name="DEMO_SECONDS",
        converter=_setting("DEMO_SECONDS", _non_negative_float, "a number of seconds (0: run until Ctrl-C)"),
    )
    demo_seed: int = environ.var(1, name="DEMO_SEED", converter=_setting("DEMO_SEED", int, "a whole number"))
    log_level: str = environ.var(
        "INFO", name="LOG_LEVEL", converter=_setting("LOG_LEVEL", _log_level, "DEBUG, INFO, WARNING or ERROR")
    )
    log_format: str = environ.var(
        "auto",
        name="LOG_FORMAT",
        converter=_setting("LOG_FORMAT", _log_format, "auto, json or console"),
    )
    ops_host: str = environ.var(
        "127.0.0.1", name="OPS_HOST", converter=_setting("OPS_HOST", _host, "a host name or IP address")
    )
    ops_port: int = environ.var(
        8787, name="OPS_PORT", converter=_setting("OPS_PORT", _port, "a TCP port 1-65535, or 0 for off")
    )
    health_max_checkpoint_age: float = environ.var(
        30.0,
        name="HEALTH_MAX_CHECKPOINT_AGE_SECONDS",
        converter=_setting(
            "HEALTH_MAX_CHECKPOINT_AGE_SECONDS", _positive_float, "a positive number of seconds"
        ),
    )
    backup_dir: Path | None = environ.var(
        None, name="BACKUP_DIR", converter=_setting("BACKUP_DIR", _optional_path, "a directory path")
    )
    backup_interval_hours: float = environ.var(
        6.0,
        name="BACKUP_INTERVAL_HOURS",
        converter=_setting("BACKUP_INTERVAL_HOURS", _non_negative_float, "a number of hours (0: off)"),
    )
    backup_keep: int = environ.var(
        28, name="BACKUP_KEEP", converter=_setting("BACKUP_KEEP", _positive_int, "a positive whole number")
    )

    @property
    def pipeline(self) -> PipelineSettings:
        """What the pipeline needs of these settings (it never sees the rest)."""
        return PipelineSettings(
            db_path=self.db_path,
            defaults=GuildConfig(
                message_board_channel_id=self.message_board_channel_id,
                voice_board_channel_id=self.voice_board_channel_id,
                arrow=self.arrow_emoji,
                colour=self.colour,
                update_interval=self.leaderboard_interval,
                period_days=self.period_days,
                excluded_channels=self.excluded_channel_ids,
            ),
            default_guild_id=self.guild_id,
            message_flush=self.message_flush,
            message_flush_max=self.message_flush_max,
            voice_checkpoint=self.voice_checkpoint,
            supervisor_intensity=self.supervisor_intensity,
            supervisor_period=self.supervisor_period,
        )

    @property
    def demo(self) -> bool:
        """No token: run against the loopback simulator instead of Discord."""
        return not self.token


def load_settings(
    environ_: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
) -> Settings:
    """Settings from ``env_file``, overridden by the real environment; ConfigError names a bad one."""

    values: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        values |= {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    values |= dict(os.environ if environ_ is None else environ_)
    try:
        return Settings.from_environ(values)  # type: ignore[attr-defined,no-any-return]
    except ConfigError:
        raise
    except Exception as exc:  # environ-config's own errors (missing values)
        raise ConfigError(f"configuration: {exc}") from None
