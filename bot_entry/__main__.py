"""The bot's command line: run it, check it (doctor), back up and restore its database.

run (the default): connect to Discord with DISCORD_TOKEN. Without a token it stops with one line;
the local demo is python -m demo, which 'just run' starts when no token is configured.
doctor: check settings, database, disk, backups and the token (against DISCORD_API_BASE, like
run), and print a report. backup: write a consistent copy of the database now (PostgreSQL:
pg_dump into BACKUP_DIR, or the exact pg_dump command when it is not installed). restore FILE:
check a backup and put it in place of the database (stop the bot first; the replaced file is
kept). has-token: say by exit code only whether a token is configured ('just run' uses it).

Exit codes (every command):
  0  done; the bot stopped cleanly (Ctrl-C, SIGTERM); doctor: every check passed
  1  doctor: a check failed; backup or restore failed (one line: "<command> failed: <reason>");
     has-token: no token is configured; an unexpected crash (logged with its traceback)
  2  a bad setting or argument (one line: "config error: <setting>: <why>"), no DISCORD_TOKEN
     for run, or Discord refused the login ("login failed: Discord rejected the token (401)");
     a shard with more than 2,500 guilds (Discord's close 4011) says to set a larger SHARD_COUNT
     (or SHARD_COUNT=auto)
  3  a database problem at start-up (one line: "database error: <why>"): damaged (the next
     line names the newest backup and the restore command), out of reach (missing directory,
     read-only, a newer schema), or write-locked by another process (named) for over 3 s;
     the file is left untouched
  4  a stop that could not write everything to a failing database (full disk, locked for
     minutes): it retried within a bound; the log and the last line name what was not
     written, per guild
  5  Discord's session start limit has fewer IDENTIFYs left than this process runs shards (one
     line: "login failed: Discord allows N more session starts ..."): start again after the
     reset it names
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import TypeVar

import trio
import trio_asyncio

from bot_entry.app import BotApp
from bot_entry.config import ConfigError, Settings, load_settings, warn_once
from bot_entry.gateway import LoginRejected, SessionStartsExhausted
from bot_entry.logs import configure_logging
from domain.clock import WallClock
from persistence.errors import FlushIncomplete, StoreBusy, StoreError, StoreInaccessible

log = logging.getLogger("bot_entry")

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_DATABASE, EXIT_UNFLUSHED = 0, 1, 2, 3, 4  # see the table above
EXIT_NO_SESSION_STARTS = 5
E = TypeVar("E", bound=BaseException)


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
        return EXIT_CONFIG
    if command == "has-token":
        return EXIT_OK if settings.token else EXIT_FAILED
    configure_logging(settings.log_level, settings.log_format, secrets=[settings.token.reveal()])
    warn_once(settings.warnings)  # names in the environment or .env that are not settings

    if command == "doctor":
        from bot_entry.doctor import doctor_main

        return doctor_main(settings)
    if command in ("backup", "restore"):
        return _backup_or_restore(settings, command, args)
    if not settings.token:
        print(
            "config error: DISCORD_TOKEN is not set (in the environment or .env); "
            "'just run' without a token runs the local demo (python -m demo)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    try:
        trio.run(_main, settings)
    except Exception as exc:
        return _one_line_failure(exc, settings)
    return EXIT_OK


def _backup_or_restore(settings: Settings, command: str, args: argparse.Namespace) -> int:
    from bot_entry.doctor import backup_dir_for, database_url
    from persistence.backup import BackupError, backup_now, pg_backup_now, pg_restore_command, restore

    backup_dir = backup_dir_for(settings)
    if (url := database_url(settings)) is not None:  # PostgreSQL: pg_dump, and pg_restore by hand
        try:
            if command == "backup":
                print(f"backup written: {pg_backup_now(url, backup_dir, keep=settings.backup_keep)}")
                return EXIT_OK
        except BackupError as exc:
            print(f"backup failed: {exc}", file=sys.stderr)
            return EXIT_FAILED
        print(
            "restore failed: with PostgreSQL the bot does not restore itself; stop every bot process, "
            f"then run: {pg_restore_command(url, args.file)}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    try:
        if command == "backup":
            print(f"backup written: {backup_now(settings.db_path, backup_dir, keep=settings.backup_keep)}")
        else:
            aside = restore(args.file, settings.db_path, force=args.force)
            kept = f"; the replaced database is kept as {aside}" if aside else ""
            print(f"restored {settings.db_path} from {args.file}{kept}")
    except BackupError as exc:
        print(f"{command} failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _one_line_failure(exc: Exception, settings: Settings) -> int:
    """One line and an exit code for what the operator can fix; anything else is a bug: re-raised."""
    if (rejected := _found(exc, LoginRejected)) is not None:
        print(f"login failed: {rejected}", file=sys.stderr)
        return EXIT_CONFIG
    if (exhausted := _found(exc, SessionStartsExhausted)) is not None:
        print(f"login failed: {exhausted}", file=sys.stderr)
        return EXIT_NO_SESSION_STARTS
    if (bad := _found(exc, ConfigError)) is not None:  # SHARD_IDS beyond Discord's count (auto)
        print(f"config error: {bad}", file=sys.stderr)
        return EXIT_CONFIG
    if (unflushed := _found(exc, FlushIncomplete)) is not None:
        print(f"stopped without writing everything: {unflushed}", file=sys.stderr)
        return EXIT_UNFLUSHED
    if (busy := _found(exc, StoreBusy)) is not None:
        print(f"database error: {busy}", file=sys.stderr)
        return EXIT_DATABASE
    if (error := _found(exc, StoreError)) is not None:
        hint = "" if isinstance(error, StoreInaccessible) else f"\n{_backup_hint(settings)}"
        print(f"database error: {error}{hint}", file=sys.stderr)
        return EXIT_DATABASE
    raise exc


def _found(exc: BaseException, kind: type[E]) -> E | None:
    """The ``kind`` in ``exc``, which Trio's nurseries may have wrapped in exception groups."""
    if isinstance(exc, kind):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            if (found := _found(inner, kind)) is not None:
                return found
    return None


if __name__ == "__main__":
    sys.exit(main())
