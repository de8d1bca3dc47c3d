"""Soak: days of simulated time through the in-process pipeline (MockClock), RSS sampled hourly.

``python -m tests.faults.chaos --soak DAYS`` runs it and prints the result: memory over time and
its slope over the second half, which should be flat.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import trio

from domain.clock import WallClock


def rss_bytes() -> int:
    """This process's resident set size now (Linux)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x."""
    n = len(points)
    mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0


async def soak(
    db: Path, *, days: float = 7.0, users: int = 3_000, per_second: float = 2.0, seed: int = 1
) -> dict[str, Any]:
    """``days`` of simulated time (MockClock, inline store) at ``per_second`` messages plus voice
    traffic from ``users`` members in 3 guilds; RSS and the pipeline's tables sampled hourly."""
    from domain.events import Event, GuildSnapshot, MessageSent, VoiceStateChanged
    from tests.harness import EPOCH, settings_for
    from wiring.pipeline import Pipeline

    rng = random.Random(seed)
    clock = WallClock.starting_at(EPOCH)
    # A reset every day; checkpoints and flushes less often than in production, so a week of
    # thousands of open voice sessions runs in minutes (memory does not depend on how often).
    settings = settings_for(
        db,
        PERIOD_DAYS="1",
        VOICE_CHECKPOINT_SECONDS="600",
        MESSAGE_FLUSH_SECONDS="30",
        VOICE_FLUSH_SECONDS="30",
    )
    pipeline = Pipeline(settings.pipeline, clock, inline_db=True)
    guilds = [1_000 + g for g in range(3)]
    channels = {g: [g * 100 + c for c in range(4)] for g in guilds}  # the last one is the AFK channel
    members = [(rng.choice(guilds), 10_000 + u) for u in range(users)]
    where: dict[tuple[int, int], int] = {}
    samples: list[tuple[float, int, int, int]] = []  # day, rss, voice sessions, dedupe window
    send, receive = trio.open_memory_channel[Event](10_000)
    next_id = 10**15
    burst = 10.0  # seconds of traffic sent at once
    async with trio.open_nursery() as nursery:
        await nursery.start(pipeline.run, receive)
        async with send:
            for g in guilds:
                await send.send(
                    GuildSnapshot(
                        g,
                        f"soak {g}",
                        clock.now(),
                        afk_channel_id=channels[g][-1],
                        voice_channel_ids=frozenset(channels[g]),
                    )
                )
            start, hour = clock.now(), 0
            while clock.now() - start < days * 86_400:
                now = clock.now()
                for _ in range(int(per_second * burst)):
                    guild, user = rng.choice(members)
                    next_id += 1
                    await send.send(
                        MessageSent(guild, channels[guild][0], next_id, user, f"user {user}", now)
                    )
                for _ in range(int(per_second * burst / 10)):  # a tenth as many voice changes
                    guild, user = rng.choice(members)
                    channel = (
                        None if (guild, user) in where and rng.random() < 0.5 else rng.choice(channels[guild])
                    )
                    if channel is None:
                        where.pop((guild, user), None)
                    else:
                        where[(guild, user)] = channel
                    await send.send(
                        VoiceStateChanged(guild, user, channel, now, self_mute=rng.random() < 0.2)
                    )
                if now - start >= hour * 3_600:
                    router, tally_window = pipeline.router, 0
                    samples.append(
                        (
                            (now - start) / 86_400,
                            rss_bytes(),
                            len(router.sessions) if router else 0,
                            tally_window,
                        )
                    )
                    hour += 1
                await trio.sleep(burst)
    late = [(day, rss / 2**20) for day, rss, _, _ in samples if day >= days / 2]
    return {
        "days": days,
        "messages": int(days * 86_400 * per_second),
        "rss_mb_first_hour": round(samples[0][1] / 2**20, 1),
        "rss_mb_end": round(samples[-1][1] / 2**20, 1),
        "rss_mb_max": round(max(s[1] for s in samples) / 2**20, 1),
        "rss_slope_mb_per_day_second_half": round(slope(late), 3),
        "voice_sessions_max": max(s[2] for s in samples),
        "samples": [
            (round(d, 3), round(r / 2**20, 1), v) for d, r, v, _ in samples[:: max(1, len(samples) // 28)]
        ],
    }
