"""``python -m demo``: the local demo (what ``just run`` starts when no ``DISCORD_TOKEN`` is configured).

The bot's own entry point (``python -m bot_entry``) never imports this package, so nothing of the
simulator ships on the production path. Settings are read and checked exactly as the bot reads them,
plus the demo's own (``demo.settings``); a bad one stops the demo with the same one line and exit
code 2. Without ``LEADERBOARD_DB`` the demo counts into ``demo.db``, never the production file.
"""

from __future__ import annotations

import sys

import trio
import trio_asyncio

from bot_entry.config import ConfigError, Settings, read_environment, settings_from, warn_once
from bot_entry.logs import configure_logging
from demo.demo import run_demo
from demo.settings import DemoSettings, demo_files, load_demo_settings


async def _main(settings: Settings, demo: DemoSettings) -> None:
    async with trio_asyncio.open_loop():
        await run_demo(settings, demo)


def main() -> int:
    try:
        env = read_environment()
        settings = demo_files(settings_from(env), env)
        demo, unknown = load_demo_settings(env)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format, secrets=[settings.token.reveal()])
    warn_once(settings.warnings + unknown)
    trio.run(_main, settings, demo)
    return 0


if __name__ == "__main__":
    sys.exit(main())
