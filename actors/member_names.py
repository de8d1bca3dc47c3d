"""Member names for boards: one order, one cache, for the posted boards and ``/leaderboard`` alike.

The order, for each ranked member:
1. a name the bot has already seen: the last-known name stored with their activity (it came with
   their messages or their voice states), or one the caller has at hand (``seen``): the names
   GUILD_CREATE carried for the members in voice (the boards), Discord's member cache (commands);
2. the member fetched over REST (remembered in the database, so step 1 has it next time);
3. nothing: the view shows "Unknown member" (``actors.names.UNKNOWN``), never a raw id.

A REST fetch is also what says whether a member is still in the server (``hide_departed``).
Answers are cached for ``ttl`` seconds (``cachetools.TTLCache`` on the injected clock, bounded by
``maxsize``); an answer that says nothing (429, 5xx, a timeout) is not cached, and a member it
concerns is kept on the board: only a definite "left" hides anyone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence

from attrs import define, field
from cachetools import TTLCache

from actors.board_protocol import MemberFound, MemberGone, MemberOutcome
from actors.board_view import Paging
from domain.clock import WallClock
from persistence.queries import Standing

__all__ = ["MEMBER_TTL", "Member", "MemberNames", "ranked_members"]

MEMBER_TTL = 3600.0  # seconds a fetched member (name, or gone) is trusted
MAX_CACHED = 50_000  # members kept at most, across guilds

Fetch = Callable[[int, int], Awaitable[MemberOutcome]]
Learned = list[tuple[tuple[int, int], tuple[str, float]]]  # ((guild, user), (name, at)), as stored
Remember = Callable[[Learned], Awaitable[None]]
Seen = Callable[[int], str | None]  # a name the caller's side already knows (gateway, member cache)


@define(frozen=True)
class Member:
    name: str | None  # None: no name known (shown as "Unknown member")
    present: bool  # False only when Discord said they left


@define
class MemberNames:
    fetch: Fetch  # Discord: the member now (the poster's ``fetch_member``, or the commands' own)
    remember: Remember  # store names learned over REST (``Store.remember_names_sync``)
    clock: WallClock
    ttl: float = MEMBER_TTL
    maxsize: int = MAX_CACHED
    _fetched: TTLCache[tuple[int, int], Member] = field(init=False)

    def __attrs_post_init__(self) -> None:
        self._fetched = TTLCache(self.maxsize, self.ttl, timer=self.clock.now)

    async def members(
        self,
        guild_id: int,
        standings: Iterable[Standing],
        *,
        presence: bool = False,
        seen: Seen | None = None,
        fetch: Fetch | None = None,
    ) -> dict[int, Member]:
        """Each standing's member, in the order above; ``presence`` asks Discord who is still here.

        ``fetch`` replaces ``self.fetch`` for one call (a command has its guild object at hand).
        """
        out: dict[int, Member] = {}
        learned: Learned = []
        for standing in standings:
            known = standing.name or (seen(standing.user_id) if seen is not None else None)
            if known and not presence:
                out[standing.user_id] = Member(known, True)
                continue
            fetched = await self._fetch(fetch or self.fetch, guild_id, standing.user_id, learned)
            out[standing.user_id] = Member(known or fetched.name, fetched.present)
        if learned:
            await self.remember(learned)
        return out

    def forget(self, guild_id: int, user_id: int) -> None:
        """The member was forgotten: drop what was fetched about them."""
        self._fetched.pop((guild_id, user_id), None)

    async def _fetch(self, fetch: Fetch, guild_id: int, user_id: int, learned: Learned) -> Member:
        key = (guild_id, user_id)
        cached = self._fetched.get(key)
        if cached is not None:
            return cached
        match await fetch(guild_id, user_id):
            case MemberFound(name):
                member = Member(name, True)
                learned.append((key, (name, self.clock.now())))
            case MemberGone():
                member = Member(None, False)
            case _:
                return Member(None, True)  # not known to have left: keep them listed
        self._fetched[key] = member
        return member


ReadPage = Callable[[int, int], Awaitable[Sequence[Standing]]]  # (size, offset) -> ranked members


async def ranked_members(
    read_page: ReadPage,
    names: MemberNames,
    guild_id: int,
    paging: Paging,
    *,
    seen: Seen | None = None,
    fetch: Fetch | None = None,
) -> tuple[list[Standing], dict[int, str | None]]:
    """The standings of one board page and their names, departed members skipped when the paging
    hides them. Members are asked about only as far as the page needs (each may be a fetch)."""
    kept: list[Standing] = []
    found: dict[int, Member] = {}
    read = paging.first_offset
    while True:
        page = list(await read_page(paging.page_size, read))
        read += (last := len(page))
        while page and len(kept) < paging.want:
            chunk, page = page[: paging.want - len(kept)], page[paging.want - len(kept) :]
            members = await names.members(
                guild_id, chunk, presence=paging.hide_departed, seen=seen, fetch=fetch
            )
            found.update(members)
            kept += [s for s in chunk if members[s.user_id].present or not paging.hide_departed]
        if paging.done(len(kept), read - paging.first_offset, last):
            break
    shown = paging.shown(kept)
    return shown, {s.user_id: found[s.user_id].name for s in shown}
