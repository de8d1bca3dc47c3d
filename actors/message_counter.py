"""The message-counter actor: the Trio shell around ``MessageTally``.

It receives ``MessageSent`` and ``ReactionAdded`` events, lets the tally decide what counts, and
commits the pending increments to SQLite in one transaction every ``flush_seconds`` or every
``flush_max`` events, whichever comes first, and when its inbox closes.

The flush is double-buffered: a due batch is handed to a commit task, and the next batch collects
in the tally while it commits (the write runs in the store's thread). At most one commit is in
flight. A batch that is due before it is done keeps collecting (a group commit: the store's cost
is mostly per distinct member and per statement, so one commit of 4,000 messages costs far less
than four of 1,000) up to ``GROUP_COMMIT`` times ``flush_max``; then the counter waits for the
commit (the inbox fills and holds the router back: backpressure). A commit that fails its bounded
retries puts its batch back into the tally, due again, so nothing is dropped.

A kill -9 loses at most the unflushed batches (the one collecting and the one in flight); a crash
of this actor loses nothing: the commit in flight ends (committed, or back in the tally), the
pending batch is tried once before the crash propagates, what could not be written is handed to
the restarted actor, and the mailbox redelivers the event that was in hand (the tally dedupes it).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections import Counter
from collections.abc import Callable, Iterator

import trio
from attrs import define, field

from actors.batch_writer import FINAL_BACKOFF, RUNNING_BACKOFF, write_pending
from actors.message_tally import MessageTally
from domain.checkpoints import MessageBatch
from domain.events import MessageSent, ReactionAdded
from domain.guild_config import GuildConfig, GuildConfigs
from domain.messages import GuildConfigured, MemberForgotten
from persistence.errors import StoreUnavailable
from persistence.store import Store
from supervisor.mailbox import Mailbox
from supervisor.supervisor import ChildSpec, Restart

log = logging.getLogger(__name__)

# A batch that is due while the one before is committing keeps collecting, up to this many times
# ``flush_max``; then the counter waits for the commit (backpressure).
GROUP_COMMIT = 4

Fault = Callable[[MessageSent], None]
CounterMessage = MessageSent | ReactionAdded | GuildConfigured | MemberForgotten


def faulted(events: Iterator[CounterMessage], fault: Fault) -> Iterator[CounterMessage]:
    """``events`` with the test's fault called on each message before it is counted (taking one
    event at a time from ``events``, so the mailbox still knows which one was in hand)."""
    for event in events:
        if type(event) is MessageSent:
            fault(event)
        yield event


class InFlight:
    """The one commit that may run beside the counting: wait for it, or learn how it failed."""

    __slots__ = ("_done", "failed", "stopping", "timer")

    def __init__(self) -> None:
        self._done: trio.Event | None = None
        self.failed: BaseException | None = None  # a write's unexpected error, raised by the counter
        self.stopping = False  # the counter is crashing: no more retries, the crash's try follows
        self.timer: trio.CancelScope | None = None  # the batch timer of the batch collecting now

    @property
    def busy(self) -> bool:
        return self._done is not None

    def begin(self) -> None:
        assert self._done is None, "at most one commit in flight"
        self._done = trio.Event()

    def end(self) -> None:
        done, self._done = self._done, None
        if done is not None:
            done.set()

    async def idle(self) -> None:
        """Return once no commit is in flight (its batch committed, or back in the tally)."""
        if self._done is not None:
            await self._done.wait()


@define(frozen=True)
class MessageCounter:
    store: Store
    flush_seconds: float = 1.0
    flush_max: int = 1000
    # This actor's own copy (changed only by ``GuildConfigured`` in its inbox); survives restarts,
    # like the cooldowns and the forget cutoffs.
    configs: GuildConfigs = field(factory=lambda: GuildConfigs(GuildConfig()))
    cooldowns: dict[tuple[int, int], float] = field(factory=dict)
    forgotten: dict[tuple[int, int], float] = field(factory=dict)
    # Batches a crashed run could not write: the restarted actor takes them back (nothing is lost).
    carried: list[MessageBatch] = field(factory=list)
    fault: Fault | None = None  # tests inject crashes here
    on_flushed: Callable[[set[int]], None] | None = None  # told which guilds' totals changed

    def spec(self) -> ChildSpec:
        return ChildSpec("message_counter", self.run, self.load, Restart.PERMANENT)

    async def load(self) -> MessageTally:
        recent = await self.store.call(self.store.recent_message_ids_sync)
        tally = MessageTally.resume(recent, self.configs)
        tally.last_counted = self.cooldowns  # shared with earlier runs: a crash resets no cooldown
        tally.forgotten = self.forgotten
        while self.carried:
            tally.put_back(self.carried.pop())
        return tally

    async def run(
        self, tally: MessageTally, inbox: Mailbox[CounterMessage], *, task_status: trio.TaskStatus[None]
    ) -> None:
        task_status.started()
        try:
            await self._count(tally, inbox)
        except trio.Cancelled:  # the pipeline is being torn down: the last chance to write
            with trio.CancelScope(shield=True):
                await self._flush(tally, final=True)
            raise
        except BaseException:  # a crash: one try now; what is left goes to the restarted actor
            with trio.CancelScope(shield=True):
                if not await self._flush(tally, stopping=lambda: True):
                    self.carried.append(tally.take_batch())
            raise
        with contextlib.suppress(StoreUnavailable):
            await self.store.call(self.store.stopping_sync)
        await self._flush(tally, final=True)

    async def _count(self, tally: MessageTally, inbox: Mailbox[CounterMessage]) -> None:
        """Fill batches and hand each to a commit task; return once the inbox is closed and drained
        and the commit in flight is done (its batch committed, or back in the tally).

        Raises what ended the counting (a crash, a cancellation) or what a commit failed with, only
        after the commit in flight is over, so the caller's last flush sees every batch.
        """
        flight = InFlight()
        crash: BaseException | None = None
        async with trio.open_nursery() as nursery:
            try:
                while await self._fill_batch(tally, inbox, flight):
                    await flight.idle()  # both buffers full: wait for the commit (backpressure)
                    if flight.failed is not None:  # raised below
                        break
                    if not tally.pending:  # e.g. a forget dropped the whole batch
                        continue
                    flight.begin()
                    nursery.start_soon(self._commit, tally, tally.take_batch(), flight, inbox)
            except BaseException as exc:  # raised below, once the commit in flight is over
                crash = exc
                flight.stopping = True
                nursery.cancel_scope.cancel()
        if flight.failed is not None:
            raise flight.failed
        if crash is not None:
            raise crash

    async def _fill_batch(
        self, tally: MessageTally, inbox: Mailbox[CounterMessage], flight: InFlight
    ) -> bool:
        """Take events until the batch is due; False once the inbox is closed and drained.

        The hot path (a message or a reaction): what is queued is taken as one batch (no receive
        call each), and an event needs no ``match``; the loop waits only when the inbox is empty.
        A batch holds at most what the tally may still take before it is due, so a due batch is
        as big as with one event at a time; a crash inside it redelivers from the event in hand.
        """
        take, add_batch = inbox.receive_batch_nowait, tally.add_batch
        fault, flush_max, flush_seconds = self.fault, self.flush_max, self.flush_seconds
        group_max = GROUP_COMMIT * flush_max
        with trio.move_on_at(math.inf) as batch_due:
            flight.timer = batch_due
            if tally.pending:  # a batch that came back from a failed commit is due again
                batch_due.deadline = trio.current_time() + flush_seconds
            while True:
                pending = tally.pending
                # Due (at a stop: drain it all). Due while the commit before is in flight, it
                # keeps growing (one commit of many messages costs less than many), to ``group_max``.
                busy = flight.busy
                if pending >= flush_max and not inbox.closed and (not busy or pending >= group_max):
                    return True
                if flight.failed is not None:  # a commit failed unexpectedly: the counter raises it
                    return True
                # Each event adds at most one to ``pending``: this many cannot overshoot the bound.
                room = (group_max if busy else flush_max) - pending
                try:
                    events = take(room if room > 0 else flush_max)
                except trio.WouldBlock:
                    events = None  # wait outside the handler (it would keep the exception alive)
                except trio.EndOfChannel:
                    return False
                if events is None:
                    try:
                        events = iter((await inbox.receive(),))
                    except trio.EndOfChannel:
                        return False
                if fault is not None:
                    events = faulted(events, fault)
                while (event := add_batch(events)) is not None:  # a control event: in order
                    if batch_due.deadline == math.inf and tally.pending:
                        batch_due.deadline = trio.current_time() + flush_seconds
                    await self._control(event, tally, flight)
                if batch_due.deadline == math.inf and tally.pending:
                    batch_due.deadline = trio.current_time() + flush_seconds
        return True

    async def _control(self, event: CounterMessage, tally: MessageTally, flight: InFlight) -> None:
        match event:
            case GuildConfigured(guild_id, config):
                tally.configure(guild_id, config)
            case MemberForgotten(guild_id, user_id, at, applied):
                # The commit in flight may carry the member's counts: let it finish (or come back
                # to the tally) first, without the batch timer cutting the wait short (the commit
                # is bounded, and a teardown cancels it, which ends this wait too).
                with trio.CancelScope(shield=True):
                    await flight.idle()
                # Every earlier batch has committed now; the rest of the member's counts are
                # dropped here, and later messages from before ``at`` skip.
                tally.forget(guild_id, user_id, at)
                applied.set()

    async def _commit(
        self, tally: MessageTally, batch: MessageBatch, flight: InFlight, inbox: Mailbox[CounterMessage]
    ) -> None:
        """The commit in flight: write ``batch`` within ``RUNNING_BACKOFF``. If it does not commit
        (it gave up, failed unexpectedly, or was cancelled first) the batch goes back to the tally,
        due again. Never raises: the counter raises ``flight.failed`` after it."""
        held: list[MessageBatch] = [batch]
        written: MessageBatch | None = None
        why: str | None = None
        try:
            written, why = await write_pending(
                "message_counter",
                lambda: held[0],
                lambda _: None,  # between tries the batch stays here, not in the tally
                self.store.apply_messages,
                RUNNING_BACKOFF,
                lambda: inbox.closed or flight.stopping,
            )
        except trio.Cancelled:
            pass  # the counter is crashing or being torn down: it raises what ended it
        except BaseException as exc:
            flight.failed = exc
        finally:
            timer = flight.timer
            if written is None:
                tally.put_back(batch)
                if timer is not None and timer.deadline == math.inf:
                    # The counter may be waiting for events with an empty batch: this one is due.
                    timer.deadline = trio.current_time() + self.flush_seconds
            if timer is not None and (flight.failed is not None or tally.pending >= self.flush_max):
                timer.cancel()  # the counter may be waiting for events: a failure to raise, or a due batch
            flight.end()
        if written is not None:
            if self.on_flushed is not None:
                self.on_flushed({guild_id for guild_id, _, _ in written.counts})
        elif why is not None and not inbox.closed and not flight.stopping:
            log.error(
                "message_counter: database unavailable (%s); %d messages stay pending for the next flush",
                why,
                tally.pending,
            )

    async def _flush(
        self, tally: MessageTally, *, final: bool = False, stopping: Callable[[], bool] = lambda: False
    ) -> bool:
        """Write the pending batch in one transaction, retrying within a bound; on failure keep it.

        A ``final`` flush (the stop) retries briefly, then reports what it could not write, per
        guild; otherwise the batch stays pending for the next flush, or for the final one as soon
        as ``stopping()`` (so a stop never waits out the running retries). False if it gave up.
        """
        written, why = await write_pending(
            "message_counter",
            lambda: tally.take_batch() if tally.pending else None,
            tally.put_back,
            self.store.apply_messages,
            FINAL_BACKOFF if final else RUNNING_BACKOFF,
            stopping,
        )
        if written is not None and self.on_flushed is not None:
            self.on_flushed({guild_id for guild_id, _, _ in written.counts})
        if why is None:
            return True
        if final:
            messages: Counter[int] = Counter()
            for (guild_id, _, _), n in tally.counts.items():
                messages[guild_id] += n
            self.store.not_written("messages", messages, why)
            reactions: Counter[int] = Counter()
            for (guild_id, _, _), n in tally.reactions.items():
                reactions[guild_id] += n
            self.store.not_written("reactions", reactions, why)
        else:
            log.error(
                "message_counter: database unavailable (%s); %d messages stay pending for the next flush",
                why,
                tally.pending,
            )
        return False
