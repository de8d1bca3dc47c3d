"""What /healthz and /metrics read from a running bot: liveness, counts and queue depths.

Kept out of ``app.py`` so the wiring there stays one screen. Everything here reads counters the
bot keeps anyway; nothing is added to the hot path.

The database check, on either engine (SQLite or PostgreSQL), probes a write and remembers since
when the probes have failed (``DatabaseOutage``): /healthz names the outage's age. While the
database is out of reach the writers keep their batches in memory (``actors.batch_writer``), their
bounded inboxes fill, the router waits, the gateway channel fills and the websocket stops reading:
that is how the bot stops taking new work (back-pressure; nothing is dropped). Past
``HEALTH_MAX_CHECKPOINT_AGE_SECONDS`` the check says so, so an orchestrator can restart or page.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import trio
from attrs import define

from bot_entry.ops_http import (
    DB_PROBE_TIMEOUT,
    Check,
    HealthReport,
    actor_checks,
    checkpoint_check,
    db_writable_check,
    gateway_check,
)
from persistence.errors import StoreUnavailable

if TYPE_CHECKING:
    from bot_entry.app import BotApp
    from bot_entry.gateway import ShardStatus
    from persistence.store import Store


def probe_postgres_sync(store: Store) -> str | None:
    """``None`` if the PostgreSQL session can write (not a read-only replica), else why not.

    Runs in the store's thread through ``store.call``, which reopens a lost connection with backoff
    and turns a connection failure into ``StoreUnavailable``.
    """
    with store.db.atomic():
        (read_only,) = store.db.execute("SHOW transaction_read_only").fetchone()
    return "the server is read-only (a standby?)" if read_only == "on" else None


async def database_probe(store: Store, *, within: float = DB_PROBE_TIMEOUT) -> Check:
    """Can the store write right now, on either engine? Waits at most ``within`` seconds."""
    if store.url is None:
        return await db_writable_check(store, within=within)
    with trio.move_on_after(within):
        try:
            problem = await store.call(probe_postgres_sync, store)
        except StoreUnavailable as exc:
            return Check("database", False, f"not reachable: {exc}")
        return Check("database", True, "writable") if problem is None else Check("database", False, problem)
    return Check("database", False, f"no answer from PostgreSQL within {within:g}s")


def shard_checks(shards: Sequence[ShardStatus], now: float) -> list[Check]:
    """One check per shard this process runs: connected or not, latency, guilds, last event."""
    checks = []
    for shard in shards:
        facts = [f"{shard.guilds} guilds"]
        if shard.latency is not None:
            facts.append(f"latency {shard.latency:.3f} s")
        if shard.last_event_at is not None:
            facts.append(f"last event {max(0.0, now - shard.last_event_at):.0f} s ago")
        state = "connected" if shard.connected else "not connected to Discord"
        checks.append(
            Check(f"gateway:shard:{shard.shard_id}", shard.connected, f"{state}; {', '.join(facts)}")
        )
    return checks


@define
class DatabaseOutage:
    """Since when the database probes have failed (None: the last probe passed). Pure: no I/O."""

    since: float | None = None

    def observe(self, ok: bool, now: float) -> float | None:
        """Record one probe; returns how long the outage has lasted (None when there is none)."""
        if ok:
            self.since = None
            return None
        if self.since is None:
            self.since = now
        return now - self.since


def database_check(probe: Check, outage: DatabaseOutage, now: float, bound: float, *, pending: int) -> Check:
    """The probe's result with the outage's age and, past ``bound`` seconds, that work has stopped."""
    age = outage.observe(probe.ok, now)
    if age is None:
        return probe
    held = f"{pending} events held in memory" if pending else "nothing held in memory"
    detail = f"{probe.detail}; unreachable for {age:.0f} s ({held})"
    if age > bound:
        detail += (
            f"; over the {bound:g} s bound: not taking new work (the gateway stops reading once the "
            "queues are full; nothing is dropped)"
        )
    return Check("database", False, detail)


class AppHealth:
    def __init__(self, app: BotApp) -> None:
        self.app = app
        self.started_at = app.clock.now()
        self.database_outage = DatabaseOutage()

    async def health(self) -> HealthReport:
        app, pipeline = self.app, self.app.pipeline
        now = app.clock.now()
        gateway = app.gateway
        starting = gateway is None or not gateway.ready.is_set()
        checks = [gateway_check(gateway is not None and gateway.connected, starting=starting)]
        checks += shard_checks(self.shard_statuses(), now)
        handle = pipeline.handle
        alive = {} if handle is None else {**handle.supervisor.alive, **handle.boards_supervisor.alive}
        checks += actor_checks(alive)
        if app.registration is not None:  # the slash commands: registered, or why not yet
            checks.append(Check("commands", *app.registration.status()))
        written = [t for t in (app.metrics.last_checkpoint_at, pipeline.last_write_at) if t is not None]
        checks.append(
            checkpoint_check(
                max(written, default=None),
                self.started_at,
                now,
                app.settings.health_max_checkpoint_age,
                pending=self._writes_pending(),
            )
        )
        store = pipeline.store
        if store is None:
            checks.append(Check("database", False, "not open yet"))
        else:
            checks.append(
                database_check(
                    await database_probe(store),
                    self.database_outage,
                    now,
                    app.settings.health_max_checkpoint_age,
                    pending=sum(self.queue_depths().values()),
                )
            )
        return HealthReport(tuple(checks), starting=starting)

    def _writes_pending(self) -> bool:
        ledger = self.app.pipeline.ledger
        return (ledger is not None and ledger.pending > 0) or any(self.queue_depths().values())

    # -- LiveCounts, read by /metrics at scrape time --------------------------------------------

    def shard_statuses(self) -> Sequence[ShardStatus]:
        gateway = self.app.gateway
        return gateway.shards() if gateway is not None else ()

    def events_received(self) -> Mapping[str, int]:
        return self.app.gateway.received if self.app.gateway else {}

    def events_routed(self) -> int:
        router = self.app.pipeline.router
        return router.routed if router else 0

    def actor_restarts(self) -> Mapping[str, int]:
        total: Counter[str] = Counter()
        handle = self.app.pipeline.handle
        supervisors = (
            () if handle is None else (handle.supervisor, handle.boards_supervisor, handle.voice_supervisor)
        )
        for supervisor in supervisors:
            for name, n in supervisor.restarts.items():
                total[name.split(":")[0]] += n  # voice:g:u:n -> one "voice" label, not one per session
        return total

    def queue_depths(self) -> Mapping[str, int]:
        depths: dict[str, int] = {}
        if self.app.events is not None:
            depths["gateway"] = self.app.events.statistics().current_buffer_used
        router = self.app.pipeline.router
        if router is not None:
            depths["message_counter"] = router.messages.depth()
            depths["voice_sessions"] = sum(m.depth() for m in router.sessions.values())
        return depths
