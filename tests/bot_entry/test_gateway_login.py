"""The login retry loop is bounded: Discord failing every try ends in one clear error, not a hang."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot_entry import gateway
from bot_entry.gateway import GatewayUnavailable
from domain.backoff import Backoff
from domain.clock import WallClock
from tests.harness import running_bot, settings_for, simulator


def find(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    if isinstance(exc, kind):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            if (found := find(inner, kind)) is not None:
                return found
    return None


async def test_a_login_that_always_fails_gives_up_after_the_bounded_tries(
    autojump_clock: object,
    aio_loop: object,
    clock: WallClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(gateway, "LOGIN_BACKOFF", Backoff(attempts=3, first=1.0))
    async with simulator(clock, seed=1, members=2) as scenario:
        sim = scenario.sim
        sim.faults.fail_next(1_000, status=503)  # Discord is down for good
        with pytest.raises(BaseExceptionGroup) as stopped:
            async with running_bot(sim, settings_for(tmp_path / "lb.db"), clock):
                pytest.fail("the bot must not get ready")
        logins = [path for method, path, _ in sim.world.rest_calls if path.endswith("/users/@me")]
    error = find(stopped.value, GatewayUnavailable)
    assert error is not None, stopped.value
    assert "after 3 tries: Discord answered 503" in str(error)
    assert len(logins) == 3
