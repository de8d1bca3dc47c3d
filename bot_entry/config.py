"""Settings from the environment or ``.env``, validated once at start.

Each field of ``Settings`` is one declaration: its environment name, its default and its parser,
written once (``operator(...)``); the guild defaults among them come from the guild settings table
(``domain.guild_settings``), the same rows ``/lbconfig`` checks against, so both accept and refuse
exactly the same values with the same sentence. A bad value stops start-up with one line naming it,
such as ``LEADERBOARD_COLOUR: '#zzz' is not a colour like #571173``. A name that is not a setting
(``LEADERBOARD_COLOR``) is reported with the closest setting's name, not silently ignored.

``.env`` is read from the current directory only (the environment wins over it);
``Settings.env_file_used`` says which file was read. The token is held in ``Secret``, whose repr
and str never show it.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from attrs import define, field, fields, fields_dict
from dotenv import dotenv_values

from domain.guild_config import GuildConfig
from domain.guild_settings import BY_NAME, DEFAULT_ARROW, DEFAULT_COLOUR
from domain.setting import Number, Parse, Refused, choice, snowflake
from domain.shards import ShardSet
from wiring.pipeline import PipelineSettings

__all__ = [
    "DEFAULT_ARROW",
    "DEFAULT_COLOUR",
    "ConfigError",
    "Declared",
    "Environment",
    "Secret",
    "Settings",
    "check_shard_ids",
    "declared",
    "env_name",
    "load_settings",
    "load_table",
    "operator",
    "read_environment",
    "settings_from",
    "unknown_names",
    "warn_once",
]

log = logging.getLogger(__name__)

ENV_FILE = Path(".env")
FOREIGN_PREFIXES = ("DEMO_",)  # the demo's own settings (``demo.settings``); it checks them itself
_CLOSE = 0.75  # difflib ratio above which a name in the environment is taken for a misspelt setting

T = TypeVar("T")


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

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__


@define(frozen=True)
class Declared:
    """One setting read from the environment: its name there and how its text becomes a value."""

    env: str
    parse: Parse

    def read(self, raw: str) -> Any:
        try:
            return self.parse(raw)
        except Refused as refused:
            raise ConfigError(f"{self.env}: {raw!r} {refused.reason}") from None


_KEY = "setting"


def operator(env: str, default: str, parse: Parse) -> Any:
    """A field read from ``env`` (the name is written only here); ``default`` is the text an
    unset ``env`` stands for, read by the same rule as any other value."""
    setting = Declared(env, parse)
    return field(default=setting.read(default), metadata={_KEY: setting})


def _guild_default(name: str) -> Any:
    """A field that is a guild setting's operator default: its env name and rules are the table's."""
    setting = BY_NAME[name]
    assert setting.env is not None, f"{name} has no environment name"
    return field(default=setting.default, metadata={_KEY: Declared(setting.env, setting.parse)})


def env_name(cls: type, attribute: str) -> str:
    """The environment name of one declared field (so no other module spells it)."""
    return str(fields_dict(cls)[attribute].metadata[_KEY].env)


def declared(cls: type) -> tuple[Declared, ...]:
    """The environment settings a ``load_table`` class declares, in order."""
    return tuple(f.metadata[_KEY] for f in fields(cls) if _KEY in f.metadata)


# -- operator-only rules ----------------------------------------------------------------------------


def _secret(raw: str) -> Secret:
    return Secret(raw.strip())


def _api_base(raw: str) -> str:
    text = raw.strip()
    if text and not re.fullmatch(r"https?://[^\s/]+(/[^\s]*)?/api/v\d+", text):
        raise Refused("is not an http(s) URL ending in /api/v10")
    return text


def _host(raw: str) -> str:
    text = raw.strip()
    if not text or any(c.isspace() for c in text):
        raise Refused("is not a host name or IP address")
    return text


def _database_url(raw: str) -> str:
    """DATABASE_URL: ``sqlite:///path`` or ``postgresql://user@host/db``; empty: LEADERBOARD_DB's file."""
    text = raw.strip()
    if text and not re.fullmatch(r"(sqlite:///[^\0]+|postgres(ql)?://\S+)", text):
        raise Refused("is not sqlite:///path/to.db or postgresql://user@host/db (empty: LEADERBOARD_DB)")
    return text


