"""The REST budget's shell: every HTTP request the bot's disnake client makes waits here first.

``install_rest_budget(client.http, policy)`` puts a ``RestPacer`` in front of the client's aiohttp
session. Not in front of ``HTTPClient.request``: disnake answers interactions (and their
follow-ups) through its webhook adapter on the same session, never through ``request``, and it
retries 429s and 5xx inside ``request``. At the session every attempt is seen: each one is paced
and each answer's status is counted, as Discord counts them. The session is reached through a
property on the client's class (``_PacedHTTPClient``), so a session disnake recreates (after a
close, at login) is paced as well; the gateway's websocket and CDN reads pass through untouched.

Each request is classified by its route (``classify``) and asks the pure machine
(``bot_entry.rest_budget``) to go; the answer is awaited on an asyncio future that a timer on the
event loop's clock resolves. Under trio-asyncio that clock is Trio's, so tests on ``MockClock``
run paced calls in virtual time. A refusal raises ``RestRefused`` (the board poster turns it into
``RateLimited``). disnake's own 429 handling stays behind this, as the last line.

The order among waiting board calls comes from ``waiting_since``, a context variable the board
poster sets around each call (the time the change it carries began to wait, on the event loop's
clock: ``trio.current_time()`` under trio-asyncio); unset means now. Calls on one route bucket
(one channel's messages) are already serialized by disnake's bucket lock before they reach the
session, in their order of arrival; the budget orders calls across buckets, which is where boards
of different guilds compete.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
from contextvars import ContextVar
from types import TracebackType
from typing import Any

import aiohttp
import disnake
from disnake.http import HTTPClient
from disnake.utils import MISSING

from bot_entry.rest_budget import Call, CallClass, RestBudget, RestPolicy, RestSnapshot, Step

__all__ = ["RestPacer", "RestRefused", "classify", "install_rest_budget", "waiting_since"]

log = logging.getLogger(__name__)

waiting_since: ContextVar[float | None] = ContextVar("waiting_since", default=None)

_API = re.compile(r"^.*?/api/v\d+(?P<path>/.*)$")
_INTERACTION = (
    re.compile(r"^/interactions/\d+/[^/]+/callback$"),
    re.compile(r"^/webhooks/\d+/[^/]+(/.*)?$"),
)
_ESSENTIAL = (
    re.compile(r"^/applications/[^/]+/(guilds/\d+/)?commands(/.*)?$"),
    re.compile(r"^/(users/@me|gateway/bot|oauth2/applications/@me|applications/@me)$"),
)
_NONESSENTIAL = (
    ("PATCH", re.compile(r"^/channels/\d+/messages/\d+$")),  # a board edit
    ("GET", re.compile(r"^/guilds/\d+/members/\d+$")),  # a member's name
)


def classify(method: str, url: str) -> tuple[CallClass, bool]:
    """The class of a request and whether the breaker may stop it (pure; by route only).

    Interaction callbacks and the webhook routes an interaction token opens are INTERACTION;
    login and command registration are ESSENTIAL; the rest (board posts, edits, deletes, reads,
    member fetches) is BOARD, of which edits and member fetches are non-essential.
    """
    match = _API.match(url.split("?", 1)[0])
    path = match.group("path") if match else url
    if any(p.match(path) for p in _INTERACTION):
        return CallClass.INTERACTION, False
    if any(p.match(path) for p in _ESSENTIAL):
        return CallClass.ESSENTIAL, False
    nonessential = any(method.upper() == m and p.match(path) for m, p in _NONESSENTIAL)
    return CallClass.BOARD, nonessential


class RestRefused(disnake.HTTPException):
    """The budget did not let this request go: retry after ``retry_after`` seconds.

    A 429 of our own making, never sent: it is a ``disnake.HTTPException`` (status 429, code 0,
    no response) so that every caller that already handles Discord's refusals handles this one.
    """

    def __init__(self, retry_after: float, reason: str) -> None:  # no response to read
        self.response = None  # type: ignore[assignment]
        self.status = 429
        self.code = 0
        self.text = f"REST budget: {reason}, retry after {retry_after:.1f}s"
        self.retry_after = retry_after
        self.reason = reason
        Exception.__init__(self, self.text)


class RestPacer:
    """The machine, its futures and its one timer, on the asyncio side of one bot."""

    def __init__(self, policy: RestPolicy) -> None:
        self.policy = policy
        self._budget: RestBudget | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._futures: dict[int, asyncio.Future[None]] = {}
        self._ids = itertools.count()
        self._timer: asyncio.TimerHandle | None = None

    def _machine(self) -> tuple[RestBudget, float]:
        loop = asyncio.get_running_loop()
        if self._budget is None or self._loop is not loop:  # a new loop: a fresh machine
            self._loop, self._budget, self._timer = loop, RestBudget(self.policy, loop.time()), None
        return self._budget, loop.time()

    async def acquire(self, klass: CallClass, nonessential: bool = False) -> None:
        """Wait until this request may go; ``RestRefused`` if it may not."""
        budget, now = self._machine()
        call_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._futures[call_id] = future
        self._apply(budget.arrive(Call(call_id, klass, nonessential, waiting_since.get()), now), now)
        try:
            await future
        except asyncio.CancelledError:
            if self._futures.pop(call_id, None) is not None:
                budget.cancel(call_id)
                self._schedule(budget, asyncio.get_running_loop().time())
            raise

    def answered(self, status: int, scope: str | None) -> None:
        """Discord's answer to a request that went (counted if invalid)."""
        budget, now = self._machine()
        self._apply(budget.answered(status, scope, now), now)

    def snapshot(self) -> RestSnapshot | None:
        """What /metrics shows (None before the first request)."""
        if self._budget is None or self._loop is None or self._loop.is_closed():
            return None
        return self._budget.snapshot(self._loop.time())

    def _apply(self, step: Step, now: float) -> None:
        for call_id in step.granted:
            future = self._futures.pop(call_id, None)
            if future is not None and not future.done():
                future.set_result(None)
        for call_id, refusal in step.refused:
            future = self._futures.pop(call_id, None)
            if future is not None and not future.done():
                future.set_exception(RestRefused(refusal.retry_after, refusal.reason))
        if step.opened:
            log.warning(
                "REST budget: %d invalid requests (401/403/429) in %gs, %g of Discord's %d; "
                "board edits and member fetches stop until the window cools",
                self.policy.stop_at,
                self.policy.invalid_window,
                self.policy.stop_fraction,
                self.policy.invalid_limit,
            )
        if step.closed:
            log.info("REST budget: invalid requests have cooled; board edits and member fetches resume")
        assert self._budget is not None
        self._schedule(self._budget, now)

    def _schedule(self, budget: RestBudget, now: float) -> None:
        """One timer, at the machine's next wake."""
        when = budget.next_wake(now)
        if self._timer is not None:
            if when is not None and self._timer.when() == when:
                return
            self._timer.cancel()
            self._timer = None
        if when is not None and self._loop is not None:
            self._timer = self._loop.call_at(max(when, now), self._wake)

    def _wake(self) -> None:
        self._timer = None
        assert self._budget is not None and self._loop is not None
        now = self._loop.time()
        self._apply(self._budget.advance(now), now)


