"""Interactions: building INTERACTION_CREATE payloads and answering the bot's responses.

Pure functions over the ``World``: they change state and return the gateway events Discord
would send as a result (``[(event, payload)]``); the server dispatches them. Rules follow
https://discord.com/developers/docs/interactions/receiving-and-responding:

- the first response must come within 3 s (else 404 10062 Unknown interaction), and only once
  (else 400 40060); the token then works for 15 min (else 401 50027);
- 4 sends a message, 5 a "thinking" message (flag LOADING) to fill later, 6 and 7 are for
  components only (defer, or update the component's message);
- ephemeral messages (flag 64) are seen only by the user: they never reach the channel's
  messages nor the gateway, but stay inspectable on the ``SimInteraction``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from discord_sim.errors import (
    ALREADY_ACKNOWLEDGED,
    INVALID_WEBHOOK_TOKEN,
    UNKNOWN_INTERACTION,
    UNKNOWN_MESSAGE,
    UNKNOWN_WEBHOOK,
    ApiError,
    FormErrors,
    not_found,
)
from discord_sim.limits import check_message
from discord_sim.ratelimit import RateLimits
from discord_sim.world import (
    CHAT_INPUT_COMMAND,
    DEFAULT_MESSAGE,
    EPHEMERAL,
    EVERYONE_PERMISSIONS,
    LOADING,
    Json,
    SimChannel,
    SimGuild,
    SimInteraction,
    SimMember,
    World,
)

APPLICATION_COMMAND, MESSAGE_COMPONENT = 2, 3
MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE = 4, 5, 6, 7
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER = 3, 4, 5, 6, 7, 8, 9, 10
ADMINISTRATOR = 1 << 3
BOT_PERMISSIONS = str((1 << 41) - 1 & ~ADMINISTRATOR)

Events = list[tuple[str, Json]]


# -- creating interactions ----------------------------------------------------------------------


def command_interaction(
    world: World,
    guild: SimGuild,
    member: SimMember,
    channel: SimChannel,
    name: str,
    options: Mapping[str, Any] | None = None,
    *,
    permissions: str | int | None = None,
    kind: int = 1,
) -> SimInteraction:
    """A member runs ``/name`` (``"group sub"`` for subcommands) with ``options``.

    The command must be registered (guild or global), and the member must hold its
    ``default_member_permissions``: Discord does not show a command to anyone else.
    """
    words = name.split()
    command = world.find_command(guild.guild_id, words[0], kind)
    if command is None:
        raise LookupError(f"no command {words[0]!r} registered for guild {guild.guild_id} or globally")
    perms = str(permissions if permissions is not None else EVERYONE_PERMISSIONS)
    required = command.get("default_member_permissions")
    if required is not None and not int(perms) & ADMINISTRATOR and int(required) & ~int(perms):
        raise PermissionError(f"{member.username} lacks permissions {required} for /{words[0]}")
    resolved: Json = {}
    data: Json = {"id": command["id"], "name": command["name"], "type": kind}
    if command.get("guild_id"):
        data["guild_id"] = command["guild_id"]
    built = _options(world, guild, command.get("options") or [], words[1:], options or {}, resolved)
    if built:
        data["options"] = built
    if resolved:
        data["resolved"] = resolved
    return _create(world, APPLICATION_COMMAND, guild, member, channel, data, perms)


def component_interaction(
    world: World,
    guild: SimGuild,
    member: SimMember,
    message: Json,
    custom_id: str,
    *,
    values: list[str] | None = None,
    permissions: str | int | None = None,
) -> SimInteraction:
    """A member clicks the button (or picks ``values`` in the select) ``custom_id`` on ``message``."""
    component = next(
        (
            c
            for row in message.get("components", [])
            for c in row.get("components", [])
            if c.get("custom_id") == custom_id
        ),
        None,
    )
    if component is None:
        raise LookupError(f"message {message['id']} has no component {custom_id!r}")
    if component.get("disabled"):
        raise PermissionError(f"component {custom_id!r} is disabled")
    channel = world.channel(int(message["channel_id"]))
    if channel is None:
        raise LookupError(f"channel {message['channel_id']} is gone")
    data: Json = {"custom_id": custom_id, "component_type": component.get("type", 2)}
    if values is not None:
        data["values"] = values
    perms = str(permissions if permissions is not None else EVERYONE_PERMISSIONS)
    interaction = _create(world, MESSAGE_COMPONENT, guild, member, channel, data, perms)
    interaction.payload["message"] = message
    interaction.message_id = int(message["id"])
    return interaction


def _create(
    world: World,
    kind: int,
    guild: SimGuild,
    member: SimMember,
    channel: SimChannel,
    data: Json,
    permissions: str,
) -> SimInteraction:
    interaction_id = world.new_id()
    token = "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)
    payload: Json = {
        "id": str(interaction_id),
        "application_id": str(world.application_id),
        "type": kind,
        "data": data,
        "guild_id": str(guild.guild_id),
        "guild": {"id": str(guild.guild_id), "locale": "en-US", "features": []},
        "channel_id": str(channel.channel_id),
        "channel": channel.payload() | {"permissions": permissions},
        "member": member.member_payload() | {"permissions": permissions},
        "token": token,
        "version": 1,
        "app_permissions": BOT_PERMISSIONS,
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(guild.guild_id)},
        "context": 0,
        "attachment_size_limit": 10 * 1024 * 1024,
    }
    return world.add_interaction(
        SimInteraction(
            interaction_id,
            token,
            kind,
            payload,
            world.now_ms(),
            channel.channel_id,
            guild.guild_id,
            member.user_id,
        )
    )


def _options(
    world: World,
    guild: SimGuild,
    definitions: list[Json],
    path: list[str],
    given: Mapping[str, Any],
    resolved: Json,
) -> list[Json]:
    if path:
        sub = next((d for d in definitions if d["name"] == path[0]), None)
        if sub is None or sub.get("type") not in (SUB_COMMAND, SUB_COMMAND_GROUP):
            raise LookupError(f"no subcommand {path[0]!r}")
        inner = _options(world, guild, sub.get("options") or [], path[1:], given, resolved)
        return [{"name": sub["name"], "type": sub["type"], "options": inner}]
    by_name = {d["name"]: d for d in definitions}
    unknown = set(given) - set(by_name)
    if unknown:
        raise LookupError(f"unknown options {sorted(unknown)}")
    missing = [d["name"] for d in definitions if d.get("required") and d["name"] not in given]
    if missing:
        raise ValueError(f"required options missing: {missing}")
    return [
        {
            "name": name,
            "type": by_name[name]["type"],
            "value": _value(world, guild, by_name[name], v, resolved),
        }
        for name, v in given.items()
    ]


def _value(world: World, guild: SimGuild, definition: Json, value: Any, resolved: Json) -> Any:
    kind = definition["type"]
    if kind == INTEGER:
        return int(value)
    if kind == NUMBER:
        return float(value)
    if kind == BOOLEAN:
        return bool(value)
    if kind in (USER, MENTIONABLE) and (isinstance(value, SimMember) or world.user(int(value))):
        member = value if isinstance(value, SimMember) else world.user(int(value))
        assert member is not None
        uid = str(member.user_id)
        resolved.setdefault("users", {})[uid] = member.user_payload()
        if member.user_id in guild.members:
            resolved.setdefault("members", {})[uid] = member.member_payload(with_user=False) | {
                "permissions": EVERYONE_PERMISSIONS
            }
        return uid
    if kind == CHANNEL:
        channel = value if isinstance(value, SimChannel) else world.channel(int(value))
        if channel is None:
            raise LookupError(f"no channel {value}")
        resolved.setdefault("channels", {})[str(channel.channel_id)] = channel.payload() | {
            "permissions": EVERYONE_PERMISSIONS
        }
        return str(channel.channel_id)
    if kind in (ROLE, MENTIONABLE):
        resolved.setdefault("roles", {})[str(guild.guild_id)] = guild.role_everyone()
        return str(value)
    return str(value)


# -- answering ----------------------------------------------------------------------------------


def callback(
    world: World, limits: RateLimits, interaction: SimInteraction, body: Json, attachments: list[Json]
) -> Events:
    """``POST /interactions/{id}/{token}/callback``: the bot's first answer."""
    age = (world.now_ms() - interaction.created_ms) / 1000
    if limits.interaction_ack_seconds is not None and age > limits.interaction_ack_seconds:
        raise ApiError(404, UNKNOWN_INTERACTION, "Unknown interaction")
    if interaction.answered:
        raise ApiError(400, ALREADY_ACKNOWLEDGED, "Interaction has already been acknowledged.")
    kind = body.get("type")
    data = body.get("data") or {}
    allowed = {MESSAGE, DEFERRED_MESSAGE} | (
        {DEFERRED_UPDATE, UPDATE_MESSAGE} if interaction.type == MESSAGE_COMPONENT else set()
    )
    if kind not in allowed:
        errors = FormErrors()
        errors.add(("type",), "BASE_TYPE_CHOICES", f"Value must be one of {sorted(allowed)}.")
        errors.raise_if_any()
    events: Events = []
    if kind == MESSAGE:
        check_message(data, files=len(attachments))
        interaction.original = _response_message(world, interaction, data, attachments)
        events += _publish(world, interaction.original)
    elif kind == DEFERRED_MESSAGE:
        flags = LOADING | (int(data.get("flags") or 0) & EPHEMERAL)
        interaction.original = _response_message(world, interaction, {"flags": flags}, [])
        events += _publish(world, interaction.original)
    elif kind == DEFERRED_UPDATE:
        interaction.original = _component_message(world, interaction)
    else:
        message = _component_message(world, interaction)
        check_message(data, files=len(attachments), existing=message)
        world.apply_edit(message, data, attachments or None)
        interaction.original = message
        events.append(("MESSAGE_UPDATE", message))
    interaction.callbacks.append(body)
    interaction.response_type = kind
    return events


