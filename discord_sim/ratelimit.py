"""Discord's REST rate limits as a pure model: fixed windows per route bucket, a global limit.

Theory of operation (https://discord.com/developers/docs/topics/rate-limits): each route has a
bucket (``X-RateLimit-Bucket``, the same for every channel) and a window per top-level resource
(channel, guild, webhook). The first request opens a window of ``per`` seconds with ``limit``
requests; past that the API answers 429 until the window resets. Every answer carries the
``X-RateLimit-*`` headers that let a client (disnake does) wait before it is refused.
Interaction and webhook-token routes are outside the global limit, as on Discord.

Times are arguments (seconds on the simulator's clock): this module never reads a clock.
"""

from __future__ import annotations

import hashlib
import math

from attrs import define, field

GLOBAL_BODY_MESSAGE = "You are being rate limited."


@define(frozen=True)
class Rule:
    limit: int
    per: float  # seconds


# Defaults close to what Discord answers today; a test may change ``RateLimits.rules``.
DEFAULT_RULES: dict[str, Rule] = {
    "POST /channels/{channel_id}/messages": Rule(5, 5.0),
    "PATCH /channels/{channel_id}/messages/{message_id}": Rule(5, 5.0),
    "DELETE /channels/{channel_id}/messages/{message_id}": Rule(5, 1.0),
    "PUT /applications/{application_id}/commands": Rule(4, 20.0),
    "PUT /applications/{application_id}/guilds/{guild_id}/commands": Rule(4, 20.0),
    "POST /webhooks/{application_id}/{token}": Rule(5, 2.0),
    "PATCH /webhooks/{application_id}/{token}/messages/{message_id}": Rule(5, 2.0),
}
DEFAULT_RULE = Rule(50, 1.0)
# Discord does not publish this quota: the default of ``rules.SimRules.old_message_edits``.
OLD_MESSAGE_EDITS = Rule(5, 3600.0)


@define
class Window:
    remaining: int
    reset_at: float


@define(frozen=True)
class Verdict:
    """What to answer: go ahead (with these headers) or 429 after ``retry_after`` seconds."""

    allowed: bool
    headers: dict[str, str]
    retry_after: float = 0.0
    is_global: bool = False

    def body(self) -> dict[str, object]:
        return {
            "message": GLOBAL_BODY_MESSAGE,
            "retry_after": round(self.retry_after, 3),
            "global": self.is_global,
        }


def bucket_hash(route: str) -> str:
    return hashlib.sha1(route.encode()).hexdigest()[:16]


def too_many(retry_after: float, *, is_global: bool = False, bucket: str | None = None) -> Verdict:
    """A 429 verdict (also used by fault injection, which forces one)."""
    headers = {
        "Retry-After": str(max(1, math.ceil(retry_after))),
        "X-RateLimit-Scope": "global" if is_global else "user",
    }
    if is_global:
        headers["X-RateLimit-Global"] = "true"
    if bucket is not None:
        headers["X-RateLimit-Bucket"] = bucket
    return Verdict(False, headers, retry_after, is_global)


@define
class RateLimits:
    """Route buckets, the global limit, and the quota on editing old messages.

    ``rules`` maps ``"METHOD /route/{template}"`` to a ``Rule``; others get ``default``.
    ``global_per_second`` None disables the global limit. ``old_message_edits`` limits edits to
    messages older than ``old_message_age`` seconds, per channel, answering error 30046.
    """

    rules: dict[str, Rule] = field(factory=lambda: dict(DEFAULT_RULES))
    default: Rule | None = DEFAULT_RULE
    global_per_second: int | None = 50
    old_message_edits: Rule | None = OLD_MESSAGE_EDITS
    old_message_age: float = 3600.0
    # Seconds a bot has for its first answer to an interaction; None: no deadline.
    interaction_ack_seconds: float | None = 3.0
    interaction_token_seconds: float = 15 * 60.0
    _windows: dict[tuple[str, str], Window] = field(factory=dict, init=False)
    _edits: dict[str, Window] = field(factory=dict, init=False)

    def check(self, route: str, major: str, now: float, *, exempt_global: bool = False) -> Verdict:
        """Count one request to ``route`` on resource ``major``; say whether it may proceed."""
        if self.global_per_second is not None and not exempt_global:
            window = self._take(self._windows, ("global", ""), Rule(self.global_per_second, 1.0), now)
            if window is None:
                reset = self._windows[("global", "")].reset_at
                return too_many(reset - now, is_global=True)
        rule = self.rules.get(route, self.default)
        if rule is None:
            return Verdict(True, {})
        bucket = bucket_hash(route)
        window = self._take(self._windows, (bucket, major), rule, now)
        current = self._windows[(bucket, major)]
        headers = {
            "X-RateLimit-Limit": str(rule.limit),
            "X-RateLimit-Remaining": str(current.remaining),
            "X-RateLimit-Reset": f"{current.reset_at:.3f}",
            "X-RateLimit-Reset-After": f"{max(0.0, current.reset_at - now):.3f}",
            "X-RateLimit-Bucket": bucket,
        }
        if window is None:
            verdict = too_many(current.reset_at - now, bucket=bucket)
            return Verdict(False, headers | verdict.headers, verdict.retry_after)
        return Verdict(True, headers)

    def as_route_429(self, forced: Verdict, route: str, now: float) -> Verdict:
        """An injected 429 with the headers Discord sends on a route 429: the route's bucket,
        its limit, none remaining, and the reset ``retry_after`` from now. A global one is left
        as it is (Discord's global 429s are not about a bucket)."""
        if forced.is_global:
            return forced
        rule = self.rules.get(route, self.default)
        headers = {
            "X-RateLimit-Limit": str(rule.limit if rule is not None else 1),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{now + forced.retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{forced.retry_after:.3f}",
            "X-RateLimit-Bucket": bucket_hash(route),
        }
        return Verdict(False, headers | forced.headers, forced.retry_after)

    def old_edit_allowed(self, channel_id: int, now: float) -> bool:
        """Count an edit of an old message in ``channel_id``; False once the quota is spent."""
        if self.old_message_edits is None:
            return True
        return self._take(self._edits, str(channel_id), self.old_message_edits, now) is not None

    @staticmethod
    def _take(windows: dict, key: object, rule: Rule, now: float) -> Window | None:
        window = windows.get(key)
        if window is None or now >= window.reset_at:
            window = windows[key] = Window(rule.limit, now + rule.per)
        if window.remaining <= 0:
            return None
        window.remaining -= 1
        return window
