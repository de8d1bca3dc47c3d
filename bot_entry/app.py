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
from bot_entry.board_poster import BoardPoster
from bot_entry.commands import Services, install_commands
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

    def _command_services(self) -> Services:
        """What the slash commands use: the pipeline's store and configs, and its reset clock."""
        assert self.pipeline.store is not None and self.gateway is not None
        reset_clock = self.pipeline.reset_clock
        return Services(
            store=self.pipeline.store,
            configs=self.pipeline.configs,
            clock=self.clock,
            push=self.gateway.push,
            reset=None if reset_clock is None else reset_clock.reset_now,
            totals_changed=self.pipeline.totals_changed,
        )

    def stop(self) -> None:
        """Begin a clean shutdown (safe to call more than once, and before start)."""
        self._gateway_scope.cancel()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        if self.api_base is not None:
            disnake.http.Route.BASE = self.api_base
        send, receive = trio.open_memory_channel[Event](GATEWAY_QUEUE)
        # The gateway's client exists before the pipeline starts: the boards are posted through it.
        self.gateway = Gateway(send, self.clock)
        self.pipeline.poster = poster = BoardPoster(self.gateway.client)
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(self.pipeline.run, receive)
                install_commands(self.gateway.client, self._command_services())
                with send, self._gateway_scope:  # closing ``send`` ends the pipeline, even if stopped early
                    async with trio.open_nursery() as gateway_nursery:
                        await gateway_nursery.start(self.gateway.run, self.settings.token.reveal())
                        task_status.started()
                log.info("gateway closed")
        finally:
            with trio.CancelScope(shield=True):
                await poster.aclose()  # the session the last boards went out on
