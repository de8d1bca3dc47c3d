"""``python -m demo``: the local demo (what ``just run`` starts when no ``DISCORD_TOKEN`` is configured).

The bot's own entry point (``python -m bot_entry``) never imports this package, so nothing of the
simulator ships on the production path. Settings are read and checked exactly as the bot reads them;
a bad one stops the demo with the same one line and exit code 2.
"""

from __future__ import annotations

import sys

import trio
import trio_asyncio

from bot_entry.config import ConfigError, Settings, load_settings
from bot_entry.logs import configure_logging
from demo.demo import run_demo


async def _main(settings: Settings) -> None:
    async with trio_asyncio.open_loop():
        await run_demo(settings)


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format, secrets=[settings.token.reveal()])
    trio.run(_main, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
