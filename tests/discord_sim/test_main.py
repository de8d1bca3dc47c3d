"""``python -m discord_sim``: a seeded simulator in its own process, on the port we ask for."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_module_serves_a_seeded_guild_on_a_fixed_port() -> None:
    port = free_port()
    command = [sys.executable, "-m", "discord_sim", "--port", str(port), "--seed", "4", "--token", "t0k"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            base_url = process.stdout.readline().strip()
            info = json.loads(process.stdout.readline())
            request = urllib.request.Request(
                f"{base_url}/guilds/{info['guild_id']}", headers={"Authorization": "Bot t0k"}
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                guild = json.load(response)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)
    assert base_url == f"http://127.0.0.1:{port}/api/v10"
    assert info["gateway_url"] == f"ws://127.0.0.1:{port}/gateway"
    assert guild["name"] == "Purple Lounge"
    assert process.returncode == 0
