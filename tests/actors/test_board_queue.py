"""The publisher's queue of boards, without Trio: due times, turns by age, stale entries."""

from __future__ import annotations

import math
import random

from actors.board_queue import BoardQueue


def by_due(_key: str, due: float) -> float:
    return due


def test_only_boards_due_by_now_are_taken_and_the_next_due_time_is_known() -> None:
    queue = BoardQueue[str]()
    queue.put("a", 5.0)
    queue.put("b", 1.0)
    queue.put("c", None)  # nothing to do until something changes
    assert queue.next_due() == 1.0
    assert queue.take(2.0, by_due, 10) == ["b"]
    assert queue.next_due() == 5.0 and queue.take(4.9, by_due, 10) == []
    assert queue.take(5.0, by_due, 10) == ["a"] and queue.next_due() == math.inf


def test_due_boards_take_turns_by_when_their_work_began_waiting() -> None:
    waiting = {"late": 30.0, "old": 10.0, "mid": 20.0}
    queue = BoardQueue[str]()
    for key in ("late", "old", "mid"):
        queue.put(key, 50.0)
    assert queue.take(60.0, lambda key, _due: waiting[key], 2) == ["old", "mid"]
    assert queue.next_due() == -math.inf  # one still waits for its turn
    queue.put("late", 99.0)  # waiting for its turn: kept there, not moved back
    assert queue.take(60.0, by_due, 2) == ["late"]


def test_a_new_due_time_replaces_the_old_one() -> None:
    queue = BoardQueue[str]()
    queue.put("a", 1.0)
    queue.put("a", 9.0)  # the board was driven or changed: the earlier entry is stale
    assert queue.next_due() == 9.0 and queue.take(5.0, by_due, 10) == []
    queue.put("a", None)
    assert queue.take(100.0, by_due, 10) == [] and queue.next_due() == math.inf


def test_every_key_put_is_taken_once_by_its_last_due_time() -> None:
    rng = random.Random(5)
    queue = BoardQueue[int]()
    last: dict[int, float | None] = {}
    for _ in range(2_000):
        key, due = rng.randrange(100), rng.choice([None, rng.uniform(0, 100)])
        queue.put(key, due)
        last[key] = due
    taken = queue.take(100.0, by_due, 1_000)
    assert sorted(taken) == sorted(k for k, due in last.items() if due is not None)
    assert [last[k] for k in taken] == sorted(last[k] for k in taken)  # type: ignore[type-var]
