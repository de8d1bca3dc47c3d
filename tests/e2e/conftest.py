"""Fixtures for whole-path runs: ``scenario``, a started simulator (tests/harness.py)."""

from __future__ import annotations

import pytest

from tests.harness import SCENARIO_MARKER, scenario

__all__ = ["scenario"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", SCENARIO_MARKER)
