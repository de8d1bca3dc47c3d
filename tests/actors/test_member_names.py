"""Member names: one order (seen -> REST -> unknown), one TTL cache on the injected clock."""

from __future__ import annotations

import trio

from actors.board_protocol import Failed, MemberFound, MemberGone, MemberOutcome, RateLimited
from actors.board_view import Paging
from actors.member_names import MEMBER_TTL, Learned, Member, MemberNames, ranked_members
from domain.clock import WallClock
from persistence.queries import Standing

GUILD = 7


class Discord:
    def __init__(self, answers: dict[int, MemberOutcome]) -> None:
        self.answers = answers
        self.asked: list[int] = []
        self.remembered: Learned = []

    async def fetch(self, guild_id: int, user_id: int) -> MemberOutcome:
        await trio.lowlevel.checkpoint()
        self.asked.append(user_id)
        return self.answers.get(user_id, MemberGone())

    async def remember(self, learned: Learned) -> None:
        self.remembered += learned


def standings(*names: str | None) -> list[Standing]:
    return [Standing(i + 1, i + 1, 100 - i, name) for i, name in enumerate(names)]


async def test_the_stored_name_then_the_member_cache_then_rest_then_unknown(
    autojump_clock: object, clock: WallClock
) -> None:
    discord = Discord({1: MemberFound("Renamed Ada"), 3: MemberFound("Fetched Fen")})
    names = MemberNames(discord.fetch, discord.remember, clock)
    seen = {2: "Cached Bo"}.get
    got = await names.members(GUILD, standings("Stored Ada", None, None, None), seen=seen)
    assert got == {
        1: Member("Stored Ada", True),  # seen: no REST call
        2: Member("Cached Bo", True),  # Discord's member cache: no REST call
        3: Member("Fetched Fen", True),  # fetched, and remembered for next time
        4: Member(None, False),  # left, never named: the view says "Unknown member"
    }
    assert discord.asked == [3, 4]
    assert discord.remembered == [((GUILD, 3), ("Fetched Fen", clock.now()))]


async def test_presence_asks_discord_but_a_seen_name_still_comes_first(
    autojump_clock: object, clock: WallClock
) -> None:
    discord = Discord({1: MemberFound("Renamed Ada")})
    names = MemberNames(discord.fetch, discord.remember, clock)
    got = await names.members(GUILD, standings("Stored Ada", "Stored Bo"), presence=True)
    assert got == {1: Member("Stored Ada", True), 2: Member("Stored Bo", False)}


async def test_answers_are_cached_for_the_ttl_on_the_injected_clock_and_silence_is_not(
    autojump_clock: object, clock: WallClock
) -> None:
    discord = Discord({1: MemberFound("Ada")})
    names = MemberNames(discord.fetch, discord.remember, clock)
    await names.members(GUILD, standings(None, None))
    await trio.sleep(MEMBER_TTL - 1)
    await names.members(GUILD, standings(None, None))
    assert discord.asked == [1, 2]  # both cached: found, and gone
    await trio.sleep(2)
    await names.members(GUILD, standings(None, None))
    assert discord.asked == [1, 2, 1, 2]  # expired

    for silence in (RateLimited(5.0), Failed("502")):
        discord.answers[9] = silence
        unknown = Standing(9, 9, 1, None)
        assert await names.members(GUILD, [unknown], presence=True) == {9: Member(None, True)}
        assert await names.members(GUILD, [unknown], presence=True) == {9: Member(None, True)}
        assert discord.asked[-2:] == [9, 9]  # asked again: nothing was learned


async def test_the_cache_is_bounded(autojump_clock: object, clock: WallClock) -> None:
    discord = Discord({})
    names = MemberNames(discord.fetch, discord.remember, clock, maxsize=3)
    await names.members(GUILD, standings(None, None, None, None, None))
    await names.members(GUILD, standings(None))  # user 1 was pushed out by the later ones
    assert discord.asked == [1, 2, 3, 4, 5, 1]


async def test_a_hidden_page_asks_only_about_the_members_it_needs(
    autojump_clock: object, clock: WallClock
) -> None:
    ranked = [Standing(i, i, 1000 - i, f"M{i}") for i in range(1, 41)]
    discord = Discord({s.user_id: MemberFound(s.name or "") for s in ranked if s.user_id not in (2, 5)})
    names = MemberNames(discord.fetch, discord.remember, clock)
    reads: list[tuple[int, int]] = []

    async def read_page(size: int, offset: int) -> list[Standing]:
        reads.append((size, offset))
        return ranked[offset : offset + size]

    shown, shown_names = await ranked_members(read_page, names, GUILD, Paging(10, hide_departed=True))
    assert [s.user_id for s in shown] == [1, 3, 4, *range(6, 13)]
    assert shown_names == {s.user_id: f"M{s.user_id}" for s in shown}
    assert reads == [(20, 0)] and discord.asked == list(range(1, 13))  # 12 asked, not 20
