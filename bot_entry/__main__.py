"""Command line: ``python -m bot_entry [run | doctor | backup | restore FILE [--force] | has-token]``.

``run`` (the default): connect to Discord with ``DISCORD_TOKEN`` (without one it stops with one line:
the local demo is ``python -m demo``, which ``just run`` starts when no token is configured).
``has-token`` exits 0 when a token is configured and 1 when not, printing nothing (``just run``
uses it to choose). ``doctor`` checks settings, database, disk, backups and the
token, and prints a report (exit 1 when a check fails). ``backup`` writes a consistent copy of the
database now. ``restore FILE`` checks a backup and puts it in place of the database (stop the bot
first; the replaced file is kept). A bad setting stops any command with one line naming it
(exit code 2); a database problem exits 3 and names the backup to restore from.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

import trio
import trio_asyncio

from bot_entry.app import BotApp
from bot_entry.config import ConfigError, Settings, load_settings, warn_once
from bot_entry.logs import configure_logging
from domain.clock import WallClock
from persistence.errors import StoreError

log = logging.getLogger("bot_entry")


async def run_bot(settings: Settings) -> None:
    """The production path: connect to Discord and run until SIGINT/SIGTERM, then shut down cleanly."""
    app = BotApp(settings, WallClock.real(), api_base=settings.api_base or None)
    # Signals are caught before the bot starts, so a SIGTERM during start-up is a clean stop too.
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(app.run)
            async for signum in signals:
                log.info("received %s: shutting down", signal.Signals(signum).name)
                break
            app.stop()


async def _main(settings: Settings) -> None:
    async with trio_asyncio.open_loop():
        await run_bot(settings)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot_entry", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="run the bot against Discord (needs DISCORD_TOKEN); the default")
    commands.add_parser("doctor", help="check settings, database, disk, backups and token; print a report")
    commands.add_parser("backup", help="write a consistent backup of the database now")
    restore = commands.add_parser("restore", help="check a backup and put it in place of the database")
    restore.add_argument("file", type=Path, help="the backup file (see BACKUP_DIR)")
    restore.add_argument(
        "--force",
        action="store_true",
        help="replace the database even while another process has it open (a running bot keeps "
        "writing to the replaced file: restart it at once)",
    )
    commands.add_parser("has-token", help="exit 0 when DISCORD_TOKEN is configured, 1 when not")
    return parser


def _backup_hint(settings: Settings) -> str:
    from persistence.backup import default_backup_dir, latest_backup

    backup_dir = settings.backup_dir or default_backup_dir(settings.db_path)
    newest = latest_backup(settings.db_path, backup_dir)
    if newest is None:
        return f"no backup found in {backup_dir}"
    return f"newest backup: {newest}; restore it with: python -m bot_entry restore {newest}"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "run"
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    if command == "has-token":
        return 0 if settings.token else 1
    configure_logging(settings.log_level, settings.log_format, secrets=[settings.token.reveal()])
    warn_once(settings.warnings)  # names in the environment or .env that are not settings

    if command == "doctor":
        from bot_entry.doctor import doctor_main

        return doctor_main(settings)
    if command in ("backup", "restore"):
        from persistence.backup import BackupError, backup_now, default_backup_dir, restore

        backup_dir = settings.backup_dir or default_backup_dir(settings.db_path)
        try:
            if command == "backup":
                print(
                    f"backup written: {backup_now(settings.db_path, backup_dir, keep=settings.backup_keep)}"
                )
            else:
                aside = restore(args.file, settings.db_path, force=args.force)
                kept = f"; the replaced database is kept as {aside}" if aside else ""
                print(f"restored {settings.db_path} from {args.file}{kept}")
        except BackupError as exc:
            print(f"{command} failed: {exc}", file=sys.stderr)
            return 1
        return 0
    if not settings.token:
        print(
            "config error: DISCORD_TOKEN is not set (in the environment or .env); "
            "`just run` without a token runs the local demo (python -m demo)",
            file=sys.stderr,
        )
        return 2
    try:
        trio.run(_main, settings)
    except Exception as exc:
        error = _store_error(exc)
        if error is None:
            raise
        print(f"database error: {error}\n{_backup_hint(settings)}", file=sys.stderr)
        return 3
    return 0


def _store_error(exc: BaseException) -> StoreError | None:
    """The StoreError in ``exc``, which Trio's nurseries may have wrapped in exception groups."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            if (found := _store_error(inner)) is not None:
                return found
    return None


if __name__ == "__main__":
    sys.exit(main())
