"""The store: one database (a SQLite file, or PostgreSQL by URL), one connection, one writer.

Why a single connection behind a capacity-1 limiter: SQLite allows one writer at a time anyway, and
funnelling every read and write through one worker thread keeps Trio from ever blocking on disk
while making every batch one transaction. Callers on the Trio side ``await`` the async methods;
the ``_sync`` bodies run in the worker thread. The engines differ only in
``persistence.dialect``; a lost PostgreSQL connection is a passing ``StoreUnavailable`` and is
opened again on a later call, with backoff.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import sqlite_utils
import trio

from domain.checkpoints import MessageBatch, VoiceBatch
from domain.periods import DAY, DEFAULT_PERIOD_DAYS, PeriodSpec, day_floor
from domain.units import exact_seconds, voice_ms
from domain.windows import split_days
from persistence import dialect
from persistence.dialect import PgDatabase, insert_rows, redact
from persistence.errors import (
    FlushIncomplete,
    StoreBusy,
    StoreError,
    StoreInaccessible,
    StoreUnavailable,
)
from persistence.file_access import access_problem, path_facts, write_lock_holder
from persistence.history import add_days_sync
from persistence.schema import migrate
from persistence.seen import add_seen_sync, recent_message_ids_sync

T = TypeVar("T")
log = logging.getLogger(__name__)

# At a stop a locked database is waited for this long per try (instead of the connection's 30 s),
# so the final flushes' bounded tries bound the stop itself.
STOP_BUSY_TIMEOUT_MS = 1_000
Fault = Callable[[str], None]  # tests: called between the statements of a reset transaction
# Start-up waits this long for another process's write lock, then stops naming it. Running writes
# wait up to BUSY_SECONDS a try; their callers retry StoreBusy within their own bounds on top
# (actors/batch_writer.py), so a flush gives up within about a minute and a stop within seconds.
OPEN_BUSY_SECONDS = 3.0
BUSY_SECONDS = 5.0
GUILDS_ONE_BY_ONE = 64  # ``guilds_since``: more new guilds than this are read in one GROUP BY


def unavailable(exc: sqlite3.OperationalError) -> StoreUnavailable:
    """SQLite's passing failures as the store's own kinds (callers never import ``sqlite3``)."""
    found = dialect.passing(exc)
    assert found is not None
    return found


def _open_postgres(url: str) -> PgDatabase:
    """Connect to ``url`` and migrate; an unreachable server or a newer schema stops start-up."""
    try:
        db = PgDatabase(url)
    except psycopg.Error as exc:
        raise StoreInaccessible(
            f"cannot connect to PostgreSQL at {redact(url)} ({str(exc).strip()})"
        ) from exc
    try:
        migrate(db)
    except RuntimeError as exc:
        db.close()
        raise StoreInaccessible(f"{exc}; {redact(url)} is left untouched") from exc
    except psycopg.Error as exc:
        db.close()
        raise StoreError(f"PostgreSQL at {redact(url)} cannot be migrated ({str(exc).strip()})") from exc
    return db


def _open(path: Path) -> sqlite3.Connection:
    """Open, check and migrate ``path``, waiting at most ``OPEN_BUSY_SECONDS`` for another writer.

    A write transaction is begun and rolled back first (nothing is written), so a file that another
    process holds write-locked stops start-up within that bound, naming the holder, before a byte
    is changed; only then does the connection get the long ``BUSY_SECONDS`` wait for normal work.
    """
    problem = access_problem(path_facts(path))
    if problem is not None:
        raise StoreInaccessible(f"database {problem}; nothing was changed")
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(path, timeout=OPEN_BUSY_SECONDS, check_same_thread=False)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        problem = conn.execute("PRAGMA quick_check").fetchone()[0]
        if problem != "ok":
            raise StoreError(f"database {path} is corrupt ({problem}); it is left untouched")
        try:
            migrate(sqlite_utils.Database(conn, execute_plugins=False))
        except RuntimeError as exc:  # a schema newer than this bot: the file is fine, the bot is old
            raise StoreInaccessible(f"{exc}; {path} is left untouched") from exc
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_SECONDS * 1000)}")
        return conn
    except BaseException as exc:
        if conn is not None:
            conn.close()
        if isinstance(exc, sqlite3.OperationalError) and isinstance(unavailable(exc), StoreBusy):
            holder = write_lock_holder(path) or "another process"
            raise StoreBusy(
                f"database {path} is write-locked by {holder} (waited {OPEN_BUSY_SECONDS:g} s); "
                "let it finish or stop it, then start again; the file is left untouched"
            ) from exc
        if isinstance(exc, sqlite3.DatabaseError):
            raise StoreError(f"database {path} cannot be opened ({exc}); it is left untouched") from exc
        raise


class Store:
    def __init__(
        self,
        target: Path | str,
        *,
        default_period_days: int = DEFAULT_PERIOD_DAYS,
        inline: bool = False,
    ) -> None:
        """Open ``target``: a SQLite file (a ``Path``, a plain path or ``sqlite:///path``) or a
        ``postgresql://`` URL (``dialect.target``)."""
        where = dialect.target(target)
        # ``path``: the SQLite file (backups and file checks apply to it); None on PostgreSQL.
        self.path: Path | None = where if isinstance(where, Path) else None
        self.url: str | None = None if isinstance(where, Path) else where
        self.inline = inline
        self._default_period_seconds = default_period_days * DAY
        self._limiter = trio.CapacityLimiter(1)
        self.calls = 0  # every ``call`` so far (benchmarks and tests: the work a start-up costs)
        # What final flushes could not write: kind -> guild -> amount (``not_written``, ``aclose``).
        self.unwritten: dict[str, Counter[int]] = {}
        self.db: Any = (
            sqlite_utils.Database(_open(where), execute_plugins=False)
            if isinstance(where, Path)
            else _open_postgres(where)
        )
        self._specs: dict[int, PeriodSpec] = {
            guild_id: PeriodSpec(anchor, length, base)
            for guild_id, anchor, length, base in self.db.execute(
                "SELECT guild_id, period_anchor, period_seconds, period_base FROM guilds"
            )
        }
        self._guild_order: list[int] = list(self._specs)  # in the order first stored (``guilds_since``)
        # Forgotten members -> when: nothing of theirs from before is ever written again (``forget``).
        self._forgotten: dict[tuple[int, int], float] = {
            (g, u): at for g, u, at in self.db.execute("SELECT guild_id, user_id, at FROM forgotten")
        }

    # -- plumbing -------------------------------------------------------------------------------

    async def call(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` in the writer thread; the only way Trio code touches SQLite.

        ``inline`` stores (deterministic simulations on MockClock only) run ``fn`` on the Trio
        thread instead: with a worker thread, virtual time would run on during every write, and a
        simulated month could pass inside one transaction.
        """
        self.calls += 1
        now = trio.current_time()
        try:
            if self.inline:
                await trio.lowlevel.checkpoint()
                return self._run(now, fn, *args)
            return await trio.to_thread.run_sync(partial(self._run, now, fn, *args), limiter=self._limiter)
        except (sqlite3.OperationalError, psycopg.Error) as exc:
            if (passing := dialect.passing(exc)) is None:
                raise
            raise passing from exc

    def _run(self, now: float, fn: Callable[..., T], *args: object) -> T:
        if self.url is not None:
            self.db.reopen_if_lost(now)
        return fn(*args)

    def close(self) -> None:
        self.db.conn.close()

    async def aclose(self) -> None:
        """Close once no call is running in the writer thread (closing under a query can crash).

        Then, if a final flush could not write everything, raise ``FlushIncomplete`` naming what,
        per guild: the process stops non-zero, and the next start begins from what was committed.
        """
        async with self._limiter:
            self.close()
        if self.unwritten:
            raise FlushIncomplete(
                "; ".join(
                    f"{kind}: " + ", ".join(f"guild {g}: {n:g}" for g, n in sorted(per_guild.items()))
                    for kind, per_guild in sorted(self.unwritten.items())
                )
            )

    def stopping_sync(self) -> None:
        """The bot is stopping: wait at most ``STOP_BUSY_TIMEOUT_MS`` for a lock from now on."""
        dialect.stopping(self.db, STOP_BUSY_TIMEOUT_MS)

    def not_written(self, kind: str, per_guild: Mapping[int, float], why: str) -> None:
        """A final flush gave up: log exactly what is lost, per guild, and remember it for ``aclose``."""
        if not per_guild:
            return
        detail = ", ".join(f"guild {g}: {n:g}" for g, n in sorted(per_guild.items()))
        log.error("store: stopping without writing %s (%s): %s", kind, why, detail)
        self.unwritten.setdefault(kind, Counter()).update(per_guild)

    # -- guilds and periods ---------------------------------------------------------------------

    def period_spec_sync(self, guild_id: int, first_seen: float) -> PeriodSpec:
        """The guild's period layout; a new guild's periods start at midnight UTC of first sight."""
        spec = self._specs.get(guild_id)
        if spec is None:
            spec = PeriodSpec(day_floor(first_seen), self._default_period_seconds)
            self.db.execute(
                "INSERT INTO guilds (guild_id, period_anchor, period_seconds) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                [guild_id, spec.anchor, spec.length],
            )
            self._specs[guild_id] = spec
            self._guild_order.append(guild_id)
        return spec

    def known_guilds_sync(self) -> dict[int, PeriodSpec]:
        return dict(self._specs)

    def guilds_since_sync(self, known: int) -> list[tuple[int, PeriodSpec, int | None]]:
        """The guilds first stored after the first ``known`` (0: all), each with its period layout
        and its last archived period (None: none yet). One call however many guilds, so the reset
        clock's start costs a constant per guild, not a query per guild per guild seen."""
        new = self._guild_order[known:]
        if len(new) > GUILDS_ONE_BY_ONE:
            last = dict(self.db.execute("SELECT guild_id, MAX(period) FROM period_archive GROUP BY guild_id"))
        else:
            last = {guild_id: self.last_archived_sync(guild_id) for guild_id in new}
        return [(guild_id, self._specs[guild_id], last.get(guild_id)) for guild_id in new]

    # -- periods and resets -----------------------------------------------------------------------

    def last_archived_sync(self, guild_id: int) -> int | None:
        row = self.db.execute(
            "SELECT MAX(period) FROM period_archive WHERE guild_id = ?", [guild_id]
        ).fetchone()
        return row[0]

    def archive_period_sync(
        self,
        guild_id: int,
        period: int,
        ended_at: float,
        archived_at: float,
        fault: Fault | None = None,
        next_spec: PeriodSpec | None = None,
    ) -> bool:
        """Archive a finished period in ONE transaction; False if it was archived already.

        The archive row's primary key (guild, period) is what makes a reset happen exactly once,
        whatever crashes or restarts come between: the row goes in with ``ON CONFLICT DO NOTHING``,
        so when two processes race (a handover) the second's insert finds the first's row and this
        returns False on both engines. Totals are never deleted: they stay in
        ``activity`` under their period number, and all-time totals sum over periods.
        """
        step = fault or (lambda _name: None)
        with self.db.atomic():
            step("begin")
            if self.db.execute(
                "SELECT 1 FROM period_archive WHERE guild_id = ? AND period = ?", [guild_id, period]
            ).fetchone():
                return False
            step("checked")
            tops = {col: self._top_sync(guild_id, period, col) for col in ("messages", "voice_ms")}
            step("ranked")
            (users,) = self.db.execute(
                "SELECT COUNT(*) FROM activity WHERE guild_id = ? AND period = ? "
                "AND (messages > 0 OR voice_ms > 0)",
                [guild_id, period],
            ).fetchone()
            spec = self._specs[guild_id]
            inserted = self.db.execute(
                "INSERT INTO period_archive (guild_id, period, started_at, ended_at, archived_at, "
                "top_messages, top_voice, users) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (guild_id, period) DO NOTHING",
                [
                    guild_id,
                    period,
                    spec.start_of(period)
                    if period >= spec.base
                    else self._archived_end(guild_id, period - 1),
                    ended_at,
                    archived_at,
                    json.dumps(tops["messages"]),
                    json.dumps(tops["voice_ms"]),
                    users,
                ],
            ).rowcount
            if inserted == 0:
                return False  # another process archived it since the check above
            step("archived")
            if next_spec is not None:  # a new period length or anchor applies from the next period
                self._save_spec(guild_id, next_spec)
        if next_spec is not None:
            self._specs[guild_id] = next_spec  # only once the transaction has committed
        return True

    def _save_spec(self, guild_id: int, spec: PeriodSpec) -> None:
        self.db.execute(
            "UPDATE guilds SET period_anchor = ?, period_seconds = ?, period_base = ? WHERE guild_id = ?",
            [spec.anchor, spec.length, spec.base, guild_id],
        )

    def reset_early_sync(self, guild_id: int, at: float, by_user: int, fault: Fault | None = None) -> int:
        """An admin reset: end the current period at ``at``, archive it and start the next, atomically."""
        spec = self.period_spec_sync(guild_id, at)
        period = spec.index_at(at)
        new = spec.restarted_at(at)
        with self.db.atomic():
            self._save_spec(guild_id, new)
            self.archive_period_sync(guild_id, period, new.anchor, at, fault)
            self.audit_sync(guild_id, by_user, "reset", f"period {period} ended early", at)
        self._specs[guild_id] = new  # only once the transaction has committed
        return period

    def _top_sync(self, guild_id: int, period: int, column: str, limit: int = 10) -> list[list[int]]:
        assert column in ("messages", "voice_ms")
        rows = self.db.execute(
            f"SELECT user_id, {column} FROM activity WHERE guild_id = ? AND period = ? AND {column} > 0 "
            f"ORDER BY {column} DESC, user_id LIMIT ?",
            [guild_id, period, limit],
        )
        return [[user_id, value] for user_id, value in rows]

    def archive_sync(self, guild_id: int, period: int) -> dict[str, object] | None:
        row = self.db.execute(
            "SELECT period, started_at, ended_at, archived_at, top_messages, top_voice, users "
            "FROM period_archive WHERE guild_id = ? AND period = ?",
            [guild_id, period],
        ).fetchone()
        if row is None:
            return None
        keys = ("period", "started_at", "ended_at", "archived_at", "top_messages", "top_voice", "users")
        archive = dict(zip(keys, row, strict=True))
        archive["top_messages"] = json.loads(row[4])
        archive["top_voice"] = json.loads(row[5])
        return archive

    # -- messages -------------------------------------------------------------------------------

    def apply_messages_sync(self, batch: MessageBatch) -> None:
        """Add a batch of message counts in one transaction (all or nothing).

        Each table's rows go in as few multi-row statements as the batch allows
        (``dialect.insert_rows``), the batch's ids as one row (``persistence.seen``): the writer
        thread releases the GIL once per statement, not once per row, while the Trio thread counts
        the next batch. A batch's keys share a handful of (guild, second) pairs, so each pair's
        period and day are worked out once.
        """
        with self.db.atomic():
            per_period: dict[tuple[int, int, int], int] = {}
            # The history's rows: (guild, UTC day, user, period) -> [messages, voice, reactions],
            # and (guild, UTC day, channel) -> messages. Whole seconds, so a day is ``second // DAY``.
            days: dict[tuple[int, int, int, int], list[int]] = {}
            channel_days: dict[tuple[int, int, int], int] = {}
            forgotten = self._forgotten
            slots: dict[tuple[int, int], tuple[int, int]] = {}  # (guild, second) -> (period, day)
            for (guild_id, user_id, second), n in batch.counts.items():
                if forgotten and second < forgotten.get((guild_id, user_id), -math.inf):
                    continue  # sent before the member was forgotten
                slot = slots.get((guild_id, second))
                if slot is None:
                    slot = slots[guild_id, second] = self._slot(guild_id, second)
                period, day = slot
                key = (guild_id, period, user_id)
                per_period[key] = per_period.get(key, 0) + n
                day_key = (guild_id, day, user_id, period)
                row = days.get(day_key)
                if row is None:
                    days[day_key] = [n, 0, 0]
                else:
                    row[0] += n
            for (guild_id, user_id, second), n in batch.reactions.items():
                if forgotten and second < forgotten.get((guild_id, user_id), -math.inf):
                    continue
                period, day = self._slot(guild_id, second)
                days.setdefault((guild_id, day, user_id, period), [0, 0, 0])[2] += n
            for (guild_id, user_id, second, channel_id), n in batch.channels.items():
                if forgotten and second < forgotten.get((guild_id, user_id), -math.inf):
                    continue
                channel_key = (guild_id, second // DAY, channel_id)
                channel_days[channel_key] = channel_days.get(channel_key, 0) + n
            conn = self.db.conn
            insert_rows(
                conn,
                "INSERT INTO activity (guild_id, period, user_id, messages)",
                (int, int, int, int),
                [(*key, n) for key, n in per_period.items()],
                "ON CONFLICT (guild_id, period, user_id) "
                "DO UPDATE SET messages = activity.messages + excluded.messages",
            )
            add_days_sync(conn, days, channel_days)
            add_seen_sync(self.db, batch.message_ids)
            self._remember_names(batch.names)

    def _slot(self, guild_id: int, second: int) -> tuple[int, int]:
        """The period and the UTC day of a whole second in the guild."""
        return self.period_spec_sync(guild_id, second).index_at(second), second // DAY

    # -- voice --------------------------------------------------------------------------------

    def apply_voice_sync(self, batch: VoiceBatch) -> None:
        """Add counted intervals (split at period boundaries, and for the history at UTC midnights)
        and last-known names, atomically.

        A piece of a period is cut at midnights by its running total in milliseconds, so its days
        add up to exactly the milliseconds its period gets (no rounding drift between the two).
        """
        with self.db.atomic():
            per_period: dict[tuple[int, int, int], int] = {}
            days: dict[tuple[int, int, int, int], tuple[int, int, int]] = {}
            forgotten = self._forgotten
            for guild_id, user_id, start, end in batch.intervals:
                if forgotten:  # only the time after the member was forgotten counts
                    start = max(start, forgotten.get((guild_id, user_id), start))
                    if start >= end:
                        continue
                for period, piece_start, piece_end in self.period_spec_sync(guild_id, start).split(
                    start, end
                ):
                    key = (guild_id, period, user_id)
                    per_period[key] = per_period.get(key, 0) + voice_ms(piece_end - piece_start)
                    for day, day_from, day_to in split_days(piece_start, piece_end):
                        ms = voice_ms(day_to - piece_start) - voice_ms(day_from - piece_start)
                        dkey = (guild_id, day, user_id, period)
                        days[dkey] = (0, days.get(dkey, (0, 0, 0))[1] + ms, 0)
            insert_rows(
                self.db.conn,
                "INSERT INTO activity (guild_id, period, user_id, voice_ms)",
                (int, int, int, int),
                [(*key, ms) for key, ms in per_period.items()],
                "ON CONFLICT (guild_id, period, user_id) "
                "DO UPDATE SET voice_ms = activity.voice_ms + excluded.voice_ms",
            )
            add_days_sync(self.db.conn, days, {})
            self._remember_names(batch.names)

    async def apply_voice(self, batch: VoiceBatch) -> None:
        await self.call(self.apply_voice_sync, batch)

    def voice_seconds_sync(self, guild_id: int, period: int | None = None) -> dict[int, float]:
        """Voice seconds per user in one period (``None``: all time)."""
        return {user: exact_seconds(ms) for user, ms in self._per_user("voice_ms", guild_id, period).items()}

    async def apply_messages(self, batch: MessageBatch) -> None:
        await self.call(self.apply_messages_sync, batch)

    def recent_message_ids_sync(self) -> list[int]:
        """Message ids inside the dedupe window, oldest first (a restarted counter reloads them)."""
        return recent_message_ids_sync(self.db)

    def _remember_names(self, names: Mapping[tuple[int, int], tuple[str, float]]) -> None:
        """Last-known names, one per member (newest wins, also against the stored one)."""
        forgotten = self._forgotten
        insert_rows(
            self.db.conn,
            "INSERT INTO members (guild_id, user_id, name, updated_at)",
            (int, int, str, float),
            [
                (g, u, name, at)
                for (g, u), (name, at) in names.items()
                # a name learned before the member was forgotten never comes back
                if not forgotten or at >= forgotten.get((g, u), -math.inf)
            ],
            "ON CONFLICT (guild_id, user_id) DO UPDATE SET name = excluded.name, "
            "updated_at = excluded.updated_at WHERE excluded.updated_at >= members.updated_at",
        )

    # -- boards -----------------------------------------------------------------------------------

    def remember_names_sync(self, names: Iterable[tuple[tuple[int, int], tuple[str, float]]]) -> None:
        """Names learned outside message batches (the publisher's member fetches); newest wins,
        also among ``names`` (one row per member: a multi-row upsert may touch a row once)."""
        newest: dict[tuple[int, int], tuple[str, float]] = {}
        for member, (name, at) in names:
            if member not in newest or at >= newest[member][1]:
                newest[member] = (name, at)
        with self.db.atomic():
            self._remember_names(newest)

    # -- forgetting -------------------------------------------------------------------------------

    def record_forgotten_sync(self, guild_id: int, user_id: int, at: float) -> None:
        """Inside the forget's transaction: from now on nothing of the member's from before ``at``
        is written (see ``forgotten_at``); the in-memory copy follows once the caller commits."""
        self.db.execute(
            "INSERT INTO forgotten (guild_id, user_id, at) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id, user_id) DO UPDATE SET "
            "at = CASE WHEN excluded.at > forgotten.at THEN excluded.at ELSE forgotten.at END",
            (guild_id, user_id, at),
        )

    def forgotten_committed(self, guild_id: int, user_id: int, at: float) -> None:
        """The forget committed: refuse the member's older writes from here on."""
        key = (guild_id, user_id)
        self._forgotten[key] = max(at, self._forgotten.get(key, at))

    def forgotten_at(self, guild_id: int, user_id: int) -> float | None:
        return self._forgotten.get((guild_id, user_id))

    # -- guild settings and audit -----------------------------------------------------------------

    def guild_configs_sync(self) -> dict[int, dict[str, object]]:
        """Every guild's stored settings (JSON objects; ``domain.guild_config`` gives them meaning)."""
        return {g: json.loads(c) for g, c in self.db.execute("SELECT guild_id, config FROM guild_config")}

    def save_guild_config_sync(
        self, guild_id: int, config: dict[str, object], at: float, by_user: int, action: str, detail: str
    ) -> None:
        """Store a guild's settings and record who changed what, in one transaction."""
        with self.db.atomic():
            self.db.execute(
                "INSERT INTO guild_config (guild_id, config, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (guild_id) DO UPDATE SET config = excluded.config, "
                "updated_at = excluded.updated_at",
                [guild_id, json.dumps(config, sort_keys=True), at],
            )
            self.audit_sync(guild_id, by_user, action, detail, at)

    def audit_sync(self, guild_id: int, by_user: int, action: str, detail: str, at: float) -> None:
        self.db.execute(
            "INSERT INTO audit (guild_id, user_id, action, detail, at) VALUES (?, ?, ?, ?, ?)",
            [guild_id, by_user, action, detail, at],
        )

    # -- reads ----------------------------------------------------------------------------------

    def message_counts_sync(self, guild_id: int, period: int | None = None) -> dict[int, int]:
        """Messages per user in one period (``None``: all time)."""
        return self._per_user("messages", guild_id, period)

    def _per_user(self, column: str, guild_id: int, period: int | None) -> dict[int, int]:
        assert column in ("messages", "voice_ms")
        if period is None:
            sql = f"SELECT user_id, SUM({column}) FROM activity WHERE guild_id = ? GROUP BY user_id"
            args: list[int] = [guild_id]
        else:
            sql = f"SELECT user_id, {column} FROM activity WHERE guild_id = ? AND period = ?"
            args = [guild_id, period]
        return {user: n for user, n in self.db.execute(sql, args) if n}
