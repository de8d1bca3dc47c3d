from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio_asyncio

from domain.clock import WallClock
from tests.harness import EPOCH, SCENARIO_MARKER, scenario

__all__ = ["aio_loop", "clock", "scenario"]  # ``scenario``: a started simulator (tests/harness.py)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", SCENARIO_MARKER)


@pytest.fixture
async def aio_loop() -> AsyncIterator[object]:
    """The trio-asyncio loop disnake and the simulator run in."""
    async with trio_asyncio.open_loop() as loop:
        yield loop


@pytest.fixture
def clock(request: pytest.FixtureRequest) -> WallClock:
    """Wall time under MockClock: starts at EPOCH, jumps whenever every task is blocked.

    pytest-trio only runs a test on a mock clock that the test requests by name, so a test that
    asks for ``clock`` must also ask for ``autojump_clock``; this guard makes forgetting it loud.
    """
    if "autojump_clock" not in request.fixturenames:
        raise pytest.UsageError("request autojump_clock alongside clock, so time is virtual")
    return WallClock(offset=EPOCH)
