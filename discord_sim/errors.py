"""Discord's JSON error responses, raised by REST handlers and rendered by one middleware.

Shapes and codes follow https://discord.com/developers/docs/topics/opcodes-and-status-codes
(JSON error codes) and the "Invalid Form Body" format of nested ``errors`` objects.
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

UNKNOWN_CHANNEL = 10003
UNKNOWN_GUILD = 10004
UNKNOWN_MEMBER = 10007
UNKNOWN_MESSAGE = 10008
UNKNOWN_USER = 10013
UNKNOWN_WEBHOOK = 10015
UNKNOWN_INTERACTION = 10062
UNKNOWN_COMMAND = 10063
OLD_MESSAGE_EDITS = 30046
ALREADY_ACKNOWLEDGED = 40060
MISSING_ACCESS = 50001
CANNOT_EDIT_OTHERS = 50005
EMPTY_MESSAGE = 50006
NON_TEXT_CHANNEL = 50008
MISSING_PERMISSIONS = 50013
INVALID_WEBHOOK_TOKEN = 50027
INVALID_FORM_BODY = 50035
INVALID_JSON = 50109


class ApiError(Exception):
    """An HTTP error with Discord's body: ``{"code", "message"[, "errors"]}``."""

    def __init__(self, status: int, code: int, message: str, errors: Json | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> Json:
        body: Json = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


def not_found(code: int, what: str) -> ApiError:
    return ApiError(404, code, f"Unknown {what}")


def form_error(errors: Json) -> ApiError:
    return ApiError(400, INVALID_FORM_BODY, "Invalid Form Body", errors)


class FormErrors:
    """Collects field errors into Discord's nested shape.

    ``add(("embeds", 0, "title"), "BASE_TYPE_MAX_LENGTH", "Must be 256 or fewer in length.")``
    gives ``{"embeds": {"0": {"title": {"_errors": [{"code": ..., "message": ...}]}}}}``.
    """

    def __init__(self) -> None:
        self.errors: Json = {}

    def add(self, path: tuple[str | int, ...], code: str, message: str) -> None:
        node = self.errors
        for key in path:
            node = node.setdefault(str(key), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def too_long(self, path: tuple[str | int, ...], limit: int) -> None:
        self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def required(self, path: tuple[str | int, ...]) -> None:
        self.add(path, "BASE_TYPE_REQUIRED", "This field is required")

    def raise_if_any(self) -> None:
        if self.errors:
            raise form_error(self.errors)