def _path(raw: str) -> Path:
    text = raw.strip()
    if not text or "\0" in text:
        raise Refused("is not a file path (unset it for the default, leaderboard.db)")
    return Path(text).expanduser()


def _optional_dir(raw: str) -> Path | None:
    text = raw.strip()
    if "\0" in text:
        raise Refused("is not a directory path")
    return Path(text).expanduser() if text else None


def _public_url(raw: str) -> str:
    text = raw.strip().rstrip("/")
    if text and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", text):
        raise Refused("is not an http(s) URL like https://boards.example.org")
    return text


SECONDS = "seconds"

_guild_id = snowflake("a Discord guild id")
MAX_COMMAND_GUILDS = 100


def _guild_ids(raw: str) -> frozenset[int]:
    """Comma-separated guild ids (empty: none)."""
    ids: set[int] = set()
    for part in raw.split(","):
        try:
            found = _guild_id(part)
        except Refused:
            raise Refused("is not a comma-separated list of guild ids") from None
        if found is not None:
            ids.add(found)
    if len(ids) > MAX_COMMAND_GUILDS:
        raise Refused(f"is too long: at most {MAX_COMMAND_GUILDS} development guilds")
    return frozenset(ids)


# -- shards ---------------------------------------------------------------------------------------
MAX_SHARDS = 100_000  # far beyond any bot; a bound so a typo cannot ask for millions of connections
_SHARD_IDS_LIKE = "is not a list of shard ids like 0-3 or 0,2,5 (empty: every shard)"


def _shard_count(raw: str) -> int | None:
    """A number of shards, or None for ``auto`` (what Discord's GET /gateway/bot recommends)."""
    text = raw.strip().lower()
    if text == "auto":
        return None
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_SHARDS:
        raise Refused(f"is not a number of shards (1 to {MAX_SHARDS}) or auto")
    return int(text)


def _shard_ids(raw: str) -> tuple[int, ...] | None:
    """The shards this process runs (``0-3``, ``0,2,5``, ``0-3,7``), or None for all of them."""
    text = raw.strip()
    if not text:
        return None
    ids: set[int] = set()
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        bounds = [low.strip(), high.strip() if high else low.strip()]
        if not all(b.isascii() and b.isdigit() for b in bounds):
            raise Refused(_SHARD_IDS_LIKE)
        first, last = int(bounds[0]), int(bounds[1])
        if first > last or last >= MAX_SHARDS:
            raise Refused(_SHARD_IDS_LIKE)
        ids.update(range(first, last + 1))
    return tuple(sorted(ids))


def check_shard_ids(shard_ids: tuple[int, ...] | None, shard_count: int, *, counted_by: str) -> None:
    """Every shard named in SHARD_IDS exists among ``shard_count`` (``counted_by`` says who said so)."""
    if shard_ids is None:
        return
    beyond = [i for i in shard_ids if i >= shard_count]
    if beyond:
        raise ConfigError(
            f"SHARD_IDS names shard {beyond[0]}, but {counted_by} is {shard_count} "
            f"(shards 0 to {shard_count - 1})"
        )


