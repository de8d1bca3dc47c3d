"""The REST budget: which of the bot's Discord calls may go now, which wait, which are refused.

Theory of operation
-------------------
Discord allows a bot 50 requests per second across its REST routes (the global rate limit);
interaction endpoints are not bound to it ("Interaction endpoints are not bound to the bot's Global
Rate Limit", developers/topics/rate-limits#global-rate-limit). An IP that makes 10,000 invalid
requests (401, 403, 429; not a 429 with ``X-RateLimit-Scope: shared``) within 10 minutes is banned
for about an hour. With 2,500 guilds the bot was seen at 596 calls/s and 8,586 429s in 10 minutes:
disnake's own 429 handling (wait, retry) was doing the pacing, one refusal at a time.

This machine does the pacing before Discord has to. It does no I/O and reads no clock: every
method takes ``now`` (seconds, any monotonic origin), and the shell (``bot_entry.rest_pacing``)
performs what it answers. The policy, complete:

1. Classes, in strict priority: ``INTERACTION`` > ``ESSENTIAL`` > ``BOARD``.
   - INTERACTION (answers to slash commands and buttons, their follow-ups) is granted at once,
     never waits, is never refused, and draws nothing from the bucket: Discord does not count it
     against the global limit, and a member's answer must arrive within 3 s whatever else is
     going on. It is counted, and its invalid answers count like any other.
   - ESSENTIAL (login, command registration) and BOARD (board posts, edits, deletes, reads,
     member fetches) share one token bucket of ``rate`` tokens per second and ``burst`` tokens of
     depth. Whatever the order of arrivals, the grants in ANY interval of length T are at most
     ``rate * T + burst`` (the bucket holds at most ``burst`` and refills at ``rate``).
     ``burst = max(1, rate / 20)`` by default, so with the default rate 40 no second of Discord's
     sees more than 40 + 2 = 42 paced calls, and N processes at ``rate / N`` each stay under it
     too. The margin of 8 below Discord's 50 is for what the budget does not see: sends bunched
     after a busy moment of either side's loop (Discord counts a call when it arrives), or clocks
     that disagree on where a second starts. A quarter second of burst (40 + 10 = 50 exactly) and
     then an eighth (45) still met global 429s at 2,500 guilds, each a few sends granted apart and
     counted together after a stall of about 150 ms; at a twentieth the loops may stall 200 ms.
     At a steady shortage the bucket is empty anyway, so the depth costs no throughput.
2. Waiting order: ESSENTIAL before BOARD; within a class, the call whose change has waited longest
   (smallest ``waiting_since``, ties by arrival) goes first. A caller's ``waiting_since`` is
   clamped into ``[arrived - age_cap, arrived]``, so no stamp, however old, lets a stream of later
   calls overtake a waiting one for ever: a call that arrives more than ``age_cap`` after X's key
   ranks behind X. ESSENTIAL calls are a handful per start, so they cannot starve BOARD.
3. Bounded: every waiting call has a deadline (``max_wait`` after it arrived); past it the call is
   refused with a ``retry_after``, so a caller is never held longer than ``max_wait`` by the
   budget (the board poster turns that into ``RateLimited`` and the schedule backs off). The queue
   is also capped at ``max_waiting`` (a memory bound; a BOARD call past it is refused at once).
4. The breaker: invalid answers are counted per whole second over a rolling ``invalid_window``
   (600 s). When the count reaches ``stop_fraction`` of Discord's 10,000, the breaker opens:
   every non-essential call (board edits, member fetches), waiting or new, is refused with a
   ``retry_after`` until the window cools, i.e. the count falls below half the stop level (the
   hysteresis keeps it from flapping at the threshold). Opening and closing are each reported
   once (``Step.opened`` / ``Step.closed``), so the shell logs each once. Posts, deletes, reads
   and ESSENTIAL calls go on, paced: they are rare, and without them a board could be lost.

Why a mutable class and not frozen state: the queue may hold thousands of waiting calls and
changes on every call; copying it per call would cost more than the call. The values that cross
the boundary (the policy, a call, a step, a snapshot) are frozen.
"""

