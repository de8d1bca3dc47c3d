"""Per-guild settings: what the server's admins chose, over the operator's defaults.

One frozen value per guild, its fields declared in ``domain.guild_settings`` (defaults, bounds,
labels). The environment (``bot_entry.config.Settings``) gives the operator's defaults;
``/lbconfig set`` stores a guild's own choices in the database (``guild_config``) and sends the new
value (``domain.messages.GuildConfigured``) to every actor that uses it; each actor keeps its own
``GuildConfigs``, seeded from the store at start, so a change takes effect without a restart and
nothing is shared between actors.
"""

from __future__ import annotations

from typing import Any

import cattrs
from attrs import define, evolve, field, fields_dict

from domain.guild_settings import DEFAULTS


@define(frozen=True)
class VoicePolicy:
    """Per-guild choices about which voice time counts; defaults are the product's defaults."""

    count_deafened: bool = False
    count_muted: bool = True
    count_alone: bool = False


@define(frozen=True)
class GuildConfig:
    """One guild's settings; every default (and what each field accepts) is in ``guild_settings``."""

    message_board_channel_id: int | None = DEFAULTS["message_board_channel_id"]
    voice_board_channel_id: int | None = DEFAULTS["voice_board_channel_id"]
    arrow: str = DEFAULTS["arrow"]
    colour: int = DEFAULTS["colour"]
    update_interval: float = DEFAULTS["update_interval"]
    period_days: int = DEFAULTS["period_days"]
    period_anchor: float | None = DEFAULTS["period_anchor"]  # None: midnight UTC of the day first seen
    count_deafened: bool = DEFAULTS["count_deafened"]
    count_muted: bool = DEFAULTS["count_muted"]
    count_alone: bool = DEFAULTS["count_alone"]
    excluded_channels: frozenset[int] = DEFAULTS["excluded_channels"]
    excluded_roles: frozenset[int] = DEFAULTS["excluded_roles"]
    message_cooldown: float = DEFAULTS["message_cooldown"]  # seconds between counted messages; 0 = off
    hide_departed: bool = DEFAULTS["hide_departed"]  # hide members who left from the boards
    web_page: bool = DEFAULTS["web_page"]  # the public web page of the boards (off unless asked)

    @property
    def voice_policy(self) -> VoicePolicy:
        return VoicePolicy(self.count_deafened, self.count_muted, self.count_alone)


_converter = cattrs.Converter()


def config_to_json(config: GuildConfig) -> dict[str, Any]:
    raw: dict[str, Any] = _converter.unstructure(config)
    for key in ("excluded_channels", "excluded_roles"):
        raw[key] = sorted(raw[key])
    return raw


def config_from_json(raw: dict[str, Any], defaults: GuildConfig) -> GuildConfig:
    """A stored config over ``defaults``: unknown keys are ignored, missing keys take the default."""
    known = {k: v for k, v in raw.items() if k in fields_dict(GuildConfig)}
    return _converter.structure({**config_to_json(defaults), **known}, GuildConfig)


@define
class GuildConfigs:
    """One owner's copy of every guild's config (an actor's, or the commands'); never shared:
    ``copy`` gives the next owner its own."""

    defaults: GuildConfig
    by_guild: dict[int, GuildConfig] = field(factory=dict)

    def get(self, guild_id: int) -> GuildConfig:
        return self.by_guild.get(guild_id, self.defaults)

    def set(self, guild_id: int, config: GuildConfig) -> None:
        self.by_guild[guild_id] = config

    def copy(self) -> GuildConfigs:
        return GuildConfigs(self.defaults, dict(self.by_guild))

    def update(self, guild_id: int, **changes: Any) -> GuildConfig:
        config = evolve(self.get(guild_id), **changes)
        self.by_guild[guild_id] = config
        return config
