"""Everything behind the gateway: the store, the supervised actors and the router.

Fed from one Trio channel of events, so the same pipeline runs under the real gateway, in
in-process simulations and in benchmarks. ``run`` hands its running parts back once through
``task_status.started(PipelineHandle(...))``. Actors talk only by messages (``domain.messages``);
each keeps its own copy of every guild's config, seeded here from the store.

Shutdown order is the nesting, in data-flow order, so nothing is lost: the event channel closes;
the router closes every mailbox; the voice supervisor exits once sessions have ended and handed
their last seconds to the ledger; the writers' supervisor exits once the ledger, the message
counter and the reset clock have flushed and returned; then the publisher posts that last state;
then the store closes.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable
from pathlib import Path

import trio
from attrs import define, evolve, field

from actors.history_pruner import HistoryPruner
from actors.leaderboard_publisher import LeaderboardPublisher, Poster
from actors.leaderboard_publisher import Request as PublisherRequest
from actors.leaderboard_publisher import publisher_inbox as publisher_inbox_
from actors.message_counter import CounterMessage, Fault, MessageCounter
from actors.reset_clock import ResetClock, ResetClockMessage, request_reset, reset_clock_inbox
from actors.voice_ledger import LEDGER_INBOX, LedgerMessage, SessionKey, VoiceLedger
from actors.voice_session import VoiceFault, VoiceSessionActor
from domain.clock import WallClock
from domain.events import Event
from domain.guild_config import GuildConfig, GuildConfigs, config_from_json
from domain.kinds import BoardKind
from domain.messages import MemberForgotten, PeriodReset, TotalsChanged
from domain.shards import ShardSet
from persistence.history import DEFAULT_HISTORY_DAYS
from persistence.store import Fault as ResetFault
from persistence.store import Store
from supervisor.inbox import QueueInbox
from supervisor.mailbox import Mailbox, Sender
from supervisor.supervisor import ChildSpec, Supervisor, open_supervisor
from supervisor.ticker import open_ticker
from wiring.router import Router

log = logging.getLogger(__name__)


@define(frozen=True)
class Faults:
    """Crash hooks that tests inject into actors (None in production)."""

    message: Fault | None = None
    voice: VoiceFault | None = None
    reset: ResetFault | None = None


NO_FAULTS = Faults()


@define(frozen=True)
class PipelineSettings:
    """What the pipeline needs of the operator's settings; ``bot_entry`` builds it from ``Settings``."""

    db_path: Path  # the SQLite file, unless ``database_url`` names a PostgreSQL database
    defaults: GuildConfig  # every guild's starting config
    default_guild_id: int | None  # GUILD_ID: the default board channels belong to this guild only
    message_flush: float
    message_flush_max: int
    voice_flush: float  # VOICE_FLUSH_SECONDS: how often the voice ledger writes
    voice_checkpoint: float
    supervisor_intensity: int
    supervisor_period: float
    history_days: int = DEFAULT_HISTORY_DAYS  # HISTORY_DAYS: daily history kept (the pruner)
    # DATABASE_URL when it names PostgreSQL (postgresql://...); None: the SQLite file ``db_path``.
    database_url: str | None = None
    shards: ShardSet = field(factory=ShardSet)  # SHARD_COUNT/SHARD_IDS: whose periods and boards


def configs_from(settings: PipelineSettings) -> GuildConfigs:
    """Every guild starts from the operator's settings; with GUILD_ID set, the board channels in
    them belong to that guild only (other guilds choose theirs with /lbconfig)."""
    defaults = settings.defaults
    if settings.default_guild_id is None:
        return GuildConfigs(defaults)
    configs = GuildConfigs(evolve(defaults, message_board_channel_id=None, voice_board_channel_id=None))
    configs.set(settings.default_guild_id, defaults)
    return configs


