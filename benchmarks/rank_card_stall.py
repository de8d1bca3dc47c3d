"""rank_card_stall_ms: the event loop's worst delay while /rank cards render (see ``rank_card``)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.common import Sample, Size
from benchmarks.rank_card import stall_sample


def sample(size: Size, cache: Path, rep: int = 0) -> Sample:
    return stall_sample(size, cache, rep)
