"""The message-counter actor: the Trio shell around ``MessageTally``.

It receives ``MessageSent`` and ``ReactionAdded`` events, lets the tally decide what counts, and
flushes the pending increments to SQLite in one transaction every ``flush_seconds`` or every
``flush_max`` events, whichever comes first, and when its inbox closes. A kill -9 loses at most
the unflushed batch;
a crash of this actor loses nothing: the pending batch is tried once before the crash propagates,
what could not be written is handed to the restarted actor, and the mailbox redelivers the event
that was in hand (the tally dedupes it).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections import Counter
from collections.abc import Callable

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

Fault = Callable[[MessageSent], None]
CounterMessage = MessageSent | ReactionAdded | GuildConfigured | MemberForgotten


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
            while await self._fill_batch(tally, inbox):
                await self._flush(tally, stopping=lambda: inbox.closed)
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

    async def _fill_batch(self, tally: MessageTally, inbox: Mailbox[CounterMessage]) -> bool:
        """Take events until the batch is due; False once the inbox is closed and drained."""
        with trio.move_on_at(math.inf) as batch_due:
            while tally.pending < self.flush_max or inbox.closed:  # at a stop: drain it all
                try:
                    event = await inbox.receive()
                except trio.EndOfChannel:
                    return False
                match event:
                    case GuildConfigured(guild_id, config):
                        tally.configure(guild_id, config)
                        continue
                    case MemberForgotten(guild_id, user_id, at, applied):
                        # Any earlier flush has committed (this task made it); the rest of the
                        # member's batch is dropped here, and later messages from before ``at`` skip.
                        tally.forget(guild_id, user_id, at)
                        applied.set()
                        continue
                    case ReactionAdded():
                        tally.add_reaction(event)
                        if tally.pending and batch_due.deadline == math.inf:
                            batch_due.deadline = trio.current_time() + self.flush_seconds
                        continue
                if self.fault is not None:
                    self.fault(event)
                tally.add(event)
                if tally.pending and batch_due.deadline == math.inf:
                    batch_due.deadline = trio.current_time() + self.flush_seconds
        return True

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
