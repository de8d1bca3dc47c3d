"""What every REST resource shares: JSON answers, body parsing, path ids and world lookups.

``Resource`` is the base of each resource's handlers (messages, guilds, commands, webhooks): it
holds the simulator and resolves the path's channel, guild and message into the world's objects,
raising Discord's 404s. Nothing here is a route; ``discord_sim.rest`` lists them all.
"""

from __future__ import annotations

import json
import mimetypes
import re
import struct
from typing import TYPE_CHECKING, Any

from aiohttp import web
from attrs import define

from discord_sim.errors import (
    INVALID_JSON,
    UNKNOWN_CHANNEL,
    UNKNOWN_GUILD,
    UNKNOWN_MESSAGE,
    ApiError,
    FormErrors,
    not_found,
)
from discord_sim.world import Json, SimChannel, SimGuild

if TYPE_CHECKING:
    from discord_sim.server import DiscordSim

API = "/api/v10"
TOKEN_ROUTES = ("/webhooks/", "/interactions/")
MAX_FILES = 10  # attachments on one message
MAX_UPLOAD = 10 * 1024 * 1024  # bytes per request without boosts (the interaction's attachment_size_limit)
ENTITY_TOO_LARGE = 40005


@define(frozen=True)
class Upload:
    index: int
    filename: str
    data: bytes
    content_type: str


BODY = web.RequestKey("body", object)  # the parsed JSON body (or multipart payload_json)
FILES = web.RequestKey("files", list[Upload])  # uploaded files[n]


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON with Content-Type exactly ``application/json`` (disnake ignores the body otherwise)."""
    return web.Response(
        body=json.dumps(payload).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def no_content() -> web.Response:
    return web.Response(status=204)


class Resource:
    """The handlers of one kind of resource, with the lookups they share."""

    def __init__(self, sim: DiscordSim) -> None:
        self.sim = sim
        self.world = sim.world

    def _channel(self, request: web.Request) -> SimChannel:
        channel = self.world.channel(path_id(request.match_info["channel_id"]))
        if channel is None:
            raise not_found(UNKNOWN_CHANNEL, "Channel")
        return channel

    def _guild(self, request: web.Request) -> SimGuild:
        guild = self.world.guilds.get(path_id(request.match_info["guild_id"]))
        if guild is None:
            raise not_found(UNKNOWN_GUILD, "Guild")
        return guild

    def _message(self, request: web.Request) -> tuple[SimChannel, Json]:
        channel = self._channel(request)
        message = self.world.message(channel.channel_id, path_id(request.match_info["message_id"]))
        if message is None:
            raise not_found(UNKNOWN_MESSAGE, "Message")
        return channel, message

    def _uploads(
        self, request: web.Request, channel_id: int, existing: list[Json] | None
    ) -> list[Json] | None:
        """The message's attachments after this call; None: unchanged (an edit without any)."""
        body: Json = request[BODY] or {}
        files: list[Upload] = request[FILES]
        check_uploads(files)
        listed = body.get("attachments")
        if listed is None and not files:
            return None if existing is not None else []
        kept = {a["id"]: a for a in existing or []}
        described = {}
        result: list[Json] = []
        for item in listed if listed is not None else [*({"id": a} for a in kept)]:
            ref = str(item.get("id"))
            if ref in kept:
                result.append(kept[ref])
            else:
                described[ref] = item.get("description")
        for upload in files:
            attachment_id = self.world.new_id()
            self.world.attachments[attachment_id] = upload.data
            attachment = {
                "id": str(attachment_id),
                "filename": upload.filename,
                "size": len(upload.data),
                "url": f"{self.sim.origin}/attachments/{channel_id}/{attachment_id}/{upload.filename}",
                "proxy_url": f"{self.sim.origin}/attachments/{channel_id}/{attachment_id}/{upload.filename}",
                "content_type": content_type(upload.filename, upload.content_type),
            }
            if described.get(str(upload.index)):
                attachment["description"] = described[str(upload.index)]
            if (size := png_size(upload.data)) is not None:  # Discord measures images it can read
                attachment["width"], attachment["height"] = size
            result.append(attachment)
        return result

    def _dispatch(self, events: list[tuple[str, Json]]) -> None:
        for event, payload in events:
            self.sim.dispatch(event, payload)


def content_type(filename: str, sent: str = "application/octet-stream") -> str:
    """The type Discord records for a file: what its name says (Discord looks at the file, not the
    part's header, which disnake always sends as application/octet-stream), else the header's."""
    return mimetypes.guess_type(filename)[0] or sent


def check_uploads(files: list[Upload]) -> None:
    """Discord's upload limits: at most ``MAX_FILES`` files, ``MAX_UPLOAD`` bytes in all (413)."""
    if len(files) > MAX_FILES:
        errors = FormErrors()
        errors.too_long(("attachments",), MAX_FILES)
        errors.raise_if_any()
    if sum(len(f.data) for f in files) > MAX_UPLOAD:
        raise ApiError(413, ENTITY_TOO_LARGE, "Request entity too large")


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's header (its IHDR chunk); None: not a PNG."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def parse_body(request: web.Request) -> tuple[Any, list[Upload]]:
    """The JSON body (or multipart ``payload_json``) and any uploaded ``files[n]``."""
    if request.content_type.startswith("multipart/"):
        body: Any = None
        files: list[Upload] = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            name = getattr(part, "name", None) or ""
            data = await part.read()  # type: ignore[union-attr]
            if name == "payload_json":
                body = _loads(data)
            elif match := re.fullmatch(r"files\[(\d+)\]|file(\d*)", name):
                index = int(match.group(1) or match.group(2) or 0)
                content_type = part.headers.get("Content-Type", "application/octet-stream")
                files.append(
                    Upload(index, getattr(part, "filename", None) or name, bytes(data), content_type)
                )
        return body, files
    raw = await request.read()
    if not raw:
        return None, []
    return _loads(raw), []


def _loads(raw: bytes | bytearray) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(400, INVALID_JSON, "The request body contains invalid JSON.") from None


def path_id(raw: str) -> int:
    """A snowflake from the path; anything else is an unknown object (404 via the caller)."""
    try:
        return int(raw)
    except ValueError:
        errors = FormErrors()
        errors.add(("id",), "NUMBER_TYPE_COERCE", f'Value "{raw}" is not snowflake.')
        raise ApiError(400, 50035, "Invalid Form Body", errors.errors) from None


def major_of(match: Any) -> str:
    """The top-level resource a bucket is counted per: channel, guild, or webhook + token."""
    for key in ("channel_id", "guild_id"):
        if key in match:
            return f"{key}:{match[key]}"
    if "token" in match:
        return f"token:{match.get('application_id') or match.get('interaction_id')}:{match['token']}"
    return ""
