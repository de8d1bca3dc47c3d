"""The REST budget's pure machine: pacing bound, priority, fairness, deadlines and the breaker.

No Trio, no asyncio: time is an argument, and ``drive`` plays a schedule of arrivals against the
machine, waking it exactly when it asks (``next_wake``), as the shell's one timer does.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot_entry.rest_budget import Call, CallClass, RestBudget, RestPolicy, Step, is_invalid

BOARD, ESSENTIAL, INTERACTION = CallClass.BOARD, CallClass.ESSENTIAL, CallClass.INTERACTION
EPS = 1e-6


class Run:
    """What happened to each call: when it was granted or refused, and the breaker's changes."""

    def __init__(self, budget: RestBudget) -> None:
        self.budget = budget
        self.granted: list[tuple[float, int]] = []
        self.refused: dict[int, tuple[float, str, float]] = {}
        self.opened: list[float] = []
        self.closed: list[float] = []
        # For each grant: the ids waiting just before it (to check the order).
        self.waiting_at_grant: list[tuple[int, frozenset[int]]] = []
        self.calls: dict[int, tuple[Call, float]] = {}
        self.waiting: set[int] = set()
        self.now = 0.0

    def record(self, step: Step, now: float) -> None:
        self.now = max(self.now, now)
        for call_id, _refusal in step.refused:
            self.waiting.discard(call_id)  # refused before this step's grants: not in their way
        for call_id in step.granted:
            self.granted.append((now, call_id))
            self.waiting_at_grant.append((call_id, frozenset(self.waiting)))
            self.waiting.discard(call_id)
        for call_id, refusal in step.refused:
            self.refused[call_id] = (now, refusal.reason, refusal.retry_after)
            self.waiting.discard(call_id)
        if step.opened:
            self.opened.append(now)
        if step.closed:
            self.closed.append(now)

    def arrive(self, call: Call, now: float) -> None:
        self.now = max(self.now, now)
        self.calls[call.id] = (call, now)
        self.waiting.add(call.id)
        self.record(self.budget.arrive(call, now), now)

    def run_until(self, until: float) -> float:
        """Wake the machine whenever it asks, up to ``until``; the time reached."""
        for _ in range(1_000_000):
            wake = self.budget.next_wake(self.now)
            if wake is None or wake > until:
                break
            self.now = max(wake, self.now)
            self.record(self.budget.advance(self.now), self.now)
        else:
            raise AssertionError("the machine keeps asking to be woken without progress")
        return self.now


def drive(policy: RestPolicy, arrivals: list[tuple[float, Call]], *, tail: float = 100.0) -> Run:
    run = Run(RestBudget(policy, 0.0))
    last = 0.0
    for at, call in sorted(arrivals, key=lambda a: a[0]):
        run.run_until(at)
        run.arrive(call, at)
        last = at
    run.run_until(last + tail)
    return run


rates = st.sampled_from([1.0, 2.5, 10.0, 20.0, 40.0, 100.0])
gaps = st.lists(
    st.tuples(
        st.floats(0, 0.5, allow_nan=False),  # time since the previous arrival
        st.sampled_from([BOARD, BOARD, BOARD, ESSENTIAL, INTERACTION]),
        st.floats(0, 400, allow_nan=False),  # how long its change had waited already
        st.booleans(),  # non-essential
    ),
    min_size=1,
    max_size=150,
)


def schedule(raw: list[tuple[float, CallClass, float, bool]]) -> list[tuple[float, Call]]:
    at, out = 0.0, []
    for i, (gap, klass, age, nonessential) in enumerate(raw):
        at += gap
        out.append((at, Call(i, klass, nonessential, at - age)))
    return out


@settings(max_examples=200, deadline=None)
@given(rate=rates, raw=gaps)
def test_the_budget_never_lets_a_burst_exceed_it(
    rate: float, raw: list[tuple[float, CallClass, float, bool]]
) -> None:
    """Whatever arrives, paced grants in ANY interval of length T are at most rate*T + burst."""
    policy = RestPolicy.of(rate)
    run = drive(policy, schedule(raw))
    paced = sorted(t for t, call_id in run.granted if run.calls[call_id][0].klass is not INTERACTION)
    for i, j in itertools.combinations(range(len(paced)), 2):
        count = j - i + 1
        assert count <= policy.rate * (paced[j] - paced[i]) + policy.burst + EPS, (i, j, paced[i], paced[j])


@settings(max_examples=200, deadline=None)
@given(rate=rates, raw=gaps)
def test_every_call_is_answered_within_max_wait_and_interactions_at_once(
    rate: float, raw: list[tuple[float, CallClass, float, bool]]
) -> None:
    policy = RestPolicy.of(rate)
    arrivals = schedule(raw)
    run = drive(policy, arrivals)
    answered = {call_id: t for t, call_id in run.granted} | {i: r[0] for i, r in run.refused.items()}
    assert set(answered) == {call.id for _, call in arrivals}  # nothing is lost
    for at, call in arrivals:
        assert answered[call.id] - at <= policy.max_wait + EPS
        if call.klass is INTERACTION:
            assert answered[call.id] == at and call.id not in run.refused