@define(frozen=True)
class Settings:
    """The operator's settings. Field names are what the code reads; ``operator(NAME, ...)`` is the
    environment's name, default and rule. Defaults for every guild are rows of the guild table."""

    token: Secret = operator("DISCORD_TOKEN", "", _secret)
    api_base: str = operator("DISCORD_API_BASE", "", _api_base)
    db_path: Path = operator("LEADERBOARD_DB", "leaderboard.db", _path)
    # The engine: a SQLite file (sqlite:///..., also LEADERBOARD_DB's) or PostgreSQL (postgresql://...).
    database_url: str = operator("DATABASE_URL", "", _database_url)
    guild_id: int | None = operator("GUILD_ID", "", snowflake("a Discord id"))
    message_board_channel_id: int | None = _guild_default("message_board_channel_id")
    voice_board_channel_id: int | None = _guild_default("voice_board_channel_id")
    excluded_channel_ids: frozenset[int] = _guild_default("excluded_channels")
    arrow_emoji: str = _guild_default("arrow")
    colour: int = _guild_default("colour")
    leaderboard_interval: float = _guild_default("update_interval")
    period_days: int = _guild_default("period_days")
    voice_checkpoint: float = operator("VOICE_CHECKPOINT_SECONDS", "5", Number(0.1, 86_400, SECONDS))
    message_flush: float = operator("MESSAGE_FLUSH_SECONDS", "1", Number(0.01, 86_400, SECONDS))
    message_flush_max: int = operator(
        "MESSAGE_FLUSH_MAX", "1000", Number(1, 1_000_000, "messages", whole=True)
    )
    voice_flush: float = operator("VOICE_FLUSH_SECONDS", "1", Number(0.01, 86_400, SECONDS))
    supervisor_intensity: int = operator(
        "SUPERVISOR_INTENSITY", "5", Number(1, 1_000_000_000, "restarts", whole=True)
    )
    supervisor_period: float = operator("SUPERVISOR_PERIOD_SECONDS", "10", Number(0.1, 10_000_000, SECONDS))
    log_level: str = operator(
        "LOG_LEVEL",
        "INFO",
        choice(("DEBUG", "INFO", "WARNING", "ERROR"), "DEBUG, INFO, WARNING or ERROR", upper=True),
    )
    log_format: str = operator(
        "LOG_FORMAT", "auto", choice(("auto", "json", "console"), "auto, json or console")
    )
    ops_host: str = operator("OPS_HOST", "127.0.0.1", _host)
    ops_port: int = operator(
        "OPS_PORT",
        "8787",
        Number(0, 65_535, "", whole=True, reason="is not a TCP port 1-65535, or 0 for off"),
    )
    health_max_checkpoint_age: float = operator(
        "HEALTH_MAX_CHECKPOINT_AGE_SECONDS", "30", Number(1, 86_400, SECONDS)
    )
    backup_dir: Path | None = operator("BACKUP_DIR", "", _optional_dir)
    backup_interval_hours: float = operator("BACKUP_INTERVAL_HOURS", "6", Number(0, 8_760, "hours (0: off)"))
    backup_keep: int = operator("BACKUP_KEEP", "28", Number(1, 100_000, "backups", whole=True))
    # Development guilds: commands registered in these only (at once, per guild), none globally.
    command_guild_ids: frozenset[int] = operator("COMMAND_GUILD_IDS", "", _guild_ids)
    history_days: int = operator("HISTORY_DAYS", "400", Number(1, 100_000, "days", whole=True))
    # -- the REST budget (bot_entry.rest_budget): 40/s plus a twentieth of a second of burst is at
    # most 42 in any second, a margin below Discord's global 50; N processes on one token take 40/N each.
    rest_per_second: float = operator(
        "REST_GLOBAL_PER_SECOND", "40", Number(0.1, 10_000, "requests per second")
    )
    invalid_request_stop_fraction: float = operator(
        "INVALID_REQUEST_STOP_FRACTION", "0.5", Number(0.01, 0.95, "of 10,000 invalid requests")
    )
    # Shards: how many the bot has in all (None: auto), and which of them this process runs.
    shard_count: int | None = operator("SHARD_COUNT", "auto", _shard_count)
    shard_ids: tuple[int, ...] | None = operator("SHARD_IDS", "", _shard_ids)
    # The per-server web page (``web/``), served beside /healthz; each server turns it on itself.
    public_base_url: str = operator("PUBLIC_BASE_URL", "", _public_url)
    web_update_seconds: float = operator("WEB_UPDATE_SECONDS", "1", Number(0.1, 3_600, SECONDS))
    web_max_viewers: int = operator("WEB_MAX_VIEWERS", "500", Number(1, 100_000, "viewers", whole=True))
    # Not settings: what loading found.
    env_file_used: Path | None = None  # the .env file read, if any
    warnings: tuple[str, ...] = ()  # names that are not settings, each with the closest setting

    def __attrs_post_init__(self) -> None:
        if self.database_url.startswith("sqlite:///"):  # the SQLite file's backups and checks follow it
            object.__setattr__(
                self, "db_path", Path(self.database_url.removeprefix("sqlite:///")).expanduser()
            )
        if self.shard_count is not None:
            check_shard_ids(self.shard_ids, self.shard_count, counted_by="SHARD_COUNT")

    def web_page_url(self, guild_id: int) -> str:
        """Where members open a server's page: under ``PUBLIC_BASE_URL``, else the ops endpoint."""
        host = f"[{self.ops_host}]" if ":" in self.ops_host else self.ops_host
        return f"{self.public_base_url or f'http://{host}:{self.ops_port}'}/g/{guild_id}"

    @property
    def pipeline(self) -> PipelineSettings:
        """What the pipeline needs of these settings (it never sees the rest)."""
        return PipelineSettings(
            db_path=self.db_path,
            database_url=self.database_url if self.database_url.startswith("postgres") else None,
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
            voice_flush=self.voice_flush,
            voice_checkpoint=self.voice_checkpoint,
            supervisor_intensity=self.supervisor_intensity,
            supervisor_period=self.supervisor_period,
            history_days=self.history_days,
            shards=ShardSet(self.shard_count, self.shard_ids),
        )

    @property
    def demo(self) -> bool:
        """No token: run against the loopback simulator instead of Discord."""
        return not self.token


