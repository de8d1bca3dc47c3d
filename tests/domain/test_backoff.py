from __future__ import annotations

import pytest

from domain.backoff import Backoff


def test_waits_double_up_to_the_cap_and_end() -> None:
    assert list(Backoff(attempts=5, first=1.0, cap=3.0).waits()) == [0.0, 1.0, 2.0, 3.0, 3.0]


def test_one_attempt_never_waits() -> None:
    assert list(Backoff(attempts=1).waits()) == [0.0]
    assert Backoff(attempts=1).total_wait == 0.0


def test_total_wait_is_the_bound() -> None:
    assert Backoff(attempts=4, first=0.5, cap=10.0).total_wait == 0.5 + 1.0 + 2.0


@pytest.mark.parametrize("attempts", [0, -1])
def test_a_schedule_without_tries_is_refused(attempts: int) -> None:
    with pytest.raises(ValueError):
        Backoff(attempts=attempts)
