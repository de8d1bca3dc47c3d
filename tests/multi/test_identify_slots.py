"""Processes started together on one token, each with its own SHARD_IDS, IDENTIFY in wall-clock
slots: two shards of one max_concurrency bucket never IDENTIFY within Discord's 5 s, whichever
processes run them and however their starts interleave (``domain.shards.identify_slot``)."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from bot_entry.gateway import IDENTIFY_INTERVAL, IDENTIFY_SLOT
from domain.shards import identify_slot


def test_a_shard_waits_for_its_turn_in_its_bucket() -> None:
    # 4 shards, max_concurrency 1: shard r IDENTIFYs in slots k with k % 4 == r.
    assert identify_slot(0.0, 0, 4, 1, 5.5) == 0.0
    assert identify_slot(0.1, 0, 4, 1, 5.5) == 22.0
    assert identify_slot(0.1, 1, 4, 1, 5.5) == 5.5
    assert identify_slot(0.1, 3, 4, 1, 5.5) == 16.5
    # max_concurrency 2: shards 0 and 1 (two buckets) share the first slot, 2 and 3 the next.
    assert identify_slot(0.1, 0, 4, 2, 5.5) == identify_slot(0.1, 1, 4, 2, 5.5) == 11.0
    assert identify_slot(0.1, 2, 4, 2, 5.5) == identify_slot(0.1, 3, 4, 2, 5.5) == 5.5


@given(
    shard_count=st.integers(1, 40),
    max_concurrency=st.sampled_from([1, 2, 4, 16]),
    starts=st.lists(st.floats(1e9, 1e9 + 30), min_size=1, max_size=40),
    jitter=st.lists(st.floats(0, 0.4), min_size=40, max_size=40),
)
def test_no_two_identifies_of_one_bucket_come_within_the_interval(
    shard_count: int, max_concurrency: int, starts: list[float], jitter: list[float]
) -> None:
    # Each shard in its own process, started at its own moment; each IDENTIFY reaches Discord up
    # to 0.4 s after its slot (start-up jitter). Within a process the bucket's own reservation
    # spaces re-uses; here every shard identifies once.
    sent = []
    for shard_id in range(shard_count):
        start = starts[shard_id % len(starts)]
        at = identify_slot(start, shard_id, shard_count, max_concurrency, IDENTIFY_SLOT)
        assert start <= at <= start + IDENTIFY_SLOT * (-(-shard_count // max_concurrency))
        sent.append((shard_id % max_concurrency, at + jitter[shard_id]))
    for bucket in {b for b, _ in sent}:
        times = sorted(t for b, t in sent if b == bucket)
        assert all(later - earlier >= IDENTIFY_INTERVAL for earlier, later in pairwise(times))
