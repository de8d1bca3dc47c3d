"""Everything behind the gateway: the store, the supervised actors and the router.

Fed from one Trio channel of events, so the same pipeline runs under the real gateway, in
in-process simulations and in benchmarks. Shutdown runs in data-flow order so nothing is lost:
the event channel closes; the router closes every mailbox; voice sessions end and hand their last
seconds to the ledger; the ledger and the message counter flush; then the store closes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio
from attrs import define

from actors.clock import WallClock
from actors.events import Event, GuildSnapshot, MessageSent
from actors.guild_config import GuildConfig, GuildConfigs, config_from_json
from actors.message_counter import Fault, MessageCounter
from actors.voice_ledger import SessionKey, VoiceLedger
from actors.voice_session import VoiceFault, VoiceSessionActor
from persistence.store import Store
from supervisor.mailbox import Mailbox
from supervisor.router import Router
from supervisor.supervisor import ChildSpec, Supervisor, open_supervisor

if TYPE_CHECKING:
    from bot_entry.config import Settings

log = logging.getLogger(__name__)


@define(frozen=True)
class Faults:
    """Crash hooks that tests inject into actors (None in production)."""

    message: Fault | None = None
    voice: VoiceFault | None = None


NO_FAULTS = Faults()


def defaults_from(settings: Settings) -> GuildConfig:
    """The operator's settings as every guild's starting config."""
    return GuildConfig(
        message_board_channel_id=settings.message_board_channel_id,
        voice_board_channel_id=settings.voice_board_channel_id,
        arrow=settings.arrow_emoji,
        colour=settings.colour,
        update_interval=settings.leaderboard_interval,
        period_days=settings.period_days,
        excluded_channels=settings.excluded_channel_ids,
    )


class Pipeline:
    def __init__(self, settings: Settings, clock: WallClock, faults: Faults = NO_FAULTS) -> None:
        self.settings = settings
        self.clock = clock
        self.faults = faults
        self.store: Store | None = None
        self.ledger: VoiceLedger | None = None
        self.router: Router | None = None
        self.supervisor: Supervisor | None = None
        self.voice_supervisor: Supervisor | None = None
        # Whoever needs to know when totals change (the leaderboard publisher) or which guilds
        # exist subscribes here before ``run``.
        self.configs = GuildConfigs(defaults_from(settings))
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
            lambda: Store(settings.db_path, default_period_days=settings.period_days)
        )
        try:
            for guild_id, raw in (await store.call(store.guild_configs_sync)).items():
                self.configs.set(guild_id, config_from_json(raw, self.configs.defaults))
            ended = await store.call(store.end_open_voice_sessions_sync)
            if ended:
                log.info("ended %d voice sessions left open by the last run at their last checkpoint", ended)
            await self._run_actors(store, events, task_status)
        finally:
            store.close()
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
            store, flush_seconds=settings.message_flush, on_flushed=self._notify_totals
        )

        def spawn_voice(key: SessionKey) -> ChildSpec:
            return VoiceSessionActor(
                key, ledger, self.clock, settings.voice_checkpoint, self.faults.voice
            ).spec()

        intensity, period = settings.supervisor_intensity, settings.supervisor_period
        async with open_supervisor("root", intensity=intensity, period=period) as root:
            self.supervisor = root
            messages = Mailbox[MessageSent]("message_counter")
            await root.start_child(counter.spec(), messages)
            ledger_inbox = Mailbox[None]("voice_ledger")
            await root.start_child(ledger.spec(), ledger_inbox)
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
