"""The REST API: the routes a bot uses, with Discord's errors, limits and rate-limit headers.

One middleware does what every call shares, in Discord's order: parse the body (JSON, or
multipart with ``payload_json`` and ``files[n]``), record the call in ``world.rest_calls``,
apply injected faults, check the token (webhook and interaction routes need none), count the
call against its rate-limit bucket, run the handler, and render an ``ApiError`` as Discord's
JSON error. Handlers change the world and dispatch what Discord would dispatch.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import TYPE_CHECKING, Any

from aiohttp import web
from attrs import define

from discord_sim import interactions
from discord_sim.errors import (
    CANNOT_EDIT_OTHERS,
    INVALID_JSON,
    MISSING_ACCESS,
    NON_TEXT_CHANNEL,
    OLD_MESSAGE_EDITS,
    UNKNOWN_CHANNEL,
    UNKNOWN_COMMAND,
    UNKNOWN_GUILD,
    UNKNOWN_INTERACTION,
    UNKNOWN_MEMBER,
    UNKNOWN_MESSAGE,
    UNKNOWN_USER,
    ApiError,
    FormErrors,
    not_found,
)
from discord_sim.faults import FailedCall
from discord_sim.limits import check_message
from discord_sim.ratelimit import Verdict
from discord_sim.world import MESSAGEABLE_TYPES, SUPPRESS_EMBEDS, Json, SimChannel, SimGuild, snowflake_ms

if TYPE_CHECKING:
    from discord_sim.server import DiscordSim

NONCE_WINDOW_MS = 5 * 60 * 1000  # Discord: a nonce is unique "in the past few minutes"
API = "/api/v10"
SUPPRESS_NOTIFICATIONS = 1 << 12
REPLY = 19
COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")
MAX_COMMANDS = 100
TOKEN_ROUTES = ("/webhooks/", "/interactions/")


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


class Rest:
    def __init__(self, sim: DiscordSim) -> None:
        self.sim = sim
        self.world = sim.world
        self._nonces: dict[str, tuple[int, int, int]] = {}  # nonce -> channel, message, when (ms)

    # -- plumbing -------------------------------------------------------------------------------

    def install(self, app: web.Application) -> None:
        r = app.router
        routes: list[tuple[str, str, Any]] = [
            ("GET", "/gateway", self.gateway),
            ("GET", "/gateway/bot", self.gateway_bot),
            ("GET", "/users/@me", self.users_me),
            ("GET", "/users/{user_id}", self.get_user),
            ("GET", "/oauth2/applications/@me", self.application),
            ("GET", "/applications/@me", self.application),
            ("GET", "/channels/{channel_id}", self.get_channel),
            ("GET", "/channels/{channel_id}/messages", self.list_messages),
            ("POST", "/channels/{channel_id}/messages", self.create_message),
            ("POST", "/channels/{channel_id}/messages/bulk-delete", self.bulk_delete),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self.get_message),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self.edit_message),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self.delete_message),
            ("POST", "/channels/{channel_id}/typing", self.typing),
            ("GET", "/guilds/{guild_id}", self.get_guild),
            ("GET", "/guilds/{guild_id}/channels", self.guild_channels),
            ("GET", "/guilds/{guild_id}/roles", self.guild_roles),
            ("GET", "/guilds/{guild_id}/members", self.list_members),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self.get_member),
            ("POST", "/interactions/{interaction_id}/{token}/callback", self.interaction_callback),
            ("POST", "/webhooks/{application_id}/{token}", self.followup),
            ("GET", "/webhooks/{application_id}/{token}/messages/{message_id}", self.webhook_message),
            ("PATCH", "/webhooks/{application_id}/{token}/messages/{message_id}", self.edit_webhook_message),
            (
                "DELETE",
                "/webhooks/{application_id}/{token}/messages/{message_id}",
                self.delete_webhook_message,
            ),
        ]
        for scope in ("", "/guilds/{guild_id}"):
            base = "/applications/{application_id}" + scope + "/commands"
            routes += [
                ("GET", base, self.list_commands),
                ("PUT", base, self.overwrite_commands),
                ("POST", base, self.create_command),
                ("GET", base + "/{command_id}", self.get_command),
                ("PATCH", base + "/{command_id}", self.edit_command),
                ("DELETE", base + "/{command_id}", self.delete_command),
            ]
        for method, path, handler in routes:
            r.add_route(method, API + path, handler)
        r.add_route("*", API + "/{tail:.*}", self.not_found)
        r.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self.attachment)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith(API + "/"):
            return await handler(request)
        path = request.path[len(API) :]
        canonical = request.match_info.route.resource.canonical if request.match_info.route.resource else ""
        template = canonical[len(API) :] if "{tail}" not in canonical else path
        route = f"{request.method} {template}"
        try:
            request[BODY], request[FILES] = await _parse_body(request)
        except ApiError as exc:
            self.world.rest_calls.append((request.method, request.path, None))
            return json_response(exc.body(), exc.status)
        self.world.rest_calls.append((request.method, request.path, request[BODY]))
        faults = self.sim.faults
        if faults.delay:
            await asyncio.sleep(faults.delay)
        injected = faults.before_call(request.method, route, path)
        if isinstance(injected, FailedCall):
            if injected.content_type == "application/json":
                return json_response(injected.body, injected.status)
            return web.Response(
                text=injected.body, status=injected.status, content_type=injected.content_type
            )
        if isinstance(injected, Verdict):
            return self._too_many(injected)
        token_route = template.startswith(TOKEN_ROUTES)
        needs_auth = not token_route and template != "/gateway"
        if needs_auth and request.headers.get("Authorization") != f"Bot {self.sim.token}":
            return json_response({"message": "401: Unauthorized", "code": 0}, 401)
        major = _major(request.match_info)
        verdict = self.sim.limits.check(route, major, self.world.now_ms() / 1000, exempt_global=token_route)
        if not verdict.allowed:
            return self._too_many(verdict)
        try:
            response = await handler(request)
        except ApiError as exc:
            response = json_response(exc.body(), exc.status)
        response.headers.update(verdict.headers)
        response.headers["Via"] = "1.1 google"
        return response

    @staticmethod
    def _too_many(verdict: Verdict) -> web.Response:
        # disnake treats a 429 without ``Via`` as a Cloudflare ban, as Discord's edge sets it.
        return json_response(verdict.body(), 429, verdict.headers | {"Via": "1.1 google"})

    def _channel(self, request: web.Request) -> SimChannel:
        channel = self.world.channel(_int(request.match_info["channel_id"]))
        if channel is None:
            raise not_found(UNKNOWN_CHANNEL, "Channel")
        return channel

    def _guild(self, request: web.Request) -> SimGuild:
        guild = self.world.guilds.get(_int(request.match_info["guild_id"]))
        if guild is None:
            raise not_found(UNKNOWN_GUILD, "Guild")
        return guild

    def _message(self, request: web.Request) -> tuple[SimChannel, Json]:
        channel = self._channel(request)
        message = self.world.message(channel.channel_id, _int(request.match_info["message_id"]))
        if message is None:
            raise not_found(UNKNOWN_MESSAGE, "Message")
        return channel, message

    def _uploads(
        self, request: web.Request, channel_id: int, existing: list[Json] | None
    ) -> list[Json] | None:
        """The message's attachments after this call; None: unchanged (an edit without any)."""
        body: Json = request[BODY] or {}
        files: list[Upload] = request[FILES]
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
                "content_type": upload.content_type,
            }
            if described.get(str(upload.index)):
                attachment["description"] = described[str(upload.index)]
            result.append(attachment)
        return result

    # -- gateway, users, application ------------------------------------------------------------

    async def gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.sim.gateway_url})

    async def gateway_bot(self, request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return json_response({"url": self.sim.gateway_url, "shards": 1, "session_start_limit": limit})

    async def users_me(self, request: web.Request) -> web.Response:
        return json_response(
            self.world.bot.user_payload() | {"verified": True, "mfa_enabled": False, "flags": 0}
        )

    async def get_user(self, request: web.Request) -> web.Response:
        user = self.world.user(_int(request.match_info["user_id"]))
        if user is None:
            raise not_found(UNKNOWN_USER, "User")
        return json_response(user.user_payload())

    async def application(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "id": str(self.world.application_id),
                "name": self.world.bot.username,
                "icon": None,
                "description": "",
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": self.world.bot.user_payload(),
                "team": None,
                "verify_key": "0" * 64,
                "flags": 0,
                "summary": "",
                "bot": self.world.bot.user_payload(),
            }
        )

    async def not_found(self, request: web.Request) -> web.Response:
        return json_response({"message": "404: Not Found", "code": 0}, 404)

    async def attachment(self, request: web.Request) -> web.Response:
        data = self.world.attachments.get(_int(request.match_info["attachment_id"]))
        if data is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=data, content_type="application/octet-stream")

    # -- channels and messages ------------------------------------------------------------------

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
            referenced = world.message(channel.channel_id, _int(str(reference["message_id"])))
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
        return json_response(self._message(request)[1])

    async def edit_message(self, request: web.Request) -> web.Response:
        channel, message = self._message(request)
        if message["author"]["id"] != str(self.world.bot.user_id):
            raise ApiError(403, CANNOT_EDIT_OTHERS, "Cannot edit a message authored by another user")
        body: Json = request[BODY] or {}
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
        del self.world.messages[channel.channel_id][int(message["id"])]
        self.sim.dispatch(
            "MESSAGE_DELETE",
            {"id": message["id"], "channel_id": message["channel_id"], "guild_id": message["guild_id"]},
        )
        return no_content()

    async def bulk_delete(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        ids = [_int(str(i)) for i in (request[BODY] or {}).get("messages", [])]
        if not 2 <= len(ids) <= 100:
            errors = FormErrors()
            errors.add(("messages",), "BASE_TYPE_BAD_LENGTH", "Must be between 2 and 100 in length.")
            errors.raise_if_any()
        self.sim.delete_messages(channel, ids)
        return no_content()

    async def typing(self, request: web.Request) -> web.Response:
        self._channel(request)
        return no_content()

    # -- guilds and members ---------------------------------------------------------------------

    async def get_guild(self, request: web.Request) -> web.Response:
        guild = self._guild(request)
        payload = guild.payload()
        if request.query.get("with_counts") == "true":
            payload |= {"approximate_member_count": len(guild.members), "approximate_presence_count": 0}
        return json_response(payload)

    async def guild_channels(self, request: web.Request) -> web.Response:
        guild = self._guild(request)
        return json_response([c.payload() for c in guild.channels.values() if c.type not in (10, 11, 12)])

    async def guild_roles(self, request: web.Request) -> web.Response:
        return json_response([self._guild(request).role_everyone()])

    async def list_members(self, request: web.Request) -> web.Response:
        guild = self._guild(request)
        limit = max(1, min(1000, int(request.query.get("limit", 1))))
        after = int(request.query.get("after", 0))
        members = sorted((m for m in guild.members.values() if m.user_id > after), key=lambda m: m.user_id)
        return json_response([m.member_payload() for m in members[:limit]])

    async def get_member(self, request: web.Request) -> web.Response:
        guild = self._guild(request)
        member = guild.members.get(_int(request.match_info["user_id"]))
        if member is None:
            raise not_found(UNKNOWN_MEMBER, "Member")
        return json_response(member.member_payload())

    # -- application commands -------------------------------------------------------------------

    def _command_scope(self, request: web.Request) -> int | None:
        if _int(request.match_info["application_id"]) != self.world.application_id:
            raise ApiError(403, MISSING_ACCESS, "Missing Access")
        if "guild_id" not in request.match_info:
            return None
        return self._guild(request).guild_id

    async def list_commands(self, request: web.Request) -> web.Response:
        scope = self._command_scope(request)
        return json_response(list(self.world.commands.get(scope, {}).values()))

    async def overwrite_commands(self, request: web.Request) -> web.Response:
        scope = self._command_scope(request)
        body = request[BODY]
        if not isinstance(body, list):
            errors = FormErrors()
            errors.add((), "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
            errors.raise_if_any()
        _check_commands(body)
        return json_response(self.world.overwrite_commands(scope, body))

    async def create_command(self, request: web.Request) -> web.Response:
        scope = self._command_scope(request)
        body: Json = request[BODY] or {}
        _check_commands([body])
        current = [c for c in self.world.commands.get(scope, {}).values() if c["name"] != body.get("name")]
        commands = self.world.overwrite_commands(scope, [*current, body])
        created = next(c for c in commands if c["name"] == body["name"])
        return json_response(created, 201)

    def _command(self, request: web.Request) -> tuple[int | None, Json]:
        scope = self._command_scope(request)
        command = self.world.commands.get(scope, {}).get(_int(request.match_info["command_id"]))
        if command is None:
            raise not_found(UNKNOWN_COMMAND, "application command")
        return scope, command

    async def get_command(self, request: web.Request) -> web.Response:
        return json_response(self._command(request)[1])

    async def edit_command(self, request: web.Request) -> web.Response:
        scope, command = self._command(request)
        merged = command | (request[BODY] or {})
        _check_commands([merged])
        self.world.commands[scope][int(command["id"])] = self.world.command_payload(
            int(command["id"]), scope, merged
        )
        return json_response(self.world.commands[scope][int(command["id"])])

    async def delete_command(self, request: web.Request) -> web.Response:
        scope, command = self._command(request)
        del self.world.commands[scope][int(command["id"])]
        return no_content()

    # -- interactions and their webhooks --------------------------------------------------------

    async def interaction_callback(self, request: web.Request) -> web.Response:
        interaction = self.world.interactions.get(_int(request.match_info["interaction_id"]))
        if interaction is None or interaction.token != request.match_info["token"]:
            raise ApiError(404, UNKNOWN_INTERACTION, "Unknown interaction")
        attachments = self._uploads(request, interaction.channel_id, None) or []
        events = interactions.callback(
            self.world, self.sim.limits, interaction, request[BODY] or {}, attachments
        )
        self._dispatch(events)
        if request.query.get("with_response") != "true":
            return no_content()
        resource: Json = {"type": interaction.response_type}
        if interaction.original is not None and interaction.response_type in (4, 7):
            resource["message"] = interaction.original
        return json_response(
            {
                "interaction": {
                    "id": str(interaction.interaction_id),
                    "type": interaction.type,
                    "response_message_id": interaction.original["id"] if interaction.original else None,
                    "response_message_loading": interaction.response_type == 5,
                    "response_message_ephemeral": interaction.ephemeral,
                },
                "resource": resource,
            }
        )

    def _webhook(self, request: web.Request) -> interactions.SimInteraction:
        return interactions.webhook_interaction(
            self.world, _int(request.match_info["application_id"]), request.match_info["token"]
        )

    async def followup(self, request: web.Request) -> web.Response:
        interaction = self._webhook(request)
        attachments = self._uploads(request, interaction.channel_id, None) or []
        message, events = interactions.followup(
            self.world, self.sim.limits, interaction, request[BODY] or {}, attachments
        )
        self._dispatch(events)
        return json_response(message)

    async def webhook_message(self, request: web.Request) -> web.Response:
        interaction = self._webhook(request)
        return json_response(
            interactions.webhook_message(
                self.world, self.sim.limits, interaction, request.match_info["message_id"]
            )
        )

    async def edit_webhook_message(self, request: web.Request) -> web.Response:
        interaction = self._webhook(request)
        mid = request.match_info["message_id"]
        current = interactions.webhook_message(self.world, self.sim.limits, interaction, mid)
        attachments = self._uploads(request, interaction.channel_id, current.get("attachments", []))
        message, events = interactions.edit_webhook_message(
            self.world, self.sim.limits, interaction, mid, request[BODY] or {}, attachments
        )
        self._dispatch(events)
        return json_response(message)

    async def delete_webhook_message(self, request: web.Request) -> web.Response:
        interaction = self._webhook(request)
        events = interactions.delete_webhook_message(
            self.world, self.sim.limits, interaction, request.match_info["message_id"]
        )
        self._dispatch(events)
        return no_content()

    def _dispatch(self, events: list[tuple[str, Json]]) -> None:
        for event, payload in events:
            self.sim.dispatch(event, payload)


async def _parse_body(request: web.Request) -> tuple[Any, list[Upload]]:
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


def _int(raw: str) -> int:
    """A snowflake from the path; anything else is an unknown object (404 via the caller)."""
    try:
        return int(raw)
    except ValueError:
        errors = FormErrors()
        errors.add(("id",), "NUMBER_TYPE_COERCE", f'Value "{raw}" is not snowflake.')
        raise ApiError(400, 50035, "Invalid Form Body", errors.errors) from None


def _major(match: Any) -> str:
    """The top-level resource a bucket is counted per: channel, guild, or webhook + token."""
    for key in ("channel_id", "guild_id"):
        if key in match:
            return f"{key}:{match[key]}"
    if "token" in match:
        return f"token:{match.get('application_id') or match.get('interaction_id')}:{match['token']}"
    return ""


def _check_commands(commands: list[Any]) -> None:
    errors = FormErrors()
    if len(commands) > MAX_COMMANDS:
        errors.too_long((), MAX_COMMANDS)
    seen: set[tuple[str, int]] = set()
    for i, command in enumerate(commands):
        if not isinstance(command, dict):
            errors.add((i,), "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        name, kind = command.get("name"), command.get("type", 1)
        if not isinstance(name, str) or not name:
            errors.required((i, "name"))
        elif kind == 1 and (not COMMAND_NAME.match(name) or name != name.lower()):
            errors.add((i, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        elif (name, kind) in seen:
            errors.add((i, "name"), "APPLICATION_COMMANDS_DUPLICATE_NAME", "Command names must be unique")
        else:
            seen.add((name, kind))
        if kind == 1:
            description = command.get("description")
            if not description:
                errors.required((i, "description"))
            elif len(description) > 100:
                errors.too_long((i, "description"), 100)
            if len(command.get("options") or []) > 25:
                errors.too_long((i, "options"), 25)
    errors.raise_if_any()
