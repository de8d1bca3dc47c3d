"""board_edits: writes per board per update interval under 5,000 events/s for a simulated hour.

Drives the REAL ``LeaderboardPublisher`` (its Trio loop under a supervisor, a real ``Store`` on a
temporary database, real rendering and ``board_schedule``), not the pure schedule alone, on
``trio.testing.MockClock(autojump_threshold=0)``, so the hour passes in seconds of wall time. A
subclass only counts renders. Discord is fake: a poster that answers every call with success and
records each post and edit with its virtual time.

The change stream models the message counter as the pipeline wires it (production settings:
``MESSAGE_FLUSH_SECONDS`` 1, ``MESSAGE_FLUSH_MAX`` 1,000): messages arrive evenly at 5,000/s in one
guild, and the counter flushes when 1,000 are pending or 1 s after the first pending one, whichever
comes first. At 5,000/s that is every 0.2 s: 5 flushes a second, 300 per 60 s interval (not 60: the
size cap, not the timer, sets the pace). Each flush writes its batch with ``Store.apply_messages``
(its 1,000 messages split at random, seeded, among 20 of 200 members, so the top 10 really
changes), then sends ``TotalsChanged({guild})`` to the publisher's inbox, as ``MessageCounter._flush``
does through the pipeline. The single events do not go through the counter (18,000,000
of them would take minutes and only build the same batches), and the batches carry no message ids
(those feed the dedupe window, which no board reads). The guild is announced first with
its ``GuildSnapshot`` (as the router sends on GUILD_CREATE), both boards configured, ``update_interval``
60 s. The voice board sees no change (a message-only stream): it is posted once, then stays quiet,
so the figure is the busiest board's, the messages board.

Value: successful writes (the first post plus every edit) of the busiest board during the hour,
divided by the intervals in the hour (target <= 1). The publisher's shutdown write (an ``urgent``
last state when its inbox closes) comes after the hour and is not counted. Baseline, from the same
change stream in the same run: a naive publisher that edits on every change batch, one edit per
flush that touched the guild, per interval (300). The notes add the most writes in any window of
one interval, the shortest gap between writes, edits alone per interval, flushes per interval, and
renders per interval for each board (a render whose hash matches what is on Discord is no edit).
"""

from __future__ import annotations

import itertools
import random
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import trio
import trio.testing

from actors.board_protocol import Done, MemberFound, MessageMissing, NoneFound, Posted
from actors.leaderboard_publisher import Content, LeaderboardPublisher
from benchmarks.common import Sample, Size, profiled, settings_for
from domain.checkpoints import MessageBatch
from domain.clock import WallClock
from domain.events import GuildSnapshot
from domain.guild_config import GuildConfig, GuildConfigs
from domain.kinds import BoardKind
from domain.messages import TotalsChanged
from persistence.store import Store
from supervisor.supervisor import open_supervisor

EVENTS_PER_SECOND = 5_000
INTERVAL = 60.0
GUILD, MESSAGES_CHANNEL, VOICE_CHANNEL = 1, 10, 11
MEMBERS = 200
ACTIVE = 20  # members with messages in one flush
EPOCH = 1_735_693_200.0  # 2025-01-01 01:00 UTC: the hour stays inside the guild's first period


class RecordingPoster:
    """Discord that always succeeds; records (virtual time, call, channel) for every call."""

    def __init__(self, clock: WallClock) -> None:
        self.clock = clock
        self.calls: list[tuple[float, str, int]] = []
        self.messages: dict[int, set[int]] = defaultdict(set)
        self._ids = itertools.count(1000)

    def _record(self, what: str, channel_id: int) -> None:
        self.calls.append((self.clock.now(), what, channel_id))

    async def post(
        self, channel_id: int, embed: dict[str, Any], nonce: str, *, waiting_since: float | None = None
    ) -> Posted:
        await trio.lowlevel.checkpoint()
        self._record("post", channel_id)
        message_id = next(self._ids)
        self.messages[channel_id].add(message_id)
        return Posted(message_id)

    async def edit(
        self, channel_id: int, message_id: int, embed: dict[str, Any], *, waiting_since: float | None = None
    ) -> Done | MessageMissing:
        await trio.lowlevel.checkpoint()
        self._record("edit", channel_id)
        return Done() if message_id in self.messages[channel_id] else MessageMissing()

    async def check(
        self, channel_id: int, message_id: int, *, waiting_since: float | None = None
    ) -> Done | MessageMissing:
        await trio.lowlevel.checkpoint()
        self._record("check", channel_id)
        return Done() if message_id in self.messages[channel_id] else MessageMissing()

    async def scan(
        self, channel_id: int, kind: BoardKind, *, waiting_since: float | None = None
    ) -> NoneFound:
        await trio.lowlevel.checkpoint()
        self._record("scan", channel_id)
        return NoneFound()  # a fresh database and a fresh channel

    async def delete(self, channel_id: int, message_id: int, *, waiting_since: float | None = None) -> Done:
        await trio.lowlevel.checkpoint()
        self._record("delete", channel_id)
        self.messages[channel_id].discard(message_id)
        return Done()

    async def fetch_member(
        self, guild_id: int, user_id: int, *, waiting_since: float | None = None
    ) -> MemberFound:
        await trio.lowlevel.checkpoint()
        self._record("member", user_id)
        return MemberFound(f"Member {user_id}")

    def count(self, what: str, channel_id: int, until: float) -> int:
        return sum(1 for t, kind, ch in self.calls if kind == what and ch == channel_id and t < until)

    def writes(self, channel_id: int, until: float) -> list[float]:
        return [
            t for t, what, ch in self.calls if ch == channel_id and what in ("post", "edit") and t < until
        ]


