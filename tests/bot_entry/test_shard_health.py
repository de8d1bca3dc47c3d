"""/healthz has one check per shard and /metrics one gauge per shard fact, labelled by shard."""

from __future__ import annotations

from collections.abc import Sequence

from bot_entry.app_health import shard_checks
from bot_entry.gateway import ShardStatus
from bot_entry.metrics import Metrics

SHARDS = (
    ShardStatus(0, connected=True, latency=0.042, guilds=2500, last_event_at=997.0),
    ShardStatus(1, connected=False, latency=None, guilds=2499, last_event_at=970.0),
)


class Shards:
    def shard_statuses(self) -> Sequence[ShardStatus]:
        return SHARDS


def test_one_health_check_per_shard_says_what_the_operator_needs() -> None:
    checks = shard_checks(SHARDS, now=1000.0)
    assert [(c.name, c.ok, c.detail) for c in checks] == [
        ("gateway:shard:0", True, "connected; 2500 guilds, latency 0.042 s, last event 3 s ago"),
        ("gateway:shard:1", False, "not connected to Discord; 2499 guilds, last event 30 s ago"),
    ]


def test_metrics_have_a_gauge_per_shard() -> None:
    metrics = Metrics()
    metrics.watch_shards(Shards())
    text = metrics.exposition().decode()
    for line in (
        'leaderboard_shard_connected{shard="0"} 1.0',
        'leaderboard_shard_connected{shard="1"} 0.0',
        'leaderboard_shard_latency_seconds{shard="0"} 0.042',
        'leaderboard_shard_guilds{shard="0"} 2500.0',
        'leaderboard_shard_guilds{shard="1"} 2499.0',
        'leaderboard_shard_last_event_timestamp_seconds{shard="1"} 970.0',
    ):
        assert line in text, line
    assert 'leaderboard_shard_latency_seconds{shard="1"}' not in text  # not measured: no sample
