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


# --- issue 17, round 2: the two kinds share the turns ----------------------------------------------


def kind_of(key: tuple[str, int], _due: float) -> str:
    return key[0]


def by_age(age: dict[tuple[str, int], float]) -> object:
    return lambda key, _due: age[key]


def test_two_lanes_take_turns_oldest_first_within_each() -> None:
    """Every voice board waited longer than every messages board: oldest-first over all would give
    the voice boards every turn; in lanes the kinds alternate, the oldest of each kind first."""
    age = {("voice", n): float(n) for n in range(10)} | {("messages", n): 100.0 + n for n in range(10)}
    queue = BoardQueue[tuple[str, int]](kind_of)
    for key in random.Random(3).sample(sorted(age), len(age)):
        queue.put(key, 0.0)
    taken = queue.take(1.0, by_age(age), 8)  # type: ignore[arg-type]
    assert [k for k, _ in taken[::2]] == ["voice"] * 4 or [k for k, _ in taken[::2]] == ["messages"] * 4
    assert sorted(k for k, _ in taken) == ["messages"] * 4 + ["voice"] * 4
    for kind in ("voice", "messages"):
        mine = [key for key in taken if key[0] == kind]
        assert mine == sorted(mine, key=age.__getitem__) == [(kind, n) for n in range(4)]
    # The turns carry over from one take to the next: still alternating.
    more = queue.take(1.0, by_age(age), 4)  # type: ignore[arg-type]
    assert more[0][0] != taken[-1][0] and {k for k, _ in more} == {"voice", "messages"}


def test_a_lane_alone_takes_every_turn() -> None:
    queue = BoardQueue[tuple[str, int]](kind_of)
    age = {("voice", n): float(n) for n in range(6)} | {("messages", 0): 50.0}
    for key in age:
        queue.put(key, 0.0)
    taken = queue.take(1.0, by_age(age), 10)  # type: ignore[arg-type]
    assert taken.count(("messages", 0)) == 1 and taken.index(("messages", 0)) <= 1
    assert [key for key in taken if key[0] == "voice"] == [("voice", n) for n in range(6)]
    assert queue.take(1.0, by_age(age), 10) == []  # type: ignore[arg-type]


def test_under_a_shortage_each_kind_gets_half_the_turns_and_no_board_starves() -> None:
    """A simulated shortage: every tick 3 voice boards and 1 messages board become due again (with
    the time they began waiting), and only 2 are driven. Each kind gets at least half of the turns
    while the other waits, and every board that waits is driven, oldest first within its kind."""
    rng = random.Random(17)
    queue = BoardQueue[tuple[str, int]](kind_of)
    since: dict[tuple[str, int], float] = {}
    driven: list[tuple[str, int]] = []
    waited: dict[tuple[str, int], float] = {}
    for tick in range(2_000):
        now = float(tick)
        for key in [("voice", rng.randrange(200)) for _ in range(3)] + [("messages", rng.randrange(50))]:
            if not queue.is_ready(key) and key not in since:
                since[key] = now
                queue.put(key, now)
        taken = queue.take(now, lambda key, _due: since[key], 2)
        for key in taken:
            waited[key] = max(waited.get(key, 0.0), now - since.pop(key))
        driven.extend(taken)
    messages = sum(1 for kind, _ in driven if kind == "messages")
    assert len(driven) == 2 * 2_000
    # Messages boards want ~1 turn a tick of 2: they get what they ask for (at least half while
    # voice waits), so their wait stays short; voice takes the rest, none of it starving.
    assert messages >= 0.45 * len(driven)
    assert max(w for (kind, _), w in waited.items() if kind == "messages") <= 60
    assert not [key for key, at in since.items() if at < 2_000 - 400]  # nobody waits for ever


def test_one_lane_is_oldest_first_over_all_as_before() -> None:
    queue = BoardQueue[tuple[str, int]]()
    age = {("voice", 0): 1.0, ("voice", 1): 2.0, ("messages", 0): 3.0}
    for key in age:
        queue.put(key, 0.0)
    assert queue.take(1.0, by_age(age), 3) == [("voice", 0), ("voice", 1), ("messages", 0)]  # type: ignore[arg-type]


def test_a_lane_of_share_one_goes_once_while_lanes_of_share_two_go_twice() -> None:
    queue = BoardQueue[tuple[str, int]](kind_of, {"voice": 2, "messages": 2, "reads": 1})
    for n in range(20):
        for kind in ("voice", "messages", "reads"):
            queue.put((kind, n), 0.0)
    taken = queue.take(1.0, lambda key, _due: float(key[1]), 25)
    counts = {kind: sum(1 for k, _ in taken if k == kind) for kind in ("voice", "messages", "reads")}
    assert counts == {"voice": 10, "messages": 10, "reads": 5}
    rest = queue.take(1.0, lambda key, _due: float(key[1]), 100)
    assert [key for key in rest if key[0] == "reads"][-1] == ("reads", 19)  # the slow lane still ends
