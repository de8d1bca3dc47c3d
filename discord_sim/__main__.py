"""``python -m discord_sim --port N --seed S``: a seeded loopback Discord on a fixed port.

For subprocess tests and manual runs. Prints the REST base URL on the first line, then one JSON
line describing what it serves (token, gateway URL, guild and channel ids), then runs in real
time until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal

from discord_sim.crowd import build_scenario
from discord_sim.server import DiscordSim


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m discord_sim", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=1, help="seed of the guild's members and names")
    parser.add_argument("--members", type=int, default=24)
    parser.add_argument("--token", default="sim-token", help="the bot token the simulator accepts")
    parser.add_argument("--heartbeat-ms", type=int, default=41_250)
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    sim = DiscordSim(token=args.token, heartbeat_ms=args.heartbeat_ms)
    scenario = build_scenario(sim, random.Random(args.seed), members=args.members)
    await sim.start(args.host, args.port)
    print(sim.base_url, flush=True)
    info = {
        "base_url": sim.base_url,
        "gateway_url": sim.gateway_url,
        "token": sim.token,
        "application_id": str(sim.world.application_id),
        "guild_id": str(scenario.guild.guild_id),
        "text_channel_ids": [str(c.channel_id) for c in scenario.text_channels],
        "voice_channel_ids": [str(c.channel_id) for c in scenario.voice_channels],
    }
    print(json.dumps(info), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await sim.close()


def main(argv: list[str] | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
