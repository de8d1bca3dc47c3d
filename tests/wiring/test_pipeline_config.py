"""The operator's settings as guild configs: GUILD_ID keeps the default board channels to one guild."""

from __future__ import annotations

from pathlib import Path

from tests.harness import settings_for
from wiring.pipeline import configs_from


def test_without_guild_id_every_guild_starts_with_the_board_channels(tmp_path: Path) -> None:
    configs = configs_from(settings_for(tmp_path / "x.db", MESSAGE_BOARD_CHANNEL_ID="11").pipeline)
    assert configs.get(1).message_board_channel_id == configs.get(2).message_board_channel_id == 11


def test_guild_id_keeps_the_board_channels_to_that_guild(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path / "x.db", GUILD_ID="5", MESSAGE_BOARD_CHANNEL_ID="11", LEADERBOARD_COLOUR="#000002"
    )
    configs = configs_from(settings.pipeline)
    assert configs.get(5).message_board_channel_id == 11
    assert configs.get(6).message_board_channel_id is None
    assert configs.get(6).colour == configs.get(5).colour == 2  # the rest of the look applies to all
