"""The voice ledger: where voice-session actors hand their counted intervals.

Why a ledger instead of one transaction per session: thousands of users in voice would mean
thousands of tiny transactions; the ledger collects every session's new intervals and writes them
in ONE transaction per flush. Each interval starts at its session's previous mark, so nothing is
counted twice. A crashed voice actor restarts from ``latest`` here (in memory, so nothing is lost);
a killed process loses at most the unflushed intervals (DESIGN: sessions end at their last mark,
the next GUILD_CREATE opens fresh ones), which is why session states are not stored.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Callable

import trio
from attrs import define, field

from actors.voice_machine import Interval, VoiceSession
from domain.backoff import Backoff
from domain.checkpoints import VoiceBatch
from persistence.errors import StoreUnavailable
from persistence.store import Store
from supervisor.mailbox import Mailbox
from supervisor.supervisor import ChildSpec, Restart

log = logging.getLogger(__name__)

SessionKey = tuple[int, int, int]  # guild, user, session number
# While running: about 6 s of waits, then the intervals stay pending for the next flush. At a
# stop: about 3 s, then what is left is reported (see ``Store.not_written``) and the stop goes on.
RUNNING_BACKOFF = Backoff(attempts=8, first=0.05, cap=5.0)
FINAL_BACKOFF = Backoff(attempts=5, first=0.2, cap=2.0)


@define
class VoiceLedger:
    """In-memory latest state per session, plus the intervals and names waiting to be written."""

    store: Store
    flush_seconds: float = 1.0
    latest: dict[SessionKey, VoiceSession] = field(factory=dict)
    _intervals: list[tuple[int, int, float, float]] = field(factory=list)
    _names: dict[tuple[int, int], tuple[str, float]] = field(factory=dict)
    on_flushed: Callable[[set[int]], None] | None = None  # told which guilds' totals changed

    # -- called synchronously by voice-session actors -------------------------------------------

    def record(self, key: SessionKey, state: VoiceSession, interval: Interval | None) -> None:
        """Remember ``state`` as the session's checkpoint and ``interval`` as counted."""
        self.latest[key] = state
        if interval is not None:
            self._intervals.append((key[0], key[1], interval.start, interval.end))

    def named(self, key: SessionKey, name: str, at: float) -> None:
        """The member's name as voice showed it at ``at``: stored as the last-known name (the boards
        and the export then need no REST fetch for members who only ever talk in voice)."""
        self._names[key[:2]] = (name, at)

    def ended(self, key: SessionKey, state: VoiceSession, interval: Interval | None) -> None:
        """The session is over: count its last interval and forget its state."""
        self.record(key, state, interval)
        self.latest.pop(key, None)

    @property
    def pending(self) -> int:
        return len(self._intervals) + len(self._names)

    # -- the actor ------------------------------------------------------------------------------

    def spec(self) -> ChildSpec:
        return ChildSpec("voice_ledger", self.run, self.load, Restart.PERMANENT)

    async def load(self) -> None:
        return None  # the ledger's state is this object: it survives a crash of the flush loop

    async def run(self, _: None, inbox: Mailbox[None], *, task_status: trio.TaskStatus[None]) -> None:
        """Flush every ``flush_seconds`` until the inbox closes, then flush a last time."""
        task_status.started()
        try:
            while True:
                with trio.move_on_after(self.flush_seconds):
                    try:
                        await inbox.receive()  # nothing is sent; closing the inbox means shut down
                    except trio.EndOfChannel:
                        break
                await self.flush(stopping=lambda: inbox.closed)
            with contextlib.suppress(StoreUnavailable):
                await self.store.call(self.store.stopping_sync)
        finally:
            with trio.CancelScope(shield=True):
                await self.flush(final=True)

    async def flush(self, *, final: bool = False, stopping: Callable[[], bool] = lambda: False) -> bool:
        """Write everything pending in one transaction, retrying within a bound; False if it could not.

        On failure everything stays pending, in front of what arrived meanwhile (for the next flush,
        or for the final one as soon as ``stopping()``). A ``final`` flush (the stop) retries
        briefly, then reports what it could not write, per guild.
        """
        why = ""
        for wait in (FINAL_BACKOFF if final else RUNNING_BACKOFF).waits():
            if not self.pending:
                return True
            if wait and stopping():
                return False
            if wait:
                log.warning("voice_ledger: database unavailable (%s); retrying in %.2fs", why, wait)
                await trio.sleep(wait)
            intervals, names = self._intervals, self._names
            self._intervals, self._names = [], {}
            try:
                await self.store.apply_voice(VoiceBatch(intervals=tuple(intervals), names=names))
            except Exception as exc:
                self._intervals = intervals + self._intervals
                self._names = {**names, **self._names}
                if not isinstance(exc, StoreUnavailable):
                    raise
                why = str(exc)
                continue
            if self.on_flushed is not None and intervals:
                self.on_flushed({guild_id for guild_id, _, _, _ in intervals})
            return True  # what arrived meanwhile goes with the next flush
        if not self.pending:
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
