"""A Discord-like HTML view of stored messages, for people (the README's pictures), not for the bot.

The simulator keeps every message the bot sent as Discord would (``World.messages``, ephemeral
answers in ``World.ephemeral``); this draws them roughly as Discord's dark theme does: author line,
embed with its colour bar, title, description with the bits of markdown boards use (bold, escapes,
custom emoji), footer, and image attachments inline. Everything from a message is escaped here:
the view is a picture of the data, never markup from it.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

Json = dict[str, Any]

__all__ = ["markdown_html", "messages_html"]

_EMOJI = re.compile(r"<a?:(\w+):\d+>")
_TOKEN = re.compile(r"\\(.)|\*\*(.+?)\*\*|<a?:\w+:\d+>|<#(\d+)>", re.S)

_CSS = """
body { margin: 0; background: #313338; color: #dbdee1;
  font: 16px/1.375 "gg sans", "Noto Sans", Arial, sans-serif; }
.channel { padding: 16px 20px 8px; width: 640px; }
.head { color: #f2f3f5; font-weight: 600; padding: 0 0 12px; border-bottom: 1px solid #3f4147;
  margin-bottom: 12px; }
.head .hash { color: #80848e; margin-right: 6px; }
.msg { display: flex; gap: 16px; margin: 0 0 16px; }
.avatar { width: 40px; height: 40px; border-radius: 50%; background: #5865f2; flex: none;
  color: #fff; font-weight: 700; display: flex; align-items: center; justify-content: center; }
.author { color: #f2f3f5; font-weight: 500; }
.tag { background: #5865f2; color: #fff; font-size: 10px; font-weight: 600; border-radius: 3px;
  padding: 1px 4px; margin-left: 4px; vertical-align: 2px; }
.time { color: #949ba4; font-size: 12px; margin-left: 6px; }
.content { white-space: pre-wrap; overflow-wrap: anywhere; }
.embed { margin-top: 4px; background: #2b2d31; border-left: 4px solid; border-radius: 4px;
  padding: 8px 16px 12px 12px; max-width: 520px; }
.embed .title { color: #f2f3f5; font-weight: 600; margin: 4px 0 6px; }
.embed .desc { font-size: 14px; white-space: pre-wrap; overflow-wrap: anywhere; }
.embed .field { font-size: 14px; margin-top: 6px; white-space: pre-wrap; overflow-wrap: anywhere; }
.embed .field b { display: block; color: #f2f3f5; }
.embed .footer { color: #b5bac1; font-size: 12px; margin-top: 8px; }
.embed img.image { max-width: 100%; border-radius: 4px; margin-top: 10px; display: block; }
.emoji { color: #c061ff; font-weight: 700; }
.mention { background: #3c4270; color: #c9cdfb; border-radius: 3px; padding: 0 2px; }
.attachment { max-width: 520px; border-radius: 8px; margin-top: 6px; display: block; }
.ephemeral { color: #949ba4; font-size: 12px; margin-top: 4px; }
"""


def markdown_html(text: str, channels: Mapping[int, str] | None = None) -> str:
    """The markdown boards use, as HTML: ``**bold**``, backslash escapes, custom emoji (a mark),
    channel mentions (by name when ``channels`` knows it)."""
    out: list[str] = []
    at = 0
    for match in _TOKEN.finditer(text):
        out.append(html.escape(text[at : match.start()]))
        escaped, bold = match.group(1), match.group(2)
        if escaped is not None:
            out.append(html.escape(escaped))
        elif bold is not None:
            out.append(f"<b>{markdown_html(bold, channels)}</b>")
        elif match.group(3) is not None:
            name = (channels or {}).get(int(match.group(3)), "channel")
            out.append(f'<span class="mention"># {html.escape(name)}</span>')
        else:
            out.append('<span class="emoji">➤</span>')
        at = match.end()
    out.append(html.escape(text[at:]))
    return "".join(out)


def _colour(value: Any) -> str:
    return f"#{int(value):06x}" if isinstance(value, int) else "#1e1f22"


def _when(stamp: Any) -> str:
    try:
        return f"{datetime.fromisoformat(str(stamp)):%Y-%m-%d %H:%M}"
    except ValueError:
        return ""


def _image(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def _embed(embed: Json, files: Mapping[str, bytes], channels: Mapping[int, str]) -> str:
    parts = [f'<div class="embed" style="border-color: {_colour(embed.get("color"))}">']
    if embed.get("title"):
        parts.append(f'<div class="title">{markdown_html(str(embed["title"]), channels)}</div>')
    if embed.get("description"):
        parts.append(f'<div class="desc">{markdown_html(str(embed["description"]), channels)}</div>')
    for field in embed.get("fields") or ():
        name = markdown_html(str(field.get("name", "")), channels)
        value = markdown_html(str(field.get("value", "")), channels)
        parts.append(f'<div class="field"><b>{name}</b>{value}</div>')
    image = str((embed.get("image") or {}).get("url") or "")
    if image.startswith("attachment://") and image.removeprefix("attachment://") in files:
        parts.append(f'<img class="image" alt="" src="{_image(files[image.removeprefix("attachment://")])}">')
    footer = (embed.get("footer") or {}).get("text")
    if footer:
        parts.append(f'<div class="footer">{html.escape(str(footer))}</div>')
    parts.append("</div>")
    return "".join(parts)


def _message(
    message: Json, attachments: Mapping[int, bytes], channels: Mapping[int, str], *, ephemeral: bool
) -> str:
    author = message.get("author") or {}
    name = str(author.get("global_name") or author.get("username") or "?")
    files = {
        str(a.get("filename")): attachments[int(a["id"])]
        for a in message.get("attachments") or ()
        if int(a.get("id", 0)) in attachments
    }
    shown_inline = {
        str((e.get("image") or {}).get("url", "")).removeprefix("attachment://")
        for e in message.get("embeds") or ()
    }
    parts = [
        '<div class="msg">',
        f'<div class="avatar">{html.escape(name[:1].upper())}</div><div>',
        f'<span class="author">{html.escape(name)}</span>',
        '<span class="tag">APP</span>' if author.get("bot") else "",
        f'<span class="time">{html.escape(_when(message.get("timestamp")))}</span>',
    ]
    if message.get("content"):
        parts.append(f'<div class="content">{markdown_html(str(message["content"]), channels)}</div>')
    parts.extend(_embed(e, files, channels) for e in message.get("embeds") or ())
    parts.extend(
        f'<img class="attachment" alt="" src="{_image(data)}">'
        for fn, data in files.items()
        if fn not in shown_inline
    )
    if ephemeral:
        parts.append('<div class="ephemeral">Only you can see this</div>')
    parts.append("</div></div>")
    return "".join(parts)


def messages_html(
    channel_name: str,
    messages: Iterable[Json],
    attachments: Mapping[int, bytes] | None = None,
    *,
    channels: Mapping[int, str] | None = None,
    ephemeral: bool = False,
) -> str:
    """A page showing ``messages`` in a channel called ``channel_name``, oldest first; ``channels``
    names the channels that mentions point at."""
    body = "".join(_message(m, attachments or {}, channels or {}, ephemeral=ephemeral) for m in messages)
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>'
        f"#{html.escape(channel_name)}</title><style>{_CSS}</style></head><body>"
        '<div class="channel" id="channel">'
        f'<div class="head"><span class="hash">#</span>{html.escape(channel_name)}</div>'
        f"{body}</div></body></html>"
    )