@settings(max_examples=200, deadline=None)
@given(rate=rates, raw=gaps)
def test_each_grant_is_the_first_in_priority_order_among_those_waiting(
    rate: float, raw: list[tuple[float, CallClass, float, bool]]
) -> None:
    """ESSENTIAL before BOARD; within a class, the smallest (clamped) waiting_since, then arrival."""
    policy = RestPolicy.of(rate)
    run = drive(policy, schedule(raw))

    def rank(call_id: int) -> tuple[int, float, int]:
        call, arrived = run.calls[call_id]
        assert call.waiting_since is not None
        return int(call.klass), min(arrived, max(call.waiting_since, arrived - policy.age_cap)), call_id

    for call_id, waiting in run.waiting_at_grant:
        if run.calls[call_id][0].klass is INTERACTION:
            continue
        assert all(rank(call_id) <= rank(other) for other in waiting if other != call_id)


def test_the_stalest_board_goes_first_and_essential_before_boards() -> None:
    run = Run(RestBudget(RestPolicy(rate=1.0, burst=1.0), 0.0))
    run.arrive(Call(0, BOARD, waiting_since=0.0), 0.0)  # takes the one token
    run.arrive(Call(1, BOARD, waiting_since=-5.0), 0.0)
    run.arrive(Call(2, BOARD, waiting_since=-50.0), 0.0)
    run.arrive(Call(3, ESSENTIAL), 0.0)
    run.arrive(Call(4, INTERACTION), 0.0)
    run.run_until(10.0)
    assert [call_id for _, call_id in run.granted] == [0, 4, 3, 2, 1]
    assert [t for t, _ in run.granted] == [0.0, 0.0, 1.0, 2.0, 3.0]


def test_a_steady_stream_of_newer_calls_cannot_hold_an_old_one() -> None:
    """Calls arrive twice as fast as the budget lets them go, for ever; an old one still goes next."""
    policy = RestPolicy(rate=10.0, burst=1.0)
    arrivals = [(i * 0.05, Call(i, BOARD, waiting_since=i * 0.05)) for i in range(2_000)]
    old = Call(10_000, BOARD, waiting_since=-1.0)
    arrivals.append((20.0, old))  # 400 calls are waiting when it arrives
    run = drive(policy, arrivals, tail=0.0)
    granted_at = {call_id: t for t, call_id in run.granted}
    assert granted_at[old.id] <= 20.0 + 1 / policy.rate + EPS


def test_even_calls_claiming_older_changes_cannot_overtake_a_waiting_call_for_ever() -> None:
    """The clamp: a call arriving more than age_cap after X's rank goes behind X, whatever it claims."""
    policy = RestPolicy(rate=10.0, burst=1.0, age_cap=2.0, max_wait=30.0)
    x = Call(0, BOARD, waiting_since=0.0)
    arrivals = [(0.0, Call(1, BOARD)), (0.0, x)]
    # 20 calls a second, each claiming its change has waited since long before X's.
    arrivals += [(0.01 + i * 0.05, Call(i + 2, BOARD, waiting_since=-1_000.0)) for i in range(600)]
    run = drive(policy, arrivals, tail=0.0)
    granted_at = {call_id: t for t, call_id in run.granted}
    assert x.id in granted_at, run.refused.get(x.id)
    # Overtaken only by calls that arrived within age_cap of X's key: 40 of them, at 10 a second.
    assert granted_at[x.id] <= policy.age_cap * 20 / policy.rate + 1.0


def test_a_call_waiting_past_max_wait_is_refused_with_a_retry_after() -> None:
    policy = RestPolicy(rate=1.0, burst=1.0, max_wait=3.0)
    run = Run(RestBudget(policy, 0.0))
    for i in range(10):
        run.arrive(Call(i, BOARD), 0.0)
    run.run_until(100.0)
    assert [call_id for _, call_id in run.granted] == [0, 1, 2, 3]
    assert {call_id: reason for call_id, (_, reason, _) in run.refused.items()} == dict.fromkeys(
        range(4, 10), "deadline"
    )
    assert all(at == 3.0 and retry > 0 for at, _, retry in run.refused.values())


def test_the_queue_is_capped_and_a_board_call_past_it_is_refused_at_once() -> None:
    policy = RestPolicy(rate=1.0, burst=1.0, max_waiting=3)
    run = Run(RestBudget(policy, 0.0))
    for i in range(6):
        run.arrive(Call(i, BOARD), 0.0)
    assert {call_id: r[1] for call_id, r in run.refused.items()} == {4: "full", 5: "full"}
    run.arrive(Call(6, ESSENTIAL), 0.0)  # never refused for room
    assert 6 not in run.refused