class _PacedRequest:
    """``session.request(...)`` as disnake uses it (``async with``), paced before it is sent."""

    def __init__(self, pacer: RestPacer, session: aiohttp.ClientSession, method: str, url: Any, kwargs: Any):
        self._pacer, self._session = pacer, session
        self._method, self._url, self._kwargs = method, url, kwargs
        self._inner: Any = None

    async def __aenter__(self) -> aiohttp.ClientResponse:
        klass, nonessential = classify(self._method, str(self._url))
        await self._pacer.acquire(klass, nonessential)
        self._inner = self._session.request(self._method, self._url, **self._kwargs)
        response: aiohttp.ClientResponse = await self._inner.__aenter__()
        self._pacer.answered(response.status, response.headers.get("X-RateLimit-Scope"))
        return response

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._inner is not None:
            await self._inner.__aexit__(kind, exc, tb)


class _PacedSession:
    """The client's session with ``request`` paced; everything else is the session's own."""

    def __init__(self, session: aiohttp.ClientSession, pacer: RestPacer) -> None:
        self.session = session
        self._pacer = pacer

    def request(self, method: str, url: Any, **kwargs: Any) -> _PacedRequest:
        return _PacedRequest(self._pacer, self.session, method, url, kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)


_SESSION = "_HTTPClient__session"  # disnake's ``self.__session``, as Python mangles it


def _get_session(http: Any) -> Any:
    real = http.__dict__.get(_SESSION, MISSING)
    if real is MISSING:
        return real
    paced = http.__dict__.get("_rest_paced")
    if paced is None or paced.session is not real:
        paced = _PacedSession(real, http.__dict__["_rest_pacer"])
        http.__dict__["_rest_paced"] = paced
    return paced


def _set_session(http: Any, session: Any) -> None:
    http.__dict__[_SESSION] = session.session if isinstance(session, _PacedSession) else session


class _PacedHTTPClient(HTTPClient):
    """disnake's client whose session, whenever it is (re)made, is reached through the pacer."""

    _HTTPClient__session = property(_get_session, _set_session)  # type: ignore[assignment]


def install_rest_budget(http: HTTPClient, policy: RestPolicy) -> RestPacer:
    """Pace every request of ``http`` (a disnake client's ``client.http``) by ``policy``."""
    if isinstance(http, _PacedHTTPClient):
        raise ValueError("this HTTP client already has a REST budget")
    if type(http) is not HTTPClient:
        raise TypeError(f"expected disnake's HTTPClient, not {type(http).__name__}")
    pacer = RestPacer(policy)
    http.__dict__["_rest_pacer"] = pacer
    http.__class__ = _PacedHTTPClient
    return pacer
