"""voice_actor_memory_100k: ``voice_actor_memory`` at 100,000 users in voice (1,000 guilds).

The same measurement ten times larger, to show the cost per session is flat: nothing of a session
(its inbox, its task, its checkpoint timer, the router's and the ledger's entries) grows with the
number of other sessions.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.common import Sample, Size
from benchmarks.voice_actor_memory import sample_at


def sample(size: Size, cache: Path, rep: int = 0) -> Sample:
    return sample_at(size.pick(1_000, 100_000, 100_000), cache, rep)
