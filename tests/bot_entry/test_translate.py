"""The border's channel translations: which channel's rules a channel or thread follows."""

from __future__ import annotations

import pytest

from bot_entry.translate import MalformedPayload, channel_parent, channel_parents


def test_a_thread_follows_its_parent_and_a_channel_itself() -> None:
    assert channel_parent({"id": "5", "type": 11, "parent_id": "4"}) == (5, 4)
    assert channel_parent({"id": "6", "type": 12, "parent_id": "4"}) == (6, 4)
    assert channel_parent({"id": "4", "type": 0, "parent_id": "3"}) == (4, None)  # a category does not


def test_a_forum_post_follows_the_forum() -> None:
    assert channel_parent({"id": "9", "type": 11, "parent_id": "8"}) == (9, 8)


@pytest.mark.parametrize(
    "payload",
    [None, {"id": "5"}, {"id": "5", "type": True}, {"id": "5", "type": 11}, {"id": "x", "type": 0}],
)
def test_bad_channels_are_refused(payload: object) -> None:
    with pytest.raises(MalformedPayload):
        channel_parent(payload)


def test_guild_create_gives_channels_and_threads_and_skips_bad_entries() -> None:
    data = {
        "channels": [{"id": "4", "type": 0}, {"id": "bad", "type": 0}, "junk"],
        "threads": [{"id": "5", "type": 11, "parent_id": "4"}],
    }
    assert channel_parents(data) == {4: None, 5: 4}


def test_channel_lists_must_be_lists() -> None:
    with pytest.raises(MalformedPayload):
        channel_parents({"threads": {"id": "5"}})
