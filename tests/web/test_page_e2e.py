"""A server's web page through the whole bot: real sockets, the real clock, the simulator.

The page must show the boards a member sees (the ``/leaderboard`` answer, built from the same
view), only when the server turned it on, with a strict CSP, names as text, and live updates.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import trio

from actors.board_render import escape_name
from tests.e2e.test_commands_e2e import ask
from tests.harness import wait_until
from tests.web.pages import events, get, page_bot, say_and_wait, turn_page_on
from web.app import CSP

LINE = re.compile(
    r'<li><span class="rank">(#\d+)</span> <span class="name">(.*?)</span> '
    r'<span class="value">— (.*?)</span></li>'
)


def page_lines(body: str, kind: str) -> list[tuple[str, str, str]]:
    """(rank, name, value) of one board in the page's HTML, names unescaped."""
    start = body.index(f'id="board-{kind}"')
    section = body[start : body.index("</article>", start)]
    return [(rank, html.unescape(name), html.unescape(value)) for rank, name, value in LINE.findall(section)]


async def test_a_page_is_404_until_the_server_turns_it_on_and_then_shows_the_members_boards(
    aio_loop: object, tmp_path: Path
) -> None:
    async with page_bot(tmp_path) as (scenario, app, port):
        guild_id = scenario.guild.guild_id
        humans = scenario.humans
        await say_and_wait(app, scenario, [(m, 12 - i) for i, m in enumerate(humans)])
        off = await get(port, f"/g/{guild_id}")
        assert off.status == 404 and off.body == "not found\n"
        assert (await get(port, "/g/42")).status == 404  # a server the bot is not in: the same answer
        assert (await get(port, "/g/not-a-number")).status == 404
        assert (await get(port, f"/g/{guild_id}/events")).status == 404

        reply = await turn_page_on(scenario)
        assert f"http://127.0.0.1:{port}/g/{guild_id}" in reply
        await wait_until(lambda: app.web.shown(guild_id), within=10, what="the page turned on")
        page = await get(port, f"/g/{guild_id}")
        assert page.status == 200
        assert page.headers["content-security-policy"] == CSP
        assert page.headers["x-content-type-options"] == "nosniff"
        assert "<script>" not in page.body and "style=" not in page.body  # nothing inline (CSP)
        for uid in (m.user_id for m in humans):
            assert str(uid) not in page.body, "display names only, never user ids"

        member = await ask(scenario, humans[1], "leaderboard", {"board": "messages"})
        assert member.original is not None
        description = member.original["embeds"][0]["description"]
        shown = page_lines(page.body, "messages")
        assert len(shown) == 10
        # The same lines, in the same order, as the member's board (there names are markdown-escaped).
        assert [f"**{rank}** {escape_name(name)} — {value}" for rank, name, value in shown] == [
            line.split(" ", 1)[1] for line in description.splitlines()
        ]
        theme = await get(port, f"/g/{guild_id}/theme.css")
        assert "--board-colour: #571173" in theme.body
        assert theme.headers["content-security-policy"] == CSP
        static = await get(port, "/static/live.js")
        assert static.status == 200 and "textContent" in static.body and "innerHTML" not in static.body
        assert 'id="chart"' in page.body
        chart = await get(port, f"/g/{guild_id}/chart.svg")
        assert chart.status == 200 and chart.headers["content-type"] == "image/svg+xml"
        assert "<svg" in chart.body and "<script" not in chart.body and 'href="http' not in chart.body
        metrics = await get(port, "/metrics")
        assert metrics.status == 200  # the operator's endpoints are still there, beside the pages


async def test_a_hostile_name_is_text_in_the_page_and_in_the_live_update(
    aio_loop: object, tmp_path: Path
) -> None:
    hostile = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']
    async with page_bot(tmp_path, members=4) as (scenario, app, port):
        guild_id = scenario.guild.guild_id
        for member, name in zip(scenario.humans, hostile, strict=False):
            member.global_name = name
        await turn_page_on(scenario)
        await say_and_wait(app, scenario, [(scenario.humans[0], 3), (scenario.humans[1], 2)])
        await wait_until(lambda: app.web.shown(guild_id), within=10, what="the page turned on")
        page = await get(port, f"/g/{guild_id}")
        assert "<script>alert" not in page.body and "<img src=x" not in page.body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.body
        assert [name for _, name, _ in page_lines(page.body, "messages")] == hostile
        async with events(port, f"/g/{guild_id}/events") as (status, stream):
            assert status == 200
            first = await stream.next()
        assert [line["name"] for line in first["boards"][0]["lines"]] == hostile  # JSON text, set as text


async def test_the_event_stream_sends_the_boards_again_when_they_change(
    aio_loop: object, tmp_path: Path
) -> None:
    async with page_bot(tmp_path, members=4) as (scenario, app, port):
        guild_id = scenario.guild.guild_id
        await turn_page_on(scenario)
        await wait_until(lambda: app.web.shown(guild_id), within=10, what="the page turned on")
        async with events(port, f"/g/{guild_id}/events") as (status, stream):
            assert status == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert stream.headers["content-security-policy"] == CSP
            first = await stream.next()
            assert first["boards"][0]["lines"] == []
            await wait_until(lambda: app.web.viewers() == 1, within=10, what="the viewer")
            await say_and_wait(app, scenario, [(scenario.humans[2], 4)])
            with trio.fail_after(10):
                update = await stream.next()
                while not update["boards"][0]["lines"]:
                    update = await stream.next()
        (line,) = update["boards"][0]["lines"]
        assert line == {"rank": "#1", "name": scenario.humans[2].global_name, "value": "4 messages"}


