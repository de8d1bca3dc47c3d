"""``just screenshots``: the README's pictures, taken in a real headless Chromium.

A seeded server (``discord_sim``) with a month of history written into the database first (the
chart needs past days, which no run of a few seconds could produce), then the real bot against the
simulator: it posts both boards, answers ``/rank`` with its card, and serves the server's page.
The boards and the card are shown as a member sees them (the simulator's stored messages drawn by
``discord_sim.render``), the page as a browser gets it. ``python -m tests.web.screenshots [DIR]``
writes ``board-messages.png``, ``board-voice.png``, ``rank-card.png`` and ``web-page.png``.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils
import trio
import trio_asyncio

from discord_sim.crowd import Scenario, build_scenario
from discord_sim.render import messages_html
from discord_sim.server import DiscordSim
from discord_sim.world import World
from domain.clock import WallClock
from domain.periods import day_floor
from persistence.schema import migrate
from tests.e2e.test_commands_e2e import ask
from tests.harness import running_bot, settings_for, wait_until
from tests.web.browser import chromium, missing
from tests.web.pages import free_port, turn_page_on

T = TypeVar("T")
DAY = 86_400
PERIOD_DAYS = 30


def seed(db: Path, scenario: Scenario, now: float, rng: random.Random) -> None:
    """A month and a half of activity: the current period (day 13 of 30), the one before it
    archived, and the daily history behind the chart."""
    database = sqlite_utils.Database(db)
    migrate(database)
    guild_id = scenario.guild.guild_id
    anchor = day_floor(now) - (PERIOD_DAYS + 12) * DAY
    database["guilds"].insert(
        {"guild_id": guild_id, "period_anchor": anchor, "period_seconds": PERIOD_DAYS * DAY, "period_base": 0}
    )
    humans = scenario.humans
    weights = {m.user_id: rng.uniform(0.2, 1.0) ** 2 for m in humans}
    database["members"].insert_all(
        {"guild_id": guild_id, "user_id": m.user_id, "name": m.global_name, "updated_at": now} for m in humans
    )
    today = int(day_floor(now) // DAY)
    totals: dict[tuple[int, int], list[int]] = {}
    rows = []
    for day in range(today - 41, today + 1):
        period = 0 if day * DAY < anchor + PERIOD_DAYS * DAY else 1
        busy = 0.6 + 0.4 * ((day % 7) in (4, 5)) + rng.uniform(0, 0.3)
        for member in humans:
            messages = int(rng.expovariate(1 / 14) * weights[member.user_id] * busy)
            voice_ms = int(rng.expovariate(1 / 2400) * weights[member.user_id] * busy * 1000)
            if not messages and not voice_ms:
                continue
            rows.append((guild_id, day, member.user_id, period, messages, voice_ms, 0))
            total = totals.setdefault((period, member.user_id), [0, 0])
            total[0] += messages
            total[1] += voice_ms
    database.conn.executemany(
        "INSERT INTO daily_members (guild_id, day, user_id, period, messages, voice_ms, reactions) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    database["activity"].insert_all(
        {"guild_id": guild_id, "period": p, "user_id": u, "messages": m, "voice_ms": v}
        for (p, u), (m, v) in totals.items()
    )

    def top(column: int) -> str:
        ranked = sorted(
            ((v[column], u) for (p, u), v in totals.items() if p == 0 and v[column]), reverse=True
        )
        return json.dumps([[u, value] for value, u in ranked[:10]])

    database["period_archive"].insert(
        {
            "guild_id": guild_id,
            "period": 0,
            "started_at": anchor,
            "ended_at": anchor + PERIOD_DAYS * DAY,
            "archived_at": anchor + PERIOD_DAYS * DAY + 10,
            "top_messages": top(0),
            "top_voice": top(1),
            "users": sum(1 for p, _ in totals if p == 0),
        }
    )
    database.conn.commit()
    database.conn.close()


async def off_thread(fn: Callable[..., T], *args: Any) -> T:
    return await trio.to_thread.run_sync(partial(fn, *args))


def shoot(out: Path, pages: dict[str, str], page_url: str) -> None:
    """Each Discord view (HTML text) and the web page, as PNGs (blocking: a worker thread)."""
    out.mkdir(parents=True, exist_ok=True)
    with chromium(1100, 900) as driver, tempfile.TemporaryDirectory() as tmp:
        for name, text in pages.items():
            path = Path(tmp) / f"{name}.html"
            path.write_text(text)
            driver.get(path.as_uri())
            driver.find_element("id", "channel").screenshot(str(out / f"{name}.png"))
        driver.get(page_url)
        deadline = time.monotonic() + 10
        while driver.find_element("id", "live").text != "live" and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # the chart image
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1100, int(height) + 200)
        time.sleep(0.3)  # the new size is laid out
        driver.find_element("id", "page").screenshot(str(out / "web-page.png"))


async def take(out: Path) -> None:
    clock = WallClock.real()
    rng = random.Random(20)
    sim = DiscordSim(World(lambda: int(clock.now() * 1000)), token="screenshots-token-not-a-secret")
    scenario = build_scenario(sim, random.Random(20), members=16)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "lb.db"
        seed(db, scenario, clock.now(), rng)
        port = free_port()
        text, voice = scenario.text_channels[0], scenario.text_channels[1]
        settings = settings_for(
            db,
            OPS_PORT=str(port),
            MESSAGE_BOARD_CHANNEL_ID=str(text.channel_id),
            VOICE_BOARD_CHANNEL_ID=str(voice.channel_id),
            WEB_UPDATE_SECONDS="0.2",
        )
        await trio_asyncio.aio_as_trio(sim.start)()
        try:
            async with running_bot(sim, settings, clock, inline_db=False) as app:
                await turn_page_on(scenario)
                bot = str(sim.world.bot.user_id)

                def board_in(channel_id: int) -> list[dict[str, Any]]:
                    return [
                        m
                        for m in sim.world.messages.get(channel_id, {}).values()
                        if m["author"]["id"] == bot
                        and m.get("embeds")
                        and "#1" in m["embeds"][0].get("description", "")
                    ]

                await wait_until(
                    lambda: bool(board_in(text.channel_id) and board_in(voice.channel_id)), within=30
                )
                leader = max(scenario.humans[:6], key=lambda m: m.user_id % 7)  # any member with a plain name
                asked = await ask(scenario, leader, "rank")
                assert asked.original is not None
                views = {
                    "board-messages": messages_html(text.name, board_in(text.channel_id)),
                    "board-voice": messages_html(voice.name, board_in(voice.channel_id)),
                    "rank-card": messages_html(
                        text.name,
                        [asked.original],
                        sim.world.attachments,
                        channels={c.channel_id: c.name for c in scenario.guild.channels.values()},
                        ephemeral=True,
                    ),
                }
                url = settings.web_page_url(scenario.guild.guild_id)
                await wait_until(lambda: app.web.shown(scenario.guild.guild_id), within=10)
                await off_thread(shoot, out, views, url)
        finally:
            await trio_asyncio.aio_as_trio(sim.close)()


async def _main(out: Path) -> None:
    async with trio_asyncio.open_loop():
        await take(out)


def main() -> int:
    why = missing()
    if why is not None:
        print(f"screenshots: no browser: {why}", file=sys.stderr)
        return 1
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    trio.run(_main, out)
    for name in ("board-messages", "board-voice", "rank-card", "web-page"):
        print(out / f"{name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