@define(frozen=True)
class PipelineHandle:
    """The running pipeline, as ``run`` hands it back: what the commands, health and tests use."""

    store: Store
    configs: GuildConfigs  # the configs as loaded at start: the commands' own copy from then on
    router: Router
    supervisor: Supervisor  # the writers: message counter, voice ledger, reset clock
    voice_supervisor: Supervisor
    boards_supervisor: Supervisor  # the leaderboard publisher (no child without a poster)
    ledger: VoiceLedger
    reset_clock: ResetClock
    counter_inbox: Mailbox[CounterMessage]
    ledger_inbox: Mailbox[LedgerMessage]
    reset_inbox: Mailbox[ResetClockMessage]
    publisher: LeaderboardPublisher | None
    totals: Callable[[set[int]], None]  # send ``TotalsChanged`` to the publisher (and note a write)
    clock: WallClock

    async def reset_now(self, guild_id: int, by_user: int) -> int:
        """An early reset, as a message to the reset clock; returns the period it archived."""
        return await request_reset(self.reset_inbox.sender, self.clock, guild_id, by_user)

    async def forget(self, guild_id: int, user_id: int, at: float) -> None:
        """Tell every actor that holds state about the member to drop what it holds from before
        ``at``. The store already refuses such writes (``forget_member_sync``), so this only frees
        memory early: it does not wait for the actors (the publisher may be in a slow round)."""
        for inbox in (self.counter_inbox, self.ledger_inbox):
            await inbox.send(MemberForgotten(guild_id, user_id, at))
        if self.publisher is not None:
            await self.publisher.inbox.send(MemberForgotten(guild_id, user_id, at))


@define(frozen=True)
class _ResetTee:
    """The reset clock's way to the publisher; a reset (``PeriodReset``) is also a change of the
    totals shown for ``on_totals`` (the web pages), which no flush would announce."""

    publisher: Sender[PublisherRequest]
    on_totals: Callable[[set[int]], None] | None

    def send_nowait(self, item: PublisherRequest) -> None:
        self.publisher.send_nowait(item)
        if isinstance(item, PeriodReset) and self.on_totals is not None:
            self.on_totals({item.guild_id})

    async def send(self, item: PublisherRequest) -> None:
        await self.publisher.send(item)
        if isinstance(item, PeriodReset) and self.on_totals is not None:
            self.on_totals({item.guild_id})


