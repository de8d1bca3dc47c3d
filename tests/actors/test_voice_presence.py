"""The router's voice picture: company, exclusions, and only the presences that changed."""

from __future__ import annotations

from actors.voice_presence import GuildVoice
from domain.events import VoiceStateChanged


def change(user: int, channel: int | None, **kw: object) -> VoiceStateChanged:
    return VoiceStateChanged(1, user, channel, 0.0, **kw)  # type: ignore[arg-type]


def test_company_comes_and_goes_and_only_affected_users_are_told() -> None:
    guild = GuildVoice(1, afk_channel_id=9)
    assert [(u, p.has_company) for u, p in guild.apply(change(1, 5))] == [(1, False)]
    assert sorted((u, p.has_company) for u, p in guild.apply(change(2, 5))) == [(1, True), (2, True)]
    assert [(u, p.has_company) for u, p in guild.apply(change(3, 5))] == [(3, True)]  # 1 and 2 unchanged
    assert guild.apply(change(3, 5)) == []  # a repeat changes nothing
    assert [u for u, _ in guild.apply(change(3, 6))] == [3]  # 1 and 2 still have each other
    assert sorted(u for u, _ in guild.apply(change(2, None))) == [1, 2]  # 1 is alone now
    assert guild.apply(change(7, 5, bot=True)) == []
    assert not guild.presence_of(1).has_company  # a bot is no company
    assert guild.apply(change(1, 9))[0][1].afk


def test_an_excluded_role_excludes_the_member_everywhere() -> None:
    guild = GuildVoice(1, excluded_roles=frozenset({500}))
    guild.apply(change(1, 5, roles=frozenset({500})))
    guild.apply(change(2, 5))
    assert guild.presence_of(1).excluded and not guild.presence_of(2).excluded
    assert guild.presence_of(2).has_company  # still company for others
