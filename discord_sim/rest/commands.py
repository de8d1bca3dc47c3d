"""Application commands, global and per guild, with Discord's validation of names and sizes."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from discord_sim.errors import MISSING_ACCESS, UNKNOWN_COMMAND, ApiError, FormErrors, not_found
from discord_sim.rest.base import BODY, Resource, json_response, no_content, path_id
from discord_sim.world import Json

COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")
MAX_COMMANDS = 100


class Commands(Resource):
    def _command_scope(self, request: web.Request) -> int | None:
        if path_id(request.match_info["application_id"]) != self.world.application_id:
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
        command = self.world.commands.get(scope, {}).get(path_id(request.match_info["command_id"]))
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