class Pipeline:
    """Builds and nests every actor; ``run`` is the whole of it."""

    def __init__(
        self,
        settings: PipelineSettings,
        clock: WallClock,
        faults: Faults = NO_FAULTS,
        *,
        inline_db: bool = False,
        on_totals: Callable[[set[int]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.on_totals = on_totals  # also told of every totals change (the web pages); must not block
        self.inline_db = inline_db  # deterministic simulations only: see ``Store.call``
        self.clock = clock
        self.faults = faults
        # Every guild's starting config; what was stored is added at start. Each actor gets its
        # own copy then; after that this is the commands' copy (``PipelineHandle.configs``).
        self.configs = configs_from(settings)
        self.handle: PipelineHandle | None = None  # for tests and benchmarks that look inside
        self.last_write_at: float | None = None  # epoch seconds of the last flush that changed totals

    # Read-only views of the running parts, for tests, benchmarks and health.
    @property
    def store(self) -> Store | None:
        return self.handle.store if self.handle else None

    @property
    def router(self) -> Router | None:
        return self.handle.router if self.handle else None

    @property
    def ledger(self) -> VoiceLedger | None:
        return self.handle.ledger if self.handle else None

    @property
    def supervisor(self) -> Supervisor | None:
        return self.handle.supervisor if self.handle else None

    @property
    def voice_supervisor(self) -> Supervisor | None:
        return self.handle.voice_supervisor if self.handle else None

    @property
    def reset_clock(self) -> ResetClock | None:
        return self.handle.reset_clock if self.handle else None

    @property
    def publisher(self) -> LeaderboardPublisher | None:
        return self.handle.publisher if self.handle else None

    @property
    def poster(self) -> Poster | None:
        publisher = self.publisher
        return publisher.poster if publisher else None

    async def run(
        self,
        events: trio.MemoryReceiveChannel[Event],
        *,
        poster: Poster | None = None,
        task_status: trio.TaskStatus[PipelineHandle] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run until ``events`` is closed and drained, then shut down cleanly.

        ``poster`` is the publisher's way to Discord; None: no boards (simulations, benchmarks).
        """
        settings = self.settings
        store = await trio.to_thread.run_sync(
            lambda: Store(
                settings.database_url or settings.db_path,
                default_period_days=settings.defaults.period_days,
                inline=self.inline_db,
            )
        )
        try:
            for guild_id, raw in (await store.call(store.guild_configs_sync)).items():
                self.configs.set(guild_id, config_from_json(raw, self.configs.get(guild_id)))
            await self._run_actors(store, events, poster, task_status)
        finally:
            with trio.CancelScope(shield=True):
                await store.aclose()
            log.info("stopped; database closed")

    async def _run_actors(
        self,
        store: Store,
        events: trio.MemoryReceiveChannel[Event],
        poster: Poster | None,
        task_status: trio.TaskStatus[PipelineHandle],
    ) -> None:
        settings, clock = self.settings, self.clock
        publisher_inbox = publisher_inbox_()

        def totals(guild_ids: set[int], kinds: frozenset[BoardKind] = frozenset(BoardKind)) -> None:
            """Totals changed: a message in the publisher's inbox (it merges with a queued one)."""
            self.last_write_at = clock.now()
            with contextlib.suppress(trio.ClosedResourceError):  # no publisher, or its last round is done
                publisher_inbox.sender.send_nowait(TotalsChanged(frozenset(guild_ids), kinds))
            if self.on_totals is not None:
                self.on_totals(guild_ids)

        def totals_of(kind: BoardKind) -> Callable[[set[int]], None]:
            """A writer's flush changes the totals of its own board only: the other is not rendered."""
            return functools.partial(totals, kinds=frozenset({kind}))

        if poster is None:
            publisher_inbox.close()
        counter = MessageCounter(
            store,
            flush_seconds=settings.message_flush,
            flush_max=settings.message_flush_max,
            configs=self.configs.copy(),
            fault=self.faults.message,
            on_flushed=totals_of(BoardKind.MESSAGES),
        )
        ledger = VoiceLedger(store, flush_seconds=settings.voice_flush, on_flushed=totals_of(BoardKind.VOICE))
        # The old period's last writes: a checkpoint, then two flushes of the slower writer.
        grace = settings.voice_checkpoint + 2 * max(settings.message_flush, settings.voice_flush) + 1.0
        reset_clock = ResetClock(
            store,
            clock,
            grace,
            publisher=None if poster is None else _ResetTee(publisher_inbox.sender, self.on_totals),
            fault=self.faults.reset,
            configs=self.configs.copy(),
            shards=settings.shards,
        )
        publisher: LeaderboardPublisher | None = None
        if poster is not None:
            # Boards show the old period until its last writes land, as the reset clock waits for them.
            publisher = LeaderboardPublisher(
                store,
                poster,
                self.configs.copy(),
                clock,
                settle_seconds=grace,
                inbox=publisher_inbox,
                shards=settings.shards,
            )

        def spawn_voice(key: SessionKey) -> ChildSpec:
            return VoiceSessionActor(
                key, ledger_inbox.sender, clock, settings.voice_checkpoint, ticker, self.faults.voice
            ).spec()

        intensity, period = settings.supervisor_intensity, settings.supervisor_period
        async with open_supervisor("boards", intensity=intensity, period=period) as boards:
            if publisher is not None:
                await boards.start_child(publisher.spec(), publisher_inbox)
            try:
                async with open_supervisor("root", intensity=intensity, period=period) as root:
                    messages: Mailbox[CounterMessage] = QueueInbox("message_counter")
                    await root.start_child(counter.spec(), messages)
                    ledger_inbox: Mailbox[LedgerMessage] = QueueInbox("voice_ledger", capacity=LEDGER_INBOX)
                    await root.start_child(ledger.spec(), ledger_inbox)
                    reset_inbox = reset_clock_inbox()
                    await root.start_child(reset_clock.spec(), reset_inbox)
                    pruner_inbox = Mailbox[None]("history_pruner")
                    pruner = HistoryPruner(store, clock, settings.history_days)
                    await root.start_child(pruner.spec(), pruner_inbox)
                    try:
                        async with (
                            open_ticker() as ticker,  # stops after the sessions (inside) have ended
                            open_supervisor("voice", intensity=intensity, period=period) as voice,
                        ):
                            router = Router(
                                messages,
                                voice,
                                spawn_voice,
                                self.configs.copy(),
                                reset_clock=reset_inbox,
                                publisher=None if publisher is None else publisher_inbox.sender,
                            )
                            self.handle = handle = PipelineHandle(
                                store=store,
                                configs=self.configs,
                                router=router,
                                supervisor=root,
                                voice_supervisor=voice,
                                boards_supervisor=boards,
                                ledger=ledger,
                                reset_clock=reset_clock,
                                counter_inbox=messages,
                                ledger_inbox=ledger_inbox,
                                reset_inbox=reset_inbox,
                                publisher=publisher,
                                totals=totals,
                                clock=clock,
                            )
                            task_status.started(handle)
                            await router.run(events)  # closes the counter's and the sessions' inboxes
                            log.info("events closed: flushing actors")
                    finally:  # voice sessions have ended: the ledger flushes last
                        ledger_inbox.close()
                        reset_inbox.close()
                        pruner_inbox.close()
            finally:  # the counter and the ledger have flushed: the boards' last state goes out
                if publisher is not None:
                    publisher.stop()
