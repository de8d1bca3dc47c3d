"""The voice ledger: where voice-session actors hand their counted intervals and checkpoints.

Why a ledger instead of one transaction per session: thousands of users in voice would mean
thousands of tiny transactions; the ledger keeps each session's latest state in memory and writes
every session's new seconds together with its new ``counted_until`` mark in ONE transaction per
flush. Sessions report by message (``Checkpointed``, ``SessionEnded`` in the ledger's inbox), so
their reports and a ``MemberForgotten`` are taken in the order they were sent. A killed process
loses at most the unflushed interval, and never counts anything twice, because seconds and marks
always commit together.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import cattrs
import trio
from attrs import define, field

from actors.voice_machine import Interval, VoiceSession
from domain.checkpoints import VoiceBatch
from domain.messages import MemberForgotten
from persistence.errors import StoreUnavailable
from persistence.store import Store
from supervisor.mailbox import Mailbox
from supervisor.supervisor import ChildSpec, Restart

log = logging.getLogger(__name__)

SessionKey = tuple[int, int, int]  # guild, user, session number
_converter = cattrs.Converter()


def dump_session(state: VoiceSession) -> str:
    return json.dumps(_converter.unstructure(state), separators=(",", ":"))


def load_session(text: str) -> VoiceSession:
    return _converter.structure(json.loads(text), VoiceSession)


@define(frozen=True)
class Checkpointed:
    """Voice session -> ledger: the session's state now, and the time it counted since its last report."""

    key: SessionKey
    state: VoiceSession
    interval: Interval | None


@define(frozen=True)
class SessionEnded:
    """Voice session -> ledger: the session is over (its last interval, and no checkpoint to keep)."""

    key: SessionKey
    state: VoiceSession
    interval: Interval | None


LedgerMessage = Checkpointed | SessionEnded | MemberForgotten
LEDGER_INBOX = 100_000  # reports waiting for the ledger; a full inbox makes sessions wait


@define
class VoiceLedger:
    """In-memory latest state per session, plus what is waiting to be written."""

    store: Store
    flush_seconds: float = 1.0
    latest: dict[SessionKey, VoiceSession] = field(factory=dict)
    _intervals: list[tuple[int, int, float, float]] = field(factory=list)
    _checkpoints: dict[SessionKey, VoiceSession | None] = field(factory=dict)
    last_flush_at: float | None = None  # trio time of the last successful flush (health)
    on_flushed: Callable[[set[int]], None] | None = None  # sends ``TotalsChanged`` to the publisher
    # Forgotten members: nothing of theirs from before the cutoff is written (see ``forget``).
    _cutoffs: dict[tuple[int, int], float] = field(factory=dict)
    # The last message taken: after a crash (in a flush) the mailbox hands it back, already applied.
    _last_taken: LedgerMessage | None = None

    # -- what the inbox brings ------------------------------------------------------------------

    def record(self, key: SessionKey, state: VoiceSession, interval: Interval | None) -> None:
        """Remember ``state`` as the session's checkpoint and ``interval`` as counted."""
        self.latest[key] = state
        self._checkpoints[key] = state
        if interval is not None:
            start = interval.start
            if self._cutoffs:  # rare: a member was forgotten while this session had time in hand
                start = max(start, self._cutoffs.get((key[0], key[1]), start))
            if start < interval.end:
                self._intervals.append((key[0], key[1], start, interval.end))

    def ended(self, key: SessionKey, state: VoiceSession, interval: Interval | None) -> None:
        """The session is over: count its last interval and drop its checkpoint."""
        self.record(key, state, interval)
        self.latest.pop(key, None)
        self._checkpoints[key] = None

    def forget(self, guild_id: int, user_id: int, at: float) -> None:
        """Drop the member's time from before ``at`` that is not written yet, and their pending
        checkpoints (the store deletes the member next); their sessions go on from ``at``."""
        member = (guild_id, user_id)
        kept = []
        for g, u, start, end in self._intervals:
            if (g, u) == member:
                start = max(start, at)
                if start >= end:
                    continue
            kept.append((g, u, start, end))
        self._intervals = kept
        self._checkpoints = {k: v for k, v in self._checkpoints.items() if k[:2] != member}
        self._cutoffs[member] = at

    def _prune_cutoffs(self) -> None:
        """A cutoff is needed while one of the member's sessions still has its mark before it."""
        self._cutoffs = {
            member: at
            for member, at in self._cutoffs.items()
            if any(key[:2] == member and state.counted_until < at for key, state in self.latest.items())
        }

    @property
    def pending(self) -> int:
        return len(self._intervals) + len(self._checkpoints)

    # -- the actor ------------------------------------------------------------------------------

    def spec(self) -> ChildSpec:
        return ChildSpec("voice_ledger", self.run, self.load, Restart.PERMANENT)

    async def load(self) -> None:
        return None  # the ledger's state is this object: it survives a crash of the flush loop

    def take(self, message: LedgerMessage) -> None:
        match message:
            case Checkpointed(key, state, interval):
                self.record(key, state, interval)
            case SessionEnded(key, state, interval):
                self.ended(key, state, interval)
            case MemberForgotten(guild_id, user_id, at, applied):
                # This task does the flushes: none is under way, so after this nothing of the
                # member's from before the cutoff can be written.
                self.forget(guild_id, user_id, at)
                applied.set()

    async def run(
        self, _: None, inbox: Mailbox[LedgerMessage], *, task_status: trio.TaskStatus[None]
    ) -> None:
        """Take reports and flush every ``flush_seconds`` until the inbox closes (after every
        session has ended), then flush a last time."""
        task_status.started()
        try:
            while True:
                with trio.move_on_after(self.flush_seconds):
                    while True:
                        try:
                            message = await inbox.receive()  # closing the inbox means shut down
                        except trio.EndOfChannel:
                            return
                        if message is not self._last_taken:
                            self.take(message)
                            self._last_taken = message
                await self.flush()
                if self._cutoffs:
                    self._prune_cutoffs()
        finally:
            with trio.CancelScope(shield=True):
                await self.flush()

    async def flush(self) -> None:
        """Write everything pending in one transaction; on failure keep it all for the next try."""
        delay = 0.05
        while self.pending:
            intervals, checkpoints = self._intervals, self._checkpoints
            self._intervals, self._checkpoints = [], {}
            batch = VoiceBatch(
                intervals=tuple(intervals),
                checkpoints={
                    key: None if state is None else (dump_session(state), state.counted_until)
                    for key, state in checkpoints.items()
                },
            )
            try:
                await self.store.apply_voice(batch)
            except Exception as exc:
                # Put everything back in front of what arrived meanwhile.
                self._intervals = intervals + self._intervals
                self._checkpoints = {**checkpoints, **self._checkpoints}
                if not isinstance(exc, StoreUnavailable):
                    raise
                log.warning("voice_ledger: database busy (%s); retrying in %.2fs", exc, delay)
                await trio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self.last_flush_at = trio.current_time()
            if self.on_flushed is not None and intervals:
                self.on_flushed({guild_id for guild_id, _, _, _ in intervals})
