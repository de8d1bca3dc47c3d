"""Period math: UTC only, boundaries exact, intervals split at resets."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.periods import DAY, PeriodSpec, day_floor, iso_date
from tests.harness import host_tz

ANCHOR = 1_767_225_600.0  # 2026-01-01T00:00:00Z
SPEC = PeriodSpec(ANCHOR, 30 * DAY)


def test_index_and_bounds() -> None:
    assert SPEC.index_at(ANCHOR) == 0
    assert SPEC.index_at(ANCHOR + 30 * DAY - 0.001) == 0
    assert SPEC.index_at(ANCHOR + 30 * DAY) == 1
    assert SPEC.index_at(ANCHOR - 1) == -1
    assert SPEC.next_boundary(ANCHOR + 5) == ANCHOR + 30 * DAY
    assert iso_date(SPEC.end_of(0)) == "2026-01-31"


def test_split_keeps_seconds_before_a_reset_in_the_old_period() -> None:
    boundary = SPEC.end_of(0)
    assert SPEC.split(boundary - 90, boundary + 30) == [
        (0, boundary - 90, boundary),
        (1, boundary, boundary + 30),
    ]
    assert SPEC.split(boundary, boundary) == []


def test_resets_owed_after_downtime_across_three_boundaries() -> None:
    assert list(SPEC.finished_between(ANCHOR + DAY, ANCHOR + 95 * DAY)) == [0, 1, 2]
    assert list(SPEC.finished_between(ANCHOR + DAY, ANCHOR + 2 * DAY)) == []


def test_host_time_zone_changes_nothing() -> None:
    before = (SPEC.index_at(ANCHOR + 29.9 * DAY), day_floor(ANCHOR + 3.5 * DAY), iso_date(ANCHOR))
    with host_tz("Pacific/Kiritimati"):  # UTC+14
        assert (SPEC.index_at(ANCHOR + 29.9 * DAY), day_floor(ANCHOR + 3.5 * DAY), iso_date(ANCHOR)) == before


@settings(derandomize=True, max_examples=300)
@given(
    start=st.integers(0, 400 * DAY),
    length=st.integers(0, 100 * DAY),
    period_days=st.integers(1, 60),
)
def test_split_pieces_tile_the_interval_and_each_lies_in_its_period(
    start: int, length: int, period_days: int
) -> None:
    spec = PeriodSpec(ANCHOR, period_days * DAY)
    a, b = ANCHOR + start, ANCHOR + start + length
    pieces = spec.split(a, b)
    assert sum(e - s for _, s, e in pieces) == b - a
    for index, s, e in pieces:
        assert spec.start_of(index) <= s < e <= spec.end_of(index)
    assert [p[0] for p in pieces] == list(range(spec.index_at(a), spec.index_at(a) + len(pieces)))
