"""Channels and messages: read, post (with nonces), edit (with the old-message quota), delete."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from discord_sim.errors import (
    CANNOT_EDIT_OTHERS,
    MISSING_ACCESS,
    MISSING_PERMISSIONS,
    NON_TEXT_CHANNEL,
    OLD_MESSAGE_EDITS,
    ApiError,
    FormErrors,
)
from discord_sim.limits import check_message
from discord_sim.rest.base import BODY, FILES, Resource, content_type, json_response, no_content, path_id
from discord_sim.world import (
    EMBED_LINKS,
    MESSAGEABLE_TYPES,
    SEND_MESSAGES,
    SUPPRESS_EMBEDS,
    VIEW_CHANNEL,
    Json,
    SimChannel,
    snowflake_ms,
)

if TYPE_CHECKING:
    from discord_sim.server import DiscordSim

SUPPRESS_NOTIFICATIONS = 1 << 12
REPLY = 19


def _check_permissions(channel: SimChannel, bot_id: int, body: Json, *, posting: bool) -> None:
    """Refuse as Discord does what the channel's overwrites deny the bot: reading at all
    (50001), posting, or embeds (50013; an edit needs no SEND_MESSAGES, only its embeds do)."""
    denied = channel.denied(bot_id)
    if denied & VIEW_CHANNEL:
        raise ApiError(403, MISSING_ACCESS, "Missing Access")
    if (posting and denied & SEND_MESSAGES) or (body.get("embeds") and denied & EMBED_LINKS):
        raise ApiError(403, MISSING_PERMISSIONS, "Missing Permissions")


class Messages(Resource):
    def __init__(self, sim: DiscordSim) -> None:
        super().__init__(sim)
        self._nonces: dict[str, tuple[int, int, int]] = {}  # nonce -> channel, message, when (ms)

    async def get_channel(self, request: web.Request) -> web.Response:
        return json_response(self._channel(request).payload())

    async def list_messages(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        limit = max(1, min(100, int(request.query.get("limit", 50))))
        ids = sorted(self.world.messages.get(channel.channel_id, {}), reverse=True)
        if "before" in request.query:
            ids = [i for i in ids if i < int(request.query["before"])][:limit]
        elif "after" in request.query:
            ids = sorted(i for i in ids if i > int(request.query["after"]))[:limit][::-1]
        elif "around" in request.query:
            around = int(request.query["around"])
            older = [i for i in ids if i <= around][: (limit + 1) // 2]
            newer = sorted(i for i in ids if i > around)[: limit // 2][::-1]
            ids = newer + older
        else:
            ids = ids[:limit]
        messages = self.world.messages[channel.channel_id] if ids else {}
        return json_response([messages[i] for i in ids])

    async def create_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if channel.type not in MESSAGEABLE_TYPES:
            raise ApiError(400, NON_TEXT_CHANNEL, "Cannot send messages in a non-text channel")
        if self.world.bot.user_id not in self.world.guilds[channel.guild_id].members:
            raise ApiError(403, MISSING_ACCESS, "Missing Access")
        body: Json = request[BODY] or {}
        _check_permissions(channel, self.world.bot.user_id, body, posting=True)
        check_message(body, files=len(request[FILES]))
        world = self.world
        if body.get("enforce_nonce") and (earlier := self._nonce_seen(body.get("nonce"))) is not None:
            return json_response(earlier)  # the same post again: Discord returns the first one
        message = world.message_payload(
            channel, world.bot, body.get("content") or "", embeds=body.get("embeds")
        )
        message["components"] = body.get("components") or []
        message["flags"] = int(body.get("flags") or 0) & (SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS)
        message["attachments"] = self._uploads(request, channel.channel_id, None) or []
        message["tts"] = bool(body.get("tts"))
        if body.get("nonce") is not None:
            message["nonce"] = body["nonce"]
        reference = body.get("message_reference")
        if isinstance(reference, dict) and reference.get("message_id"):
            referenced = world.message(channel.channel_id, path_id(str(reference["message_id"])))
            if referenced is None and reference.get("fail_if_not_exists", True):
                errors = FormErrors()
                errors.add(("message_reference",), "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")
                errors.raise_if_any()
            message["type"] = REPLY
            message["message_reference"] = {
                "type": 0,
                "message_id": str(reference["message_id"]),
                "channel_id": str(channel.channel_id),
                "guild_id": str(channel.guild_id),
            }
            message["referenced_message"] = referenced
        world.store_message(message)
        if body.get("nonce") is not None:
            self._nonces[str(body["nonce"])] = (channel.channel_id, int(message["id"]), world.now_ms())
        self.sim.dispatch("MESSAGE_CREATE", message)
        return json_response(message)

    def _nonce_seen(self, nonce: Any) -> Json | None:
        """The message the bot created with ``nonce`` in the last few minutes (enforce_nonce)."""
        seen = self._nonces.get(str(nonce)) if nonce is not None else None
        if seen is None or self.world.now_ms() - seen[2] > self.sim.nonce_window_ms:
            return None
        return self.world.message(seen[0], seen[1])

    async def get_message(self, request: web.Request) -> web.Response:
        channel, message = self._message(request)
        _check_permissions(channel, self.world.bot.user_id, {}, posting=False)
        return json_response(message)

    async def edit_message(self, request: web.Request) -> web.Response:
        channel, message = self._message(request)
        if message["author"]["id"] != str(self.world.bot.user_id):
            raise ApiError(403, CANNOT_EDIT_OTHERS, "Cannot edit a message authored by another user")
        body: Json = request[BODY] or {}
        _check_permissions(channel, self.world.bot.user_id, body, posting=False)
        attachments = self._uploads(request, channel.channel_id, message["attachments"])
        check_message(body, files=len(request[FILES]), existing=message)
        now_ms = self.world.now_ms()
        age = (now_ms - snowflake_ms(message["id"])) / 1000
        if age > self.sim.limits.old_message_age and not self.sim.limits.old_edit_allowed(
            channel.channel_id, now_ms / 1000
        ):
            raise ApiError(
                400,
                OLD_MESSAGE_EDITS,
                "Maximum number of edits to messages older than 1 hour reached. Try again later",
            )
        self.world.apply_edit(message, body, attachments)
        self.sim.dispatch("MESSAGE_UPDATE", message)
        return json_response(message)

    async def delete_message(self, request: web.Request) -> web.Response:
        channel, message = self._message(request)
        _check_permissions(channel, self.world.bot.user_id, {}, posting=False)
        del self.world.messages[channel.channel_id][int(message["id"])]
        self.sim.dispatch(
            "MESSAGE_DELETE",
            {"id": message["id"], "channel_id": message["channel_id"], "guild_id": message["guild_id"]},
        )
        return no_content()

    async def bulk_delete(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        ids = [path_id(str(i)) for i in (request[BODY] or {}).get("messages", [])]
        if not 2 <= len(ids) <= 100:
            errors = FormErrors()
            errors.add(("messages",), "BASE_TYPE_BAD_LENGTH", "Must be between 2 and 100 in length.")
            errors.raise_if_any()
        self.sim.delete_messages(channel, ids)
        return no_content()

    async def typing(self, request: web.Request) -> web.Response:
        self._channel(request)
        return no_content()

    # -- the CDN: what attachment and avatar URLs point at (no token, no rate limit) -----------------

    async def attachment(self, request: web.Request) -> web.Response:
        """An attachment's bytes at its URL, with the content type its file name says."""
        data = self.world.attachments.get(path_id(request.match_info["attachment_id"]))
        if data is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=data, content_type=content_type(request.match_info["filename"]))

    async def avatar(self, request: web.Request) -> web.Response:
        """``/avatars/{user_id}/{hash}.{ext}``: the user's avatar, while it is their avatar."""
        user = self.world.user(path_id(request.match_info["user_id"]))
        avatar_hash, _, ext = request.match_info["file"].partition(".")
        data = self.world.avatars.get(avatar_hash)
        if user is None or user.avatar != avatar_hash or data is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=data, content_type=content_type(f"avatar.{ext}"))
