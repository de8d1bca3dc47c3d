"""Metrics: a registry per bot, live counts read at scrape time, low-rate instruments."""

from __future__ import annotations

import logging
from collections import Counter

from prometheus_client import REGISTRY

from bot_entry.metrics import Metrics


class LiveParts:
    """Stands in for the app: the plain counters its parts keep."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self.routed = 0
        self.restarts: Counter[str] = Counter()
        self.depths = {"gateway": 0, "message_counter": 0}

    def events_received(self) -> Counter[str]:
        return self.received

    def events_routed(self) -> int:
        return self.routed

    def actor_restarts(self) -> Counter[str]:
        return self.restarts

    def queue_depths(self) -> dict[str, int]:
        return self.depths


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_live_counts_are_read_at_each_scrape() -> None:
    metrics, parts = Metrics(), LiveParts()
    assert sample(metrics, "leaderboard_events_routed_total") is None  # nothing to read yet
    assert b"# TYPE leaderboard_events_routed_total counter" in metrics.exposition()
    metrics.watch(parts)
    parts.received["MESSAGE_CREATE"] += 1_000  # what the gateway does per event: a plain int
    parts.routed = 990
    parts.depths["gateway"] = 10
    assert sample(metrics, "leaderboard_events_received_total", type="MESSAGE_CREATE") == 1_000
    assert sample(metrics, "leaderboard_events_routed_total") == 990
    assert sample(metrics, "leaderboard_queue_depth", queue="gateway") == 10
    parts.routed += 10
    parts.restarts["message_counter"] += 1
    parts.depths["gateway"] = 0
    assert sample(metrics, "leaderboard_events_routed_total") == 1_000
    assert sample(metrics, "leaderboard_actor_restarts_total", actor="message_counter") == 1
    assert sample(metrics, "leaderboard_queue_depth", queue="gateway") == 0


def test_latencies_counters_and_the_last_checkpoint() -> None:
    metrics = Metrics()
    metrics.checkpoint_done("voice_ledger", 0.003, at=1_000.0)
    metrics.checkpoint_done("message_counter", 0.2, at=900.0)  # finished earlier: not the latest
    with metrics.sqlite_write_seconds.time():
        pass
    metrics.board_edited("voice")
    metrics.board_edited("voice")
    metrics.rate_limited("edit_board")
    assert metrics.last_checkpoint_at == 1_000.0
    assert sample(metrics, "leaderboard_checkpoint_seconds_count", actor="voice_ledger") == 1
    assert sample(metrics, "leaderboard_checkpoint_seconds_bucket", actor="message_counter", le="0.25") == 1
    assert sample(metrics, "leaderboard_checkpoint_seconds_bucket", actor="message_counter", le="0.1") == 0
    assert sample(metrics, "leaderboard_sqlite_write_seconds_count") == 1
    assert sample(metrics, "leaderboard_board_edits_total", board="voice") == 2
    assert sample(metrics, "leaderboard_discord_rate_limited_total", action="edit_board") == 1


def test_each_bot_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.board_edited("messages")
    assert sample(second, "leaderboard_board_edits_total", board="messages") is None
    assert REGISTRY.get_sample_value("leaderboard_board_edits_total", {"board": "messages"}) is None


def test_429s_that_disnake_waits_out_are_counted_from_its_log_line() -> None:
    metrics = Metrics()
    http = logging.getLogger("disnake.http")
    fmt = 'We are being rate limited. Retrying in %.2f seconds. Handled under the bucket "%s"'
    with metrics.counting_disnake_429s():
        http.warning(fmt, 1.5, "PATCH:/channels/1/messages/2")
        http.warning(fmt, 0.5, "PATCH:/channels/1/messages/2")
        http.warning("Global rate limit has been hit. Retrying in %.2f seconds.", 1.0)  # counted above
    http.warning(fmt, 1.5, "after: not counted")
    assert sample(metrics, "leaderboard_discord_rate_limited_total", action="retried_by_disnake") == 2
