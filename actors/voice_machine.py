# Theory of operation
# ===================
#
# One user's voice time in one guild is a small state machine:
#
#     AWAY --(joins a channel)--> COUNTING <--> PAUSED(reason) --(leaves)--> AWAY
#
# Everything that decides whether time counts lives in this file, and nowhere else:
#
# - The router describes the user's whole voice situation after every change as a `Presence`
#   (channel, mute/deafen flags, AFK/excluded channel, whether a non-bot member keeps them company).
#   We never look at deltas: the phase is a pure function of the latest presence and the guild's
#   `VoicePolicy` (see `classify` and its `_PAUSE_RULES` table, checked top to bottom).
# - Time is an argument, never a clock call. `counted_until` is the single mark that makes the
#   accounting exact: all time before it is settled (counted or not), all time after it is not yet.
#   Every step moves the mark forward and, if the session was COUNTING, returns the `Interval`
#   [old mark, new mark) that was counted. The mark never moves back, so a late or out-of-order
#   timestamp can shorten nothing already settled and count nothing twice.
# - Presences carry router-assigned sequence numbers; one at or below `last_seq` is a duplicate or
#   arrived late, and is ignored whole.
# - `VoiceSession` is the entire state and is the checkpoint. Persisting the state together with the
#   intervals it emitted, in one transaction, makes a restart resume exactly where it stopped:
#   replaying already-applied presences is a no-op (sequence numbers), and time before
#   `counted_until` cannot be counted again.
# - A gateway outage (the websocket dropped; Discord RESUMEs or the bot re-IDENTIFIEs) leaves the
#   bot blind: changes during it arrive late (a RESUME replays them) or not at all (a re-IDENTIFY's
#   GUILD_CREATE shows only the end state), so their true times are unknown. `hold` freezes the mark
#   where the outage began; what arrives during it changes the phase but settles nothing; `release`
#   at the outage's end counts the outage only if the user was counting throughout, as far as the
#   bot can tell (counting when it began, at every change replayed, and when it ended). So an outage
#   can cost a user whose situation changed during it, but never counts time that did not count.
#
# The module does no I/O and knows nothing of Trio or Discord; the actor around it performs the
# effects (write intervals, store the checkpoint).

import enum
from collections.abc import Callable

import attrs
from attrs import define

from domain.guild_config import VoicePolicy


@define(frozen=True)
class Presence:
    """A user's full voice situation right after a change, as the router sees it.

    A full snapshot rather than a delta, so a lost or repeated update can never leave the
    machine believing something stale for longer than the next update.
    """

    channel_id: int | None  # None: not in any voice channel
    self_mute: bool = False
    self_deaf: bool = False
    mute: bool = False  # server mute
    deaf: bool = False  # server deafen
    suppress: bool = False  # stage audience: cannot speak, so treated like muted
    afk: bool = False  # the channel is the guild's AFK channel
    excluded: bool = False  # the channel, or one of the member's roles, is excluded by guild config
    has_company: bool = False  # at least one other non-bot member in the same channel
    # Who is there, for the record (the last-known name the boards and exports show); not part of
    # the counting rule, so a name change alone is no change of presence.
    name: str = attrs.field(default="", eq=False)


class Phase(enum.Enum):
    AWAY = "away"
    COUNTING = "counting"
    PAUSED = "paused"


class Hold(enum.Enum):
    """Whether a gateway outage is in progress, and whether it can still be credited at its end."""

    NONE = "none"  # no outage: the mark follows time
    CREDIT = "credit"  # counting through the outage so far: its time counts if it ends that way
    NO_CREDIT = "no_credit"  # not counting at some point of it: its time will not count


class PauseReason(enum.Enum):
    AFK = "afk"
    EXCLUDED = "excluded"
    DEAFENED = "deafened"
    MUTED = "muted"
    ALONE = "alone"


@define(frozen=True)
class VoiceSession:
    """The machine's whole state, and therefore also its checkpoint (plain fields for cattrs)."""

    phase: Phase
    reason: PauseReason | None  # set exactly when phase is PAUSED
    channel_id: int | None  # None exactly when phase is AWAY
    counted_until: float  # UTC epoch seconds; all time before this is accounted for
    last_seq: int  # sequence number of the last presence applied
    hold: Hold = Hold.NONE  # a gateway outage froze the mark (see `hold`)

    def __attrs_post_init__(self) -> None:
        # Checked here because checkpoints are loaded through __init__: a corrupt one fails loudly.
        if (self.phase is Phase.PAUSED) != (self.reason is not None):
            raise ValueError(f"reason {self.reason} does not fit phase {self.phase}")
        if (self.phase is Phase.AWAY) != (self.channel_id is None):
            raise ValueError(f"channel {self.channel_id} does not fit phase {self.phase}")


