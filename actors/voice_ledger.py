"""The voice ledger: where voice-session actors hand their counted intervals.

Why a ledger instead of one transaction per session: thousands of users in voice would mean
thousands of tiny transactions; the ledger collects every session's new intervals and writes them
in ONE transaction per flush. Each interval starts at its session's previous mark, so nothing is
counted twice. Sessions report by message (``Checkpointed``, ``SessionEnded`` in the ledger's
inbox), so their reports and a ``MemberForgotten`` are taken in the order they were sent. A crashed
voice actor restarts from its own last report (in memory, so nothing is lost); a killed process
loses at most the unflushed intervals (DESIGN: sessions end at their last mark, the next
GUILD_CREATE opens fresh ones), which is why session states are not stored.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Callable

import trio
from attrs import define, field

from actors.batch_writer import FINAL_BACKOFF, RUNNING_BACKOFF, write_pending
from actors.voice_machine import Interval, VoiceSession
from domain.checkpoints import VoiceBatch
from domain.messages import MemberForgotten
from persistence.errors import StoreUnavailable
from persistence.store import Store
from supervisor.mailbox import Mailbox
from supervisor.supervisor import ChildSpec, Restart

log = logging.getLogger(__name__)

SessionKey = tuple[int, int, int]  # guild, user, session number
Name = tuple[str, float]  # the member's name as voice showed it, and when


@define(frozen=True)
class Checkpointed:
    """Voice session -> ledger: the session's state now, the time it counted since its last report,
    and the member's name when this report comes from a voice change that carried one."""

    key: SessionKey
    state: VoiceSession
    interval: Interval | None
    name: Name | None = None


@define(frozen=True)
class SessionEnded:
    """Voice session -> ledger: the session is over (its last interval, and no state to keep)."""

    key: SessionKey
    state: VoiceSession
    interval: Interval | None
    name: Name | None = None


LedgerMessage = Checkpointed | SessionEnded | MemberForgotten
LEDGER_INBOX = 100_000  # reports waiting for the ledger; a full inbox makes sessions wait
LEDGER_BATCH = 1_000  # reports taken from the inbox at once