class CountingPublisher(LeaderboardPublisher):
    """The real publisher, unchanged, except that it counts renders (a board rendered but not
    edited is a render whose hash matched what is on Discord)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.renders: dict[BoardKind, int] = dict.fromkeys(BoardKind, 0)

    async def _render(self, key: tuple[int, BoardKind], now: float, period: int | None) -> Content:
        self.renders[key[1]] += 1
        return await super()._render(key, now, period)


def _batch_counts(rng: random.Random, messages: int, second: int) -> dict[tuple[int, int, int], int]:
    """One flush's counts: ``messages`` split at random among ACTIVE of the MEMBERS (seeded)."""
    users = rng.sample(range(1, MEMBERS + 1), ACTIVE)
    cuts = sorted(rng.choices(range(messages + 1), k=ACTIVE - 1))
    shares = [b - a for a, b in itertools.pairwise([0, *cuts, messages])]
    return {(GUILD, user, second): n for user, n in zip(users, shares, strict=True) if n}


def _flush_cadence(flush_seconds: float, flush_max: int) -> tuple[float, int]:
    """Seconds between the counter's flushes at a steady EVENTS_PER_SECOND, and messages per flush."""
    if flush_max / EVENTS_PER_SECOND <= flush_seconds:
        return flush_max / EVENTS_PER_SECOND, flush_max
    return flush_seconds, round(flush_seconds * EVENTS_PER_SECOND)


async def _simulate(db: Path, seconds: float, seed: int) -> dict[str, float]:
    settings = settings_for(db)
    clock = WallClock.starting_at(EPOCH)
    start = clock.now()
    end = start + seconds
    every, per_flush = _flush_cadence(settings.message_flush, settings.message_flush_max)
    store = Store(db, default_period_days=settings.period_days, inline=True)  # virtual time stays put
    poster = RecordingPoster(clock)
    config = GuildConfig(
        message_board_channel_id=MESSAGES_CHANNEL,
        voice_board_channel_id=VOICE_CHANNEL,
        update_interval=INTERVAL,
    )
    configs = GuildConfigs(GuildConfig(), {GUILD: config})
    grace = settings.voice_checkpoint + 2 * settings.message_flush + 1.0  # as the pipeline sets it
    publisher = CountingPublisher(store, poster, configs, clock, settle_seconds=grace)
    rng = random.Random(seed)
    named: set[int] = set()
    flushes = 0
    try:
        async with open_supervisor("bench", intensity=3, period=60) as supervisor:
            await supervisor.start_child(publisher.spec(), publisher.inbox)
            channels = frozenset({MESSAGES_CHANNEL, VOICE_CHANNEL})
            publisher.inbox.sender.send_nowait(
                GuildSnapshot(GUILD, "Bench Guild", start, text_channel_ids=channels)
            )
            with profiled("board_edits: ours"):
                for k in range(1, round(seconds / every) + 1):
                    at = start + k * every
                    await clock.sleep_until(at)
                    counts = _batch_counts(rng, per_flush, int(at))
                    new = {user for _, user, _ in counts} - named
                    named |= new
                    names = {(GUILD, user): (f"Member {user}", at) for user in new}
                    await store.apply_messages(MessageBatch(dict(counts), (), names))
                    publisher.inbox.sender.send_nowait(
                        TotalsChanged(frozenset({guild for guild, _, _ in counts}))
                    )
                    flushes += 1
                await clock.sleep_until(end)
            publisher.inbox.close()
    finally:
        store.close()

    intervals = seconds / INTERVAL
    messages = poster.writes(MESSAGES_CHANNEL, end)
    voice = poster.writes(VOICE_CHANNEL, end)
    busiest_channel, busiest = max(
        (MESSAGES_CHANNEL, messages), (VOICE_CHANNEL, voice), key=lambda c: len(c[1])
    )
    window = max((sum(1 for u in busiest if t <= u < t + INTERVAL) for t in busiest), default=0)
    gaps = [b - a for a, b in itertools.pairwise(busiest)]
    return {
        "ours": len(busiest) / intervals,
        "naive": flushes / intervals,  # edit-per-change: one edit per flush that touched the guild
        "max_writes_in_any_interval": float(window),
        "min_gap_between_writes_s": min(gaps) if gaps else seconds,
        "flushes_per_interval": flushes / intervals,
        "edits_only_per_interval": poster.count("edit", busiest_channel, end) / intervals,
        "voice_board_writes": float(len(voice)),
        "messages_board_renders_per_interval": publisher.renders[BoardKind.MESSAGES] / intervals,
        "voice_board_renders_per_interval": publisher.renders[BoardKind.VOICE] / intervals,
        "simulated_seconds": seconds,
        "messages": float(flushes * per_flush),
    }


def sample(size: Size, cache: Path, rep: int = 0) -> Sample:
    seconds = size.pick(180.0, 1200.0, 3600.0)  # tiny: 3 simulated minutes (smoke run); quick: 20
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        result = trio.run(
            _simulate,
            Path(tmp, "boards.db"),
            seconds,
            rep,
            clock=trio.testing.MockClock(autojump_threshold=0),
        )
    if result["max_writes_in_any_interval"] > 1:
        raise AssertionError(f"board_edits: a board was written more than once in an interval: {result}")
    ours, naive = result.pop("ours"), result.pop("naive")
    return Sample(value=ours, baseline=naive, notes=result)
