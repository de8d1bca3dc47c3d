"""The voice-session actor: one Trio task per (guild, user) in voice, around ``voice_machine``.

It applies each ``PresenceChanged`` the router sends, and while counting it checkpoints every
``checkpoint_seconds``: the machine's new interval and state go to the ledger together, as one
message (``Checkpointed``; ``SessionEnded`` at the end). It ends when the user leaves (or at
shutdown), closing the session at that moment. After a crash the supervisor restarts it from the
last state it reported (kept on this object, like the counter's cooldowns) and the mailbox hands
back the event that was in hand; the machine ignores anything already applied (sequence numbers),
so nothing counts twice and nothing is lost.

The checkpoint timer is the pipeline's one shared ``Ticker``, not a deadline of the session's own:
the session asks for a ``Wake`` at its next due time, and it arrives in the inbox like an event.

Across a gateway outage the router sends ``OutageBegan`` and ``OutageEnded``; the machine freezes
the mark in between and decides at the end whether the outage's time counts (``vm.hold``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import trio
from attrs import define, field

from actors import voice_machine as vm
from actors.voice_ledger import Checkpointed, LedgerMessage, SessionEnded, SessionKey
from domain.clock import WallClock
from domain.guild_config import VoicePolicy
from supervisor.mailbox import Mailbox, Sender
from supervisor.supervisor import ChildSpec, Restart
from supervisor.ticker import Ticker, Wake


@define(frozen=True)
class PresenceChanged:
    """Router -> voice actor: the user's whole presence as of ``at``, numbered by the router."""

    presence: vm.Presence
    at: float
    seq: int
    policy: VoicePolicy = field(factory=VoicePolicy)  # the guild's policy now (admins may change it)


@define(frozen=True)
class OutageBegan:
    """Router -> voice actor: the gateway lost its connection at ``at``."""

    at: float
    seq: int


@define(frozen=True)
class OutageEnded:
    """Router -> voice actor: the outage ended at ``at``; the user's presence is up to date again."""

    at: float
    seq: int


SessionEvent = PresenceChanged | OutageBegan | OutageEnded
VoiceFault = Callable[[SessionKey, SessionEvent], None]


@define
class Reported:
    """The last state a session sent the ledger: where a restart after a crash resumes."""

    state: vm.VoiceSession | None = None


