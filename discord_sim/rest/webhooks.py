"""Interaction callbacks and the webhook routes behind them (the token routes: no bot token).

The rules for answering an interaction live in ``discord_sim.interactions``; these handlers parse
the call, apply them, and dispatch what they return.
"""

from __future__ import annotations

from aiohttp import web

from discord_sim import interactions
from discord_sim.errors import UNKNOWN_INTERACTION, ApiError
from discord_sim.rest.base import BODY, Resource, json_response, no_content, path_id
from discord_sim.world import Json


class Webhooks(Resource):
    async def interaction_callback(self, request: web.Request) -> web.Response:
        interaction = self.world.interactions.get(path_id(request.match_info["interaction_id"]))
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
            self.world, path_id(request.match_info["application_id"]), request.match_info["token"]
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