@define
class VoiceLedger:
    """In-memory latest state per session, plus the intervals and names waiting to be written."""

    store: Store
    flush_seconds: float = 1.0
    latest: dict[SessionKey, VoiceSession] = field(factory=dict)
    _intervals: list[tuple[int, int, float, float]] = field(factory=list)
    _names: dict[tuple[int, int], Name] = field(factory=dict)
    on_flushed: Callable[[set[int]], None] | None = None  # sends ``TotalsChanged`` to the publisher
    # Forgotten members: nothing of theirs from before the cutoff is written (see ``forget``).
    _cutoffs: dict[tuple[int, int], float] = field(factory=dict)
    # The last message taken: after a crash (in a flush) the mailbox hands it back, already applied.
    _last_taken: LedgerMessage | None = None

    # -- what the inbox brings ------------------------------------------------------------------

    def record(
        self, key: SessionKey, state: VoiceSession, interval: Interval | None, name: Name | None = None
    ) -> None:
        """Remember ``state`` as the session's latest, ``interval`` as counted and ``name`` as the
        member's last-known name (the boards and the export then need no REST fetch for members who
        only ever talk in voice)."""
        self.latest[key] = state
        member = (key[0], key[1])
        cutoff = self._cutoffs.get(member) if self._cutoffs else None
        if interval is not None:
            start = interval.start if cutoff is None else max(interval.start, cutoff)
            if start < interval.end:
                self._intervals.append((key[0], key[1], start, interval.end))
        if name is not None and (cutoff is None or name[1] >= cutoff):
            self._names[member] = name

    def ended(
        self, key: SessionKey, state: VoiceSession, interval: Interval | None, name: Name | None = None
    ) -> None:
        """The session is over: count its last interval and forget its state."""
        self.record(key, state, interval, name)
        self.latest.pop(key, None)

    def forget(self, guild_id: int, user_id: int, at: float) -> None:
        """Drop the member's time from before ``at`` that is not written yet, and their pending
        name (the store deletes the member next); their sessions go on from ``at``."""
        member = (guild_id, user_id)
        kept = []
        for g, u, start, end in self._intervals:
            if (g, u) == member:
                start = max(start, at)
                if start >= end:
                    continue
            kept.append((g, u, start, end))
        self._intervals = kept
        self._names.pop(member, None)
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
        return len(self._intervals) + len(self._names)

    # -- the actor ------------------------------------------------------------------------------

    def spec(self) -> ChildSpec:
        return ChildSpec("voice_ledger", self.run, self.load, Restart.PERMANENT)

    async def load(self) -> None:
        return None  # the ledger's state is this object: it survives a crash of the flush loop

    def take(self, message: LedgerMessage) -> None:
        if type(message) is Checkpointed:  # a report per voice event: the usual one, before any ``match``
            self.record(message.key, message.state, message.interval, message.name)
            return
        match message:
            case Checkpointed(key, state, interval, name):
                self.record(key, state, interval, name)
            case SessionEnded(key, state, interval, name):
                self.ended(key, state, interval, name)
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
            closed = False
            while not closed:
                with trio.move_on_after(self.flush_seconds):
                    while True:
                        # What is queued, as one batch (a report per voice event: many at a time).
                        try:
                            batch = inbox.receive_batch_nowait(LEDGER_BATCH)
                        except trio.WouldBlock:
                            batch = None  # wait outside the handler (it would keep the exception alive)
                        except trio.EndOfChannel:
                            closed = True  # closing the inbox means shut down
                            break
                        if batch is None:
                            try:
                                batch = iter((await inbox.receive(),))
                            except trio.EndOfChannel:
                                closed = True
                                break
                        for message in batch:
                            if message is not self._last_taken:  # a redelivered one already taken
                                self.take(message)
                                self._last_taken = message
                if closed:
                    break
                await self.flush(stopping=lambda: inbox.closed)
                if self._cutoffs:
                    self._prune_cutoffs()
            with contextlib.suppress(StoreUnavailable):
                await self.store.call(self.store.stopping_sync)
            with trio.CancelScope(shield=True):
                await self.flush(final=True)
        except trio.Cancelled:  # the pipeline is being torn down: the last chance to write
            with trio.CancelScope(shield=True):
                await self.flush(final=True)
            raise
        # A crash (any other exception) goes on up: what is pending stays on this object, and the
        # restarted run writes it.

    async def flush(self, *, final: bool = False, stopping: Callable[[], bool] = lambda: False) -> bool:
        """Write everything pending in one transaction, retrying within a bound; False if it could not.

        On failure everything stays pending, in front of what arrived meanwhile (for the next flush,
        or for the final one as soon as ``stopping()``). A ``final`` flush (the stop) retries
        briefly, then reports what it could not write, per guild.
        """
        written, why = await write_pending(
            "voice_ledger", self._take, self._put_back, self.store.apply_voice,
            FINAL_BACKOFF if final else RUNNING_BACKOFF, stopping,
        )  # fmt: skip
        if written is not None and self.on_flushed is not None and written.intervals:
            self.on_flushed({guild_id for guild_id, _, _, _ in written.intervals})
        if why is None:
            return True
        seconds: Counter[int] = Counter()
        for guild_id, _, start, end in self._intervals:
            seconds[guild_id] += end - start
        if final:
            self.store.not_written("voice seconds", seconds, why)
        else:
            log.error(
                "voice_ledger: database unavailable (%s); %d intervals stay pending for the next flush",
                why,
                len(self._intervals),
            )
        return False

    def _take(self) -> VoiceBatch | None:
        if not self.pending:
            return None
        batch = VoiceBatch(intervals=tuple(self._intervals), names=self._names)
        self._intervals, self._names = [], {}
        return batch

    def _put_back(self, batch: VoiceBatch) -> None:
        self._intervals = [*batch.intervals, *self._intervals]
        self._names = {**batch.names, **self._names}
