"""Messages between actors (not from Discord): what one part of the bot tells another.

Each is sent to the inbox of the actor that needs it, in order, instead of a call into that
actor's object: a config change, totals that changed, a period that ended, a member forgotten.
An actor keeps its own copy of what a message tells it; nothing is shared and read live.
"""

from __future__ import annotations

import trio
from attrs import define, field

from domain.guild_config import GuildConfig
from domain.kinds import BoardKind

_BOTH = frozenset(BoardKind)


@define(frozen=True)
class TotalsChanged:
    """Counter, ledger or a command -> publisher: these guilds' stored totals changed, for the
    boards of ``kinds`` (the counter: messages; the ledger: voice; a command or a reset: both), so
    the publisher renders only the boards whose totals changed."""

    guild_ids: frozenset[int]
    kinds: frozenset[BoardKind] = _BOTH


@define(frozen=True)
class PeriodReset:
    """Reset clock -> publisher: ``period`` of ``guild_id`` ended at ``at`` (archived); the boards
    start fresh once the new period is visible (after the publisher's settle time)."""

    guild_id: int
    period: int
    at: float


@define(frozen=True, eq=False)
class MemberForgotten:
    """``/lbforget`` -> every actor holding state about the member: drop it, and never write
    anything of theirs from before ``at`` (epoch seconds).

    ``applied`` is set once the receiving actor can no longer write such data, so the store's
    delete, which comes after, is final. One message per receiving actor.
    """

    guild_id: int
    user_id: int
    at: float
    applied: trio.Event = field(factory=trio.Event)


@define(frozen=True)
class GuildConfigured:
    """An admin's new settings for a guild (already stored): every actor that uses them keeps
    this frozen copy from ``at`` on."""

    guild_id: int
    config: GuildConfig
    at: float
