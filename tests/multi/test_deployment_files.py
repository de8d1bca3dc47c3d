"""The deployment files: every setting the compose file and the systemd env files use is documented
in ``.env.example``; ``docker compose config`` validates the compose file when Docker Compose is
installed; the Dockerfile runs as a non-root user, checks /healthz, and never bakes in a token."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bot_entry.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
# Variables only the compose file itself (and the postgres image) reads, not the bot.
COMPOSE_ONLY = {"POSTGRES_PASSWORD"}


def documented() -> set[str]:
    """Every NAME in .env.example, set (NAME=...) or shown commented out (# NAME=...)."""
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s?([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def compose_bot_settings() -> set[str]:
    """The keys of the bot services' ``environment`` blocks and every ``${NAME}`` interpolated."""
    text = COMPOSE.read_text()
    names = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))
    section = None
    in_env = False
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            section = line.split(":")[0]
        elif indent == 2 and section == "services":
            service = line.strip().rstrip(":")
            in_env = False
        if section in ("x-bot", "services") and line.strip().startswith("environment:"):
            in_env = section == "x-bot" or service != "postgres"
            env_indent = indent
            continue
        if in_env:
            if indent <= env_indent:
                in_env = False
                continue
            match = re.match(r"\s+([A-Z][A-Z0-9_]*):", line)
            if match:
                names.add(match.group(1))
    return names


def test_compose_uses_two_bots_on_two_shards_with_half_the_rest_budget_each() -> None:
    text = COMPOSE.read_text()
    assert re.search(r"^  bot-0:", text, re.MULTILINE) and re.search(r"^  bot-1:", text, re.MULTILINE)
    assert 'SHARD_COUNT: "2"' in text and 'SHARD_IDS: "0"' in text and 'SHARD_IDS: "1"' in text
    assert 'REST_GLOBAL_PER_SECOND: "20"' in text
    assert "DATABASE_URL: postgresql://" in text and "image: postgres:" in text


def test_every_setting_the_compose_file_uses_is_documented_in_env_example() -> None:
    used = compose_bot_settings()
    assert {"DISCORD_TOKEN", "DATABASE_URL", "SHARD_COUNT", "SHARD_IDS", "REST_GLOBAL_PER_SECOND"} <= used
    example = (ROOT / ".env.example").read_text()
    for name in COMPOSE_ONLY:  # not settings of the bot: explained in words, not as NAME= lines
        assert name in used and re.search(rf"\b{name}\b", example) and name not in documented()
    missing = sorted(used - documented() - COMPOSE_ONLY)
    assert not missing, f"used by docker-compose.yml but not in .env.example: {missing}"


def test_every_setting_the_systemd_env_files_use_is_documented_and_valid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env_files = sorted((ROOT / "deploy").glob("*.env.example"))
    assert len(env_files) == 3  # common + one per shard range
    for env_file in env_files:
        names = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", env_file.read_text(), flags=re.MULTILINE))
        missing = sorted(names - documented() - COMPOSE_ONLY)
        assert not missing, f"{env_file.name} uses settings not in .env.example: {missing}"
    # The two instances' files, each with the shared one, are settings the bot accepts.
    common = dict(
        re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", (ROOT / "deploy/common.env.example").read_text(), re.M)
    )
    for instance in ("shards-0", "shards-1"):
        own = dict(
            re.findall(
                r"^([A-Z][A-Z0-9_]*)=(.*)$", (ROOT / f"deploy/{instance}.env.example").read_text(), re.M
            )
        )
        for name, value in (common | own).items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(ROOT / "deploy")  # no .env there
        settings = load_settings()
        assert settings.shard_count == 2 and settings.rest_per_second == 20
        assert settings.database_url.startswith("postgresql://") and settings.pipeline.database_url


def test_dockerfile_is_slim_non_root_checks_health_and_bakes_in_no_token() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, re.MULTILINE)
    assert re.search(r"^USER bot$", text, re.MULTILINE)
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert "DISCORD_TOKEN" not in re.sub(r"^#.*$", "", text, flags=re.MULTILINE)
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ".env" in ignored and "*.db" in ignored


def compose_command() -> list[str] | None:
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        probe = subprocess.run([*command, "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return command
    return None


def test_docker_compose_config_validates() -> None:
    command = compose_command()
    if command is None:
        pytest.skip("Docker Compose is not installed (neither `docker compose` nor `docker-compose`)")
    result = subprocess.run(
        [*command, "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "DISCORD_TOKEN": "x", "POSTGRES_PASSWORD": "y"},
    )
    assert result.returncode == 0, result.stderr
