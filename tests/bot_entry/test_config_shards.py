"""SHARD_COUNT and SHARD_IDS: read once, refused with one line naming the setting."""

from __future__ import annotations

import pytest

from bot_entry.config import ConfigError, check_shard_ids, load_settings


def shards(**env: str) -> tuple[int | None, tuple[int, ...] | None]:
    settings = load_settings(env, env_file=None)
    return settings.shard_count, settings.shard_ids


def test_the_default_is_every_shard_discord_recommends() -> None:
    assert shards() == (None, None)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SHARD_COUNT": "2"}, (2, None)),
        ({"SHARD_COUNT": " AUTO "}, (None, None)),
        ({"SHARD_COUNT": "8", "SHARD_IDS": "0-3"}, (8, (0, 1, 2, 3))),
        ({"SHARD_COUNT": "8", "SHARD_IDS": "5, 0,2"}, (8, (0, 2, 5))),
        ({"SHARD_COUNT": "8", "SHARD_IDS": "0-1,7,1"}, (8, (0, 1, 7))),
        ({"SHARD_IDS": "3"}, (None, (3,))),  # checked against Discord's count at start-up
    ],
)
def test_good_values(env: dict[str, str], expected: tuple[object, object]) -> None:
    assert shards(**env) == expected


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"SHARD_COUNT": "0"}, "SHARD_COUNT: '0' is not a number of shards (1 to 100000) or auto"),
        ({"SHARD_COUNT": "two"}, "SHARD_COUNT: 'two' is not a number of shards (1 to 100000) or auto"),
        ({"SHARD_COUNT": "1.5"}, "SHARD_COUNT: '1.5' is not a number of shards (1 to 100000) or auto"),
        ({"SHARD_IDS": "3-1"}, "SHARD_IDS: '3-1' is not a list of shard ids like 0-3 or 0,2,5"),
        ({"SHARD_IDS": "0,,2"}, "SHARD_IDS: '0,,2' is not a list of shard ids like 0-3 or 0,2,5"),
        ({"SHARD_IDS": "-1"}, "SHARD_IDS: '-1' is not a list of shard ids like 0-3 or 0,2,5"),
        ({"SHARD_IDS": "a-b"}, "SHARD_IDS: 'a-b' is not a list of shard ids like 0-3 or 0,2,5"),
        (
            {"SHARD_COUNT": "2", "SHARD_IDS": "0-3"},
            "SHARD_IDS names shard 2, but SHARD_COUNT is 2 (shards 0 to 1)",
        ),
    ],
)
def test_bad_values_stop_with_one_line(env: dict[str, str], line: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(env, env_file=None)
    assert str(refused.value).startswith(line)
    assert "\n" not in str(refused.value)


def test_shard_ids_with_auto_are_checked_against_discords_count() -> None:
    check_shard_ids((0, 1), 2, counted_by="Discord's recommended count")
    with pytest.raises(ConfigError, match=r"names shard 3, but Discord's recommended count is 2"):
        check_shard_ids((0, 3), 2, counted_by="Discord's recommended count")
