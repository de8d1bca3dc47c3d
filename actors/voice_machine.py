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
#
# The module does no I/O and knows nothing of Trio or Discord; the actor around it performs the
# effects (write intervals, store the checkpoint).

import enum
from collections.abc import Callable

import attrs
from attrs import define


@define(frozen=True)
class VoicePolicy:
    """Per-guild choices about which voice time counts; defaults are the product's defaults."""

    count_deafened: bool = False
    count_muted: bool = True
    count_alone: bool = False


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
    excluded: bool = False  # the channel is excluded by guild config
    has_company: bool = False  # at least one other non-bot member in the same channel
    bot: bool = False


class Phase(enum.Enum):
    AWAY = "away"
    COUNTING = "counting"
    PAUSED = "paused"


class PauseReason(enum.Enum):
    BOT = "bot"
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
    (PauseReason.BOT, lambda p, pol: p.bot),
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
    """Apply a new presence: settle time up to `at` under the old phase, then switch phase."""
    if seq <= state.last_seq:
        return state, None  # duplicate or late: the state already reflects something newer
    t = max(at, state.counted_until)
    phase, reason = classify(presence, policy)
    return VoiceSession(phase, reason, presence.channel_id, t, seq), _settle(state, t)


def advance(state: VoiceSession, now: float) -> tuple[VoiceSession, Interval | None]:
    """The periodic checkpoint tick: settle time up to `now` without changing phase.

    Paused and away time is settled too (as not counted), so the mark always means "accounted".
    """
    t = max(now, state.counted_until)
    return attrs.evolve(state, counted_until=t), _settle(state, t)


def close(state: VoiceSession, at: float) -> tuple[VoiceSession, Interval | None]:
    """End the session (leave, shutdown): settle time up to `at`, then go AWAY."""
    t = max(at, state.counted_until)
    return VoiceSession(Phase.AWAY, None, None, t, state.last_seq), _settle(state, t)
