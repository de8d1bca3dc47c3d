"""The Discord-like view of stored messages draws board markdown and never markup from a message."""

from __future__ import annotations

from discord_sim.render import markdown_html, messages_html


def test_board_markdown_is_drawn_and_everything_else_escaped() -> None:
    line = r"<a:purp_arrow:1403295268505522187> **#1** \*\*Ada\*\* <script>x</script> — 5 messages"
    drawn = markdown_html(line)
    assert drawn.startswith('<span class="emoji">➤</span> <b>#1</b> **Ada** &lt;script&gt;')


def test_a_hostile_author_or_embed_is_text() -> None:
    message = {
        "author": {"username": "<img src=x onerror=alert(1)>", "bot": True},
        "timestamp": "2026-09-21T14:13:20+00:00",
        "embeds": [{"title": "<b>t</b>", "description": '"><svg onload=alert(1)>', "color": 0x571173}],
    }
    page = messages_html("general<i>", [message])
    assert "<img src=x" not in page and "<svg" not in page and "<b>t</b>" not in page and "<i>" not in page
    assert "border-color: #571173" in page and "2026-09-21 14:13" in page


def test_a_channel_mention_shows_the_channels_name_escaped() -> None:
    assert markdown_html("in <#42> and <#7>", {42: "<AFK>"}) == (
        'in <span class="mention"># &lt;AFK&gt;</span> and <span class="mention"># channel</span>'
    )
