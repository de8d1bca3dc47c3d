"""The demo's own settings (``python -m demo``), declared like the bot's and read from the same
environment and ``.env``; the bot never reads them.

The demo keeps off the production files: with ``LEADERBOARD_DB`` unset it counts into ``demo.db``
and backs up into ``demo-backups`` (or ``BACKUP_DIR``); ``LEADERBOARD_DB=path`` picks the file.
"""

from __future__ import annotations

from pathlib import Path

from attrs import define, evolve

from bot_entry.config import Environment, Settings, declared, env_name, load_table, operator, unknown_names
from domain.setting import Number

DEMO_DB = Path("demo.db")
DEMO_BACKUPS = Path("demo-backups")
PREFIX = "DEMO_"


@define(frozen=True)
class DemoSettings:
    seconds: float = operator("DEMO_SECONDS", "0", Number(0, 31_536_000, "seconds (0: until Ctrl-C)"))
    seed: int = operator("DEMO_SEED", "1", Number(0, 2**63 - 1, "", whole=True))


def load_demo_settings(env: Environment) -> tuple[DemoSettings, tuple[str, ...]]:
    """The demo's settings and a sentence for each DEMO_ name that is none of them."""
    assert all(d.env.startswith(PREFIX) for d in declared(DemoSettings))
    known = [d.env for d in declared(DemoSettings)]
    return load_table(DemoSettings, env.values), unknown_names(env, known, only_prefix=PREFIX)


def demo_files(settings: Settings, env: Environment) -> Settings:
    """The bot's settings with the demo's own database and backups, unless the operator chose them."""
    if env.values.get(env_name(Settings, "db_path"), "").strip():
        return settings
    return evolve(settings, db_path=DEMO_DB, backup_dir=settings.backup_dir or DEMO_BACKUPS)
