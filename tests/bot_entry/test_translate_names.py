"""The names a GUILD_CREATE carries reach its voice states (Discord sends those without ``member``)."""

from __future__ import annotations

from typing import Any

from bot_entry import translate
from tests.harness import EPOCH

GUILD = "100"


def member(
    user_id: str, username: str, *, nick: str | None = None, global_name: str | None = None, bot: bool = False
) -> dict[str, Any]:
    user = {"id": user_id, "username": username, "global_name": global_name, "bot": bot}
    return {"user": user, "nick": nick, "roles": []}


def voice(user_id: str, channel_id: str = "7") -> dict[str, Any]:
    return {"user_id": user_id, "channel_id": channel_id, "session_id": "s"}


def snapshot(members: list[Any], states: list[dict[str, Any]]) -> dict[str, str]:
    payload = {"id": GUILD, "name": "G", "channels": [], "members": members, "voice_states": states}
    event = translate.guild_snapshot(payload, EPOCH)
    assert event is not None
    return {str(s.user_id): s.member_name for s in event.voice_states}


def test_voice_states_take_the_display_name_from_the_member_list() -> None:
    members = [
        member("1", "ann", nick="Annie", global_name="Ann A"),
        member("2", "bo", global_name="Bo B"),
        member("3", "cy"),
    ]
    assert snapshot(members, [voice("1"), voice("2"), voice("3")]) == {"1": "Annie", "2": "Bo B", "3": "cy"}


def test_a_voice_state_with_its_own_member_keeps_it() -> None:
    own = voice("1") | {"member": member("1", "ann", nick="Now")}
    assert snapshot([member("1", "ann", nick="Before")], [own]) == {"1": "Now"}


def test_someone_missing_from_the_list_or_unreadable_has_no_name_and_still_counts() -> None:
    members = [member("1", "ann"), {"user": {"id": "x2", "username": "bo"}}, "junk", {"user": 5}]
    assert snapshot(members, [voice("1"), voice("2"), voice("3")]) == {"1": "ann", "2": "", "3": ""}


def test_bots_in_the_member_list_are_still_marked_bots() -> None:
    payload = {
        "id": GUILD,
        "members": [member("9", "helper", bot=True)],
        "voice_states": [voice("9")],
    }
    event = translate.guild_snapshot(payload, EPOCH)
    assert event is not None and [s.bot for s in event.voice_states] == [True]
