"""The reset clock: every guild's period ends exactly once, archived, even across downtime.

Periods are pure arithmetic over each guild's anchor (``domain.periods``), so "resetting" deletes
nothing: totals stay in ``activity`` under their period number, the boards simply show the
current period, and the archive row for a finished period (top 10 of both boards and how many
members took part) is written once in one transaction keyed by (guild, period).

The actor wakes a little after each boundary (``grace_seconds``: long enough for the last voice
checkpoint and message batch of the old period to land), and at start it catches up on every
boundary missed while the bot was down, oldest first per guild (a stop cuts that between guilds:
the rest is archived at the next start). Each guild's next boundary sits in a heap, so a guild seen
or a wake-up costs O(log G), never a scan of every guild. Before archiving, it asks the publisher for
the boards in their final state (``PublishFinal``), and after, tells it the period ended
(``PeriodReset``). Its inbox brings each guild as it is seen (``GuildSnapshot``), each config change
(``GuildConfigured``: its own copy) and an admin's early reset (``ResetRequested``, answered on the
message itself), so every archive and reset runs in this actor's own task, one at a time.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Callable

import trio
from attrs import define, field

from actors.leaderboard_publisher import Request as PublisherMessage
from actors.leaderboard_publisher import publish_final
from domain.clock import WallClock
from domain.events import GuildSnapshot
from domain.guild_config import GuildConfig, GuildConfigs
from domain.messages import GuildConfigured, PeriodReset
from domain.periods import DAY, PeriodSpec
from domain.shards import ShardSet
from persistence.store import Fault, Store
from supervisor.coalescing import CoalescingMailbox
from supervisor.mailbox import Mailbox, Sender
from supervisor.supervisor import ChildSpec, Restart

log = logging.getLogger(__name__)

RESET_WAIT = 120.0  # seconds an early reset may wait for the actor; later it is not done at all


@define(eq=False)
class ResetRequested:
    """A command -> the reset clock: end ``guild_id``'s period now. The answer comes back on the
    message: ``period`` (the one archived) or ``error``, then ``done`` is set. A request taken after
    ``deadline`` (epoch seconds) is refused, so a reset never happens long after it was asked for."""

    guild_id: int
    by_user: int
    deadline: float
    period: int | None = None
    error: BaseException | None = None
    done: trio.Event = field(factory=trio.Event)


ResetClockMessage = GuildSnapshot | GuildConfigured | ResetRequested


class ResetTooLate(RuntimeError):
    """The reset clock could not take an early reset before its deadline; nothing was reset."""


def _message_key(message: ResetClockMessage) -> tuple[str, int] | None:
    if isinstance(message, ResetRequested):
        return None  # each is answered
    return (type(message).__name__, message.guild_id)


def reset_clock_inbox() -> CoalescingMailbox[ResetClockMessage]:
    """The reset clock's inbox: the newest snapshot and config of each guild (at most two messages a
    guild) and every reset request, so the router never waits for an archive and nothing is dropped."""
    return CoalescingMailbox[ResetClockMessage]("reset_clock", _message_key)


async def request_reset(
    inbox: Sender[ResetClockMessage], clock: WallClock, guild_id: int, by_user: int
) -> int:
    """(For a command) Ask the reset clock for an early reset of ``guild_id`` and wait for its answer:
    the period archived. Raises ``ResetTooLate`` when the actor did not take it within RESET_WAIT."""
    request = ResetRequested(guild_id, by_user, clock.now() + RESET_WAIT)
    await inbox.send(request)
    with trio.move_on_at(clock.trio_deadline(request.deadline) + 1.0):
        await request.done.wait()
    if not request.done.is_set():
        raise ResetTooLate(f"the reset clock did not take the reset of guild {guild_id} in time")
    if request.error is not None:
        raise request.error
    assert request.period is not None
    return request.period


@define
class ResetClock:
    """Archives every guild's finished periods; wakes at the earliest guild's next boundary.

    Each guild's next boundary (the end of its first unarchived period, plus grace) sits in a heap,
    so a guild seen, a wake-up or an archive costs O(log G), never a scan of every guild. The heap
    is built from two store calls at the first ``catch_up`` (every guild's layout and last archive
    in one query), then grows by the guilds the store has added since (``guilds_since_sync``).
    """

    store: Store
    clock: WallClock
    grace_seconds: float = 10.0
    publisher: Sender[PublisherMessage] | None = None  # None: no boards
    fault: Fault | None = None  # tests: fail between the statements of a reset
    # This actor's own copy: a guild's new period length or anchor applies from its next reset.
    configs: GuildConfigs = field(factory=lambda: GuildConfigs(GuildConfig()))
    # The guilds of this process's shards: only their periods are archived here (several processes).
    shards: ShardSet = field(factory=ShardSet)
    resets: int = 0
    _lock: trio.Lock = field(factory=trio.Lock)
    # What the store holds, as this actor last read it (rebuilt after a crash: ``load``).
    _known: int = 0  # how many of the store's guilds (in the order first stored) are tracked
    _specs: dict[int, PeriodSpec] = field(factory=dict)
    _next: dict[int, int] = field(factory=dict)  # guild -> its first unarchived period
    _due: dict[int, float] = field(factory=dict)  # guild -> when that period is archived
    _heap: list[tuple[float, int]] = field(factory=list)  # (due, guild); stale entries are skipped

    def spec(self) -> ChildSpec:
        return ChildSpec("reset_clock", self.run, self.load, Restart.PERMANENT)

    async def load(self) -> None:
        self._forget_all()  # the archive table is the checkpoint: ``catch_up`` reads it again
        return None

    @property
    def tracked(self) -> int:
        """How many guilds this clock keeps periods for (health, benchmarks)."""
        return len(self._specs)

    async def run(
        self, _: None, inbox: Mailbox[ResetClockMessage], *, task_status: trio.TaskStatus[None]
    ) -> None:
        """Archive what is due, sleep until the next boundary (plus grace), repeat.

        A guild seen for the first time starts having its periods kept.
        """
        task_status.started()
        while True:
            await self.catch_up(stopping=lambda: inbox.closed)
            wake = math.inf if inbox.closed else self._next_due()  # stopping: drain, then return
            with trio.move_on_at(self.clock.trio_deadline(wake)):
                try:
                    message = await inbox.receive()
                except trio.EndOfChannel:
                    return
                match message:
                    case GuildConfigured(guild_id, config):
                        self.configs.set(guild_id, config)
                    case GuildSnapshot(guild_id=guild_id):
                        await self.store.call(self.store.period_spec_sync, guild_id, self.clock.now())
                    case ResetRequested():
                        await self._answer(message)

    async def _answer(self, request: ResetRequested) -> None:
        """Do an early reset and answer on the request; a failure is the requester's to report."""
        if request.done.is_set():
            return  # redelivered after a crash: already answered
        try:
            if self.clock.now() > request.deadline:
                raise ResetTooLate(f"the reset of guild {request.guild_id} was taken too late; not done")
            request.period = await self.reset_now(request.guild_id, request.by_user)
        except Exception as exc:
            request.error = exc
        finally:
            request.done.set()

    async def catch_up(self, stopping: Callable[[], bool] = lambda: False) -> list[tuple[int, int]]:
        """Archive every finished, unarchived period of every guild, oldest first per guild.

        Only the guilds whose boundary has passed are visited (the heap's top), and the guilds the
        store added since the last call are read in one call."""
        done: list[tuple[int, int]] = []
        async with self._lock:
            try:
                for guild_id, spec, last in await self.store.call(self.store.guilds_since_sync, self._known):
                    self._known += 1
                    if self.shards.owns(guild_id):  # another process archives the rest
                        self._track(guild_id, spec, spec.base if last is None else last + 1)
                # At a stop, the guilds not reached yet wait for the next start (archives are
                # idempotent), so a stop after downtime across a boundary stays bounded.
                while self._heap and self._heap[0][0] <= self.clock.now() and not stopping():
                    due, guild_id = heapq.heappop(self._heap)
                    if self._due.get(guild_id) != due:
                        continue  # superseded by a later entry
                    del self._due[guild_id]
                    await self._catch_up_guild(guild_id, done)
            except BaseException:
                self._forget_all()  # what was archived is in the store: read it all again next time
                raise
        return done

    async def _catch_up_guild(self, guild_id: int, done: list[tuple[int, int]]) -> None:
        spec, period = self._specs[guild_id], self._next[guild_id]
        # One period at a time: an archive may change the layout (new length or anchor).
        while period < spec.index_at(self.clock.now() - self.grace_seconds):
            if await self._archive(guild_id, period, spec):
                done.append((guild_id, period))
            spec = await self.store.call(self.store.period_spec_sync, guild_id, self.clock.now())
            period += 1
        self._track(guild_id, spec, period)

    def _track(self, guild_id: int, spec: PeriodSpec, period: int) -> None:
        """Note ``guild_id``'s layout and first unarchived period, and when that one is due."""
        self._specs[guild_id], self._next[guild_id] = spec, period
        due = spec.end_of(period) + self.grace_seconds
        if self._due.get(guild_id) != due:
            self._due[guild_id] = due
            heapq.heappush(self._heap, (due, guild_id))

    def _forget_all(self) -> None:
        self._known = 0
        self._specs, self._next, self._due, self._heap = {}, {}, {}, []

    async def reset_now(self, guild_id: int, by_user: int) -> int:
        """An admin's early reset: boards posted final, period archived, the next one starts now.

        Runs in this actor's task (``ResetRequested``); tests call it directly on an idle clock."""
        await self.catch_up()
        async with self._lock:
            now = self.clock.now()
            spec = await self.store.call(self.store.period_spec_sync, guild_id, now)
            await self._final_boards(guild_id, spec.index_at(now))
            period = await self.store.call(self.store.reset_early_sync, guild_id, now, by_user, self.fault)
            self.resets += 1
            log.info("reset_clock: guild %s period %s reset early by %s", guild_id, period, by_user)
            if guild_id in self._specs:  # else the next ``catch_up`` reads it with the new guilds
                new = await self.store.call(self.store.period_spec_sync, guild_id, now)
                self._track(guild_id, new, period + 1)
        self._tell_reset(guild_id, period)
        return period

    async def _final_boards(self, guild_id: int, period: int) -> None:
        if self.publisher is not None:
            await publish_final(self.publisher, self.clock, guild_id, period)

    def _tell_reset(self, guild_id: int, period: int) -> None:
        if self.publisher is None:
            return
        try:
            self.publisher.send_nowait(PeriodReset(guild_id, period, self.clock.now()))
        except (trio.WouldBlock, trio.ClosedResourceError):
            log.warning("reset_clock: the publisher did not take the reset of guild %s", guild_id)

    async def _archive(self, guild_id: int, period: int, spec: PeriodSpec) -> bool:
        await self._final_boards(guild_id, period)
        config = self.configs.get(guild_id)
        next_spec = spec.after(period, config.period_days * DAY, config.period_anchor)
        archived = await self.store.call(
            self.store.archive_period_sync,
            guild_id,
            period,
            spec.end_of(period),
            self.clock.now(),
            self.fault,
            next_spec,
        )
        if archived:
            self.resets += 1
            log.info("reset_clock: guild %s period %s archived", guild_id, period)
            self._tell_reset(guild_id, period)
        return archived

    def _next_due(self) -> float:
        """The earliest guild's next boundary plus grace (the heap's first live entry)."""
        while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else math.inf
