"""The per-server web page as a Starlette app, served by the bot's own hypercorn beside /healthz.

Routes (GET only): ``/g/{guild_id}`` the page, ``/g/{guild_id}/events`` its live updates
(server-sent events: one ``boards`` event with the whole state on connect and after each change),
``/g/{guild_id}/chart.svg`` the 30-day chart, ``/g/{guild_id}/theme.css`` the server's colour
(a stylesheet, because the CSP allows no inline style), and ``/static/`` (the vendored CSS and
script; nothing is loaded from another host at run time).

Every answer carries a strict Content-Security-Policy: only our own script, styles and images
(plus Discord's CDN for the server icon), no frames, no inline code. Names are untrusted: the
template autoescapes them and the script writes them with ``textContent``. A guild whose admins
have not turned ``web_page`` on, or one the bot is not in, is a plain 404, the same for both, so
the page does not reveal which servers use the bot.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import trio
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.live import LivePages, NotServing, TooManyViewers
from web.page import GuildPage, page_json

log = logging.getLogger(__name__)

__all__ = ["CSP", "KEEPALIVE_SECONDS", "PAGE_TIMEOUT", "PREFIXES", "web_app"]

HERE = Path(__file__).parent
CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data: "
    "https://cdn.discordapp.com; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
PAGE_TIMEOUT = 5.0  # seconds a request waits for a page to be drawn (a stuck store: 503, not a hang)
KEEPALIVE_SECONDS = 15.0  # a comment line on an idle stream, so a gone browser is noticed
PREFIXES = ("/g/", "/static/")  # the paths this app answers (the ops app sends it these)

# The vendored files, read once: a fixed list (no path from a request reaches the file system).
STATIC = {
    path.name: (path.read_bytes(), {".css": "text/css", ".js": "text/javascript"}[path.suffix])
    for path in sorted((HERE / "static").iterdir())
    if path.suffix in (".css", ".js")
}

_templates = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True), auto_reload=False
)


class SecurityHeaders:
    """Adds the CSP and friends to every answer, errors and static files included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


def _not_found() -> Response:
    return PlainTextResponse("not found\n", status_code=404)


def _unavailable(why: str) -> Response:
    return PlainTextResponse(f"{why}\n", status_code=503, headers={"retry-after": "5"})


def _guild_id(request: Request) -> int | None:
    raw = request.path_params["guild_id"]
    return int(raw) if raw.isdigit() and len(raw) <= 20 else None


def web_app(live: LivePages) -> Starlette:
    """The app over ``live`` (which knows the store while the bot runs)."""
    rendered: dict[int, tuple[GuildPage, bytes]] = {}  # guild -> its current page, as HTML

    async def get_page(request: Request) -> GuildPage | Response:
        guild_id = _guild_id(request)
        if guild_id is None:
            return _not_found()
        try:
            with trio.fail_after(PAGE_TIMEOUT):
                page = await live.page(guild_id)
        except trio.TooSlowError:
            return _unavailable("the page is busy; try again in a few seconds")
        except NotServing:
            return _unavailable("starting or stopping; try again in a few seconds")
        except Exception:
            log.exception("web: page of guild %s failed", guild_id)
            return _unavailable("the page cannot be read right now")
        return _not_found() if page is None else page

    async def page(request: Request) -> Response:
        got = await get_page(request)
        if isinstance(got, Response):
            return got
        cached = rendered.get(got.guild_id)
        if cached is None or cached[0] is not got:  # each page is drawn into HTML once
            cached = rendered[got.guild_id] = (
                got,
                _templates.get_template("page.html").render(page=got).encode(),
            )
        return HTMLResponse(cached[1], headers={"cache-control": "no-store"})

    async def chart(request: Request) -> Response:
        got = await get_page(request)
        if isinstance(got, Response):
            return got
        if got.chart_svg is None:
            return _not_found()
        return Response(got.chart_svg, media_type="image/svg+xml", headers={"cache-control": "no-cache"})

    async def theme(request: Request) -> Response:
        got = await get_page(request)
        if isinstance(got, Response):
            return got
        css = f":root {{ --board-colour: {got.colour}; }}\n"  # from an int: no text of anyone's
        return Response(css, media_type="text/css", headers={"cache-control": "no-cache"})

    async def events(request: Request) -> Response:
        got = await get_page(request)
        if isinstance(got, Response):
            return got
        guild_id = got.guild_id
        if live.viewers() >= live.max_viewers:
            return _unavailable("too many live pages open; reload later")

        async def stream() -> AsyncIterator[str]:
            with contextlib.suppress(TooManyViewers), live.viewer(guild_id) as viewer:
                current: GuildPage | None = got
                while current is not None:
                    data = json.dumps(page_json(current))
                    yield f"event: boards\ndata: {data}\n\n"
                    while True:
                        with trio.move_on_after(KEEPALIVE_SECONDS) as idle:
                            current = await viewer.next()  # None: the page was turned off, or we stop
                        if not idle.cancelled_caught:
                            break
                        yield ": keepalive\n\n"

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    async def static(request: Request) -> Response:
        found = STATIC.get(request.path_params["name"])
        if found is None:
            return _not_found()
        body, media_type = found
        return Response(body, media_type=media_type, headers={"cache-control": "public, max-age=300"})

    routes = [
        Route("/g/{guild_id}", page),
        Route("/g/{guild_id}/events", events),
        Route("/g/{guild_id}/chart.svg", chart),
        Route("/g/{guild_id}/theme.css", theme),
        Route("/static/{name}", static),
    ]
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])