# -- loading ------------------------------------------------------------------------------------------


@define(frozen=True)
class Environment:
    """The raw values: ``.env`` (if read) overridden by the real environment."""

    values: Mapping[str, str]
    from_file: frozenset[str]  # names whose value came from the file
    env_file_used: Path | None


def read_environment(
    environ_: Mapping[str, str] | None = None, env_file: Path | None = ENV_FILE
) -> Environment:
    values: dict[str, str] = {}
    used = None
    if env_file is not None and env_file.is_file():
        values |= {k: v for k, v in dotenv_values(env_file).items() if v is not None}
        used = env_file.resolve()
    real = dict(os.environ if environ_ is None else environ_)
    from_file = frozenset(values.keys() - real.keys())
    return Environment(values | real, from_file, used)


def load_table(cls: type[T], values: Mapping[str, str], **extra: Any) -> T:
    """An instance of ``cls`` with every declared field read from ``values`` (default when absent)."""
    given: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        setting = f.metadata.get(_KEY)
        if setting is not None and setting.env in values:
            given[f.name] = setting.read(values[setting.env])
    return cls(**given, **extra)


def unknown_names(
    env: Environment, known: Iterable[str], *, only_prefix: str | None = None
) -> tuple[str, ...]:
    """One sentence per name that looks like a setting but is none: every unknown name in the
    ``.env`` file, and names in the environment close to a setting's (the rest is the system's).
    ``only_prefix``: look only at names with it (the demo's); without it, the demo's are skipped."""
    names = sorted(set(known))
    found = []
    for name in sorted(env.values):
        if name in names:
            continue
        if name.startswith(FOREIGN_PREFIXES) if only_prefix is None else not name.startswith(only_prefix):
            continue
        in_file = name in env.from_file
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6 if in_file else _CLOSE)
        where = f"in {env.env_file_used}" if in_file else "in the environment"
        if close:
            found.append(f"{name} ({where}) is not a setting and is ignored: did you mean {close[0]}?")
        elif in_file:
            found.append(f"{name} ({where}) is not a setting and is ignored")
    return tuple(found)


_warned: set[str] = set()


def warn_once(lines: Iterable[str]) -> None:
    """Log each warning once per process (settings may be loaded more than once)."""
    for line in lines:
        if line not in _warned:
            _warned.add(line)
            log.warning("config: %s", line)


def settings_from(env: Environment) -> Settings:
    """Settings from raw values; names that are not settings come back in ``Settings.warnings``."""
    known = [d.env for d in declared(Settings)]
    return load_table(
        Settings, env.values, env_file_used=env.env_file_used, warnings=unknown_names(env, known)
    )


def load_settings(environ_: Mapping[str, str] | None = None, env_file: Path | None = ENV_FILE) -> Settings:
    """Settings from ``env_file``, overridden by the real environment; ConfigError names a bad one.

    ``warn_once(settings.warnings)`` logs the names that are not settings, once logging is set up.
    """
    return settings_from(read_environment(environ_, env_file))
