"""Admins' commands: ``/lbconfig show|set``, ``/lbreset`` (with a confirm button), ``/lbexport``,
``/lbforget``.

Discord hides them from members without Manage Server (``default_member_permissions``), and every
one of them checks again here, from the permissions Discord sends with the interaction: a client
that shows a hidden command anyway gets refused. Settings changes are validated as a whole
(``validation.config_changes``), stored with their audit row in one transaction, put in the
commands' own ``GuildConfigs`` and sent as ``GuildConfigured`` into the event stream: the router
forwards the new frozen config to every actor that keeps a copy, and voice sessions re-apply
policy and exclusions from that instant: no restart.

``/lbforget`` deletes the stored rows and, in the same transaction, notes when the member was
forgotten: from then on the store refuses anything of theirs from before that moment, whichever
actor or command still held it in memory, so after the reply nothing can come back. Then it tells
every actor that holds state about the member (``Services.forget``) to drop it; it does not wait
for them. Backups taken earlier still hold the member until they age out.
"""

# ruff: noqa: B008 -- ``commands.Param(...)`` defaults are how disnake describes options

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import logging
import secrets
from collections import defaultdict

import disnake
from attrs import define, evolve
from cachetools import TTLCache
from disnake.ext import commands

from actors.board_render import escape_name
from actors.reset_clock import ResetTooLate
from bot_entry.commands import Refused, Services, answer, answer_error
from bot_entry.commands.setting_options import setting_option
from bot_entry.commands.validation import (
    ChannelKind,
    ChannelRef,
    EmojiFact,
    GuildFacts,
    Invalid,
    RoleRef,
    SetOptions,
    config_changes,
    shown,
)
from bot_entry.commands.views import audit_detail, config_embed, describe_changes, utc_day, utc_minute
from domain.guild_config import config_to_json
from domain.messages import GuildConfigured
from persistence.export import (
    export_csv_sync,
    export_history_csv_sync,
    forget_member_sync,
    unnamed_members_sync,
)
from persistence.store import Store

log = logging.getLogger(__name__)

MANAGE_GUILD = disnake.Permissions(manage_guild=True)
CONFIRM_SECONDS = 120.0
PENDING_RESETS_MAX = 1_000  # questions open at once; past that the oldest is dropped (asked again)
# /lbexport fetches at most this many unnamed members over REST (the names are stored, so the next
# export goes on from there); whoever is still unnamed is exported as "unknown member (left)".
EXPORT_NAME_FETCHES = 100
TEXT_TYPES = [disnake.ChannelType.text, disnake.ChannelType.news]
EXCLUDABLE_TYPES = [
    disnake.ChannelType.text,
    disnake.ChannelType.news,
    disnake.ChannelType.forum,
    disnake.ChannelType.voice,
    disnake.ChannelType.stage_voice,
]
_KINDS = {
    disnake.ChannelType.text: ChannelKind.TEXT,
    disnake.ChannelType.news: ChannelKind.ANNOUNCEMENT,
    disnake.ChannelType.forum: ChannelKind.FORUM,
    disnake.ChannelType.voice: ChannelKind.VOICE,
    disnake.ChannelType.stage_voice: ChannelKind.STAGE,
    disnake.ChannelType.category: ChannelKind.CATEGORY,
}


def is_admin(permissions: disnake.Permissions) -> bool:
    return permissions.administrator or permissions.manage_guild


def guild_facts(guild_id: int, guild: disnake.Guild | None) -> GuildFacts:
    """The guild as the gateway described it; an option naming anything else is refused."""
    if guild is None:
        return GuildFacts(guild_id)
    channels = {channel.id: _KINDS.get(channel.type, ChannelKind.OTHER) for channel in guild.channels}
    channels |= {thread.id: ChannelKind.THREAD for thread in guild.threads}
    return GuildFacts(
        guild_id,
        channels,
        frozenset(role.id for role in guild.roles),
        {emoji.id: EmojiFact(emoji.name, emoji.animated) for emoji in guild.emojis},
    )


def settings_sync(store: Store, guild_id: int, at: float) -> tuple[float, float]:
    spec = store.period_spec_sync(guild_id, at)
    return spec.start_of(spec.index_at(at)), spec.next_boundary(at)


@define(frozen=True)
class PendingReset:
    """An /lbreset question awaiting its click; it expires CONFIRM_SECONDS after it was asked."""

    guild_id: int
    user_id: int
    asked: disnake.ApplicationCommandInteraction  # to take the buttons off the question afterwards


