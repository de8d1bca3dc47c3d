"""Slash command registration: one global bulk overwrite per process, retried until it succeeds.

Why global: a public bot's commands are the same in every server, and Discord serves global
commands everywhere at once today. One ``PUT /applications/{id}/commands`` registers them for any
number of guilds; the per-guild overwrite it replaces cost one PUT per guild seen (at 500 guilds,
1,578 of the bot's 1,636 429s were those PUTs, and a failed one waited for the guild to be seen
again, which never happened). The overwrite replaces the whole set, so a restart after a command
was renamed or removed leaves exactly the new set.

Why on READY and not per guild: READY brings the application id (``client.application_id``), and
nothing else is needed, so registration never waits for disnake to parse the guilds.

Development guilds (``COMMAND_GUILD_IDS``): the commands go to those guilds only, one overwrite
each, and nothing is registered globally (a test bot's commands stay out of other servers).

A failure (5xx, a 429 disnake gave up on, a timeout, a refused body) is retried with
``REGISTER_BACKOFF``'s doubling waits, then every ``REGISTER_BACKOFF.cap`` seconds until it
succeeds: unlike the bot's other retries the count is not bounded, because commands that are never
registered are a broken bot, while the rate is (one try per cap at most, far below Discord's
invalid-request limit). Each try is bounded by ``ATTEMPT_TIMEOUT``; the loop ends at the client's
close. ``/healthz`` shows ``status()``, ``/metrics`` counts every try (``on_attempt``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Iterable

import aiohttp
import disnake
from disnake.ext import commands

from domain.backoff import Backoff

log = logging.getLogger(__name__)

REGISTER_BACKOFF = Backoff(attempts=8, first=2.0, cap=300.0)  # 2 s .. 256 s, then every 5 min
ATTEMPT_TIMEOUT = 60.0  # seconds one try may take (disnake may wait out a 429 inside it)
GLOBAL = None  # the scope of global commands (a guild id otherwise)

Attempted = Callable[[bool], None]  # told after every try: did it succeed?


class Registration:
    """Registers the client's slash commands once per process (see the module docstring)."""

    def __init__(
        self,
        client: commands.InteractionBot,
        guild_ids: Iterable[int] = (),
        *,
        on_attempt: Attempted | None = None,
        backoff: Backoff = REGISTER_BACKOFF,
    ) -> None:
        self.client = client
        self.guild_ids = frozenset(guild_ids)
        self.on_attempt = on_attempt
        self.backoff = backoff
        # What is still to register: global, or each development guild (one PUT each).
        self.pending: set[int | None] = set(self.guild_ids) if self.guild_ids else {GLOBAL}
        self.attempts = 0
        self.failures = 0
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def registered(self) -> bool:
        return not self.pending

    @property
    def retrying(self) -> bool:
        """A try or a wait for the next one is under way."""
        return self._task is not None and not self._task.done()

    def status(self) -> tuple[bool, str]:
        """(registered, a sentence for the operator): what ``/healthz`` shows as "commands"."""
        where = (
            "globally"
            if not self.guild_ids
            else "in development guild(s) " + ", ".join(str(g) for g in sorted(self.guild_ids))
        )
        if self.registered:
            return True, f"registered {where}"
        if self.last_error is None:
            return False, f"not registered {where} yet: waiting for the connection to Discord"
        return False, f"not registered {where}: try {self.attempts} failed ({self.last_error}); retrying"

    def start(self) -> None:
        """(asyncio) Begin registering, once: the client's ``connect`` listener (READY was parsed)."""
        if self.registered or self._task is not None:
            return  # a reconnect while registered, or while a try is under way
        self._task = asyncio.get_running_loop().create_task(self._register())

    async def stop(self) -> None:
        """(asyncio) End the retry loop (the client is closing); safe to call more than once."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                if not task.cancelled():  # the caller itself was cancelled, not only the task
                    raise

    async def _register(self) -> None:
        waits = itertools.chain(self.backoff.waits(), itertools.repeat(self.backoff.cap))
        for wait in waits:
            if wait:
                log.warning("commands: registration failed (%s); next try in %.0f s", self.last_error, wait)
                await asyncio.sleep(wait)
            if await self._try():
                return

    async def _try(self) -> bool:
        self.attempts += 1
        try:
            async with asyncio.timeout(ATTEMPT_TIMEOUT):
                for scope in sorted(self.pending, key=lambda g: -1 if g is None else g):
                    await self._overwrite(scope)
                    self.pending.discard(scope)
        except (disnake.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            self.failures += 1
            self.last_error = _reason(exc)
            self._told(False)
            return False
        self.last_error = None
        self._told(True)
        return True

    async def _overwrite(self, scope: int | None) -> None:
        bodies = [command.body for command in sorted(self.client.slash_commands, key=lambda c: c.name)]
        if scope is GLOBAL:
            await self.client.bulk_overwrite_global_commands(bodies)
            log.info("commands: %d registered globally", len(bodies))
        else:
            await self.client.bulk_overwrite_guild_commands(scope, bodies)
            log.info("commands: %d registered in development guild %s", len(bodies), scope)

    def _told(self, ok: bool) -> None:
        if self.on_attempt is not None:
            self.on_attempt(ok)


def _reason(exc: BaseException) -> str:
    """A failure in a few words for the log and ``/healthz`` (never a token: none is in these)."""
    if isinstance(exc, disnake.HTTPException):
        return f"HTTP {exc.status}" + (f", code {exc.code}" if exc.code else "")
    if isinstance(exc, TimeoutError):
        return f"no answer within {ATTEMPT_TIMEOUT:.0f} s"
    return type(exc).__name__