async def test_turning_the_page_off_ends_its_streams_and_answers_404(
    aio_loop: object, tmp_path: Path
) -> None:
    async with page_bot(tmp_path, members=3) as (scenario, app, port):
        guild_id = scenario.guild.guild_id
        await turn_page_on(scenario)
        await wait_until(lambda: app.web.shown(guild_id), within=10, what="the page turned on")
        async with events(port, f"/g/{guild_id}/events") as (_, stream):
            await stream.next()
            await wait_until(lambda: app.web.viewers() == 1, within=10, what="the viewer")
            from tests.web.pages import MANAGE_GUILD

            await ask(
                scenario, scenario.humans[0], "lbconfig set", {"web_page": False}, permissions=MANAGE_GUILD
            )
            await wait_until(lambda: app.web.viewers() == 0, within=10, what="the stream closed")
        assert (await get(port, f"/g/{guild_id}")).status == 404


async def test_the_archive_lists_a_finished_period_with_its_top_members(
    aio_loop: object, tmp_path: Path
) -> None:
    async with page_bot(tmp_path, members=4) as (scenario, app, port):
        guild_id = scenario.guild.guild_id
        humans = scenario.humans
        await turn_page_on(scenario)
        await say_and_wait(app, scenario, [(humans[0], 2), (humans[1], 5)])
        before = await get(port, f"/g/{guild_id}")
        assert "No finished period yet." in before.body
        handle = app.pipeline.handle
        assert handle is not None
        await handle.reset_now(guild_id, humans[0].user_id)
        await wait_until(lambda: app.web.rounds > 0, within=10, what="a round")
        with trio.fail_after(10):
            while "No finished period yet." in (after := await get(port, f"/g/{guild_id}")).body:  # noqa: ASYNC110
                await trio.sleep(0.1)
        archive = after.body[after.body.index('class="archive"') :]
        assert archive.index(html.escape(humans[1].global_name)) < archive.index(
            html.escape(humans[0].global_name)
        )
        assert "5 messages" in archive and "2 messages" in archive
        assert page_lines(after.body, "messages") == []  # the new period starts empty


async def test_the_bot_stops_promptly_with_a_live_page_open(aio_loop: object, tmp_path: Path) -> None:
    """An open event stream must not hold the shutdown: the stream ends, then the server."""
    with trio.fail_after(30):
        async with page_bot(tmp_path, members=3) as (scenario, app, port):
            guild_id = scenario.guild.guild_id
            await turn_page_on(scenario)
            async with events(port, f"/g/{guild_id}/events") as (status, stream):
                assert status == 200
                await stream.next()
                await wait_until(lambda: app.web.viewers() == 1, within=10, what="the viewer")
                app.stop()
                with trio.fail_after(10):
                    while True:
                        try:
                            await stream.next()
                        except EOFError:
                            break
        assert app.web.viewers() == 0


async def test_a_forgotten_member_leaves_the_cached_page_and_the_live_stream_at_once(
    aio_loop: object, tmp_path: Path
) -> None:
    """No totals change follows a forget, so without a word to the pages a cached page (and an open
    stream) would go on showing the member: a forget must redraw the guild's pages."""
    async with page_bot(tmp_path, members=4) as (scenario, app, port):
        guild_id = scenario.guild.guild_id
        admin, gone, kept = scenario.humans[0], scenario.humans[1], scenario.humans[2]
        await turn_page_on(scenario)
        await wait_until(lambda: app.web.shown(guild_id), within=10, what="the page turned on")
        async with events(port, f"/g/{guild_id}/events") as (_, stream):
            await stream.next()
            await wait_until(lambda: app.web.viewers() == 1, within=10, what="the viewer")
            await say_and_wait(app, scenario, [(gone, 5), (kept, 3)])
            with trio.fail_after(10):
                update = await stream.next()
                while len(update["boards"][0]["lines"]) < 2:
                    update = await stream.next()
            before = await get(port, f"/g/{guild_id}")
            assert [name for _, name, _ in page_lines(before.body, "messages")] == [
                gone.global_name,
                kept.global_name,
            ]
            from tests.web.pages import MANAGE_GUILD

            await ask(scenario, admin, "lbforget", {"member": gone}, permissions=MANAGE_GUILD)
            with trio.fail_after(10):
                update = await stream.next()
                while len(update["boards"][0]["lines"]) != 1:
                    update = await stream.next()
        (line,) = update["boards"][0]["lines"]
        assert line["name"] == kept.global_name
        after = await get(port, f"/g/{guild_id}")
        assert [name for _, name, _ in page_lines(after.body, "messages")] == [kept.global_name]
        assert str(gone.global_name) not in after.body
