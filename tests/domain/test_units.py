"""Voice time converts between stored milliseconds and shown seconds in one place only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from domain.units import exact_seconds, seconds_text, voice_ms, whole_seconds

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("ms", "whole", "text"),
    [
        (0, 0, "0.000"),
        (999, 0, "0.999"),
        (1_000, 1, "1.000"),
        (61_500, 61, "61.500"),
        (3_600_001, 3_600, "3600.001"),
    ],
)
def test_stored_milliseconds_as_seconds(ms: int, whole: int, text: str) -> None:
    assert whole_seconds(ms) == whole  # rounded down: never more than was counted
    assert seconds_text(ms) == text and exact_seconds(ms) == ms / 1000


def test_counted_seconds_as_milliseconds() -> None:
    assert voice_ms(60.0) == 60_000 and voice_ms(0.0004) == 0 and voice_ms(1.2345) == 1_234


def test_no_other_module_of_the_bot_converts_milliseconds_to_seconds() -> None:
    """The /rank embed, the CSV and the store once converted on their own; a drift between them
    shows one member two different times."""
    pattern = re.compile(r"(//|/|\*)\s*1_?000\b")
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for folder in ("actors", "bot_entry", "persistence", "wiring")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line.split("#")[0]) and "BUSY_SECONDS" not in line
    ]
    assert found == []
