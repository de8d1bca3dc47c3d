"""Slash commands: members read the boards (``member``), admins configure and manage them (``admin``).

``install_commands`` adds both cogs to the gateway's ``InteractionBot`` before it connects. The
commands are registered once per process, globally, with one bulk overwrite as soon as READY is
parsed (``registration.Registration``: retried until it succeeds; per guild only for development
guilds). disnake's own sync is off: ours is the one that retries and reports to ``/healthz``.

Handlers run on asyncio (disnake) under trio-asyncio; they reach the store and the reset clock,
both Trio code, through ``trio_asyncio.trio_as_aio``. Every handler that reads the database defers
first, so Discord's 3-second window is met however long the query waits for the writer thread.
Refusals (``Refused``, ``validation.Invalid``) and unexpected errors are answered ephemerally.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import disnake
import trio
import trio_asyncio
from attrs import define, field
from disnake.ext import commands

from bot_entry.commands.registration import Attempted, Registration
from bot_entry.commands.validation import Invalid
from domain.clock import WallClock
from domain.events import Event
from domain.guild_config import GuildConfigs
from persistence.store import Store

log = logging.getLogger(__name__)

T = TypeVar("T")
ResetHook = Callable[[int, int], Awaitable[int]]  # (guild, admin) -> the archived period's number
ForgetHook = Callable[[int, int, float], Awaitable[None]]  # (guild, member, at) -> every actor let go


class Refused(commands.CommandError):
    """A request we decline; the message is shown to the member as is (it must already be safe)."""


@define
class Services:
    """What the commands need from the rest of the bot.

    Command handlers are asyncio tasks that no Trio nursery waits for, so at shutdown the store
    could be closed under a query still running in its thread (SQLite then crashes the process).
    Every store or reset call is therefore counted, and ``drain`` refuses new ones and waits for
    those in flight; ``install_commands`` runs it when the client closes, which is before the
    gateway's event channel closes and so before the pipeline closes the store.
    """

    store: Store
    configs: GuildConfigs  # the commands' own copy; actors get each change as ``GuildConfigured``
    clock: WallClock
    push: Callable[[Event], None]  # hand an event to the pipeline (the gateway's synchronous push)
    reset: ResetHook | None = None  # the reset clock's ``reset_now``; None: resets unavailable
    # Tell every actor holding state about a member to drop it (after the store deleted it and
    # began refusing older writes);
    # None: no actors (tests over a bare store).
    forget: ForgetHook | None = None
    totals: Callable[[set[int]], None] | None = None  # sends ``TotalsChanged`` to the publisher
    backups_kept_hours: float = 0.0  # BACKUP_KEEP x BACKUP_INTERVAL_HOURS: how long a backup is kept
    page_url: Callable[[int], str] | None = None  # a guild's web page (``PUBLIC_BASE_URL``); None: no page
    _busy: int = field(default=0, init=False)
    _closing: bool = field(default=False, init=False)
    _idle: trio.Event = field(factory=trio.Event, init=False)  # set when ``_busy`` drops to 0

    async def db(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in the store's writer thread, from asyncio code."""
        return await self._counted(self.store.call, fn, *args)

    async def reset_now(self, guild_id: int, by_user: int) -> int:
        assert self.reset is not None
        return await self._counted(self.reset, guild_id, by_user)

    async def forget_in_actors(self, guild_id: int, user_id: int, at: float) -> None:
        if self.forget is not None:
            await self._counted(self.forget, guild_id, user_id, at)

    async def _counted(self, trio_fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        if self._closing:
            raise Refused("The bot is restarting; please try again in a minute.")
        self._busy += 1
        try:
            return await trio_asyncio.trio_as_aio(trio_fn)(*args)
        finally:
            self._busy -= 1
            if not self._busy:
                self._idle.set()

    async def drain(self) -> None:
        """(Trio) Refuse new store calls and return once none is running; never cancelled."""
        self._closing = True
        if self._busy:
            self._idle = trio.Event()
            with trio.CancelScope(shield=True):
                await self._idle.wait()

    def notify_totals(self, guild_id: int) -> None:
        if self.totals is not None:
            self.totals({guild_id})


async def answer(
    inter: disnake.Interaction,
    content: str | None = None,
    *,
    embed: disnake.Embed | None = None,
    components: list[disnake.ui.Button[Any]] | None = None,
    file: disnake.File | None = None,
    ephemeral: bool = True,
) -> None:
    """Reply, or fill in the deferred reply (which keeps the ephemeral flag chosen when deferring)."""
    # Replies echo what members typed and show names: they never ping anyone, whatever slips through.
    kwargs: dict[str, Any] = {"content": content, "allowed_mentions": disnake.AllowedMentions.none()}
    if embed is not None:
        kwargs["embed"] = embed
    if components is not None:
        kwargs["components"] = components
    if file is not None:
        kwargs["file"] = file
    if inter.response.is_done():
        await inter.edit_original_response(**kwargs)
    else:
        await inter.response.send_message(**kwargs, ephemeral=ephemeral)


async def answer_error(inter: disnake.Interaction, error: BaseException, where: str) -> None:
    """Answer a failed command or click ephemerally: refusals say why, anything else is logged."""
    if isinstance(error, commands.CommandInvokeError):
        error = error.original
    if isinstance(error, Refused | Invalid):
        text = str(error)
    else:
        log.error("%s failed", where, exc_info=(type(error), error, error.__traceback__))
        text = "Something went wrong; the error has been logged. Please try again later."
    try:
        if inter.response.is_done():
            await inter.edit_original_response(
                content=text, embed=None, components=[], allowed_mentions=disnake.AllowedMentions.none()
            )
        else:
            await inter.response.send_message(
                text, ephemeral=True, allowed_mentions=disnake.AllowedMentions.none()
            )
    except disnake.HTTPException as exc:
        log.warning("%s: could not send the error reply: %s", where, exc)


def install_commands(
    client: commands.InteractionBot,
    services: Services,
    *,
    guild_ids: frozenset[int] = frozenset(),
    on_attempt: Attempted | None = None,
) -> Registration:
    """Add the member and admin commands to ``client`` (call before it connects) and register them
    once it has: globally, or only in ``guild_ids`` (development guilds, ``COMMAND_GUILD_IDS``)."""
    from bot_entry.commands.admin import AdminCommands
    from bot_entry.commands.member import MemberCommands

    close = client.close
    registration = Registration(client, guild_ids, on_attempt=on_attempt)

    async def close_after_commands() -> None:
        await registration.stop()
        await trio_asyncio.trio_as_aio(services.drain)()  # in-flight commands may still answer
        await close()

    client.close = close_after_commands  # type: ignore[method-assign]
    client.add_cog(MemberCommands(services))
    client.add_cog(AdminCommands(services))

    async def on_connect() -> None:  # READY parsed: the application id is known, guilds may follow
        registration.start()

    client.add_listener(on_connect, "on_connect")
    return registration
