"""What both sides of end_to_end share: the seeded chat, and a reader that sees committed counts.

Kept free of trio_asyncio (which patches asyncio when imported), so the asyncio baseline can use it.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import disnake

from discord_sim.crowd import Scenario, build_scenario
from discord_sim.server import DiscordSim
from discord_sim.world import SimChannel, SimMember

TOKEN = "bench-token-not-a-secret"
MEMBERS = 1_000
CHUNK = 100  # messages the simulator queues before it yields to the loop
POLL_SECONDS = 0.01
SEED = 20
# disnake waits this long after the last GUILD_CREATE before READY (2 s by default). Startup is not
# timed, so both sides wait less, which keeps every repetition (and the smoke test) short.
GUILD_READY_TIMEOUT = 0.1

Plan = list[tuple[SimChannel, SimMember]]


def chat(n: int) -> tuple[DiscordSim, Scenario, Plan]:
    """A simulator with one seeded guild of ``MEMBERS`` humans, and who says what where."""
    sim = DiscordSim(token=TOKEN)
    scenario = build_scenario(sim, random.Random(SEED), members=MEMBERS)
    rng = random.Random(SEED)
    plan = [(rng.choice(scenario.text_channels), rng.choice(scenario.humans)) for _ in range(n)]
    return sim, scenario, plan


def committed_reader(db: Path, guild_id: int) -> Callable[[], int]:
    """A blocking read of the messages committed for ``guild_id`` (run it in a worker thread)."""
    conn = sqlite3.connect(db, check_same_thread=False)  # whichever worker thread polls

    def read() -> int:
        row = conn.execute("SELECT COALESCE(SUM(messages), 0) FROM activity WHERE guild_id = ?", [guild_id])
        return int(row.fetchone()[0])

    return read


STEADY = (0.1, 0.9)  # the share of the messages committed between which the steady rate is timed


class CommitMarks:
    """When the committed count first reached each end of the steady window (``STEADY``), and the
    count seen then.

    The figure is the rate between the two: a run's first batches (the client warming up) and its
    last (a remainder that waits for the flush timer, ``MESSAGE_FLUSH_SECONDS``, because the
    counter commits whatever has collected, not whole batches) are left out on both sides alike.
    Commits land in steps (a batch, or a group of them), so the rate is the messages actually
    committed between the two sightings over the time between them, never the window's nominal size.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.low, self.high = (max(1, round(n * share)) for share in STEADY)
        self.low_seen: tuple[float, int] | None = None  # (perf_counter, committed)
        self.high_seen: tuple[float, int] | None = None

    def see(self, committed: int) -> None:
        now = time.perf_counter()
        if self.low_seen is None and committed >= self.low:
            self.low_seen = (now, committed)
        if self.high_seen is None and committed >= self.high:
            self.high_seen = (now, committed)

    def steady_rate(self, whole_run_seconds: float) -> float:
        """Messages per second between the two sightings; the whole run's rate when one commit
        took the count past both marks at once (tiny runs: no window to time)."""
        assert self.low_seen is not None and self.high_seen is not None, "the run did not finish"
        (t0, c0), (t1, c1) = self.low_seen, self.high_seen
        if c1 <= c0:
            return self.n / whole_run_seconds
        return (c1 - c0) / max(t1 - t0, POLL_SECONDS)


@contextlib.contextmanager
def quick_ready() -> Iterator[None]:
    """Clients made inside wait ``GUILD_READY_TIMEOUT`` for guilds, not 2 s (a startup wait only)."""
    defaults = disnake.Client.__init__.__kwdefaults__
    saved = defaults["guild_ready_timeout"]
    defaults["guild_ready_timeout"] = GUILD_READY_TIMEOUT
    try:
        yield
    finally:
        defaults["guild_ready_timeout"] = saved
