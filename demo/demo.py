"""``just run`` with no token: the real bot against the loopback simulator, with a seeded crowd.

Everything is real except Discord itself: the simulator serves a websocket gateway and REST on
127.0.0.1, the bot connects with disnake exactly as it would to Discord, counts into the SQLite
file, and the live totals are printed as a table.
"""

from __future__ import annotations

import logging
import math
import random
import signal
import sqlite3

import trio
import trio_asyncio
from attrs import evolve
from rich.console import Console
from rich.table import Table

from bot_entry.app import BotApp
from bot_entry.config import Secret, Settings
from demo.settings import DemoSettings
from discord_sim.crowd import Scenario, build_scenario, chat, wander
from discord_sim.server import DiscordSim
from discord_sim.world import LOADING, World
from domain.clock import WallClock
from domain.periods import PeriodSpec

log = logging.getLogger(__name__)

REFRESH_SECONDS = 2.0
CATCH_UP_SECONDS = 5.0
PAGE_ON_SECONDS = 10.0
MANAGE_GUILD = 1 << 5  # the permission /lbconfig asks for


async def run_demo(settings: Settings, demo: DemoSettings) -> None:
    clock = WallClock.real()
    sim = DiscordSim(World(lambda: int(clock.now() * 1000)))
    scenario = build_scenario(sim, random.Random(demo.seed), members=24)
    console = Console()
    if settings.ops_port:  # the page is served beside /healthz; OPS_PORT=0 turns both off
        url = settings.web_page_url(scenario.guild.guild_id)
        console.print(f"[bold]Open {url}[/bold] to watch the boards and the chart move (live)")
    else:
        console.print("[bold]Demo[/bold]: OPS_PORT=0, so no web page (the table below stays)")
    await trio_asyncio.aio_as_trio(sim.start)()
    console.print(f"[bold]Demo[/bold]: simulator at {sim.base_url}; database {settings.db_path}")
    app = BotApp(evolve(settings, token=Secret(sim.token)), clock, api_base=sim.base_url)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(app.run)
            if settings.ops_port:
                await _turn_the_page_on(scenario)
            async with trio.open_nursery() as activity:
                activity.start_soon(_crowd, scenario, random.Random(demo.seed))
                activity.start_soon(_show, app, scenario, console, clock)
                with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    with trio.move_on_after(demo.seconds or math.inf):
                        async for _ in signals:
                            break
                activity.cancel_scope.cancel()
            await _let_the_bot_catch_up(app, sim)
            app.stop()  # the nursery now waits for the bot's clean shutdown (flush, close)
    finally:
        await trio_asyncio.aio_as_trio(sim.close)()
    _print_table(console, app, scenario, clock, final=True)


async def _let_the_bot_catch_up(app: BotApp, sim: DiscordSim) -> None:
    """Before stopping, let the bot read what the crowd already sent (so the final table is exact)."""
    sent = sum(len(messages) for messages in sim.world.messages.values())
    deadline = trio.current_time() + CATCH_UP_SECONDS
    while trio.current_time() < deadline:  # polled: the count lives inside the gateway adapter
        if app.gateway is None or app.gateway.received["MESSAGE_CREATE"] >= sent:
            return
        await trio.sleep(0.05)


async def _turn_the_page_on(scenario: Scenario) -> None:
    """The server's owner runs ``/lbconfig set web_page:true``, as an admin would on Discord."""
    owner = scenario.guild.members[scenario.guild.owner_id]
    asked = scenario.sim.interact(
        scenario.guild,
        owner,
        scenario.text_channels[0],
        "lbconfig set",
        {"web_page": True},
        permissions=MANAGE_GUILD,
    )
    with trio.move_on_after(PAGE_ON_SECONDS):
        while asked.original is None or asked.original.get("flags", 0) & LOADING:  # noqa: ASYNC110
            await trio.sleep(0.05)  # polled: the answer is the simulator's record
        return
    log.warning("demo: the web page was not turned on within %ss", PAGE_ON_SECONDS)


async def _crowd(scenario: Scenario, rng: random.Random) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_drift, scenario, random.Random(rng.random()))
        while True:
            await chat(scenario, rng, messages=50, per_second=20.0)


async def _drift(scenario: Scenario, rng: random.Random) -> None:
    while True:
        await wander(scenario, rng, moves=20, per_second=2.0)


async def _show(app: BotApp, scenario: Scenario, console: Console, clock: WallClock) -> None:
    while True:
        await trio.sleep(REFRESH_SECONDS)
        _print_table(console, app, scenario, clock)


def _print_table(
    console: Console, app: BotApp, scenario: Scenario, clock: WallClock, final: bool = False
) -> None:
    guild = scenario.guild
    with sqlite3.connect(app.settings.db_path) as conn:
        anchor, length = conn.execute(
            "SELECT period_anchor, period_seconds FROM guilds WHERE guild_id = ?", [guild.guild_id]
        ).fetchone() or (None, None)
        if anchor is None:
            return
        period = PeriodSpec(anchor, length).index_at(clock.now())
        rows = conn.execute(
            "SELECT a.user_id, COALESCE(m.name, '?'), a.messages, a.voice_ms FROM activity a "
            "LEFT JOIN members m ON m.guild_id = a.guild_id AND m.user_id = a.user_id "
            "WHERE a.guild_id = ? AND a.period = ? ORDER BY a.messages DESC LIMIT 10",
            [guild.guild_id, period],
        ).fetchall()
    title = f"{guild.name}: messages this period" + (" (final)" if final else "")
    table = Table(title=title)
    table.add_column("#", justify="right")
    table.add_column("member")
    table.add_column("counted", justify="right")
    table.add_column("sent (simulator's truth)", justify="right")
    table.add_column("voice", justify="right")
    for rank, (user_id, name, messages, voice_ms) in enumerate(rows, 1):
        table.add_row(
            str(rank), name[:40], str(messages), str(scenario.truth[user_id]), f"{voice_ms / 1000:.0f}s"
        )
    console.print(table)
