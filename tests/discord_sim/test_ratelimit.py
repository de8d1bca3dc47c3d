"""The rate-limit model, with time as an argument: windows, headers, the global limit, old edits."""

from __future__ import annotations

import pytest

from discord_sim.ratelimit import RateLimits, Rule

POST = "POST /channels/{channel_id}/messages"


def test_a_bucket_allows_its_limit_per_window_then_refuses_until_reset() -> None:
    limits = RateLimits(global_per_second=None)
    verdicts = [limits.check(POST, "channel_id:1", 100.0 + i * 0.1) for i in range(6)]
    assert [v.allowed for v in verdicts] == [True] * 5 + [False]
    assert [v.headers["X-RateLimit-Remaining"] for v in verdicts[:5]] == ["4", "3", "2", "1", "0"]
    assert verdicts[0].headers["X-RateLimit-Reset"] == "105.000"
    assert verdicts[4].headers["X-RateLimit-Reset-After"] == "4.600"
    assert verdicts[5].retry_after == pytest.approx(4.5)
    assert verdicts[5].headers["Retry-After"] == "5"
    assert verdicts[5].body() == {
        "message": "You are being rate limited.",
        "retry_after": 4.5,
        "global": False,
    }
    assert limits.check(POST, "channel_id:1", 105.0).allowed, "a new window"


def test_each_channel_has_its_own_window_under_one_bucket_id() -> None:
    limits = RateLimits(global_per_second=None)
    for _ in range(5):
        limits.check(POST, "channel_id:1", 0.0)
    other = limits.check(POST, "channel_id:2", 0.0)
    assert other.allowed
    assert (
        other.headers["X-RateLimit-Bucket"]
        == limits.check(POST, "channel_id:1", 0.0).headers["X-RateLimit-Bucket"]
    )


def test_the_global_limit_and_what_is_exempt() -> None:
    limits = RateLimits(global_per_second=3, default=None)
    route = "GET /users/@me"
    assert [limits.check(route, "", 0.0).allowed for _ in range(4)] == [True, True, True, False]
    refused = limits.check(route, "", 0.5)
    assert (
        refused.is_global,
        refused.headers["X-RateLimit-Global"],
        refused.headers["X-RateLimit-Scope"],
    ) == (
        True,
        "true",
        "global",
    )
    assert limits.check(
        "POST /interactions/{interaction_id}/{token}/callback", "t", 0.5, exempt_global=True
    ).allowed
    assert limits.check(route, "", 1.0).allowed


def test_edits_of_old_messages_have_their_own_quota_per_channel() -> None:
    limits = RateLimits(old_message_edits=Rule(2, 3600.0))
    assert [limits.old_edit_allowed(1, 0.0) for _ in range(3)] == [True, True, False]
    assert limits.old_edit_allowed(2, 0.0)
    assert limits.old_edit_allowed(1, 3600.0)
    assert RateLimits(old_message_edits=None).old_edit_allowed(1, 0.0)