def webhook_interaction(world: World, application_id: int, token: str) -> SimInteraction:
    """The interaction behind ``/webhooks/{application_id}/{token}``, if its token still works."""
    interaction = world.interaction_by_token(token)
    if interaction is None or application_id != world.application_id:
        raise not_found(UNKNOWN_WEBHOOK, "Webhook")
    return interaction


def _check_token(world: World, limits: RateLimits, interaction: SimInteraction) -> None:
    if (world.now_ms() - interaction.created_ms) / 1000 > limits.interaction_token_seconds:
        raise ApiError(401, INVALID_WEBHOOK_TOKEN, "Invalid Webhook Token")


def webhook_message(world: World, limits: RateLimits, interaction: SimInteraction, message_id: str) -> Json:
    _check_token(world, limits, interaction)
    if message_id == "@original":
        if interaction.original is None:
            raise not_found(UNKNOWN_MESSAGE, "Message")
        return interaction.original
    for message in interaction.followups:
        if message["id"] == message_id:
            return message
    raise not_found(UNKNOWN_MESSAGE, "Message")


def edit_webhook_message(
    world: World,
    limits: RateLimits,
    interaction: SimInteraction,
    message_id: str,
    body: Json,
    attachments: list[Json] | None,
) -> tuple[Json, Events]:
    message = webhook_message(world, limits, interaction, message_id)
    check_message(body, files=len(attachments or []), existing=message)
    world.apply_edit(message, body, attachments)
    return message, _republish(world, message)


