"""The poster's one table: Discord's error answers as the board schedule understands them."""

from __future__ import annotations

import pytest

from actors.board_schedule import Failed, MessageMissing, NoAccess, OldMessageQuota, RateLimited
from bot_entry.board_poster import outcome_of_error


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (429, 0, RateLimited(2.5)),
        (400, 30046, OldMessageQuota()),
        (404, 10008, MessageMissing()),
        (404, 10003, NoAccess(10003, "unknown channel")),
        (403, 50001, NoAccess(50001, "missing access")),
        (403, 50013, NoAccess(50013, "missing permissions")),
        (400, 50008, NoAccess(50008, "not a text channel")),
        (403, 0, NoAccess(0, "forbidden")),
    ],
)
def test_each_discord_error_has_one_meaning(status: int, code: int, expected: object) -> None:
    assert outcome_of_error(status, code, "text", retry_after=2.5) == expected


def test_other_errors_are_failures_that_say_what_happened() -> None:
    outcome = outcome_of_error(400, 50035, "Invalid Form Body")
    assert isinstance(outcome, Failed) and "50035" in outcome.detail and "Invalid Form Body" in outcome.detail
    assert outcome_of_error(429, 0, "") == RateLimited(5.0)  # no Retry-After header: a safe default
