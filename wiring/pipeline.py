"""Everything behind the gateway: the store, the supervised actors and the router.

Fed from one Trio channel of events, so the same pipeline runs under the real gateway, in
in-process simulations and in benchmarks. Shutdown runs in data-flow order so nothing is lost:
the event channel closes; the router closes every mailbox; voice sessions end and hand their last
seconds to the ledger; the ledger and the message counter flush; the leaderboard publisher posts
that last state; then the store closes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio
from attrs import define, evolve

from actors.leaderboard_publisher import LeaderboardPublisher, Poster
from actors.message_counter import Fault, MessageCounter
from actors.reset_clock import ResetClock
from actors.voice_ledger import SessionKey, VoiceLedger
from actors.voice_session import VoiceFault, VoiceSessionActor
from domain.clock import WallClock
from domain.events import Event, GuildSnapshot, MessageSent
from domain.guild_config import GuildConfig, GuildConfigs, config_from_json
from persistence.store import Fault as ResetFault
from persistence.store import Store
from supervisor.mailbox import Mailbox
from supervisor.supervisor import ChildSpec, Supervisor, open_supervisor
from wiring.router import Router

log = logging.getLogger(__name__)


@define(frozen=True)
class Faults:
    """Crash hooks that tests inject into actors (None in production)."""

    message: Fault | None = None
    voice: VoiceFault | None = None
    reset: ResetFault | None = None


NO_FAULTS = Faults()


def _signals_return(spec: ChildSpec, returned: trio.Event) -> ChildSpec:
    """``spec`` that sets ``returned`` once it has shut down cleanly (inbox closed, state flushed)."""

    async def run(checkpoint: Any, inbox: Mailbox[Any], *, task_status: trio.TaskStatus[None]) -> None:
        await spec.run(checkpoint, inbox, task_status=task_status)
        if inbox.closed:
            returned.set()

    return evolve(spec, run=run)


@define(frozen=True)
class PipelineSettings:
    """What the pipeline needs of the operator's settings; ``bot_entry`` builds it from ``Settings``."""

    db_path: Path
    defaults: GuildConfig  # every guild's starting config
    default_guild_id: int | None  # GUILD_ID: the default board channels belong to this guild only
    message_flush: float
    message_flush_max: int
    voice_flush: float  # VOICE_FLUSH_SECONDS: how often the voice ledger writes
    voice_checkpoint: float
    supervisor_intensity: int
    supervisor_period: float


def configs_from(settings: PipelineSettings) -> GuildConfigs:
    """Every guild starts from the operator's settings; with GUILD_ID set, the board channels in
    them belong to that guild only (other guilds choose theirs with /lbconfig)."""
    defaults = settings.defaults
    if settings.default_guild_id is None:
        return GuildConfigs(defaults)
    configs = GuildConfigs(evolve(defaults, message_board_channel_id=None, voice_board_channel_id=None))
    configs.set(settings.default_guild_id, defaults)
    return configs


