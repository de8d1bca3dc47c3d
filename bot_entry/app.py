"""The whole bot wired together: store, supervised actors, router, gateway.

Shutdown runs in data-flow order so nothing is lost: ``stop()`` cancels only the gateway; its
closing event channel ends the router; the router closes every mailbox; each actor drains its
inbox, flushes and returns; then the store closes. Must run inside a trio-asyncio loop.
"""

from __future__ import annotations

import logging

import disnake
import trio

from actors.clock import WallClock
from actors.events import Event
from actors.message_counter import Fault, MessageCounter
from bot_entry.config import Settings
from bot_entry.gateway import Gateway
from persistence.store import Store
from supervisor.mailbox import Mailbox
from supervisor.router import Router
from supervisor.supervisor import Supervisor, open_supervisor

log = logging.getLogger(__name__)

GATEWAY_QUEUE = 10_000


class BotApp:
    def __init__(
        self,
        settings: Settings,
        clock: WallClock,
        *,
        api_base: str | None = None,
        message_fault: Fault | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.api_base = api_base
        self.message_fault = message_fault
        self.store: Store | None = None
        self.gateway: Gateway | None = None
        self.router: Router | None = None
        self.supervisor: Supervisor | None = None
        self._gateway_scope = trio.CancelScope()

    def stop(self) -> None:
        """Begin a clean shutdown (safe to call more than once, and before start)."""
        self._gateway_scope.cancel()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        settings = self.settings
        if self.api_base is not None:
            disnake.http.Route.BASE = self.api_base
        self.store = store = await trio.to_thread.run_sync(
            lambda: Store(settings.db_path, default_period_days=settings.period_days)
        )
        try:
            send, receive = trio.open_memory_channel[Event](GATEWAY_QUEUE)
            counter = MessageCounter(
                store,
                flush_seconds=settings.message_flush,
                flush_max=settings.message_flush_max,
                excluded_channels=settings.excluded_channel_ids,
                fault=self.message_fault,
            )
            async with open_supervisor(
                "root", intensity=settings.supervisor_intensity, period=settings.supervisor_period
            ) as supervisor:
                self.supervisor = supervisor
                messages = Mailbox[object]("message_counter")
                await supervisor.start_child(counter.spec(), messages)
                self.router = Router(messages=messages)  # type: ignore[arg-type]
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self.router.run, receive)
                    self.gateway = Gateway(send, self.clock)
                    with self._gateway_scope:
                        async with trio.open_nursery() as gateway_nursery:
                            await gateway_nursery.start(self.gateway.run, settings.token.reveal())
                            task_status.started()
                    log.info("shutting down: gateway closed, flushing actors")
        finally:
            store.close()
            log.info("stopped; database closed")
