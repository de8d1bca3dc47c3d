"""The whole bot: the gateway in front of the pipeline (store, supervised actors, router).

``stop()`` cancels only the gateway; its event channel closes, and the pipeline then shuts down
in data-flow order (see ``supervisor.pipeline``). Must run inside a trio-asyncio loop.
"""

from __future__ import annotations

import logging

import disnake
import trio

from actors.clock import WallClock
from actors.events import Event
from bot_entry.config import Settings
from bot_entry.gateway import Gateway
from supervisor.pipeline import NO_FAULTS, Faults, Pipeline

log = logging.getLogger(__name__)

GATEWAY_QUEUE = 10_000


class BotApp:
    def __init__(
        self, settings: Settings, clock: WallClock, *, api_base: str | None = None, faults: Faults = NO_FAULTS
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.api_base = api_base
        self.pipeline = Pipeline(settings, clock, faults)
        self.gateway: Gateway | None = None
        self._gateway_scope = trio.CancelScope()

    def stop(self) -> None:
        """Begin a clean shutdown (safe to call more than once, and before start)."""
        self._gateway_scope.cancel()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        if self.api_base is not None:
            disnake.http.Route.BASE = self.api_base
        send, receive = trio.open_memory_channel[Event](GATEWAY_QUEUE)
        async with trio.open_nursery() as nursery:
            await nursery.start(self.pipeline.run, receive)
            self.gateway = Gateway(send, self.clock)
            with send, self._gateway_scope:  # closing ``send`` ends the pipeline, even if stopped early
                async with trio.open_nursery() as gateway_nursery:
                    await gateway_nursery.start(self.gateway.run, self.settings.token.reveal())
                    task_status.started()
            log.info("gateway closed")