from __future__ import annotations

import enum
import heapq
import math
from collections import deque

from attrs import define, field

__all__ = [
    "DISCORD_GLOBAL_PER_SECOND",
    "DISCORD_INVALID_LIMIT",
    "DISCORD_INVALID_WINDOW",
    "Call",
    "CallClass",
    "Refusal",
    "RestBudget",
    "RestPolicy",
    "RestSnapshot",
    "Step",
    "is_invalid",
]

DISCORD_GLOBAL_PER_SECOND = 50
DISCORD_INVALID_LIMIT = 10_000
DISCORD_INVALID_WINDOW = 600.0  # seconds
INVALID_STATUSES = frozenset({401, 403, 429})


class CallClass(enum.IntEnum):
    """Priority order: a lower value goes first."""

    INTERACTION = 0
    ESSENTIAL = 1
    BOARD = 2


def is_invalid(status: int, scope: str | None) -> bool:
    """Whether Discord counts this answer toward the invalid-request ban (a shared 429 does not)."""
    if status not in INVALID_STATUSES:
        return False
    return not (status == 429 and (scope or "").lower() == "shared")


def _positive(_instance: object, attribute: object, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{getattr(attribute, 'name', attribute)} must be positive, not {value!r}")


@define(frozen=True)
class RestPolicy:
    """The numbers of the policy above. ``RestPolicy.of(rate, fraction)`` builds the usual one."""

    rate: float = field(validator=_positive)  # paced calls per second
    burst: float = field(validator=_positive)  # bucket depth, in calls (at least 1)
    stop_fraction: float = 0.5  # of Discord's invalid-request limit, where non-essential calls stop
    max_wait: float = 30.0  # seconds a paced call may wait before it is refused
    max_waiting: int = 10_000  # waiting calls, at most
    age_cap: float = 300.0  # seconds: how far back a caller's waiting_since may rank it
    invalid_limit: int = DISCORD_INVALID_LIMIT
    invalid_window: float = DISCORD_INVALID_WINDOW

    def __attrs_post_init__(self) -> None:
        if self.burst < 1:
            raise ValueError(f"burst must be at least one call, not {self.burst!r}")
        if not 0 < self.stop_fraction < 1:
            raise ValueError(f"stop_fraction must be between 0 and 1, not {self.stop_fraction!r}")

    @classmethod
    def of(cls, rate: float, stop_fraction: float = 0.5) -> RestPolicy:
        """The usual policy at ``rate`` calls/s: a twentieth of a second of burst (at least one
        call), so rate 40 gives at most 42 in any second, a margin below Discord's 50."""
        return cls(rate=rate, burst=max(1.0, rate / 20), stop_fraction=stop_fraction)

    @property
    def stop_at(self) -> int:
        """Invalid requests in the window at which the breaker opens."""
        return max(1, math.ceil(self.invalid_limit * self.stop_fraction))

    @property
    def resume_below(self) -> int:
        """The breaker closes once the window holds fewer than this."""
        return max(1, self.stop_at // 2)


@define(frozen=True)
class Call:
    """One REST request asking to go. ``nonessential``: the breaker may stop it (edits, member
    fetches). ``waiting_since``: when the change it carries began to wait (None: now)."""

    id: int
    klass: CallClass
    nonessential: bool = False
    waiting_since: float | None = None


@define(frozen=True)
class Refusal:
    """Not now: try again in ``retry_after`` seconds. ``reason``: ``breaker``, ``deadline``, ``full``."""

    retry_after: float
    reason: str


@define(frozen=True)
class Step:
    """What the shell must do after one input: release ``granted``, refuse ``refused``, and log
    the breaker's change, if any (each is reported once per change)."""

    granted: tuple[int, ...] = ()
    refused: tuple[tuple[int, Refusal], ...] = ()
    opened: bool = False
    closed: bool = False


@define(frozen=True)
class RestSnapshot:
    """What /metrics shows, as of ``now``."""

    granted: dict[str, int]
    waited_seconds: dict[str, float]
    refused: dict[str, int]
    waiting: dict[str, int]
    invalid_in_window: int
    invalid_total: int
    breaker_open: bool


@define(frozen=True)
class _Waiter:
    call: Call
    arrived: float
    key: float  # the clamped waiting_since


class RestBudget:
    """The machine of the module docstring. Inputs: ``arrive``, ``cancel``, ``answered``,
    ``advance``; outputs: ``Step``s, ``next_wake`` and ``snapshot``."""

    def __init__(self, policy: RestPolicy, now: float) -> None:
        self.policy = policy
        # The bucket as GCRA (a virtual schedule): the next call is due at ``_tat``, and may go up
        # to ``_tau`` early; each grant moves ``_tat`` one interval on. The same bound as a token
        # bucket of depth ``burst``, without float residue: ``next_wake`` is exactly the time
        # at which ``advance`` grants.
        self._interval = 1.0 / policy.rate
        self._tau = (policy.burst - 1.0) * self._interval
        self._tat = now
        self._queue: list[tuple[int, float, int]] = []  # (class, key, id): a heap
        self._deadlines: list[tuple[float, int]] = []  # (deadline, id): a heap
        self._waiting: dict[int, _Waiter] = {}
        self._invalid: deque[list[int]] = deque()  # [second, count], oldest first
        self._invalid_count = 0
        self._invalid_total = 0
        self._open = False
        self._granted = {k.name: 0 for k in CallClass}
        self._waited = {k.name: 0.0 for k in CallClass}
        self._refused = {"breaker": 0, "deadline": 0, "full": 0}

    # -- inputs ---------------------------------------------------------------------------------

    def arrive(self, call: Call, now: float) -> Step:
        """A call asks to go. It may be granted at once, refused at once, or wait (then a later
        ``advance`` grants or refuses it)."""
        if call.id in self._waiting:
            raise ValueError(f"call {call.id} is already waiting")
        opened, closed = self._cool(now)
        if call.klass is CallClass.INTERACTION:
            self._granted[call.klass.name] += 1
            return Step(granted=(call.id,), opened=opened, closed=closed)
        if call.nonessential and self._open:
            return Step(refused=((call.id, self._refuse("breaker", now)),), opened=opened, closed=closed)
        if call.klass is CallClass.BOARD and len(self._waiting) >= self.policy.max_waiting:
            refusal = self._refuse("full", now, self._drain_time())
            return Step(refused=((call.id, refusal),), opened=opened, closed=closed)
        since = now if call.waiting_since is None else call.waiting_since
        key = min(now, max(since, now - self.policy.age_cap))
        self._waiting[call.id] = _Waiter(call, now, key)
        heapq.heappush(self._queue, (int(call.klass), key, call.id))
        heapq.heappush(self._deadlines, (now + self.policy.max_wait, call.id))
        step = self._run(now, opened)
        return Step(step.granted, step.refused, opened, closed)

    def cancel(self, call_id: int) -> None:
        """A waiting call gave up (its caller was cancelled); unknown ids are ignored."""
        self._waiting.pop(call_id, None)  # its heap entries are skipped when they surface

    def answered(self, status: int, scope: str | None, now: float) -> Step:
        """Discord answered a request with ``status`` (``scope``: its X-RateLimit-Scope header)."""
        if is_invalid(status, scope):
            second = math.floor(now)
            if self._invalid and self._invalid[-1][0] == second:
                self._invalid[-1][1] += 1
            else:
                self._invalid.append([second, 1])
            self._invalid_count += 1
            self._invalid_total += 1
        return self.advance(now)

    def advance(self, now: float) -> Step:
        """Time has passed (the shell calls this at ``next_wake``): grant, expire, cool."""
        opened, closed = self._cool(now)
        step = self._run(now, opened)
        return Step(step.granted, step.refused, opened, closed)

    # -- outputs --------------------------------------------------------------------------------

    def next_wake(self, now: float) -> float | None:
        """When ``advance`` next has something to do (None: nothing until another input)."""
        times: list[float] = []
        self._prune()
        if self._queue:
            times.append(max(now, self._tat - self._tau))
        if self._deadlines:
            times.append(self._deadlines[0][0])
        if self._open:
            times.append(self._cools_at())
        return min(times) if times else None

    @property
    def breaker_open(self) -> bool:
        return self._open

    def snapshot(self, now: float) -> RestSnapshot:
        self._expire_invalid(now)
        waiting = {k.name: 0 for k in CallClass}
        for waiter in self._waiting.values():
            waiting[waiter.call.klass.name] += 1
        return RestSnapshot(
            granted=dict(self._granted),
            waited_seconds=dict(self._waited),
            refused=dict(self._refused),
            waiting=waiting,
            invalid_in_window=self._invalid_count,
            invalid_total=self._invalid_total,
            breaker_open=self._open,
        )

    # -- inside ---------------------------------------------------------------------------------

    def _prune(self) -> None:
        """Drop heap entries of calls no longer waiting (granted, refused or cancelled)."""
        while self._queue and self._queue[0][2] not in self._waiting:
            heapq.heappop(self._queue)
        while self._deadlines and self._deadlines[0][1] not in self._waiting:
            heapq.heappop(self._deadlines)

    def _run(self, now: float, opened: bool) -> Step:
        refused: list[tuple[int, Refusal]] = []
        if opened:  # a breaker that just opened refuses the non-essential calls already waiting
            for call_id, waiter in list(self._waiting.items()):
                if waiter.call.nonessential:
                    del self._waiting[call_id]
                    refused.append((call_id, self._refuse("breaker", now)))
        granted: list[int] = []
        self._prune()
        while self._queue and now >= self._tat - self._tau:
            _, _, call_id = heapq.heappop(self._queue)
            waiter = self._waiting.pop(call_id)
            self._tat = max(self._tat, now) + self._interval
            name = waiter.call.klass.name
            self._granted[name] += 1
            self._waited[name] += now - waiter.arrived
            granted.append(call_id)
            self._prune()
        # Then the deadlines: a call that can go at its deadline goes.
        self._prune()
        while self._deadlines and self._deadlines[0][0] <= now:
            _, call_id = heapq.heappop(self._deadlines)
            if self._waiting.pop(call_id, None) is not None:
                refused.append((call_id, self._refuse("deadline", now, self._drain_time())))
            self._prune()
        return Step(tuple(granted), tuple(refused))

    def _refuse(self, reason: str, now: float, retry_after: float | None = None) -> Refusal:
        self._refused[reason] += 1
        if retry_after is None:
            retry_after = max(0.0, self._cools_at() - now)
        return Refusal(max(retry_after, 1.0 / self.policy.rate), reason)

    def _drain_time(self) -> float:
        """How long the calls waiting now take to go at ``rate``: a fair retry_after."""
        return len(self._waiting) / self.policy.rate

    def _expire_invalid(self, now: float) -> None:
        horizon = now - self.policy.invalid_window
        while self._invalid and self._invalid[0][0] + 1 <= horizon:
            self._invalid_count -= self._invalid.popleft()[1]

    def _cool(self, now: float) -> tuple[bool, bool]:
        """Open or close the breaker by the window's count now: (opened, closed)."""
        self._expire_invalid(now)
        if not self._open and self._invalid_count >= self.policy.stop_at:
            self._open = True
            return True, False
        if self._open and self._invalid_count < self.policy.resume_below:
            self._open = False
            return False, True
        return False, False

    def _cools_at(self) -> float:
        """When the window will hold fewer than ``resume_below`` if nothing new comes in."""
        left = self._invalid_count
        for second, count in self._invalid:
            if left < self.policy.resume_below:
                break
            left -= count
            if left < self.policy.resume_below:
                return second + 1 + self.policy.invalid_window
        return self._invalid[0][0] + 1 + self.policy.invalid_window if self._invalid else 0.0
