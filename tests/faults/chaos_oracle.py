"""The chaos oracle: what the bot should have counted, from what the simulator did. Pure.

``Record`` is the simulator's side of a run (every message, voice change, process start, kill,
IDENTIFY, RESUME, gateway outage and database lock, with its time); ``Bounds`` turns it into
per-user allowances around an oracle, and ``Deviation`` says whether what the bot stored is
inside them. No I/O, no clock: tests build a ``Record`` by hand (tests/faults/test_chaos_oracle.py).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from attrs import define, field

from tests.voice_oracle import counts as voice_counts

CHECKPOINT = 0.3  # VOICE_CHECKPOINT_SECONDS for the bot: short, so a run of seconds has many
FLUSH = 0.2  # MESSAGE_FLUSH_SECONDS and VOICE_FLUSH_SECONDS
# How late the bot may stamp an event compared with the simulator's clock: the frame crosses a
# loopback websocket and waits for disnake's loop (the bot stamps at its parser). Measured over 120
# seeds, 3 at a time on a shared 2-core machine: users no fault excused were off by 0.027 s at worst
# in total; 0.15 s per change of a user's counting state leaves room for a loaded machine.
STAMP = 0.15
# A message the bot received but had not yet flushed when killed: the counter flushes FLUSH
# seconds after a batch's first message, plus the write itself and the delivery (STAMP).
UNFLUSHED = FLUSH + 0.1 + STAMP

Interval = tuple[float, float]


# -- what happened, as the simulator saw it ------------------------------------------------------------


@define
class Record:
    start: float
    messages: list[tuple[float, int, int, bool]] = field(factory=list)  # at, guild, user, countable
    voice: list[tuple[float, int, int, int | None, dict[str, bool]]] = field(factory=list)
    bots: set[int] = field(factory=set)  # user ids of bot members
    afk: dict[int, int | None] = field(factory=dict)  # guild -> its AFK channel
    starts: list[float] = field(factory=list)  # bot processes started
    identifies: list[float] = field(factory=list)
    resumes: list[float] = field(factory=list)
    kills: list[float] = field(factory=list)
    gaps: list[tuple[str, float, float]] = field(factory=list)  # (kind, from, until): gateway outages
    locks: list[Interval] = field(factory=list)  # the database locked by another process
    faults: Counter[str] = field(factory=Counter)
    refused_30046: int = 0
    end: float = 0.0


def _after(times: Iterable[float], t: float) -> float | None:
    return next((x for x in sorted(times) if x >= t), None)


def close_gaps(record: Record, pending: list[tuple[str, float, int]]) -> None:
    """A RESUME path ends at the next RESUME or IDENTIFY; a re-IDENTIFY at the next IDENTIFY that
    was not itself spoilt: an INVALID_SESSION sent to a connection that had not identified yet
    reaches the client before its IDENTIFY is answered, so that IDENTIFY's session dies at once.
    A kill ends a re-IDENTIFY too: the next process's first IDENTIFY is a clean one (seed 803)."""
    for kind, t, spoilt in pending:
        if kind == "invalid_session":
            later = sorted(x for x in record.identifies if x >= t)
            until = later[spoilt] if spoilt < len(later) else None
            kill = _after(record.kills, t)
            restarted = _after(record.identifies, kill) if kill is not None else None
            if restarted is not None and (until is None or restarted < until):
                until = restarted
        else:
            until = _after([*record.resumes, *record.identifies], t)
        record.gaps.append((kind, t, record.end if until is None else until))


# -- the oracle ---------------------------------------------------------------------------------------


def windows(record: Record) -> list[Interval]:
    """When a bot process was alive and connected: from its first IDENTIFY until it was killed."""
    out = []
    for started in record.starts:
        up = _after(record.identifies, started)
        if up is not None:
            down = _after(record.kills, up)
            out.append((up, record.end if down is None else down))
    return out


def merged_outages(record: Record) -> list[tuple[set[str], float, float]]:
    """Gateway outages: overlapping gaps merged (a second INVALID_SESSION during a re-IDENTIFY
    makes one outage as long as both)."""
    merged: list[tuple[set[str], float, float]] = []
    for kind, g0, g1 in sorted(record.gaps, key=lambda g: g[1]):
        if merged and g0 <= merged[-1][2]:
            kinds, m0, m1 = merged[-1]
            merged[-1] = (kinds | {kind}, m0, max(m1, g1))
        else:
            merged.append(({kind}, g0, g1))
    return merged


def counting_at(spans: list[Interval], t: float) -> bool:
    return any(s0 <= t < s1 for s0, s1 in spans)


def overlap(a: Iterable[Interval], b: Iterable[Interval]) -> float:
    b = list(b)
    return sum(max(0.0, min(x1, y1) - max(x0, y0)) for x0, x1 in a for y0, y1 in b)


