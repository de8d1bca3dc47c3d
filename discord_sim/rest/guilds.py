"""Guilds, members, users, the application and the gateway URL: what a bot reads."""

from __future__ import annotations

from aiohttp import web

from discord_sim.errors import UNKNOWN_MEMBER, UNKNOWN_USER, not_found
from discord_sim.rest.base import Resource, json_response, path_id
from discord_sim.shards import recommended_shards


class Guilds(Resource):
    # -- gateway, users, application ------------------------------------------------------------

    async def gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.sim.gateway_url})

    async def gateway_bot(self, request: web.Request) -> web.Response:
        """The URL, the recommended shard count and the session-start budget (``shards.py``)."""
        gateway = self.sim.gateway
        shards = recommended_shards(len(self.world.guilds), gateway.guilds_per_shard)
        limit = gateway.start_limit.payload(self.world.now_ms())
        return json_response({"url": self.sim.gateway_url, "shards": shards, "session_start_limit": limit})

    async def users_me(self, request: web.Request) -> web.Response:
        return json_response(
            self.world.bot.user_payload() | {"verified": True, "mfa_enabled": False, "flags": 0}
        )

    async def get_user(self, request: web.Request) -> web.Response:
        user = self.world.user(path_id(request.match_info["user_id"]))
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
        member = guild.members.get(path_id(request.match_info["user_id"]))
        if member is None:
            raise not_found(UNKNOWN_MEMBER, "Member")
        return json_response(member.member_payload())
