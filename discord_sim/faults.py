"""Fault injection: what a test can make the simulated Discord do wrong, on purpose.

REST faults are decisions the REST layer asks for on every call (``before_call``); gateway
faults act on the live websockets at once. Every method is synchronous so a test can call it
from Trio or asyncio code alike. Each injected fault is appended to ``log`` as
``(kind, detail)`` so a test can check that the fault really happened.
"""

from __future__ import annotations

import fnmatch
import random
from typing import TYPE_CHECKING, Any

from attrs import define

from discord_sim.ratelimit import Verdict, too_many

if TYPE_CHECKING:
    from discord_sim.gateway import Gateway

# What Discord's edge answers for a 502: an HTML page, not JSON.
BAD_GATEWAY_HTML = "<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>"


@define
class ForcedRateLimit:
    pattern: str
    times: int
    retry_after: float
    is_global: bool


@define
class HeldAnswer:
    pattern: str
    times: int
    seconds: float


@define(frozen=True)
class FailedCall:
    """An injected error answer: status and a JSON body, or HTML text for 502s."""

    status: int
    body: Any
    content_type: str


class Faults:
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self._fail_next: list[int] = []
        self._fail_fraction = 0.0
        self._fraction_status = 502
        self._rng = random.Random(0)
        self._rate_limits: list[ForcedRateLimit] = []
        self._held: list[HeldAnswer] = []
        self.delay = 0.0  # seconds every REST answer waits (on the simulator's clock)
        self.log: list[tuple[str, str]] = []

    # -- REST -----------------------------------------------------------------------------------

    def fail_next(self, n: int = 1, *, status: int = 500) -> None:
        """The next ``n`` REST calls fail with ``status`` (500, 502, 503, 504...)."""
        self._fail_next.extend([status] * n)

    def fail_fraction(self, fraction: float, *, status: int = 502, seed: int = 0) -> None:
        """From now on each REST call fails with probability ``fraction`` (seeded; 0 stops)."""
        self._fail_fraction = fraction
        self._fraction_status = status
        self._rng = random.Random(seed)

    def set_delay(self, seconds: float) -> None:
        """Every REST answer waits ``seconds`` first (0 to stop)."""
        self.delay = seconds

    def rate_limit(
        self, route: str, *, times: int = 1, retry_after: float = 1.5, is_global: bool = False
    ) -> None:
        """The next ``times`` calls matching ``route`` get 429 with ``retry_after``.

        ``route`` is ``"METHOD /template"`` as in ``RateLimits.rules`` (e.g.
        ``"POST /channels/{channel_id}/messages"``) or a glob over ``"METHOD /concrete/path"``
        (e.g. ``"PATCH /channels/123/messages/*"``). Paths are given without ``/api/v10``.
        """
        self._rate_limits.append(ForcedRateLimit(route, times, retry_after, is_global))

    def hold_answer(self, route: str, *, seconds: float, times: int = 1) -> None:
        """The next ``times`` calls matching ``route`` (as in ``rate_limit``) are carried out, then
        their answer waits ``seconds``: a client whose deadline is shorter has lost an answer to a
        call that did happen (a post it may retry)."""
        self._held.append(HeldAnswer(route, times, seconds))

    def after_call(self, method: str, route: str, path: str) -> float:
        """Called by the REST layer once a call is carried out: seconds to hold its answer."""
        for held in self._held:
            if held.times > 0 and _matches(held.pattern, method, route, path):
                held.times -= 1
                self.log.append(("held", f"{method} {path}"))
                return held.seconds
        return 0.0

    def before_call(self, method: str, route: str, path: str) -> FailedCall | Verdict | None:
        """Called by the REST layer for each call: an injected answer, or None to proceed."""
        for forced in self._rate_limits:
            if forced.times > 0 and _matches(forced.pattern, method, route, path):
                forced.times -= 1
                self.log.append(("429", f"{method} {path}"))
                return too_many(forced.retry_after, is_global=forced.is_global)
        status = None
        if self._fail_next:
            status = self._fail_next.pop(0)
        elif self._fail_fraction and self._rng.random() < self._fail_fraction:
            status = self._fraction_status
        if status is None:
            return None
        self.log.append((str(status), f"{method} {path}"))
        if status == 502:
            return FailedCall(502, BAD_GATEWAY_HTML, "text/html")
        return FailedCall(
            status, {"message": f"{status}: Internal Server Error", "code": 0}, "application/json"
        )

    # -- gateway --------------------------------------------------------------------------------

    def drop_websockets(self) -> None:
        """Cut every gateway connection now, without a close frame (the client should RESUME)."""
        self.log.append(("drop", f"{self._gateway.drop_all()} connections"))

    def drop_shard(self, shard_id: int) -> int:
        """Cut the connections of one shard's sessions now (the others stay up; it should RESUME)."""
        dropped = self._gateway.drop_shard(shard_id)
        self.log.append(("drop_shard", f"{shard_id}: {dropped} connections"))
        return dropped

    def drop_after(self, frames: int) -> None:
        """Cut every gateway connection right after ``frames`` more dispatches are written."""
        self.log.append(("drop_after", str(frames)))
        self._gateway.drop_after(frames)

    def reconnect(self) -> None:
        """Send op 7 RECONNECT to every connection, then close it (the client should RESUME)."""
        self.log.append(("reconnect", ""))
        self._gateway.request_reconnect()

    def invalid_session(self, *, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION; unless ``resumable`` the sessions are forgotten."""
        self.log.append(("invalid_session", str(resumable)))
        self._gateway.invalidate_sessions(resumable=resumable)

    def malformed(self, event: str = "MESSAGE_CREATE", data: Any = None) -> None:
        """Dispatch a payload that breaks Discord's contract (a bot must survive it)."""
        junk = data if data is not None else {"id": "not-a-snowflake", "channel_id": None, "author": 7}
        self.log.append(("malformed", event))
        self._gateway.send_raw(event, junk)


def _matches(pattern: str, method: str, route: str, path: str) -> bool:
    """``pattern`` is a route template (``"POST /channels/{channel_id}/messages"``) or a glob over
    the concrete ``"METHOD /path"``."""
    return route == pattern or fnmatch.fnmatchcase(f"{method} {path}", pattern)