def counting_intervals(record: Record) -> dict[tuple[int, int], list[Interval]]:
    """When each user's voice time counts, by the rule in ``tests.voice_oracle``, from the simulator's
    record: who was in which channel with which flags (company = another human in the channel)."""
    by_guild: dict[int, list[tuple[float, int, int | None, dict[str, bool]]]] = defaultdict(list)
    for at, guild_id, user_id, channel_id, flags in record.voice:
        by_guild[guild_id].append((at, user_id, channel_id, flags))
    out: dict[tuple[int, int], list[Interval]] = defaultdict(list)
    for guild_id, changes in by_guild.items():
        where: dict[int, tuple[int, dict[str, bool]]] = {}
        since: dict[int, float] = {}  # user -> counting since
        for i, (at, user_id, channel_id, flags) in enumerate(changes):
            if channel_id is None:
                where.pop(user_id, None)
            elif user_id not in record.bots:
                where[user_id] = (channel_id, flags)
            if i + 1 < len(changes) and changes[i + 1][0] == at:
                continue  # settle simultaneous changes together
            for uid in set(where) | set(since):
                if uid in where:
                    channel, f = where[uid]
                    presence = {
                        "channel_id": channel,
                        **f,
                        "afk": channel == record.afk[guild_id],
                        "has_company": any(c == channel for u, (c, _) in where.items() if u != uid),
                    }
                    counting = voice_counts(presence)
                else:
                    counting = False
                if counting and uid not in since:
                    since[uid] = at
                elif not counting and uid in since:
                    out[(guild_id, uid)].append((since.pop(uid), at))
        for uid, t in since.items():
            out[(guild_id, uid)].append((t, record.end))
    return dict(out)


@define
class Deviation:
    key: tuple[int, int]
    what: str  # "messages" or "voice"
    counted: float
    truth: float  # what the bot could have seen (the oracle)
    over_allowed: float
    under_allowed: float
    faults: tuple[str, ...]  # the fault kinds that gave this user an allowance

    @property
    def error(self) -> float:
        return self.counted - self.truth

    @property
    def ok(self) -> bool:
        return -self.under_allowed - 1e-6 <= self.error <= self.over_allowed + 1e-6


@define
class Bounds:
    """The promises, per user, as allowances around the oracle:

    - Voice: the oracle is the user's counting time while a bot process was up (downtime never
      counts). Over by at most STAMP per change of the user's counting state (the bot stamps at
      receipt); under by as much plus, per kill while the user counted in the last moments,
      CHECKPOINT + FLUSH (and any time the database was locked just before). A gateway outage
      counts for a user only if they were counting all through it as far as the bot can tell, so it
      allows its length under to users whose counting state changed during it; and over only where
      the bot cannot tell: a re-IDENTIFY shows only the end state, so a user counting at both ends
      who stopped in between (left and came back) looks as if they never stopped.
    - Messages: the oracle counts human, non-webhook messages sent while a bot process could
      receive them (not during downtime nor between INVALID_SESSION and the next IDENTIFY); never
      over, and under only by the user's messages sent in the last UNFLUSHED seconds before a kill
      (plus any database lock then). Without kills: exact.
    """

    record: Record

    def voice(self, db: dict[tuple[int, int], float]) -> list[Deviation]:
        record, up = self.record, windows(self.record)
        out = []
        intervals = counting_intervals(record)
        for key in set(intervals) | set(db):
            spans = intervals.get(key, [])
            truth = overlap(spans, up)
            edges = [t for span in spans for t in span if t < record.end]
            edges += [t for w in up for t in w if any(s0 <= t <= s1 for s0, s1 in spans)]
            over = under = STAMP * len(edges)
            kinds: set[str] = set()
            for kill in record.kills:
                lead = (kill - CHECKPOINT - FLUSH - STAMP - self._locked_before(kill), kill)
                if overlap(spans, [lead]) > 0:
                    under += lead[1] - lead[0]
                    kinds.add("kill")
            for outage_kinds, g0, g1 in merged_outages(record):
                if any(g0 - STAMP <= t <= g1 + STAMP for t in edges):
                    under += g1 - g0 + STAMP
                    kinds |= outage_kinds
                    if (
                        "invalid_session" in outage_kinds
                        and counting_at(spans, g0)
                        and counting_at(spans, g1)
                    ):
                        over += g1 - g0 + STAMP
            out.append(Deviation(key, "voice", db.get(key, 0.0), truth, over, under, tuple(sorted(kinds))))
        return out

    def delivered(self, at: float) -> bool:
        """Was a bot session there to receive a message sent at ``at`` (now or by RESUME replay)?"""
        record = self.record
        dead = [(g0, g1) for kind, g0, g1 in record.gaps if kind == "invalid_session"]
        return any(u0 <= at < u1 for u0, u1 in windows(record)) and not any(g0 <= at < g1 for g0, g1 in dead)

    def undelivered(self) -> int:
        """Countable messages no bot process could see: sent while it was down or re-identifying."""
        return sum(1 for at, _, _, countable in self.record.messages if countable and not self.delivered(at))

    def messages(self, db: dict[tuple[int, int], int]) -> list[Deviation]:
        record = self.record
        truth: Counter[tuple[int, int]] = Counter()
        at_risk: Counter[tuple[int, int]] = Counter()
        for at, guild_id, user_id, countable in record.messages:
            if not countable or not self.delivered(at):
                continue
            truth[(guild_id, user_id)] += 1
            if any(k - UNFLUSHED - self._locked_before(k) <= at <= k for k in record.kills):
                at_risk[(guild_id, user_id)] += 1
        return [
            Deviation(
                key,
                "messages",
                db.get(key, 0),
                truth[key],
                0,
                at_risk[key],
                ("kill",) if at_risk[key] else (),
            )
            for key in set(truth) | set(db)
        ]

    def _locked_before(self, t: float) -> float:
        """How long the database was locked in the few seconds before ``t`` (nothing flushed then)."""
        return overlap(self.record.locks, [(t - 5.0, t)])