def delete_webhook_message(
    world: World, limits: RateLimits, interaction: SimInteraction, message_id: str
) -> Events:
    message = webhook_message(world, limits, interaction, message_id)
    channel_messages = world.messages.get(int(message["channel_id"]), {})
    if message_id == "@original":
        interaction.original = None
    else:
        interaction.followups.remove(message)
    if channel_messages.pop(int(message["id"]), None) is None:
        return []
    return [("MESSAGE_DELETE", _deleted(message))]


def followup(
    world: World, limits: RateLimits, interaction: SimInteraction, body: Json, attachments: list[Json]
) -> tuple[Json, Events]:
    _check_token(world, limits, interaction)
    if not interaction.answered:
        raise not_found(UNKNOWN_WEBHOOK, "Webhook")
    check_message(body, files=len(attachments))
    message = _response_message(world, interaction, body, attachments, message_type=DEFAULT_MESSAGE)
    interaction.followups.append(message)
    return message, _publish(world, message)


def _response_message(
    world: World,
    interaction: SimInteraction,
    data: Json,
    attachments: list[Json],
    *,
    message_type: int | None = None,
) -> Json:
    channel = world.channel(interaction.channel_id)
    assert channel is not None
    if message_type is None:
        message_type = CHAT_INPUT_COMMAND if interaction.type == APPLICATION_COMMAND else DEFAULT_MESSAGE
    message = world.message_payload(
        channel,
        world.bot,
        data.get("content") or "",
        message_type=message_type,
        embeds=data.get("embeds"),
        webhook_id=world.application_id,
    )
    user = interaction.payload["member"]["user"]
    message |= {
        "application_id": str(world.application_id),
        "attachments": attachments,
        "components": data.get("components") or [],
        "flags": int(data.get("flags") or 0),
        "interaction_metadata": {
            "id": str(interaction.interaction_id),
            "type": interaction.type,
            "user": user,
            "authorizing_integration_owners": interaction.payload["authorizing_integration_owners"],
        },
    }
    if interaction.type == APPLICATION_COMMAND:
        name = interaction.payload["data"]["name"]
        message["interaction_metadata"]["name"] = name
        message["interaction"] = {
            "id": str(interaction.interaction_id),
            "type": interaction.type,
            "name": name,
            "user": user,
        }
    return message


def _component_message(world: World, interaction: SimInteraction) -> Json:
    message_id = interaction.message_id
    message = (
        world.message(interaction.channel_id, message_id) or world.ephemeral.get(message_id)
        if message_id
        else None
    )
    if message is None:
        raise not_found(UNKNOWN_MESSAGE, "Message")
    return message


def _publish(world: World, message: Json) -> Events:
    if message["flags"] & EPHEMERAL:
        world.ephemeral[int(message["id"])] = message
        return []
    world.store_message(message)
    return [("MESSAGE_CREATE", message)]


def _republish(world: World, message: Json) -> Events:
    if message.get("flags", 0) & EPHEMERAL:
        return []
    return [("MESSAGE_UPDATE", message)]


def _deleted(message: Json) -> Json:
    return {"id": message["id"], "channel_id": message["channel_id"], "guild_id": message["guild_id"]}
