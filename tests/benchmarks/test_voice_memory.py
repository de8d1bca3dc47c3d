"""A voice session stays within issue 18's budget of 5,120 bytes (Python allocations, tracemalloc).

The benchmark's RSS figure at 10,000 and 100,000 sessions is the real check (``just bench``); this
is the cheap guard against a change that brings back a per-session channel, deadline or closure.
A session cost about 7,900 traced bytes with a trio memory channel and a ``move_on_at`` each.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.voice_actor_memory import _traced

BUDGET = 5_120


def test_a_voice_session_costs_less_than_the_budget(tmp_path: Path) -> None:
    per_actor, top = _traced(tmp_path / "traced.db", 1_000)
    assert per_actor <= BUDGET, "\n".join(top)
