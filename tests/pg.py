"""A throwaway PostgreSQL server for the tests: ``initdb`` + ``pg_ctl`` on a temporary data directory.

Why a real server: the store's PostgreSQL engine is tested against PostgreSQL itself, never a
stand-in. The tests' fixture (tests/conftest.py) reuses ``PYTEST_POSTGRES_URL`` when it is set (CI
starts one server for the whole run) and otherwise starts its own for the session, or skips the
PostgreSQL tests with the reason when no server can be started.

    python -m tests.pg start DIR   # prints the server's URL (CI exports it as PYTEST_POSTGRES_URL)
    python -m tests.pg stop DIR

``initdb`` refuses to run as root: as root the server runs as the ``postgres`` user (the distribution
package creates it) in a directory it owns. It listens on 127.0.0.1 on a free port, trust
authentication, fsync off (a test server: nothing in it must survive a power cut).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

SERVER_USER = "postgres"
START_TIMEOUT_SECONDS = 60


class Unavailable(RuntimeError):
    """No PostgreSQL server can be started here; the message says why."""


def bindir() -> Path:
    """Where ``initdb`` and ``pg_ctl`` are: ``pg_config --bindir``, else the newest Debian layout."""
    candidates: list[Path] = []
    if (pg_config := shutil.which("pg_config")) is not None:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for found in candidates:
        if (found / "initdb").exists() and (found / "pg_ctl").exists():
            return found
    raise Unavailable("PostgreSQL is not installed (no initdb/pg_ctl; apt-get install postgresql)")


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    if shutil.which("runuser") is None:
        raise Unavailable("running as root without runuser: cannot run initdb as another user")
    return ["runuser", "-u", SERVER_USER, "--", *argv]


def _run(argv: list[str]) -> None:
    try:
        out = subprocess.run(
            _as_server_user(argv), capture_output=True, text=True, check=False, timeout=START_TIMEOUT_SECONDS
        )
    except subprocess.TimeoutExpired as exc:
        raise Unavailable(f"{Path(argv[0]).name} did not finish in {START_TIMEOUT_SECONDS} s") from exc
    if out.returncode != 0:
        raise Unavailable(f"{Path(argv[0]).name} failed: {(out.stderr or out.stdout).strip()[-500:]}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start(directory: Path) -> str:
    """Create and start a server under ``directory``; returns its URL (database ``postgres``)."""
    bin_ = bindir()
    directory.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        try:
            shutil.chown(directory, SERVER_USER, SERVER_USER)
        except (LookupError, OSError) as exc:
            raise Unavailable(f"no {SERVER_USER!r} user to run the server as ({exc})") from exc
    data = directory / "data"
    _run([str(bin_ / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
    port = _free_port()
    options = (
        f"-k {directory} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    _run(
        [
            str(bin_ / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(directory / "log"),
            "-w",
            "-t",
            str(START_TIMEOUT_SECONDS),
            "start",
        ]
    )
    (directory / "port").write_text(str(port))
    return url(directory)


def url(directory: Path) -> str:
    return f"postgresql://postgres@127.0.0.1:{(directory / 'port').read_text().strip()}/postgres"


def with_database(server_url: str, name: str) -> str:
    """``server_url`` with its database replaced by ``name``."""
    base, _, rest = server_url.partition("://")
    hostpart, _, tail = rest.partition("/")
    query = tail.partition("?")[2]
    return f"{base}://{hostpart}/{name}" + (f"?{query}" if query else "")


def restart(directory: Path) -> None:
    """Stop the server (fast: connections are cut) and start it again on the same port and data."""
    data, log = str(directory / "data"), str(directory / "log")
    _run([str(bindir() / "pg_ctl"), "-D", data, "-l", log, "-m", "fast", "-w", "restart"])


def stop(directory: Path) -> None:
    if (directory / "data" / "postmaster.pid").exists():
        _run([str(bindir() / "pg_ctl"), "-D", str(directory / "data"), "-m", "immediate", "-w", "stop"])
    shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print("usage: python -m tests.pg start|stop DIR", file=sys.stderr)
        return 2
    directory = Path(argv[1])
    try:
        if argv[0] == "start":
            print(start(directory))
        else:
            stop(directory)
    except Unavailable as exc:
        print(f"PostgreSQL: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
