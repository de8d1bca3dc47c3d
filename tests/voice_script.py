"""Seeded voice scenarios and their expected totals, computed independently of the bot.

``generate`` writes a random but realistic script of VOICE_STATE_UPDATEs (joins, leaves, moves,
mutes, deafens, AFK, an excluded channel, bots); ``expected`` replays the same script with plain
bookkeeping (who is in which channel) and ``tests.voice_oracle`` (interval arithmetic) to get each
user's seconds per period. Times are whole seconds, so totals compare exactly.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict

from attrs import define, evolve

from domain.events import GuildSnapshot, VoiceStateChanged
from domain.periods import PeriodSpec
from tests.voice_oracle import expected_seconds

GUILD = 4242
LOUNGE, GAMING, STAGE, AFK, EXCLUDED = 101, 102, 103, 104, 105
CHANNELS = (LOUNGE, GAMING, STAGE, AFK, EXCLUDED)


@define(frozen=True)
class Script:
    start: float
    end: float
    snapshot: GuildSnapshot
    changes: tuple[VoiceStateChanged, ...]  # time-ordered; everyone still in voice leaves at ``end``


def generate(
    seed: int, *, start: float, users: int = 150, seconds: int = 2 * 86_400, bots: int = 3
) -> Script:
    rng = random.Random(seed)
    user_ids = [10_000 + i for i in range(users)]
    bot_ids = [90_000 + i for i in range(bots)]
    state: dict[int, VoiceStateChanged] = {}
    changes: list[VoiceStateChanged] = []
    # Every user gets a random number of events spread over the run; bots wander too.
    times = sorted(
        (int(start) + rng.randrange(1, seconds), uid)
        for uid in user_ids + bot_ids
        for _ in range(rng.randint(4, 40))
    )
    for at, uid in times:
        current = state.get(uid)
        change = _next_change(rng, uid, current, float(at), bot=uid in bot_ids)
        state[uid] = change
        changes.append(change)
    end = float(int(start) + seconds)
    for uid, last in state.items():
        if last.channel_id is not None:
            changes.append(VoiceStateChanged(GUILD, uid, None, end, bot=uid in bot_ids))
    snapshot = GuildSnapshot(
        GUILD, "Voice Sim", start, afk_channel_id=AFK, voice_channel_ids=frozenset(CHANNELS)
    )
    return Script(start, end, snapshot, tuple(changes))


def _next_change(
    rng: random.Random, uid: int, current: VoiceStateChanged | None, at: float, *, bot: bool
) -> VoiceStateChanged:
    if current is None or current.channel_id is None:
        channel = rng.choices(CHANNELS, weights=(5, 4, 2, 1, 1))[0]
        return VoiceStateChanged(GUILD, uid, channel, at, f"user{uid}", bot=bot, suppress=channel == STAGE)
    roll = rng.random()
    if roll < 0.25:
        return evolve(current, channel_id=None, at=at)
    if roll < 0.45:
        channel = rng.choice([c for c in CHANNELS if c != current.channel_id])
        return evolve(current, channel_id=channel, at=at, suppress=channel == STAGE)
    if roll < 0.65:
        return evolve(current, at=at, self_mute=not current.self_mute)
    if roll < 0.8:
        return evolve(current, at=at, self_deaf=not current.self_deaf)
    if roll < 0.88:
        return evolve(current, at=at, deaf=not current.deaf)
    if roll < 0.95:
        return evolve(current, at=at, mute=not current.mute)
    return evolve(current, at=at)  # a no-op update (e.g. video toggled): must change nothing


def expected(script: Script, period: PeriodSpec, excluded: frozenset[int]) -> dict[tuple[int, int], int]:
    """Seconds per (user, period) by plain bookkeeping: who is where, then interval arithmetic."""
    where: dict[int, VoiceStateChanged] = {}
    humans_in: Counter[int | None] = Counter()
    timelines: dict[int, list[tuple[float, dict]]] = defaultdict(list)
    bots = {c.user_id for c in script.changes if c.bot}
    for change in script.changes:
        if change.user_id not in bots:
            humans_in[where[change.user_id].channel_id if change.user_id in where else None] -= 1
            humans_in[change.channel_id] += 1
        if change.channel_id is None:
            where.pop(change.user_id, None)
        else:
            where[change.user_id] = change
        for uid in {change.user_id, *where} - bots:
            situation = _situation(where.get(uid), humans_in, excluded, script.snapshot.afk_channel_id)
            line = timelines[uid]
            if not line or line[-1][1] != situation:
                line.append((change.at, situation))
    totals: dict[tuple[int, int], int] = {}
    for uid, line in timelines.items():
        for index in range(period.index_at(script.start), period.index_at(script.end) + 1):
            lo, hi = max(period.start_of(index), script.start), min(period.end_of(index), script.end)
            seconds = _until(line, hi) - _until(line, lo)
            if seconds:
                totals[(uid, index)] = int(seconds)
    return totals


def _until(line: list[tuple[float, dict]], t: float) -> float:
    return expected_seconds([(at, p) for at, p in line if at < t], t)


def _situation(
    me: VoiceStateChanged | None, humans_in: Counter[int | None], excluded: frozenset[int], afk: int | None
) -> dict:
    if me is None:
        return {"channel_id": None}
    return {
        "channel_id": me.channel_id,
        "self_mute": me.self_mute,
        "self_deaf": me.self_deaf,
        "mute": me.mute,
        "deaf": me.deaf,
        "suppress": me.suppress,
        "afk": me.channel_id == afk,
        "excluded": me.channel_id in excluded,
        "has_company": humans_in[me.channel_id] > 1,  # someone besides me
    }
