"""``COMMAND_GUILD_IDS`` as the operator writes it, and what ``/healthz`` says about registration."""

from __future__ import annotations

import pytest
from disnake.ext import commands

from bot_entry.commands.registration import Registration
from bot_entry.config import ConfigError, load_settings


def test_command_guild_ids_default_to_none_global_registration() -> None:
    assert load_settings({}, env_file=None).command_guild_ids == frozenset()


def test_command_guild_ids_are_comma_separated_ids() -> None:
    settings = load_settings({"COMMAND_GUILD_IDS": " 1315029949211738222, 42 ,"}, env_file=None)
    assert settings.command_guild_ids == frozenset({1315029949211738222, 42})


@pytest.mark.parametrize("raw", ["abc", "12;13", "-4", "1.5"])
def test_a_bad_command_guild_id_is_one_line_naming_the_setting(raw: str) -> None:
    sentence = r"^COMMAND_GUILD_IDS: .* is not a comma-separated list of guild ids$"
    with pytest.raises(ConfigError, match=sentence):
        load_settings({"COMMAND_GUILD_IDS": raw}, env_file=None)


async def test_status_before_the_first_try_says_what_it_waits_for(aio_loop: object) -> None:
    client = commands.InteractionBot()
    assert Registration(client).status() == (
        False,
        "not registered globally yet: waiting for the connection to Discord",
    )
    assert Registration(client, [7, 3]).status() == (
        False,
        "not registered in development guild(s) 3, 7 yet: waiting for the connection to Discord",
    )
