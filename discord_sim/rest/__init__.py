"""The REST API: the routes a bot uses, with Discord's errors, limits and rate-limit headers.

The route table in ``Rest.install`` is the index: every route and the resource that answers it
(``messages``, ``guilds`` for guilds, members, users and the application, ``commands``,
``webhooks`` for interaction callbacks and their webhooks). One middleware does what every call
shares, in Discord's order: parse the body (JSON, or multipart with ``payload_json`` and
``files[n]``), record the call in ``world.rest_calls``, apply injected faults, check the token
(webhook and interaction routes need none), count the call against its rate-limit bucket, run
the handler, render an ``ApiError`` as Discord's JSON error, and hold the answer if a fault
says so. Handlers change the world and
dispatch what Discord would dispatch.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web

from discord_sim.errors import ApiError
from discord_sim.faults import FailedCall
from discord_sim.ratelimit import Verdict
from discord_sim.rest.base import API, BODY, FILES, TOKEN_ROUTES, json_response, major_of, parse_body
from discord_sim.rest.commands import Commands
from discord_sim.rest.guilds import Guilds
from discord_sim.rest.messages import Messages
from discord_sim.rest.webhooks import Webhooks

if TYPE_CHECKING:
    from discord_sim.server import DiscordSim

__all__ = ["API", "Rest"]


class Rest:
    def __init__(self, sim: DiscordSim) -> None:
        self.sim = sim
        self.world = sim.world
        self.messages = Messages(sim)
        self.guilds = Guilds(sim)
        self.commands = Commands(sim)
        self.webhooks = Webhooks(sim)

    # -- the index ------------------------------------------------------------------------------

    def install(self, app: web.Application) -> None:
        r = app.router
        guilds, messages, commands, webhooks = self.guilds, self.messages, self.commands, self.webhooks
        routes: list[tuple[str, str, Any]] = [
            ("GET", "/gateway", guilds.gateway),
            ("GET", "/gateway/bot", guilds.gateway_bot),
            ("GET", "/users/@me", guilds.users_me),
            ("GET", "/users/{user_id}", guilds.get_user),
            ("GET", "/oauth2/applications/@me", guilds.application),
            ("GET", "/applications/@me", guilds.application),
            ("GET", "/channels/{channel_id}", messages.get_channel),
            ("GET", "/channels/{channel_id}/messages", messages.list_messages),
            ("POST", "/channels/{channel_id}/messages", messages.create_message),
            ("POST", "/channels/{channel_id}/messages/bulk-delete", messages.bulk_delete),
            ("GET", "/channels/{channel_id}/messages/{message_id}", messages.get_message),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", messages.edit_message),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", messages.delete_message),
            ("POST", "/channels/{channel_id}/typing", messages.typing),
            ("GET", "/guilds/{guild_id}", guilds.get_guild),
            ("GET", "/guilds/{guild_id}/channels", guilds.guild_channels),
            ("GET", "/guilds/{guild_id}/roles", guilds.guild_roles),
            ("GET", "/guilds/{guild_id}/members", guilds.list_members),
            ("GET", "/guilds/{guild_id}/members/{user_id}", guilds.get_member),
            ("POST", "/interactions/{interaction_id}/{token}/callback", webhooks.interaction_callback),
            ("POST", "/webhooks/{application_id}/{token}", webhooks.followup),
            ("GET", "/webhooks/{application_id}/{token}/messages/{message_id}", webhooks.webhook_message),
            (
                "PATCH",
                "/webhooks/{application_id}/{token}/messages/{message_id}",
                webhooks.edit_webhook_message,
            ),
            (
                "DELETE",
                "/webhooks/{application_id}/{token}/messages/{message_id}",
                webhooks.delete_webhook_message,
            ),
        ]
        for scope in ("", "/guilds/{guild_id}"):
            base = "/applications/{application_id}" + scope + "/commands"
            routes += [
                ("GET", base, commands.list_commands),
                ("PUT", base, commands.overwrite_commands),
                ("POST", base, commands.create_command),
                ("GET", base + "/{command_id}", commands.get_command),
                ("PATCH", base + "/{command_id}", commands.edit_command),
                ("DELETE", base + "/{command_id}", commands.delete_command),
            ]
        for method, path, handler in routes:
            r.add_route(method, API + path, handler)
        r.add_route("*", API + "/{tail:.*}", self.not_found)
        r.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", messages.attachment)
        r.add_get("/avatars/{user_id}/{file}", messages.avatar)

    # -- the middleware -------------------------------------------------------------------------

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith(API + "/"):
            return await handler(request)
        path = request.path[len(API) :]
        canonical = request.match_info.route.resource.canonical if request.match_info.route.resource else ""
        template = canonical[len(API) :] if "{tail}" not in canonical else path
        route = f"{request.method} {template}"
        try:
            request[BODY], request[FILES] = await parse_body(request)
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
            return self._too_many(self.sim.limits.as_route_429(injected, route, self.world.now_ms() / 1000))
        token_route = template.startswith(TOKEN_ROUTES)
        needs_auth = not token_route and template != "/gateway"
        if needs_auth and request.headers.get("Authorization") != f"Bot {self.sim.token}":
            return json_response({"message": "401: Unauthorized", "code": 0}, 401)
        major = major_of(request.match_info)
        verdict = self.sim.limits.check(route, major, self.world.now_ms() / 1000, exempt_global=token_route)
        if not verdict.allowed:
            return self._too_many(verdict)
        try:
            response = await handler(request)
        except ApiError as exc:
            response = json_response(exc.body(), exc.status)
        if held := faults.after_call(request.method, route, path):
            await asyncio.sleep(held)
        response.headers.update(verdict.headers)
        response.headers["Via"] = "1.1 google"
        return response

    @staticmethod
    def _too_many(verdict: Verdict) -> web.Response:
        # disnake treats a 429 without ``Via`` as a Cloudflare ban, as Discord's edge sets it.
        return json_response(verdict.body(), 429, verdict.headers | {"Via": "1.1 google"})

    async def not_found(self, request: web.Request) -> web.Response:
        return json_response({"message": "404: Not Found", "code": 0}, 404)