@define(frozen=True)
class VoiceSessionActor:
    key: SessionKey
    ledger: Sender[LedgerMessage]
    clock: WallClock
    checkpoint_seconds: float
    ticker: Ticker  # wakes the session at each checkpoint (one timer for all sessions)
    fault: VoiceFault | None = None  # tests inject crashes here
    reported: Reported = field(factory=Reported)  # survives restarts of the actor

    def spec(self) -> ChildSpec:
        guild_id, user_id, session_no = self.key
        return ChildSpec(f"voice:{guild_id}:{user_id}:{session_no}", self.run, self.load, Restart.TRANSIENT)

    async def load(self) -> vm.VoiceSession | None:
        """None for a new session (its first event starts it); the last checkpoint after a crash."""
        return self.reported.state

    async def run(
        self,
        state: vm.VoiceSession | None,
        inbox: Mailbox[SessionEvent | Wake],
        *,
        task_status: trio.TaskStatus[None],
    ) -> None:
        task_status.started()
        ticker, receive = self.ticker, inbox.receive
        wake: Wake | None = None  # the ticker's entry for this session's next checkpoint, until read
        try:
            while True:
                due = self._due(state)
                if due == math.inf:  # nothing to checkpoint: no entry
                    if wake is not None:
                        ticker.cancel(wake)
                        wake = None
                elif wake is None or wake.due > due:
                    # An entry due no later than ``due`` is kept (one delivered but not yet read
                    # too): it arrives early, is ignored, and the session asks again for ``due``.
                    # So a change re-registers nothing while the mark moves on (issue 18, round 4).
                    ticker.cancel(wake)
                    wake = ticker.wake(due, inbox.sender)
                try:
                    change = await receive()
                except trio.EndOfChannel:
                    await self._end(state, self.clock.now())
                    return
                if not isinstance(change, Wake):
                    state, message = self._step(state, change)
                    if message is not None and not self._report_nowait(message):
                        await self.ledger.send(message)  # the ledger's inbox is full: backpressure
                else:
                    if change is wake:
                        wake = None  # read: the next pass asks afresh
                    if trio.current_time() >= self._due(state):  # else an early or stale one: ignore it
                        state = await self._checkpoint(state, inbox)
                        if wake is not None and wake.inbox is None:
                            wake = None  # delivered, so read with the queue the checkpoint took
                if state is not None and state.phase is vm.Phase.AWAY:
                    return
        finally:
            self.ticker.cancel(wake)

    def _due(self, state: vm.VoiceSession | None) -> float:
        """The trio time of the next checkpoint: only a counting session outside an outage has one."""
        if state is None or state.phase is not vm.Phase.COUNTING or state.hold is not vm.Hold.NONE:
            return math.inf
        return self.clock.trio_deadline(state.counted_until + self.checkpoint_seconds)

    async def _checkpoint(
        self, state: vm.VoiceSession | None, inbox: Mailbox[SessionEvent | Wake]
    ) -> vm.VoiceSession | None:
        """Apply what is already queued first, so no event is settled late; then report the tick."""
        while True:
            try:
                change = inbox.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                break
            if isinstance(change, Wake):
                continue  # a second tick in the queue: this one covers it
            state = await self._apply(state, change)
            if state is not None and state.phase is vm.Phase.AWAY:
                return state
        assert state is not None
        state, interval = vm.advance(state, self.clock.now())
        await self._report(Checkpointed(self.key, state, interval))
        return state

    async def _report(self, message: Checkpointed | SessionEnded) -> None:
        """Tell the ledger; waits only while its inbox is full (backpressure, never a drop)."""
        if not self._report_nowait(message):
            await self.ledger.send(message)

    def _report_nowait(self, message: Checkpointed | SessionEnded) -> bool:
        """Tell the ledger if its inbox has room (the usual case: no coroutine); False when full."""
        self.reported.state = message.state
        try:
            self.ledger.send_nowait(message)
        except trio.WouldBlock:
            return False  # the caller waits outside the handler, which would keep the exception alive
        return True

    async def _apply(self, state: vm.VoiceSession | None, change: SessionEvent) -> vm.VoiceSession | None:
        state, message = self._step(state, change)
        if message is not None:
            await self._report(message)
        return state

    def _step(
        self, state: vm.VoiceSession | None, change: SessionEvent
    ) -> tuple[vm.VoiceSession | None, Checkpointed | SessionEnded | None]:
        """Apply one event to the machine: the new state and the report it makes (pure but the fault)."""
        if self.fault is not None:
            self.fault(self.key, change)
        interval = None
        name = None
        if isinstance(change, PresenceChanged):  # the usual event, tested before any ``match``
            presence = change.presence
            if state is None:
                state = vm.start(presence, change.at, change.seq, change.policy)
            else:
                state, interval = vm.observe(state, presence, change.at, change.seq, change.policy)
            if presence.name:
                name = (presence.name, change.at)
        else:
            match change:
                case _ if state is None:
                    return None, None  # an outage before the session's first presence: nothing to hold
                case OutageBegan():
                    state, interval = vm.hold(state, change.at, change.seq)
                case OutageEnded():
                    state, interval = vm.release(state, change.at, change.seq)
        if state.phase is vm.Phase.AWAY:
            return state, SessionEnded(self.key, state, interval, name)
        return state, Checkpointed(self.key, state, interval, name)

    async def _end(self, state: vm.VoiceSession | None, at: float) -> None:
        if state is not None and state.phase is not vm.Phase.AWAY:
            await self._report(SessionEnded(self.key, *vm.close(state, at)))
