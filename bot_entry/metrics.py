"""Prometheus metrics for the bot, in a registry of its own.

Two kinds, by cost. Hot-path counts (gateway events by type, events routed, actor restarts, queue
depths) are plain ints the components already keep (``Gateway.received``, ``Router.routed``,
``Supervisor.restarts``, ``Mailbox.depth()``); nothing is added to the per-event path. They are
read only when Prometheus scrapes, through ``LiveCounts``, which the app implements. Low-rate
measurements (checkpoint and SQLite write latency, board edits, 429s) use prometheus-client's own
instruments, each a few microseconds per call.

Why a registry of our own rather than the global one: several bots (tests, the demo) can live in
one process, and each must report only its own numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from bot_entry.rest_budget import RestSnapshot

PREFIX = "leaderboard"
CONTENT_TYPE = CONTENT_TYPE_LATEST

# disnake waits out most 429s itself and only logs them; this is the line it logs (disnake 2.12).
DISNAKE_HTTP_LOGGER = "disnake.http"
DISNAKE_429_PREFIX = "We are being rate limited."

# Checkpoints and SQLite writes are milliseconds when healthy, seconds when the disk or a lock hurts.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class LiveCounts(Protocol):
    """Counts the running bot already keeps, read at scrape time (the app implements this)."""

    def events_received(self) -> Mapping[str, int]:
        """Gateway dispatches received, by type (``MESSAGE_CREATE``...), since start."""
        ...

    def events_routed(self) -> int:
        """Events the router handed to an actor, since start."""
        ...

    def actor_restarts(self) -> Mapping[str, int]:
        """Restarts per actor (child) name, since start."""
        ...

    def queue_depths(self) -> Mapping[str, int]:
        """Events waiting per queue (the gateway channel and each actor's mailbox), now."""
        ...


class _LiveCollector(Collector):
    """Turns ``LiveCounts`` into metric families when scraped; yields empty families until watched."""

    def __init__(self) -> None:
        self.source: LiveCounts | None = None

    def collect(self) -> Iterator[Metric]:
        received = CounterMetricFamily(
            f"{PREFIX}_events_received", "Gateway events received, by dispatch type.", labels=["type"]
        )
        routed = CounterMetricFamily(f"{PREFIX}_events_routed", "Events the router handed to an actor.")
        restarts = CounterMetricFamily(
            f"{PREFIX}_actor_restarts", "Actor restarts by the supervisor, by actor.", labels=["actor"]
        )
        depth = GaugeMetricFamily(
            f"{PREFIX}_queue_depth", "Events waiting in a queue, by queue.", labels=["queue"]
        )
        source = self.source
        if source is not None:
            for kind, n in sorted(source.events_received().items()):
                received.add_metric([kind], n)
            routed.add_metric([], source.events_routed())
            for actor, n in sorted(source.actor_restarts().items()):
                restarts.add_metric([actor], n)
            for queue, n in sorted(source.queue_depths().items()):
                depth.add_metric([queue], n)
        yield from (received, routed, restarts, depth)

    def describe(self) -> Iterator[Metric]:
        return iter(())  # families are built per scrape; nothing to pre-register


# -- the REST budget (bot_entry.rest_budget): one block, read from the pacer at scrape time --------


class RestCounts(Protocol):
    """The REST pacer (``bot_entry.rest_pacing.RestPacer``): its machine's numbers, now."""

    def snapshot(self) -> RestSnapshot | None: ...


class _RestCollector(Collector):
    """The budget's counts as metric families; empty families until a pacer is watched."""

    def __init__(self) -> None:
        self.source: RestCounts | None = None

    def collect(self) -> Iterator[Metric]:
        calls = CounterMetricFamily(
            f"{PREFIX}_rest_calls", "REST requests the budget let go, by class.", labels=["class"]
        )
        waited = CounterMetricFamily(
            f"{PREFIX}_rest_wait_seconds",
            "Seconds REST requests waited in the budget, by class.",
            labels=["class"],
        )
        waiting = GaugeMetricFamily(
            f"{PREFIX}_rest_waiting", "REST requests waiting in the budget now, by class.", labels=["class"]
        )
        refused = CounterMetricFamily(
            f"{PREFIX}_rest_refused",
            "REST requests the budget refused (breaker, deadline, full), by reason.",
            labels=["reason"],
        )
        invalid = GaugeMetricFamily(
            f"{PREFIX}_rest_invalid_requests_window",
            "Invalid requests (401/403/429, not shared 429s) in the last 10 minutes; Discord bans at 10,000.",
        )
        invalid_total = CounterMetricFamily(
            f"{PREFIX}_rest_invalid_requests", "Invalid requests (401/403/429, not shared 429s) since start."
        )
        breaker = GaugeMetricFamily(
            f"{PREFIX}_rest_breaker_open",
            "1 while board edits and member fetches are stopped (too many invalid).",
        )
        snap = self.source.snapshot() if self.source is not None else None
        if snap is not None:
            for name, n in sorted(snap.granted.items()):
                calls.add_metric([name.lower()], n)
            for name, seconds in sorted(snap.waited_seconds.items()):
                waited.add_metric([name.lower()], seconds)
            for name, n in sorted(snap.waiting.items()):
                waiting.add_metric([name.lower()], n)
            for reason, n in sorted(snap.refused.items()):
                refused.add_metric([reason], n)
            invalid.add_metric([], snap.invalid_in_window)
            invalid_total.add_metric([], snap.invalid_total)
            breaker.add_metric([], 1 if snap.breaker_open else 0)
        yield from (calls, waited, waiting, refused, invalid, invalid_total, breaker)


# -- shards: one gauge family per fact, labelled by shard (read at scrape time) ---------------------


class ShardFacts(Protocol):
    shard_id: int
    connected: bool
    latency: float | None
    guilds: int
    last_event_at: float | None


class ShardCounts(Protocol):
    def shard_statuses(self) -> Sequence[ShardFacts]:
        """Every shard this process runs, now."""
        ...


class _ShardCollector(Collector):
    def __init__(self, source: ShardCounts) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        label = ["shard"]
        connected = GaugeMetricFamily(
            f"{PREFIX}_shard_connected", "1 while the shard is connected to Discord, else 0.", labels=label
        )
        latency = GaugeMetricFamily(
            f"{PREFIX}_shard_latency_seconds", "The shard's last HEARTBEAT to ACK time.", labels=label
        )
        guilds = GaugeMetricFamily(f"{PREFIX}_shard_guilds", "Guilds the shard carries.", labels=label)
        last = GaugeMetricFamily(
            f"{PREFIX}_shard_last_event_timestamp_seconds",
            "When the shard last carried a dispatch (Unix time); alert when it gets old.",
            labels=label,
        )
        for shard in self.source.shard_statuses():
            shard_label = [str(shard.shard_id)]
            connected.add_metric(shard_label, 1.0 if shard.connected else 0.0)
            guilds.add_metric(shard_label, shard.guilds)
            if shard.latency is not None:
                latency.add_metric(shard_label, shard.latency)
            if shard.last_event_at is not None:
                last.add_metric(shard_label, shard.last_event_at)
        yield from (connected, latency, guilds, last)

    def describe(self) -> Iterator[Metric]:
        return iter(())


class Metrics:
    """Every metric the bot exports; one instance per running bot.

    Hot paths call nothing here. Actors call ``checkpoint_done`` after a checkpoint commits, the
    store times its writes with ``sqlite_write_seconds.time()``, the board publisher calls
    ``board_edited`` and ``rate_limited``, and the backup task calls ``backup_done``.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._live = _LiveCollector()
        self.registry.register(self._live)
        self._rest = _RestCollector()
        self.registry.register(self._rest)
        self.checkpoint_seconds = Histogram(
            f"{PREFIX}_checkpoint_seconds",
            "Time to write one checkpoint or batch (from start of write to commit), by actor.",
            ["actor"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.sqlite_write_seconds = Histogram(
            f"{PREFIX}_sqlite_write_seconds",
            "Time a write transaction spends in the store's writer thread.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.board_edits = Counter(
            f"{PREFIX}_board_edits",
            "Leaderboard messages edited or posted, by board.",
            ["board"],
            registry=self.registry,
        )
        self.rate_limits = Counter(
            f"{PREFIX}_discord_rate_limited",
            "HTTP 429 responses from Discord, by what was being done.",
            ["action"],
            registry=self.registry,
        )
        self.last_backup = Gauge(
            f"{PREFIX}_last_backup_timestamp_seconds",
            "When the last scheduled backup was taken (Unix time); alert when it gets old.",
            registry=self.registry,
        )
        self.command_registrations = Counter(
            f"{PREFIX}_command_registrations",
            "Tries to register the slash commands (one bulk overwrite each), by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.last_checkpoint_at: float | None = None  # wall-clock epoch seconds; read by /healthz

    def watch(self, source: LiveCounts) -> None:
        """Export ``source``'s counts from now on (call once the app has built its parts)."""
        self._live.source = source

    def watch_rest(self, source: RestCounts) -> None:
        """Export the REST budget's counts (``bot_entry.rest_pacing.RestPacer``) from now on."""
        self._rest.source = source

    def watch_shards(self, source: ShardCounts) -> None:
        """Export the shards ``source`` runs (connected, latency, guilds, last event), per shard."""
        self.registry.register(_ShardCollector(source))

    def checkpoint_done(self, actor: str, seconds: float, at: float) -> None:
        """An actor committed a checkpoint that took ``seconds``, finishing at ``at`` (epoch)."""
        self.checkpoint_seconds.labels(actor).observe(seconds)
        if self.last_checkpoint_at is None or at > self.last_checkpoint_at:
            self.last_checkpoint_at = at

    def backup_done(self, path: object, at: float) -> None:
        """A scheduled backup was written (the ``on_backup`` hook of ``run_backups``)."""
        self.last_backup.set(at)

    def command_registration(self, ok: bool) -> None:
        """One try to register the commands ended (``Registration``'s ``on_attempt``)."""
        self.command_registrations.labels("registered" if ok else "failed").inc()

    def board_edited(self, board: str) -> None:
        self.board_edits.labels(board).inc()

    def rate_limited(self, action: str) -> None:
        self.rate_limits.labels(action).inc()

    @contextmanager
    def counting_disnake_429s(self) -> Iterator[None]:
        """Count the 429s disnake retries by itself (action ``retried_by_disnake``) while inside.

        disnake sleeps through a 429 and retries without telling the caller; its only trace is a
        warning on the ``disnake.http`` logger. A filter there counts those records (and lets
        them through), so /metrics shows rate limiting the board poster never sees.
        """
        counter = self.rate_limits.labels("retried_by_disnake")

        def count(record: logging.LogRecord) -> bool:
            if isinstance(record.msg, str) and record.msg.startswith(DISNAKE_429_PREFIX):
                counter.inc()
            return True

        logger = logging.getLogger(DISNAKE_HTTP_LOGGER)
        logger.addFilter(count)
        try:
            yield
        finally:
            logger.removeFilter(count)

    def exposition(self) -> bytes:
        """The Prometheus text format of everything above (what ``/metrics`` serves)."""
        return generate_latest(self.registry)
