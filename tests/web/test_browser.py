"""The web page in a real browser (headless Chromium via selenium) against a running bot and
simulator: the top 10 after scripted activity, a live update without a reload, hostile names as
text in the DOM, and a 404 for a server with the page off."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trio

from tests.web.browser import chromium, missing
from tests.web.pages import get, page_bot, say_and_wait, turn_page_on

pytestmark = pytest.mark.skipif(missing() is not None, reason=f"no browser: {missing()}")

T = TypeVar("T")
HOSTILE = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']


async def off_thread(fn: Callable[..., T], *args: Any) -> T:
    return await trio.to_thread.run_sync(partial(fn, *args))


@asynccontextmanager
async def browser() -> AsyncIterator[Any]:
    manager = chromium()
    driver = await off_thread(manager.__enter__)
    try:
        yield driver
    finally:
        await off_thread(manager.__exit__, None, None, None)


def board_lines(driver: Any, kind: str) -> list[str]:
    """The board's lines as shown; read again when a live update replaced them mid-read (the
    page swaps the whole list, so an element found a moment ago may be gone: a stale reference)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    for _ in range(5):
        try:
            return [li.text for li in driver.find_elements(By.CSS_SELECTOR, f"#board-{kind} .lines li")]
        except StaleElementReferenceException:
            continue
    raise AssertionError(f"the {kind} board was replaced during each of 5 reads")


async def until(driver: Any, check: Callable[[Any], bool], what: str, within: float = 10.0) -> None:
    with trio.fail_after(within):
        while not await off_thread(check, driver):  # noqa: ASYNC110 (the DOM is in another process)
            await trio.sleep(0.1)


async def test_the_browser_shows_the_top_10_and_a_live_update_arrives_without_a_reload(
    aio_loop: object, tmp_path: Path
) -> None:
    async with page_bot(tmp_path, members=12) as (scenario, app, port), browser() as driver:
        humans = scenario.humans
        await say_and_wait(app, scenario, [(m, 14 - i) for i, m in enumerate(humans)])
        await turn_page_on(scenario)
        url = f"http://127.0.0.1:{port}/g/{scenario.guild.guild_id}"
        await off_thread(driver.get, url)
        expected = [f"#{i + 1} {m.global_name} — {14 - i} messages" for i, m in enumerate(humans[:10])]
        assert await off_thread(board_lines, driver, "messages") == expected
        await until(driver, lambda d: d.find_element("id", "live").text == "live", "the stream")
        await off_thread(driver.execute_script, "window.notReloaded = true;")

        await say_and_wait(app, scenario, [(humans[11], 20)])  # last becomes first
        await until(
            driver,
            lambda d: board_lines(d, "messages")[:1] == [f"#1 {humans[11].global_name} — 23 messages"],
            "the update",
        )
        assert await off_thread(driver.execute_script, "return window.notReloaded === true;")
        chart = "const c = document.getElementById('chart'); return c.complete && c.naturalWidth > 0;"
        await until(driver, lambda d: d.execute_script(chart), "the chart")  # our SVG, allowed by the CSP
        logged = await off_thread(driver.get_log, "browser")
        assert not [e for e in logged if "Content Security Policy" in e["message"]], logged
        # The server icon is the only thing from elsewhere (Discord's CDN; the simulator's icon is
        # not there, or the machine is offline): any other error is ours.
        assert not [e for e in logged if e["level"] == "SEVERE" and "cdn.discordapp.com" not in e["message"]]
        lines = await off_thread(board_lines, driver, "messages")
        assert lines[1:] == [
            f"#{i + 2} {m.global_name} — {14 - i} messages" for i, m in enumerate(humans[:9])
        ]


async def test_hostile_names_render_as_text_in_the_dom(aio_loop: object, tmp_path: Path) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    async with page_bot(tmp_path, members=4) as (scenario, app, port), browser() as driver:
        for member, name in zip(scenario.humans, HOSTILE, strict=False):
            member.global_name = name
        await say_and_wait(app, scenario, [(scenario.humans[0], 3), (scenario.humans[1], 2)])
        await turn_page_on(scenario)
        await off_thread(driver.get, f"http://127.0.0.1:{port}/g/{scenario.guild.guild_id}")
        await until(driver, lambda d: d.find_element("id", "live").text == "live", "the stream")

        def dom(d: Any) -> dict[str, Any]:
            names = [e.text for e in d.find_elements(By.CSS_SELECTOR, "#board-messages .name")]
            return {
                "names": names,
                "scripts": [e.get_attribute("src") for e in d.find_elements(By.TAG_NAME, "script")],
                "images": len(d.find_elements(By.CSS_SELECTOR, "img[src='x'], .boards img")),
                "elements": len(d.find_elements(By.CSS_SELECTOR, ".name *")),
            }

        seen = await off_thread(dom, driver)
        assert seen["names"] == HOSTILE  # visible, as text
        assert seen["scripts"] == [f"http://127.0.0.1:{port}/static/live.js"]  # only ours
        assert seen["images"] == 0 and seen["elements"] == 0  # no element came out of a name

        with pytest.raises(NoAlertPresentException):
            await off_thread(lambda: driver.switch_to.alert.text)
        # After a live update too (the script builds the lines itself).
        await say_and_wait(app, scenario, [(scenario.humans[1], 5)])
        await until(driver, lambda d: dom(d)["names"] == HOSTILE[::-1], "the update")
        seen = await off_thread(dom, driver)
        assert seen["images"] == 0 and seen["elements"] == 0


async def test_a_server_with_the_page_off_answers_404(aio_loop: object, tmp_path: Path) -> None:
    async with page_bot(tmp_path, members=3) as (scenario, _app, port), browser() as driver:
        url = f"http://127.0.0.1:{port}/g/{scenario.guild.guild_id}"
        assert (await get(port, f"/g/{scenario.guild.guild_id}")).status == 404
        await off_thread(driver.get, url)
        body = await off_thread(lambda: driver.find_element("tag name", "body").text)
        assert body.strip() == "not found"
