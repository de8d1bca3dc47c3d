"""``/lbconfig set``'s options, generated from the guild settings table.

Each option's description, bounds (``ge``/``le``) and length limit are the table's, so what
Discord's client refuses before sending and what the bot refuses on arrival (the table's rule,
again, in ``validation``) cannot drift apart. Only what is Discord's alone (which channel types
the picker offers) is passed here.
"""

from __future__ import annotations

from typing import Any

from disnake.ext import commands

from domain.guild_settings import BY_OPTION


def setting_option(name: str, **discord: Any) -> Any:
    """The ``commands.Param`` of the option ``name`` (optional: None when not given)."""
    setting = BY_OPTION[name]
    (option,) = [o for o in setting.options if o.name == name]
    limits = dict(discord)
    if setting.number is not None:
        limits |= {"ge": setting.number.low, "le": setting.number.high}
    if option.max_length is not None:
        limits["max_length"] = option.max_length
    return commands.Param(None, description=option.description, **limits)
