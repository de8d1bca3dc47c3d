"""Command line: ``python -m bot_entry [run]``.

With ``DISCORD_TOKEN`` set, ``run`` connects to Discord; without it, it runs the local demo against
the loopback simulator. A bad setting stops start-up with one line naming it (exit code 2).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

import trio
import trio_asyncio

from actors.clock import WallClock
from bot_entry.app import BotApp
from bot_entry.config import ConfigError, Settings, load_settings
from persistence.store import StoreError

log = logging.getLogger("bot_entry")


async def run_bot(settings: Settings) -> None:
    """The production path: connect to Discord and run until SIGINT/SIGTERM, then shut down cleanly."""
    app = BotApp(settings, WallClock.real())
    async with trio.open_nursery() as nursery:
        await nursery.start(app.run)
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                log.info("received %s: shutting down", signal.Signals(signum).name)
                break
        app.stop()


async def _main(settings: Settings) -> None:
    async with trio_asyncio.open_loop():
        if settings.demo:
            from bot_entry.demo import run_demo

            await run_demo(settings)
        else:
            await run_bot(settings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot_entry", description=__doc__)
    parser.add_argument("command", nargs="?", default="run", choices=["run"])
    parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        trio.run(_main, settings)
    except StoreError as exc:
        print(f"database error: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
