"""The guild settings table is the one source: GuildConfig, BoardStyle and the rules agree with it."""

from __future__ import annotations

import math

import pytest
from attrs import fields

from actors.board_render import BoardStyle
from domain.guild_config import GuildConfig
from domain.guild_settings import BY_NAME, GUILD_SETTINGS, is_unicode_emoji, parse_arrow
from domain.setting import Number, Refused


def test_every_guild_config_field_is_declared_once_in_order() -> None:
    assert [s.name for s in GUILD_SETTINGS] == [f.name for f in fields(GuildConfig)]
    assert len({s.env for s in GUILD_SETTINGS if s.env}) == sum(1 for s in GUILD_SETTINGS if s.env)
    options = [o.name for s in GUILD_SETTINGS for o in s.options]
    assert len(options) == len(set(options))


def test_defaults_come_from_the_table() -> None:
    default = GuildConfig()
    for setting in GUILD_SETTINGS:
        assert getattr(default, setting.name) == setting.default, setting.name
        assert isinstance(setting.display(setting.default), str)
    assert (BoardStyle().colour, BoardStyle().arrow) == (BY_NAME["colour"].default, BY_NAME["arrow"].default)


def test_every_default_passes_its_own_rule() -> None:
    for setting in GUILD_SETTINGS:
        if setting.number is not None:
            assert setting.number.check(setting.default) == setting.default, setting.name
    assert parse_arrow(BY_NAME["arrow"].default) == BY_NAME["arrow"].default
    assert BY_NAME["colour"].parse("#571173") == BY_NAME["colour"].default


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, True, "5", None])
def test_a_number_refuses_what_is_not_a_finite_number(value: object) -> None:
    with pytest.raises(Refused, match=r"^is not a number$"):
        Number(0, 10, "seconds").check(value)  # type: ignore[arg-type]


def test_a_whole_number_refuses_fractions_and_both_bounds_are_included() -> None:
    days = Number(1, 365, "days", whole=True)
    assert (days("1"), days(" 365 "), days.check(30.0)) == (1, 365, 30)
    for raw in ("1.5", "1e3", "thirty", ""):
        with pytest.raises(Refused, match=r"^is not a whole number$"):
            days(raw)
    with pytest.raises(Refused, match=r"^is out of range: it must be 1 to 365 days$"):
        days("100000000")


def test_emoji_are_recognised_by_unicode_data_not_by_hand() -> None:
    assert all(is_unicode_emoji(e) for e in ("➡️", "🔥", "🇫🇷", "1️⃣", "👨‍👩‍👧", "🩵"))
    assert not any(is_unicode_emoji(e) for e in ("#", "->", "🔥🔥", "🇫", "a", "", "🔥" * 41))
