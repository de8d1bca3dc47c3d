"""``python -m bot_entry doctor``: check what the bot needs before (or while) it runs.

Checks, in order: the settings, the database (``PRAGMA integrity_check`` on a read-only
connection, so a damaged file is never touched), its schema version against this bot's, free disk
space, the backups, and the token (``GET /users/@me`` against the API base ``run`` uses: Discord,
or ``DISCORD_API_BASE`` such as the loopback simulator). The database check uses the store's own
rules for a missing directory, a read-only file and a write lock held by another process, so the
doctor fails exactly where ``run`` would stop. Prints one line per check and exits 0 when all
pass, 1 otherwise.

With PostgreSQL (``DATABASE_URL=postgresql://...``) the database checks are: the connection
(within the store's connect timeout), the schema version against this bot's, and write access
(a table created and a row written in a transaction that is rolled back: nothing is left behind).
The disk check is the server's business there, and the backups are the pg_dump files.

The token is sent only in the Authorization header; it is never printed, and every line of the
report goes through the log redactor as well.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp

from bot_entry.config import Secret, Settings
from bot_entry.logs import redactor
from bot_entry.ops_http import Check
from persistence.backup import (
    backup_time,
    check_integrity,
    default_backup_dir,
    is_postgres_url,
    latest_backup,
    list_backups,
    list_pg_backups,
    schema_version,
)
from persistence.file_access import access_problem, path_facts, write_lock_holder
from persistence.schema import SCHEMA_VERSION
from persistence.store import OPEN_BUSY_SECONDS

DISCORD_API = "https://discord.com/api/v10"
TOKEN_TIMEOUT = 10.0
MIN_FREE_BYTES = 100 * 2**20  # plus room for a backup and the WAL: twice the database


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def database_url(settings: Settings) -> str | None:
    """The PostgreSQL URL when DATABASE_URL selects PostgreSQL, else None (SQLite)."""
    return settings.database_url if is_postgres_url(settings.database_url) else None


def backup_dir_for(settings: Settings) -> Path:
    if database_url(settings) is not None:
        return settings.backup_dir or Path("backups")
    return settings.backup_dir or default_backup_dir(settings.db_path)


def check_postgres(url: str) -> list[Check]:
    """Connection, schema version and write access, as ``run`` will need them (never changes data)."""
    import psycopg  # only PostgreSQL needs it

    from persistence.dialect import CONNECT_TIMEOUT_SECONDS, redact

    where = redact(url)
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS)
    except psycopg.Error as exc:
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
        return [Check("database", False, f"cannot connect to {where}: {why}; `run` would stop (exit 3)")]
    try:
        server = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        checks = [Check("database", True, f"connected to {where} (PostgreSQL {server})")]
        exists = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()[0]  # type: ignore[index]
        version = 0
        if exists:
            row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            version = 0 if row is None or row[0] is None else int(row[0])
        checks.append(_schema_check(version, empty="no schema yet; the bot creates it at start"))
        try:
            with conn.transaction(force_rollback=True):
                conn.execute("CREATE TABLE leaderboard_doctor_probe (x INTEGER)")
                conn.execute("INSERT INTO leaderboard_doctor_probe VALUES (1)")
            checks.append(Check("writable", True, "can create tables and write (rolled back)"))
        except psycopg.Error as exc:
            why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            checks.append(Check("writable", False, f"cannot write: {why}; `run` would stop (exit 3)"))
        return checks
    except psycopg.Error as exc:
        return [Check("database", False, f"{where}: {str(exc).strip() or type(exc).__name__}")]
    finally:
        conn.close()


def _schema_check(version: int, *, empty: str | None = None) -> Check:
    if version > SCHEMA_VERSION:
        return Check(
            "schema", False, f"version {version} is newer than this bot's ({SCHEMA_VERSION}); upgrade it"
        )
    if version == 0 and empty is not None:
        return Check("schema", True, empty)
    if version < SCHEMA_VERSION:
        return Check("schema", True, f"version {version}; the bot migrates it to {SCHEMA_VERSION} at start")
    return Check("schema", True, f"version {version} (current)")


def check_config(settings: Settings) -> Check:
    mode = "token set" if settings.token else "no DISCORD_TOKEN: `run` starts the demo"
    env = f"read {settings.env_file_used}" if settings.env_file_used else "no .env in the current directory"
    url = database_url(settings)
    if url is not None:
        from persistence.dialect import redact

        where = f"PostgreSQL {redact(url)}"
    else:
        where = f"database {settings.db_path}"
    return Check("config", True, f"settings are valid ({mode}; {where}; {env})")


def check_database(db_path: Path, backup_dir: Path) -> list[Check]:
    """What ``run`` will find: the file within reach and not write-locked, then integrity and schema.

    Reach is judged by the store's own rule (``persistence.file_access``), so a file the bot could
    not open never passes here. A damaged file gets the restore command for the newest backup.
    """
    problem = access_problem(path_facts(db_path))
    if problem is not None:
        return [Check("database", False, f"{problem}; `run` would stop (exit 3)")]
    holder = write_lock_holder(db_path)
    if holder is not None:
        return [
            Check(
                "database",
                False,
                f"{db_path} is write-locked by {holder}; `run` would wait {OPEN_BUSY_SECONDS:g} s, then stop",
            )
        ]
    if not db_path.exists():
        return [Check("database", True, f"no database yet at {db_path}; the bot creates it at start")]
    problem = check_integrity(db_path)
    if problem != "ok":
        newest = latest_backup(db_path, backup_dir)
        remedy = (
            f"restore the newest backup: python -m bot_entry restore {newest}"
            if newest
            else f"no backup found in {backup_dir}"
        )
        return [Check("database", False, f"{db_path} is damaged ({problem}); {remedy}")]
    checks = [Check("database", True, f"integrity ok ({_size(db_path.stat().st_size)})")]
    checks.append(_schema_check(schema_version(db_path)))
    return checks


def check_disk(db_path: Path) -> Check:
    where = db_path.parent.resolve()
    while not where.exists():
        where = where.parent
    free = shutil.disk_usage(where).free
    used = db_path.stat().st_size if db_path.exists() else 0
    need = MIN_FREE_BYTES + 2 * used
    if free < need:
        return Check("disk", False, f"{_size(free)} free at {where}; need at least {_size(need)}")
    return Check("disk", True, f"{_size(free)} free at {where}")


def check_backups(
    db_path: Path, backup_dir: Path, interval_hours: float, now: float, *, url: str | None = None
) -> Check:
    backups = list_pg_backups(url, backup_dir) if url is not None else list_backups(db_path, backup_dir)
    if not backups:
        detail = f"none yet in {backup_dir}" + ("" if interval_hours else " (scheduled backups are off)")
        return Check("backups", True, detail)
    newest = backups[-1]
    taken = backup_time(newest) or newest.stat().st_mtime
    age_hours = (now - taken) / 3600
    detail = f"{len(backups)} in {backup_dir}, newest {newest.name} ({age_hours:.1f}h old)"
    if interval_hours and age_hours > 2 * interval_hours + 1:
        return Check("backups", False, f"{detail}; expected one every {interval_hours:g}h")
    return Check("backups", True, detail)


async def check_token(token: Secret, api_base: str = DISCORD_API, *, within: float = TOKEN_TIMEOUT) -> Check:
    """Ask the API who the token belongs to (asyncio: run it in an asyncio or trio-asyncio loop)."""
    if not token:
        return Check("token", True, "skipped: no DISCORD_TOKEN (demo mode)")
    headers = {
        "Authorization": f"Bot {token.reveal()}",
        "User-Agent": "DiscordBot (activity-leaderboard doctor, 0.1)",
    }
    url = f"{api_base.rstrip('/')}/users/@me"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=within)) as session,
            session.get(url, headers=headers) as response,
        ):
            if response.status == 401:
                return Check("token", False, "rejected by Discord (401 Unauthorized); check DISCORD_TOKEN")
            if response.status != 200:
                return Check("token", False, f"unexpected answer from {url}: HTTP {response.status}")
            user = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return Check("token", False, f"could not ask {url}: {str(exc) or type(exc).__name__}")
    name = user.get("username", "?")
    kind = "bot" if user.get("bot") else "user (not a bot token!)"
    return Check("token", bool(user.get("bot")), f"accepted: {kind} {name} (id {user.get('id', '?')})")


async def run_doctor(
    settings: Settings, *, api_base: str | None = None, now: float | None = None
) -> list[Check]:
    """Every check, in report order (the local ones are quick and synchronous).

    The token is checked against ``api_base``, by default the one ``run`` uses (DISCORD_API_BASE,
    else Discord's).
    """
    api_base = api_base if api_base is not None else settings.api_base or DISCORD_API
    backups = backup_dir_for(settings)
    url = database_url(settings)
    checks = [check_config(settings)]
    if url is not None:
        checks += check_postgres(url)
    else:
        checks += [*check_database(settings.db_path, backups), check_disk(settings.db_path)]
    checks.append(
        check_backups(
            settings.db_path,
            backups,
            settings.backup_interval_hours,
            time.time() if now is None else now,
            url=url,
        )
    )
    checks.append(await check_token(settings.token, api_base))
    return checks


def render(checks: Sequence[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = ["doctor:"]
    lines += [f"  {'ok  ' if c.ok else 'FAIL'}  {c.name:<{width}}  {c.detail}" for c in checks]
    failed = sum(not c.ok for c in checks)
    lines.append(
        f"all {len(checks)} checks passed" if not failed else f"{failed} of {len(checks)} checks failed"
    )
    return redactor.text("\n".join(lines))


def doctor_main(settings: Settings, *, api_base: str | None = None) -> int:
    """The CLI: print the report; 0 when every check passed, 1 otherwise."""
    redactor.add(settings.token.reveal())
    checks = asyncio.run(run_doctor(settings, api_base=api_base))
    print(render(checks))
    return 0 if all(c.ok for c in checks) else 1