@define(frozen=True)
class Interval:
    """Counted time [start, end); never empty, so callers need not filter."""

    start: float
    end: float

    def __attrs_post_init__(self) -> None:
        if not self.end > self.start:
            raise ValueError(f"empty interval [{self.start}, {self.end})")

    @property
    def seconds(self) -> float:
        return self.end - self.start


_Rule = Callable[[Presence, VoicePolicy], bool]

# Why time does not count, first match wins. Order matters only for which reason is reported:
# any match pauses. Being in no channel at all is AWAY, decided before this table.
_PAUSE_RULES: tuple[tuple[PauseReason, _Rule], ...] = (
    (PauseReason.AFK, lambda p, pol: p.afk),
    (PauseReason.EXCLUDED, lambda p, pol: p.excluded),
    (PauseReason.DEAFENED, lambda p, pol: (p.self_deaf or p.deaf) and not pol.count_deafened),
    (PauseReason.MUTED, lambda p, pol: (p.self_mute or p.mute or p.suppress) and not pol.count_muted),
    (PauseReason.ALONE, lambda p, pol: not p.has_company and not pol.count_alone),
)


def classify(presence: Presence, policy: VoicePolicy) -> tuple[Phase, PauseReason | None]:
    """The phase a presence puts the user in; the only place the counting rule is decided."""
    if presence.channel_id is None:
        return Phase.AWAY, None
    for reason, applies in _PAUSE_RULES:
        if applies(presence, policy):
            return Phase.PAUSED, reason
    return Phase.COUNTING, None


def _settle(state: VoiceSession, t: float) -> Interval | None:
    """The time counted between the mark and `t` (t >= mark), or None if nothing was counted."""
    if state.phase is Phase.COUNTING and t > state.counted_until:
        return Interval(state.counted_until, t)
    return None


def start(presence: Presence, at: float, seq: int, policy: VoicePolicy) -> VoiceSession:
    """A fresh session (first sight of the user, or a restart without a checkpoint).

    Nothing before `at` is known, so nothing before it can be counted.
    """
    phase, reason = classify(presence, policy)
    return VoiceSession(phase, reason, presence.channel_id, at, seq)


def observe(
    state: VoiceSession, presence: Presence, at: float, seq: int, policy: VoicePolicy
) -> tuple[VoiceSession, Interval | None]:
    """Apply a new presence: settle time up to `at` under the old phase, then switch phase.

    During an outage the phase switches but nothing is settled: when the change happened is unknown.
    """
    if seq <= state.last_seq:
        return state, None  # duplicate or late: the state already reflects something newer
    phase, reason = classify(presence, policy)
    if state.hold is not Hold.NONE:
        hold = state.hold if phase is Phase.COUNTING else Hold.NO_CREDIT
        return VoiceSession(phase, reason, presence.channel_id, state.counted_until, seq, hold), None
    t = max(at, state.counted_until)
    return VoiceSession(phase, reason, presence.channel_id, t, seq), _settle(state, t)


def hold(state: VoiceSession, at: float, seq: int) -> tuple[VoiceSession, Interval | None]:
    """The gateway lost its connection at `at`: settle up to then and freeze the mark."""
    if seq <= state.last_seq or state.hold is not Hold.NONE:
        return state, None
    t = max(at, state.counted_until)
    held = Hold.CREDIT if state.phase is Phase.COUNTING else Hold.NO_CREDIT
    return attrs.evolve(state, counted_until=t, last_seq=seq, hold=held), _settle(state, t)


def release(state: VoiceSession, at: float, seq: int) -> tuple[VoiceSession, Interval | None]:
    """The outage ended at `at` (RESUMED, or the guild's GUILD_CREATE after a re-IDENTIFY).

    Its time counts only if the user was counting all through it, as far as the bot saw.
    """
    if seq <= state.last_seq or state.hold is Hold.NONE:
        return state, None
    t = max(at, state.counted_until)
    counted = state.hold is Hold.CREDIT and state.phase is Phase.COUNTING
    new = attrs.evolve(state, counted_until=t, last_seq=seq, hold=Hold.NONE)
    return new, _settle(state, t) if counted else None


def advance(state: VoiceSession, now: float) -> tuple[VoiceSession, Interval | None]:
    """The periodic checkpoint tick: settle time up to `now` without changing phase.

    Paused and away time is settled too (as not counted), so the mark always means "accounted".
    During an outage the mark stays where it began (`release` decides about that time).
    """
    if state.hold is not Hold.NONE:
        return state, None
    t = max(now, state.counted_until)
    return attrs.evolve(state, counted_until=t), _settle(state, t)


def close(state: VoiceSession, at: float) -> tuple[VoiceSession, Interval | None]:
    """End the session (leave, shutdown): settle time up to `at`, then go AWAY.

    Closed during an outage, it ends where the outage began: what came after was never seen.
    """
    t = state.counted_until if state.hold is not Hold.NONE else max(at, state.counted_until)
    return VoiceSession(Phase.AWAY, None, None, t, state.last_seq), _settle(state, t)
