"""The web app on its own (real hypercorn, a fake page source): bounded waits, headers, 404s."""

from __future__ import annotations

from functools import partial

import pytest
import trio
from hypercorn.config import Config
from hypercorn.trio import serve

import web.app
from domain.clock import WallClock
from tests.web.pages import free_port, get
from tests.web.test_live import GUILD, FakeSource
from web.app import CSP, web_app
from web.live import LivePages


async def test_a_page_that_cannot_be_drawn_in_time_is_a_503_not_a_hang(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(web.app, "PAGE_TIMEOUT", 0.2)
    live = LivePages(WallClock.real())
    source = FakeSource(gate=trio.Event())  # the store never answers
    port = free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    async with trio.open_nursery() as nursery:
        await nursery.start(live.run, source)
        await nursery.start(partial(serve, web_app(live), config, mode="asgi"))
        with trio.fail_after(5):
            busy = await get(port, f"/g/{GUILD}")
        assert busy.status == 503 and busy.headers["retry-after"] == "5"
        assert busy.headers["content-security-policy"] == CSP
        assert (await get(port, "/static/../pyproject.toml")).status == 404
        assert (await get(port, "/static/nothing.js")).status == 404
        source.gate.set()
        ok = await get(port, f"/g/{GUILD}")
        assert ok.status == 200 and "render 1" in ok.body
        nursery.cancel_scope.cancel()