def test_a_cancelled_call_leaves_the_queue() -> None:
    budget = RestBudget(RestPolicy(rate=1.0, burst=1.0), 0.0)
    run = Run(budget)
    for i in range(3):
        run.arrive(Call(i, BOARD), 0.0)
    budget.cancel(1)
    budget.cancel(99)  # unknown: ignored
    run.waiting.discard(1)
    run.run_until(10.0)
    assert [call_id for _, call_id in run.granted] == [0, 2]


# -- the invalid-request breaker ------------------------------------------------------------------


def test_only_401_403_and_unshared_429_are_invalid() -> None:
    assert is_invalid(401, None) and is_invalid(403, None) and is_invalid(429, None)
    assert is_invalid(429, "global") and is_invalid(429, "user")
    assert not is_invalid(429, "shared") and not is_invalid(429, "Shared")
    assert not any(is_invalid(s, None) for s in (200, 204, 400, 404, 500, 502))


def test_the_breaker_opens_at_the_fraction_and_closes_when_the_window_cools_each_reported_once() -> None:
    policy = RestPolicy(rate=10.0, burst=2.0, stop_fraction=0.5, invalid_limit=100)
    assert (policy.stop_at, policy.resume_below) == (50, 25)
    budget = RestBudget(policy, 0.0)
    run = Run(budget)
    for second in range(49):
        run.record(budget.answered(429, "user", float(second)), float(second))
        run.record(budget.answered(429, "shared", float(second)), float(second))  # never counted
        run.record(budget.answered(404, None, float(second)), float(second))
    assert not budget.breaker_open and run.opened == []
    run.record(budget.answered(403, None, 49.0), 49.0)
    assert budget.breaker_open and run.opened == [49.0]

    run.arrive(Call(1, BOARD, nonessential=True), 50.0)  # an edit: stopped
    at, reason, retry_after = run.refused[1]
    assert reason == "breaker" and at + retry_after == 626.0  # when 26 of the 50 have left the window
    run.arrive(Call(2, BOARD), 50.0)  # a post: paced, not stopped
    run.arrive(Call(3, ESSENTIAL), 50.0)
    run.arrive(Call(4, INTERACTION), 50.0)
    assert [call_id for _, call_id in run.granted] == [2, 3, 4]
    assert budget.snapshot(50.0).breaker_open and budget.snapshot(50.0).invalid_in_window == 50

    run.run_until(625.9)
    assert budget.breaker_open and run.closed == []
    run.run_until(626.0)  # the machine asks to be woken when the window cools
    assert not budget.breaker_open and run.closed == [626.0]
    assert run.opened == [49.0]  # once
    run.arrive(Call(5, BOARD, nonessential=True), 627.0)
    assert 5 not in run.refused


def test_waiting_non_essential_calls_are_refused_when_the_breaker_opens() -> None:
    policy = RestPolicy(rate=1.0, burst=1.0, invalid_limit=4, stop_fraction=0.5)
    budget = RestBudget(policy, 0.0)
    run = Run(budget)
    run.arrive(Call(0, BOARD), 0.0)
    run.arrive(Call(1, BOARD, nonessential=True), 0.0)
    run.arrive(Call(2, BOARD), 0.0)
    run.record(budget.answered(429, None, 0.1), 0.1)
    run.record(budget.answered(429, None, 0.2), 0.2)
    assert run.opened == [0.2] and run.refused[1][1] == "breaker"
    run.run_until(5.0)
    assert [call_id for _, call_id in run.granted] == [0, 2]


def test_the_default_policy_stays_under_discords_limit_in_any_second() -> None:
    """With a margin: a bunched send after a busy moment of the loop must not reach Discord's 50."""
    policy = RestPolicy.of(40)
    assert policy.rate * 1.0 + policy.burst <= 45
    halves = RestPolicy.of(20)
    assert 2 * (halves.rate + halves.burst) <= 45
    assert RestPolicy.of(1).burst == 1.0  # never below one call


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"rate": 0.0, "burst": 1.0}, "rate must be positive"),
        ({"rate": 1.0, "burst": 0.5}, "burst must be at least one call"),
        ({"rate": 1.0, "burst": 1.0, "stop_fraction": 1.0}, "stop_fraction"),
    ],
)
def test_a_bad_policy_is_refused_naming_the_number(kwargs: dict[str, float], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        RestPolicy(**kwargs)  # type: ignore[arg-type]


def test_a_call_already_waiting_cannot_arrive_twice() -> None:
    budget = RestBudget(RestPolicy(rate=1.0, burst=1.0), 0.0)
    budget.arrive(Call(0, BOARD), 0.0)
    budget.arrive(Call(1, BOARD), 0.0)
    with pytest.raises(ValueError, match="already waiting"):
        budget.arrive(Call(1, BOARD), 0.0)
