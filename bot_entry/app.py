"""The whole bot: the gateway in front of the pipeline (store, supervised actors, router).

``stop()`` cancels only the gateway; its event channel closes, and the pipeline then shuts down
in data-flow order (see ``wiring.pipeline``). Must run inside a trio-asyncio loop.
"""

from __future__ import annotations

import gc
import logging
from functools import partial

import disnake
import trio
import trio_asyncio

from bot_entry.app_health import AppHealth
from bot_entry.board_poster import BoardPoster
from bot_entry.commands import Registration, Services, install_commands
from bot_entry.config import Settings
from bot_entry.gateway import Gateway
from bot_entry.metrics import Metrics
from bot_entry.ops_http import serve_ops
from bot_entry.rest_budget import RestPolicy
from bot_entry.rest_pacing import install_rest_budget
from bot_entry.web_pages import page_source
from domain.clock import WallClock
from domain.events import Event
from domain.messages import GuildConfigured
from persistence.backup import default_backup_dir, run_backups
from web.app import PREFIXES, web_app
from web.live import LivePages
from web.source import PageSource
from wiring.pipeline import NO_FAULTS, Faults, Pipeline, PipelineHandle

log = logging.getLogger(__name__)

GATEWAY_QUEUE = 10_000


def _log_asyncio_error(_loop: object, context: dict[str, object]) -> None:
    log.error("asyncio: %s", context.get("message"), exc_info=context.get("exception"))  # type: ignore[arg-type]


class BotApp:
    def __init__(
        self, settings: Settings, clock: WallClock, *, api_base: str | None = None, faults: Faults = NO_FAULTS
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.api_base = api_base
        # The per-server web pages: told of every totals change, never in the way of counting.
        self.web = LivePages(clock, settings.web_update_seconds, settings.web_max_viewers)
        self.pipeline = Pipeline(settings.pipeline, clock, faults, on_totals=self.web.changed)
        self.gateway: Gateway | None = None
        self.events: trio.MemorySendChannel[Event] | None = None
        self.metrics = Metrics()
        self.ops_port: int | None = None  # where /healthz and /metrics listen, once started
        self.registration: Registration | None = None  # the slash commands', once installed
        self._gateway_scope = trio.CancelScope()

    def _command_services(self, pipeline: PipelineHandle) -> Services:
        """What the slash commands use: the running pipeline's store, reset and forget, the configs
        as loaded (the commands' own copy from then on), and the way to tell the publisher."""
        assert self.gateway is not None
        return Services(
            store=pipeline.store,
            configs=pipeline.configs,
            clock=self.clock,
            push=self._push,
            reset=pipeline.reset_now,
            forget=pipeline.forget,
            totals=pipeline.totals,
            backups_kept_hours=self.settings.backup_keep * self.settings.backup_interval_hours,
            page_url=self.settings.web_page_url,
        )

    def _push(self, event: Event) -> None:
        """The commands' events go to the pipeline; a new config to the web pages as well."""
        assert self.gateway is not None
        self.gateway.push(event)
        if isinstance(event, GuildConfigured):
            self.web.configured(event)

    def stop(self) -> None:
        """Begin a clean shutdown (safe to call more than once, and before start)."""
        self._gateway_scope.cancel()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        settings = self.settings
        if self.api_base is not None:
            disnake.http.Route.BASE = self.api_base
        # A failure in a task disnake starts on its own (e.g. fetching the app owner at login) is
        # logged, not raised into our nursery: one bad answer from Discord must not end the bot.
        trio_asyncio.current_loop.get().set_exception_handler(_log_asyncio_error)
        send, receive = trio.open_memory_channel[Event](GATEWAY_QUEUE)
        self.events = send
        # The gateway's client exists before the pipeline starts: the boards are posted through it.
        self.gateway = Gateway(
            send, self.clock, shard_count=settings.shard_count, shard_ids=settings.shard_ids
        )
        policy = RestPolicy.of(settings.rest_per_second, settings.invalid_request_stop_fraction)
        self.metrics.watch_rest(install_rest_budget(self.gateway.client.http, policy))
        poster = BoardPoster(self.gateway.client, ready=self.gateway.ready)
        health = AppHealth(self)
        self.metrics.watch(health)
        self.metrics.watch_shards(health)
        try:
            async with trio.open_nursery() as ops:  # outlives the pipeline: /healthz answers to the end
                if settings.ops_port:
                    serve = partial(
                        serve_ops,
                        health,
                        self.metrics,
                        host=settings.ops_host,
                        port=settings.ops_port,
                        web=web_app(self.web),
                        web_prefixes=PREFIXES,
                    )
                    self.ops_port = await ops.start(serve)
                with self.metrics.counting_disnake_429s():
                    await self._run_bot(ops, receive, poster, task_status)
                ops.cancel_scope.cancel()  # the pipeline has flushed and closed the store
        finally:
            with trio.CancelScope(shield=True):
                await poster.aclose()  # the session the last boards went out on

    async def _run_bot(
        self,
        ops: trio.Nursery,
        receive: trio.MemoryReceiveChannel[Event],
        poster: BoardPoster,
        task_status: trio.TaskStatus[None],
    ) -> None:
        settings, send, gateway = self.settings, self.events, self.gateway
        assert send is not None and gateway is not None
        async with trio.open_nursery() as nursery:
            pipeline: PipelineHandle = await nursery.start(partial(self.pipeline.run, receive, poster=poster))
            if settings.backup_interval_hours and settings.pipeline.database_url:
                # Several processes share one PostgreSQL database: one pg_dump from a timer, not one each.
                log.info(
                    "PostgreSQL: no scheduled backups in the bot; run `python -m bot_entry backup` "
                    "(pg_dump) from a timer on one machine"
                )
            elif settings.backup_interval_hours:
                backups = partial(
                    run_backups,
                    settings.db_path,
                    settings.backup_interval_hours * 3600,
                    settings.backup_keep,
                    self.clock,
                    settings.backup_dir or default_backup_dir(settings.db_path),
                    on_backup=self.metrics.backup_done,
                )
                ops.start_soon(backups)
            self.registration = install_commands(
                gateway.client,
                self._command_services(pipeline),
                guild_ids=settings.command_guild_ids,
                on_attempt=self.metrics.command_registration,
            )
            pages = trio.CancelScope()  # the web pages read the store: they stop before it closes
            nursery.start_soon(
                self._serve_pages, pages, page_source(pipeline, self.clock, gateway.client, poster)
            )
            with send, self._gateway_scope:  # closing ``send`` ends the pipeline, even if stopped early
                async with trio.open_nursery() as gateway_nursery:
                    await gateway_nursery.start(gateway.run, settings.token.reveal())
                    # What start-up made (modules, settings, the first guilds) lives as long as the
                    # bot: frozen, a full collection no longer walks it, which cuts its pauses (over
                    # 100 ms with a large guild loaded) that stall the gateway and the web pages.
                    gc.freeze()
                    task_status.started()
            pages.cancel()
            log.info("gateway closed")

    async def _serve_pages(self, scope: trio.CancelScope, source: PageSource) -> None:
        with scope:
            await self.web.run(source)
