"""Discord's message limits, checked the way the API checks them (pure; no I/O).

Limits from https://discord.com/developers/docs/resources/message#embed-object-embed-limits:
title 256, description 4096, 25 fields, field name 256 and value 1024, footer text 2048,
author name 256, 6000 characters across every embed of a message, 10 embeds, content 2000.
A violation raises ``ApiError`` 400 with code 50035 and the offending path under ``errors``.
"""

from __future__ import annotations

from typing import Any

from discord_sim.errors import EMPTY_MESSAGE, ApiError, FormErrors

Json = dict[str, Any]

CONTENT = 2000
NONCE = 25  # characters of a message nonce
EMBEDS = 10
TITLE = 256
DESCRIPTION = 4096
FIELDS = 25
FIELD_NAME = 256
FIELD_VALUE = 1024
FOOTER = 2048
AUTHOR = 256
EMBED_TOTAL = 6000
MAX_COLOR = 0xFFFFFF
ACTION_ROWS = 5
ROW_COMPONENTS = 5
CUSTOM_ID = 100
BUTTON_LABEL = 80
URL_SCHEMES = ("http://", "https://", "attachment://")


def check_message(body: Json, *, files: int = 0, existing: Json | None = None) -> None:
    """Raise ``ApiError`` if ``body`` (a create, or an edit of ``existing``) breaks a limit."""
    errors = FormErrors()
    content = body.get("content")
    if content is not None:
        if not isinstance(content, str):
            errors.add(("content",), "STRING_TYPE_CONVERT", "Could not interpret value as string.")
        elif len(content) > CONTENT:
            errors.too_long(("content",), CONTENT)
    embeds = body.get("embeds")
    if embeds is not None:
        check_embeds(embeds, errors)
    components = body.get("components")
    if components is not None:
        check_components(components, errors)
    nonce = body.get("nonce")
    if isinstance(nonce, str) and len(nonce) > NONCE:
        errors.too_long(("nonce",), NONCE)
    elif nonce is not None and not isinstance(nonce, str | int):
        errors.add(("nonce",), "STRING_TYPE_CONVERT", "Could not interpret value as string.")
    errors.raise_if_any()
    if _is_empty(body, files, existing):
        raise ApiError(400, EMPTY_MESSAGE, "Cannot send an empty message")


def check_embeds(embeds: Any, errors: FormErrors) -> None:
    if not isinstance(embeds, list):
        errors.add(("embeds",), "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
        return
    if len(embeds) > EMBEDS:
        errors.too_long(("embeds",), EMBEDS)
        return
    total = 0
    for i, embed in enumerate(embeds):
        path: tuple[str | int, ...] = ("embeds", i)
        if not isinstance(embed, dict):
            errors.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        total += _check_embed(embed, path, errors)
        if total > EMBED_TOTAL:
            errors.add(path, "MAX_EMBED_SIZE_EXCEEDED", f"Embed size exceeds maximum size of {EMBED_TOTAL}")
            return


def _check_embed(embed: Json, path: tuple[str | int, ...], errors: FormErrors) -> int:
    """Check one embed; return the characters it counts towards the 6000 total."""
    size = 0
    for key, limit in (("title", TITLE), ("description", DESCRIPTION)):
        size += _text(embed.get(key), (*path, key), limit, errors)
    footer, author = embed.get("footer"), embed.get("author")
    if footer is not None:
        size += _required_text(footer, "text", (*path, "footer"), FOOTER, errors)
    if author is not None:
        size += _required_text(author, "name", (*path, "author"), AUTHOR, errors)
    fields = embed.get("fields") or []
    if len(fields) > FIELDS:
        errors.too_long((*path, "fields"), FIELDS)
    for j, item in enumerate(fields[:FIELDS]):
        where = (*path, "fields", j)
        size += _required_text(item, "name", where, FIELD_NAME, errors)
        size += _required_text(item, "value", where, FIELD_VALUE, errors)
    color = embed.get("color")
    if color is not None and (not isinstance(color, int) or not 0 <= color <= MAX_COLOR):
        errors.add(
            (*path, "color"),
            "NUMBER_TYPE_MAX",
            f"int value should be less than or equal to {MAX_COLOR}.",
        )
    for key in ("url",):
        _url(embed.get(key), (*path, key), errors)
    for key in ("thumbnail", "image"):
        if isinstance(embed.get(key), dict):
            _url(embed[key].get("url"), (*path, key, "url"), errors)
    return size


def _text(value: Any, path: tuple[str | int, ...], limit: int, errors: FormErrors) -> int:
    if value is None:
        return 0
    text = str(value)
    if len(text) > limit:
        errors.too_long(path, limit)
    return len(text)


def _required_text(parent: Any, key: str, path: tuple[str | int, ...], limit: int, errors: FormErrors) -> int:
    value = parent.get(key) if isinstance(parent, dict) else None
    if value is None or str(value).strip() == "":
        errors.required((*path, key))
        return 0
    return _text(value, (*path, key), limit, errors)


def _url(value: Any, path: tuple[str | int, ...], errors: FormErrors) -> None:
    if value is not None and not (isinstance(value, str) and value.startswith(URL_SCHEMES)):
        errors.add(path, "URL_TYPE_INVALID_URL", "Not a well formed URL.")


def check_components(rows: Any, errors: FormErrors) -> None:
    if not isinstance(rows, list):
        errors.add(("components",), "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
        return
    if len(rows) > ACTION_ROWS:
        errors.too_long(("components",), ACTION_ROWS)
    for i, row in enumerate(rows):
        children = row.get("components") if isinstance(row, dict) else None
        if not isinstance(children, list) or not children:
            errors.required(("components", i, "components"))
            continue
        if len(children) > ROW_COMPONENTS:
            errors.too_long(("components", i, "components"), ROW_COMPONENTS)
        for j, child in enumerate(children):
            where = ("components", i, "components", j)
            custom_id, label = child.get("custom_id"), child.get("label")
            if child.get("type") == 2 and child.get("style") != 5 and not custom_id:
                errors.required((*where, "custom_id"))
            if custom_id is not None and len(str(custom_id)) > CUSTOM_ID:
                errors.too_long((*where, "custom_id"), CUSTOM_ID)
            if label is not None and len(str(label)) > BUTTON_LABEL:
                errors.too_long((*where, "label"), BUTTON_LABEL)


def _is_empty(body: Json, files: int, existing: Json | None) -> bool:
    def present(key: str) -> bool:
        value = body.get(key) if key in body else (existing or {}).get(key)
        return bool(value)

    return not files and not any(
        present(k) for k in ("content", "embeds", "components", "sticker_ids", "poll", "attachments")
    )