def _channel(channel: disnake.abc.GuildChannel | str | None) -> ChannelRef | None:
    if isinstance(channel, str):  # not resolved by Discord: only its id, which validation checks
        return ChannelRef(_id(channel, "channel"), channel)
    return None if channel is None else ChannelRef(channel.id, channel.name)


def _role(role: disnake.Role | str | None) -> RoleRef | None:
    if isinstance(role, str):
        return RoleRef(_id(role, "role"), role)
    return None if role is None else RoleRef(role.id, role.name)


def _id(raw: str, what: str) -> int:
    if raw.isascii() and raw.isdigit() and len(raw) <= 20:
        return int(raw)
    raise Invalid(f"{what} {shown(raw)} is not a {what} of this server")


def _user(user: disnake.Member | disnake.User | str) -> disnake.Member | disnake.User:
    if isinstance(user, str):  # a user option Discord did not resolve (forged or deleted)
        raise Refused(f"member {shown(user)} is not a user Discord knows.")
    return user


class AdminCommands(commands.Cog):
    def __init__(self, services: Services) -> None:
        self.services = services
        self._config_locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        # Expiry and the bound on the injected clock, like actors.member_names: no hand-kept map.
        self._pending: TTLCache[str, PendingReset] = TTLCache(
            PENDING_RESETS_MAX, CONFIRM_SECONDS, timer=services.clock.now
        )

    async def cog_slash_command_check(self, inter: disnake.ApplicationCommandInteraction) -> bool:
        """The server-side permission check: the client's view of permissions is not trusted."""
        if inter.guild_id is None:
            raise Refused("This command works only in a server.")
        if not is_admin(inter.permissions):
            raise Refused("You need the Manage Server permission to use this command.")
        return True

    async def cog_slash_command_error(
        self, inter: disnake.ApplicationCommandInteraction, error: commands.CommandError
    ) -> bool:
        await answer_error(inter, error, f"/{inter.application_command.qualified_name}")
        return True

    # -- /lbconfig ------------------------------------------------------------------------------

    @commands.slash_command(
        name="lbconfig",
        description="Leaderboard settings for this server",
        default_member_permissions=MANAGE_GUILD,
    )
    async def lbconfig(self, inter: disnake.ApplicationCommandInteraction) -> None:
        pass  # the subcommands do the work

    @lbconfig.sub_command(name="show", description="Show this server's leaderboard settings")
    async def show(self, inter: disnake.ApplicationCommandInteraction) -> None:
        s = self.services
        guild_id = inter.guild_id
        assert guild_id is not None
        await inter.response.defer(ephemeral=True)
        started, next_reset = await s.db(settings_sync, s.store, guild_id, s.clock.now())
        embed = config_embed(s.configs.get(guild_id), started, next_reset)
        await answer(inter, embed=disnake.Embed.from_dict(embed))

    @lbconfig.sub_command(name="set", description="Change leaderboard settings (only the options you give)")
    async def config_set(
        self,
        inter: disnake.ApplicationCommandInteraction,
        # Each option's description and limits are the guild settings table's (setting_option).
        message_board_channel: disnake.abc.GuildChannel | None = setting_option(
            "message_board_channel", channel_types=TEXT_TYPES
        ),
        voice_board_channel: disnake.abc.GuildChannel | None = setting_option(
            "voice_board_channel", channel_types=TEXT_TYPES
        ),
        arrow: str | None = setting_option("arrow"),
        colour: str | None = setting_option("colour"),
        update_interval: float | None = setting_option("update_interval"),
        period_days: int | None = setting_option("period_days"),
        period_anchor: str | None = setting_option("period_anchor"),
        count_deafened: bool | None = setting_option("count_deafened"),
        count_muted: bool | None = setting_option("count_muted"),
        count_alone: bool | None = setting_option("count_alone"),
        exclude_channel: disnake.abc.GuildChannel | None = setting_option(
            "exclude_channel", channel_types=EXCLUDABLE_TYPES
        ),
        include_channel: disnake.abc.GuildChannel | None = setting_option(
            "include_channel", channel_types=EXCLUDABLE_TYPES
        ),
        exclude_role: disnake.Role | None = setting_option("exclude_role"),
        include_role: disnake.Role | None = setting_option("include_role"),
        message_cooldown: float | None = setting_option("message_cooldown"),
        hide_departed: bool | None = setting_option("hide_departed"),
        web_page: bool | None = setting_option("web_page"),
    ) -> None:
        s = self.services
        guild_id = inter.guild_id
        assert guild_id is not None
        options = SetOptions(
            _channel(message_board_channel),
            _channel(voice_board_channel),
            arrow,
            colour,
            update_interval,
            period_days,
            period_anchor,
            count_deafened,
            count_muted,
            count_alone,
            _channel(exclude_channel),
            _channel(include_channel),
            _role(exclude_role),
            _role(include_role),
            message_cooldown,
            hide_departed,
            web_page,
        )
        async with self._config_locks[guild_id]:  # two admins at once: the second sees the first's change
            before = s.configs.get(guild_id)
            changes = config_changes(before, options, guild_facts(guild_id, inter.guild))
            if not changes:
                raise Refused("Nothing changed: those values are already set.")
            await inter.response.defer(ephemeral=True)
            at = s.clock.now()
            after = evolve(before, **changes)
            detail = audit_detail(before, changes)
            await s.db(
                s.store.save_guild_config_sync,
                guild_id,
                config_to_json(after),
                at,
                inter.author.id,
                "config",
                detail,
            )
            s.configs.set(guild_id, after)
            s.push(GuildConfigured(guild_id, after, at))
        log.info("commands: guild %s settings changed by %s: %s", guild_id, inter.author.id, detail)
        reply = "Saved; this applies from now on.\n" + describe_changes(before, changes)
        if changes.get("web_page") and s.page_url is not None:
            reply += f"\nThe web page: {s.page_url(guild_id)}"
        await answer(inter, reply)

    # -- /lbreset -------------------------------------------------------------------------------

    @commands.slash_command(
        name="lbreset",
        description="End the current period now and archive it",
        default_member_permissions=MANAGE_GUILD,
    )
    async def lbreset(self, inter: disnake.ApplicationCommandInteraction) -> None:
        s = self.services
        if s.reset is None:
            raise Refused("Resets are not available in this version of the bot.")
        nonce = secrets.token_hex(8)
        assert inter.guild_id is not None
        self._pending[nonce] = PendingReset(inter.guild_id, inter.author.id, inter)
        await inter.response.send_message(
            "**Reset the leaderboards now?** The current period ends and is archived (totals are kept "
            "and stay in all-time), and both boards start from zero. This cannot be undone.",
            components=[
                disnake.ui.Button(
                    style=disnake.ButtonStyle.danger, label="Reset now", custom_id=f"lbreset:yes:{nonce}"
                ),
                disnake.ui.Button(
                    style=disnake.ButtonStyle.secondary, label="Cancel", custom_id=f"lbreset:no:{nonce}"
                ),
            ],
            ephemeral=True,
        )

    @commands.Cog.listener("on_button_click")
    async def reset_clicked(self, inter: disnake.MessageInteraction) -> None:
        custom_id = inter.component.custom_id or ""
        if not custom_id.startswith("lbreset:"):
            return
        try:
            await self._confirm(inter, custom_id)
        except Exception as exc:
            await answer_error(inter, exc, "reset confirmation")

    async def _confirm(self, inter: disnake.MessageInteraction, custom_id: str) -> None:
        s = self.services
        _, choice, nonce = [*custom_id.split(":", 2), "", ""][:3]
        pending = self._pending.get(nonce)  # None once expired: the cache reads the injected clock
        if pending is None:
            raise Refused("This confirmation has expired or was already used; run /lbreset again.")
        # Checked again at the click: the button could be forged, or the clicker demoted meanwhile.
        if inter.guild_id != pending.guild_id or inter.author.id != pending.user_id:
            raise Refused("Only the admin who ran /lbreset can confirm it.")
        if not is_admin(inter.permissions):
            raise Refused("You need the Manage Server permission to use this command.")
        self._pending.pop(nonce, None)  # pop: on the wall clock it may expire between the two reads
        with contextlib.suppress(disnake.HTTPException):  # cosmetic: the question loses its buttons
            await pending.asked.edit_original_response(components=[])
        if choice != "yes":
            await inter.response.send_message("Reset cancelled; nothing changed.", ephemeral=True)
            return
        if s.reset is None:
            raise Refused("Resets are not available in this version of the bot.")
        await inter.response.defer(with_message=True, ephemeral=True)
        try:
            period = await s.reset_now(pending.guild_id, inter.author.id)
        except ResetTooLate as exc:
            raise Refused("The bot is busy archiving; nothing was reset. Run /lbreset again.") from exc
        await answer(
            inter,
            f"Done: period {period} is archived, and a new period started at {utc_minute(s.clock.now())}.",
        )

    # -- /lbexport, /lbforget ---------------------------------------------------------------------

    @commands.slash_command(
        name="lbexport",
        description="Download this server's totals (every period) as CSV",
        default_member_permissions=MANAGE_GUILD,
    )
    async def lbexport(
        self,
        inter: disnake.ApplicationCommandInteraction,
        what: str = commands.Param(
            "totals",
            description="Totals per period (default), or the daily history (kept HISTORY_DAYS days)",
            choices=["totals", "daily"],
        ),
    ) -> None:
        s = self.services
        guild_id = inter.guild_id
        assert guild_id is not None
        await inter.response.defer(ephemeral=True)
        await self._learn_names(inter.guild, guild_id)
        at = s.clock.now()
        daily = what == "daily"
        if daily:
            text = await s.db(export_history_csv_sync, s.store, guild_id)
            rows = text.split("\r\n\r\n", 1)[0].count("\r\n")  # member days (channel days follow)
        else:
            text = await s.db(export_csv_sync, s.store, guild_id, at)
            rows = text.count("\r\n") - 1
        suffix = "-daily" if daily else ""
        data, name = text.encode("utf-8"), f"leaderboard-{guild_id}-{utc_day(at)}{suffix}.csv"
        limit = inter.attachment_size_limit
        if len(data) > limit:
            data, name = gzip.compress(data), name + ".gz"
        if len(data) > limit:
            raise Refused(
                f"The export is {len(data):,} bytes even compressed, over Discord's {limit:,}-byte limit."
            )
        await s.db(s.store.audit_sync, guild_id, inter.author.id, "export", f"{rows} rows", at)
        await answer(
            inter,
            f"{rows:,} rows: one per member and UTC day (a day an early reset split, one per period); "
            "then each channel's days. Daily history starts at the upgrade that added it."
            if daily
            else f"{rows:,} rows: one per member and period.",
            file=disnake.File(io.BytesIO(data), filename=name),
        )

    async def _learn_names(self, guild: disnake.Guild | None, guild_id: int) -> None:
        """Names for members never named in the database: the member cache, then REST (bounded)."""
        s = self.services
        if guild is None:
            return
        learned: list[tuple[tuple[int, int], tuple[str, float]]] = []
        for user_id in (await s.db(unnamed_members_sync, s.store, guild_id))[:EXPORT_NAME_FETCHES]:
            member = guild.get_member(user_id)
            if member is None:
                with contextlib.suppress(disnake.HTTPException):
                    member = await guild.fetch_member(user_id)
            if member is not None:
                learned.append(((guild_id, user_id), (member.display_name, s.clock.now())))
        if learned:
            await s.db(s.store.remember_names_sync, learned)

    @commands.slash_command(
        name="lbforget",
        description="Delete everything stored about a member in this server",
        default_member_permissions=MANAGE_GUILD,
    )
    async def lbforget(
        self,
        inter: disnake.ApplicationCommandInteraction,
        member: disnake.Member | disnake.User = commands.Param(description="Whose data to delete"),
    ) -> None:
        s = self.services
        guild_id = inter.guild_id
        assert guild_id is not None
        member = _user(member)
        at = s.clock.now()  # before the defer's round trip: what the member sends after counts
        await inter.response.defer(ephemeral=True)
        gone = await s.db(forget_member_sync, s.store, guild_id, member.id, inter.author.id, at)
        await s.forget_in_actors(guild_id, member.id, at)
        s.notify_totals(guild_id)
        await answer(
            inter,
            f"Deleted the data of {escape_name(member.display_name)}: {gone.activity_rows} period totals, "
            f"{gone.days} days of history, {gone.names} stored name; "
            f"removed from {gone.archives} archived top lists. "
            "New activity will count again from now. " + backups_note(s.backups_kept_hours),
        )


def backups_note(kept_hours: float) -> str:
    """What the forget does not reach: backups taken before it (they are never rewritten)."""
    if not kept_hours:
        return "Backups made before now still hold it until you delete them."
    return (
        f"Backups made before now still hold it until they age out, within {kept_hours:g} hours "
        f"(about {kept_hours / 24:.0f} days)."
    )
