"""The board poster: the only place that calls Discord for leaderboards.

Posts, edits, reads and deletes a board message, reads one page of a channel for the bot's own
boards, and fetches a member's name, through the disnake client's REST layer (``client.http``: raw
JSON in and out, no disnake models to build), and turns every answer into one of the protocol's
small outcome types (``actors.board_protocol``), so the publisher never imports disnake and every
Discord error has exactly one meaning.

disnake already waits out 429s (up to five tries) and retries 500/502/504; what still reaches us
is reported as ``RateLimited`` / ``Failed`` and the schedule backs off for at least an interval.
Each call has a deadline, so a Discord that never answers cannot hold the publisher.

Every call goes through the process's REST budget (``bot_entry.rest_pacing``): ``waiting_since``
(when the change a call carries began to wait, on ``trio.current_time()``'s clock, which is the
event loop's under trio-asyncio; None: now) orders board calls, stalest first.
A call the budget refuses (it waited too long, or the invalid-request breaker is open) is
``RateLimited`` with the budget's ``retry_after``, which the schedule already honours.

One page read serves every kind (issue 17): a guild's two boards usually share a channel, and at a
start each reads it before its first post, which made start-up two REST calls per board. A scan
notes what the page says of the other kinds (``_PageNotes``), and the next scan of one of those
kinds in that channel takes the note instead of reading again: once per kind, within
``PAGE_REUSE_SECONDS``, and never after this poster posted or deleted a board of that kind there
(only this process writes a guild's boards, so nothing of that kind can have appeared meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import disnake
import trio
import trio_asyncio
from attrs import define
from disnake.http import Route

from actors.board_protocol import (
    Done,
    Failed,
    Found,
    MemberFound,
    MemberGone,
    MemberOutcome,
    MessageMissing,
    NoAccess,
    NoneFound,
    OldMessageQuota,
    Outcome,
    Posted,
    RateLimited,
)
from actors.board_render import is_board
from bot_entry import rest_pacing
from bot_entry.rest_pacing import RestRefused
from bot_entry.translate import display_name
from domain.kinds import BoardKind

log = logging.getLogger(__name__)

UNKNOWN_CHANNEL = 10003
UNKNOWN_GUILD = 10004
UNKNOWN_MEMBER = 10007
UNKNOWN_MESSAGE = 10008
OLD_MESSAGE_EDITS = 30046
MISSING_ACCESS = 50001
NON_TEXT_CHANNEL = 50008
MISSING_PERMISSIONS = 50013
NO_ACCESS = {
    UNKNOWN_CHANNEL: "unknown channel",
    UNKNOWN_GUILD: "unknown server",
    MISSING_ACCESS: "missing access",
    NON_TEXT_CHANNEL: "not a text channel",
    MISSING_PERMISSIONS: "missing permissions",
}
DEFAULT_RETRY_AFTER = 5.0
SCAN_LIMIT = 50  # messages read when looking for the bot's own boards: one page, bounded
DEFAULT_MESSAGE = 0  # message type: a board is a plain message, never a reply or a command's answer
CALL_TIMEOUT = 60.0  # seconds; generous, as disnake may sleep through several 429s in one call
PAGE_REUSE_SECONDS = 30.0  # a page read for one kind answers another kind's scan this long at most
PAGE_NOTES = 1_000  # channels whose last page is remembered (a bounded cache; oldest go first)


def outcome_of_error(status: int, code: int, text: str, retry_after: float | None = None) -> Outcome:
    """One Discord error answer as the schedule understands it (pure, so it is tested on its own)."""
    if status == 429:
        return RateLimited(retry_after if retry_after is not None else DEFAULT_RETRY_AFTER)
    if code == OLD_MESSAGE_EDITS:
        return OldMessageQuota()
    if code == UNKNOWN_MESSAGE:
        return MessageMissing()
    if code in NO_ACCESS:
        return NoAccess(code, NO_ACCESS[code])
    if status == 403:
        return NoAccess(code, "forbidden")
    return Failed(f"HTTP {status}, code {code}: {text[:200]}")


def own_boards(messages: list[Any], bot_id: int | None, kind: BoardKind) -> tuple[int, ...]:
    """Ids of the ``kind`` boards the bot wrote among ``messages`` (Discord's JSON), newest first.

    Written by the bot (author id), a plain message (not a webhook, a reply or a command's answer),
    and with a board's title and footer: a member's lookalike or a public ``/leaderboard`` answer
    is never taken for a board, so it is never edited or deleted.
    """
    found: list[int] = []
    for message in messages:
        if not isinstance(message, dict) or bot_id is None:
            continue
        author = message.get("author")
        embeds = message.get("embeds")
        if (
            isinstance(author, dict)
            and str(author.get("id")) == str(bot_id)
            and message.get("type", DEFAULT_MESSAGE) == DEFAULT_MESSAGE
            and message.get("webhook_id") is None
            and message.get("interaction_metadata") is None
            and message.get("interaction") is None
            and isinstance(embeds, list)
            and len(embeds) == 1
            and is_board(kind, embeds[0])
            and str(message.get("id", "")).isdigit()
        ):
            found.append(int(message["id"]))
    return tuple(sorted(found, reverse=True))


def _retry_after(exc: disnake.HTTPException) -> float | None:
    try:
        return float(exc.response.headers.get("Retry-After"))  # type: ignore[arg-type]
    except (TypeError, ValueError, AttributeError):
        return None


@define(frozen=True)
class _Refused:
    """Discord answered with an error (``status`` 0: no answer at all)."""

    status: int
    code: int
    text: str
    retry_after: float | None = None

    def outcome(self) -> Outcome:
        if self.status == 0:
            return Failed(self.text)
        return outcome_of_error(self.status, self.code, self.text, self.retry_after)


def _release_global_rate_limit(http: Any) -> None:
    """Undo what a cancelled disnake call may leave behind: disnake clears its global rate-limit
    event before it sleeps out a global 429 and sets it again after, so a call cancelled in that
    sleep (our timeout, or the cut at a stop) leaves every later request of the client waiting for
    good. Setting it costs at most one more 429, which disnake handles. Seen in chaos seed 39."""
    over = getattr(http, "_global_over", None)
    if isinstance(over, asyncio.Event) and not over.is_set():
        log.info("board poster: a call was cut inside a global rate-limit wait; lock released")
        over.set()


@define(frozen=True)
class _PageNote:
    """What one page read said of the boards of one kind, and when (``trio.current_time()``)."""

    read_at: float
    found: tuple[int, ...]


class _PageNotes:
    """(channel, kind) -> the note a scan of another kind left; each note is taken once. Bounded:
    the oldest channels are forgotten first (a forgotten note costs one more read)."""

    def __init__(self, size: int = PAGE_NOTES, reuse: float = PAGE_REUSE_SECONDS) -> None:
        self.size, self.reuse = size, reuse
        self._notes: OrderedDict[tuple[int, BoardKind], _PageNote] = OrderedDict()
        self._written: OrderedDict[tuple[int, BoardKind], int] = OrderedDict()  # its last write's seq
        self._seq = 0  # counts writes begun, so a read knows which ones began after it

    def reading(self) -> int:
        """(Before a page read) The mark ``read`` compares the writes begun since with."""
        return self._seq

    def read(self, channel_id: int, kinds: dict[BoardKind, tuple[int, ...]], mark: int, at: float) -> None:
        """A page read begun at ``mark`` (``reading``) said this of ``kinds``; a write of a kind
        begun since (a call under way meanwhile) makes that kind's part of the page old already."""
        for kind, found in kinds.items():
            key = (channel_id, kind)
            if self._written.get(key, -1) >= mark:
                continue
            self._notes[key] = _PageNote(at, found)
            self._notes.move_to_end(key)
        _bound(self._notes, self.size)

    def take(self, channel_id: int, kind: BoardKind, now: float) -> tuple[int, ...] | None:
        note = self._notes.pop((channel_id, kind), None)
        if note is None or now - note.read_at > self.reuse:
            return None
        return note.found

    def wrote(self, channel_id: int, kind: BoardKind | None) -> None:
        """This poster begins a post or a delete there: what a page said of that kind is old
        (``None``: of any kind)."""
        for each in BoardKind if kind is None else (kind,):
            self._notes.pop((channel_id, each), None)
            self._written[(channel_id, each)] = self._seq
            self._written.move_to_end((channel_id, each))
        self._seq += 1
        _bound(self._written, self.size)


def _bound(cache: OrderedDict[Any, Any], size: int) -> None:
    while len(cache) > size:
        cache.popitem(last=False)


def _kind_of(embed: Any) -> BoardKind | None:
    return next((kind for kind in BoardKind if is_board(kind, embed)), None)


class BoardPoster:
    def __init__(
        self, client: disnake.Client, *, timeout: float = CALL_TIMEOUT, ready: trio.Event | None = None
    ) -> None:
        self.client = client
        self.timeout = timeout
        # Set once the client has logged in (the gateway's first READY): before that disnake has no
        # HTTP session, and a restarted bot's publisher must not call Discord ahead of its login.
        self.ready = ready
        self.calls: Counter[str] = Counter()  # logical calls by kind (disnake's own retries not counted)
        self.pages_shared = 0  # scans answered from another kind's page read (tests, metrics)
        self._reopened = False
        self._pages = _PageNotes()

    # -- boards -----------------------------------------------------------------------------------

    async def post(
        self, channel_id: int, embed: dict[str, Any], nonce: str, *, waiting_since: float | None = None
    ) -> Outcome:
        # disnake's send_message has no enforce_nonce: the same POST, built here.
        route = Route("POST", "/channels/{channel_id}/messages", channel_id=channel_id)
        body = {"embeds": [embed], "nonce": nonce, "enforce_nonce": True}
        self._pages.wrote(channel_id, _kind_of(embed))  # first: a post cut short may be there too
        result = await self._call("post", waiting_since, self.client.http.request, route, json=body)
        return result.outcome() if isinstance(result, _Refused) else Posted(int(result["id"]))

    async def edit(
        self, channel_id: int, message_id: int, embed: dict[str, Any], *, waiting_since: float | None = None
    ) -> Outcome:
        http = self.client.http
        result = await self._call(
            "edit", waiting_since, http.edit_message, channel_id, message_id, embeds=[embed]
        )
        return result.outcome() if isinstance(result, _Refused) else Done()

    async def check(self, channel_id: int, message_id: int, *, waiting_since: float | None = None) -> Outcome:
        http = self.client.http
        result = await self._call("check", waiting_since, http.get_message, channel_id, message_id)
        return result.outcome() if isinstance(result, _Refused) else Done()

    async def delete(
        self, channel_id: int, message_id: int, *, waiting_since: float | None = None
    ) -> Outcome:
        http = self.client.http
        self._pages.wrote(channel_id, None)  # the kind is not known here: every note of the channel
        result = await self._call("delete", waiting_since, http.delete_message, channel_id, message_id)
        return result.outcome() if isinstance(result, _Refused) else Done()

    async def scan(self, channel_id: int, kind: BoardKind, *, waiting_since: float | None = None) -> Outcome:
        """The bot's own ``kind`` boards among the channel's last ``SCAN_LIMIT`` messages (read
        once for every kind: another kind's scan of the channel just before takes this page's note)."""
        found = self._pages.take(channel_id, kind, trio.current_time())
        if found is not None:
            self.pages_shared += 1
            return Found(found) if found else NoneFound()
        http = self.client.http
        began, mark = trio.current_time(), self._pages.reading()
        result = await self._call("scan", waiting_since, http.logs_from, channel_id, SCAN_LIMIT)
        if isinstance(result, _Refused):
            return result.outcome()
        me = self.client.user.id if self.client.user is not None else None
        page = result if isinstance(result, list) else []
        by_kind = {each: own_boards(page, me, each) for each in BoardKind}
        self._pages.read(channel_id, {k: v for k, v in by_kind.items() if k is not kind}, mark, began)
        found = by_kind[kind]
        return Found(found) if found else NoneFound()

    # -- names ------------------------------------------------------------------------------------

    async def fetch_member(
        self, guild_id: int, user_id: int, *, waiting_since: float | None = None
    ) -> MemberOutcome:
        result = await self._call("member", waiting_since, self.client.http.get_member, guild_id, user_id)
        if not isinstance(result, _Refused):
            user = result.get("user")
            return MemberFound(display_name(user if isinstance(user, dict) else {}, result))
        if result.code == UNKNOWN_MEMBER:
            return MemberGone()
        outcome = result.outcome()
        return outcome if isinstance(outcome, RateLimited) else Failed(f"member {user_id}: {outcome!r}")

    # -- plumbing ---------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the HTTP session this poster reopened after the gateway closed the client."""
        if self._reopened:
            self._reopened = False
            await trio_asyncio.aio_as_trio(self.client.http.close)()

    async def _call(
        self, what: str, since: float | None, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any
    ) -> Any:
        """``fn(*args, **kwargs)`` on the asyncio side: its JSON answer, or ``_Refused``.

        ``since`` is set as the REST budget's ``waiting_since`` inside the asyncio task that makes
        the request, where the budget reads it."""
        if self.ready is not None:
            await self.ready.wait()
        self.calls[what] += 1

        async def in_asyncio() -> Any:
            rest_pacing.waiting_since.set(since)  # this task's own context: nothing else sees it
            for retry in (False, True):
                if self.client.is_closed():
                    # The gateway closes the client (and its HTTP session) before the pipeline's
                    # last flush; the final boards still go out, on a fresh session that
                    # ``aclose`` closes.
                    self.client.http.recreate()
                    self._reopened = True
                try:
                    return await fn(*args, **kwargs)
                except asyncio.CancelledError:
                    _release_global_rate_limit(self.client.http)
                    raise
                except (RuntimeError, aiohttp.ClientError):
                    # The gateway closed the session under this call ("Session is closed" in a
                    # 429 wait, or a dropped connection): it is made once more on a fresh one.
                    # Every call is safe to repeat: reads, edits and deletes by nature, posts by
                    # their nonce.
                    if retry or not self.client.is_closed():
                        raise
            raise AssertionError("unreachable")

        try:
            with trio.fail_after(self.timeout):
                return await trio_asyncio.aio_as_trio(in_asyncio)()
        except RestRefused as refused:
            return _Refused(429, 0, refused.text, refused.retry_after)
        except disnake.HTTPException as exc:
            return _Refused(exc.status, exc.code, exc.text, _retry_after(exc))
        except trio.TooSlowError:
            return _Refused(0, 0, f"{what}: no answer within {self.timeout:g}s")
        except (OSError, aiohttp.ClientError, RuntimeError) as exc:
            # RuntimeError: aiohttp's "Session is closed" and disnake's unreachable-code guard.
            return _Refused(0, 0, f"{what}: {exc!r}")