class Pipeline:
    def __init__(
        self,
        settings: PipelineSettings,
        clock: WallClock,
        faults: Faults = NO_FAULTS,
        *,
        inline_db: bool = False,
    ) -> None:
        self.settings = settings
        self.inline_db = inline_db  # deterministic simulations only: see ``Store.call``
        self.clock = clock
        self.faults = faults
        self.store: Store | None = None
        self.ledger: VoiceLedger | None = None
        self.router: Router | None = None
        self.supervisor: Supervisor | None = None
        self.voice_supervisor: Supervisor | None = None
        self.reset_clock: ResetClock | None = None
        # The publisher's way to Discord (``BotApp`` sets it); None: no boards (simulations, benchmarks).
        self.poster: Poster | None = None
        self.publisher: LeaderboardPublisher | None = None
        # Whoever needs to know when totals change (the leaderboard publisher) or which guilds
        # exist subscribes here before ``run``.
        self.configs = configs_from(settings)
        self.totals_changed: list[Callable[[set[int]], None]] = []
        self.guild_seen: list[Callable[[GuildSnapshot], None]] = []

    def _notify_totals(self, guild_ids: set[int]) -> None:
        for listener in self.totals_changed:
            listener(guild_ids)

    def _notify_guild(self, snapshot: GuildSnapshot) -> None:
        for listener in self.guild_seen:
            listener(snapshot)

    async def run(
        self,
        events: trio.MemoryReceiveChannel[Event],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run until ``events`` is closed and drained, then shut down cleanly."""
        settings = self.settings
        self.store = store = await trio.to_thread.run_sync(
            lambda: Store(
                settings.db_path, default_period_days=settings.defaults.period_days, inline=self.inline_db
            )
        )
        try:
            for guild_id, raw in (await store.call(store.guild_configs_sync)).items():
                self.configs.set(guild_id, config_from_json(raw, self.configs.get(guild_id)))
            await self._run_actors(store, events, task_status)
        finally:
            with trio.CancelScope(shield=True):
                await store.aclose()
            log.info("stopped; database closed")

    async def _run_actors(
        self, store: Store, events: trio.MemoryReceiveChannel[Event], task_status: trio.TaskStatus[None]
    ) -> None:
        settings = self.settings
        counter = MessageCounter(
            store,
            flush_seconds=settings.message_flush,
            flush_max=settings.message_flush_max,
            configs=self.configs,
            fault=self.faults.message,
            on_flushed=self._notify_totals,
        )
        self.ledger = ledger = VoiceLedger(
            store, flush_seconds=settings.voice_flush, on_flushed=self._notify_totals
        )

        grace = settings.voice_checkpoint + 2 * settings.message_flush + 1.0  # the old period's last writes
        self.reset_clock = ResetClock(
            store,
            self.clock,
            grace,
            after_reset=self._notify_totals,
            fault=self.faults.reset,
            configs=self.configs,
        )
        publisher: LeaderboardPublisher | None = None
        if self.poster is not None:
            # Boards show the old period until its last writes land, as the reset clock waits for them.
            publisher = LeaderboardPublisher(
                store, self.poster, self.configs, self.clock, settle_seconds=grace
            )
            self.publisher = publisher
            self.reset_clock.before_reset = publisher.publish_final  # the last look before a reset
            self.totals_changed.append(publisher.totals_changed)
            self.guild_seen.append(publisher.guild_seen)
        counter_flushed, ledger_flushed = trio.Event(), trio.Event()

        def spawn_voice(key: SessionKey) -> ChildSpec:
            return VoiceSessionActor(
                key, ledger, self.clock, settings.voice_checkpoint, self.faults.voice
            ).spec()

        intensity, period = settings.supervisor_intensity, settings.supervisor_period
        async with open_supervisor("root", intensity=intensity, period=period) as root:
            self.supervisor = root
            messages = Mailbox[MessageSent]("message_counter")
            await root.start_child(_signals_return(counter.spec(), counter_flushed), messages)
            ledger_inbox = Mailbox[None]("voice_ledger")
            await root.start_child(_signals_return(ledger.spec(), ledger_flushed), ledger_inbox)
            reset_inbox = Mailbox[int]("reset_clock", capacity=math.inf)
            self.guild_seen.append(lambda snapshot: reset_inbox.sender.send_nowait(snapshot.guild_id))
            await root.start_child(self.reset_clock.spec(), reset_inbox)
            if publisher is not None:
                await root.start_child(publisher.spec(), publisher.inbox)
            try:
                async with open_supervisor("voice", intensity=intensity, period=period) as voice:
                    self.voice_supervisor = voice
                    self.router = Router(
                        messages, voice, spawn_voice, self.configs, on_guild=self._notify_guild
                    )
                    task_status.started()
                    await self.router.run(events)
                    log.info("events closed: flushing actors")
            finally:
                ledger_inbox.close()  # voice sessions have ended: the ledger flushes last
                reset_inbox.close()
                if publisher is not None:
                    try:  # the boards' last state goes out after the counter and the ledger flushed
                        await counter_flushed.wait()
                        await ledger_flushed.wait()
                    finally:
                        publisher.stop()
