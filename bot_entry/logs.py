"""Logging: structlog over the standard library, one pipeline for every line, secrets redacted.

Why one pipeline: the code (and disnake, hypercorn) logs through ``logging.getLogger(__name__)``
with %-style messages, fields passed as ``extra={...}``; code that prefers structlog's
``structlog.stdlib.get_logger(name).info("event", key=value)`` gets the same treatment once
``configure_logging`` has run (before that, structlog's defaults print to stdout, so modules that
may run unconfigured, like those the benchmarks import, stay on the standard library). Both end
in the same root handler, whose ``ProcessorFormatter`` adds the timestamp, level, logger name and
the actor context, renders exceptions to text, redacts, and writes one JSON object per line (a
service) or a coloured line (a terminal).

Redaction is done twice, on purpose: every field of the event (exception text and traceback
included) is scrubbed before rendering, and the rendered line is scrubbed again, so a value that
reaches the output some other way (a ``repr`` in the JSON fallback, say) still cannot leak. It
removes the configured token and anything shaped like a Discord token (three base64url parts).

``bind_actor`` puts the actor name and guild id in a context variable, so every line logged by that
Trio task (and by tasks it starts later) carries them, whichever logger wrote it.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

LOG_FORMATS = ("auto", "json", "console")
REDACTED = "[REDACTED]"

# A bot token is base64url(user id) . base64url(timestamp) . HMAC; lengths vary, so be generous.
# JWTs match too, which is fine: they are secrets as well. "mfa." tokens are the old user form.
TOKEN_PATTERN = r"[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}|mfa\.[A-Za-z0-9_-]{20,}"

_HANDLER_MARK = "_leaderboard_handler"


class Redactor:
    """Replaces secrets in text and, recursively, in event fields.

    Holds the configured secrets (``add``) plus the token pattern; shared by every handler so a
    secret added after start-up (the token, once settings are read) is redacted from then on.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern = re.compile(TOKEN_PATTERN)
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        self._secrets.update(s for s in secrets if s)
        # Longest first, so a secret that contains another is replaced whole.
        exact = [re.escape(s) for s in sorted(self._secrets, key=len, reverse=True)]
        self._pattern = re.compile("|".join([*exact, TOKEN_PATTERN]))

    def reset(self) -> None:
        """Forget the configured secrets (tests); the token pattern stays."""
        self._secrets.clear()
        self.add()

    def text(self, value: str) -> str:
        return self._pattern.sub(REDACTED, value)

    def value(self, value: object) -> object:
        """``value`` with secrets removed; containers are rebuilt, other objects judged by repr."""
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, Mapping):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.value(v) for v in value]
        shown = repr(value)
        cleaned = self.text(shown)
        return value if cleaned == shown else cleaned

    def __call__(self, logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
        """The structlog processor: scrub every field (run after exceptions are rendered to text)."""
        return {key: self.value(v) for key, v in event_dict.items()}


# One redactor for the process: logging is process-wide, and so is the set of secrets.
redactor = Redactor()


def add_secret(*secrets: str) -> None:
    """Redact these strings from every log line from now on (empty strings are ignored)."""
    redactor.add(*secrets)


class bind_actor:  # lower case: used like a function, bind_actor("message_counter")
    """Tag this task's log lines with ``actor`` (and ``guild_id``).

    Call it at the top of an actor's task to tag the rest of the task (Trio gives each task its
    own copy of the context, so the tag does not leak to siblings), or use it as a context manager
    to tag a block and restore the previous tags after it.
    """

    def __init__(self, name: str, guild_id: int | None = None) -> None:
        fields: dict[str, object] = {"actor": name}
        if guild_id is not None:
            fields["guild_id"] = guild_id
        self._tokens = structlog.contextvars.bind_contextvars(**fields)

    def __enter__(self) -> bind_actor:
        return self

    def __exit__(self, *exc: object) -> None:
        structlog.contextvars.reset_contextvars(**self._tokens)


def _use_json(fmt: str, stream: TextIO) -> bool:
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format {fmt!r} is not one of {', '.join(LOG_FORMATS)}")
    if fmt != "auto":
        return fmt == "json"
    isatty = getattr(stream, "isatty", None)
    return not (isatty is not None and isatty())


def _redacted_renderer(renderer: Processor) -> Processor:
    """The last processor: render, then scrub the finished line once more (the safety net)."""

    def render(logger: WrappedLogger, method: str, event_dict: EventDict) -> str:
        return redactor.text(str(renderer(logger, method, event_dict)))

    return render


_RECORD_KEYS = {*logging.LogRecord("", 0, "", 0, "", (), None).__dict__, "message", "asctime"}


def _add_extra(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """A standard-library call's ``extra={...}`` fields become event fields."""
    record = event_dict.get("_record")
    if record is not None:
        for key, value in record.__dict__.items():
            if key not in _RECORD_KEYS and not key.startswith("_"):
                event_dict.setdefault(key, value)
    return event_dict


def _shared_processors() -> list[Processor]:
    """Added to structlog events and to standard-library records alike."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure_logging(
    level: str = "INFO",
    fmt: str = "auto",
    *,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
    install_excepthook: bool = True,
) -> logging.Handler:
    """Route every log line (structlog and standard library) through one redacting handler.

    Replaces a handler installed by an earlier call (safe to call again, e.g. in tests), and leaves
    other handlers alone. ``fmt="auto"`` writes JSON lines unless ``stream`` is a terminal.
    Returns the installed handler.
    """
    stream = sys.stderr if stream is None else stream
    add_secret(*secrets)
    renderer: Processor
    if _use_json(fmt, stream):
        renderer = structlog.processors.JSONRenderer(sort_keys=False)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=getattr(stream, "isatty", lambda: False)())
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_shared_processors(), _add_extra],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,  # exceptions become text, so the redactor sees them
            redactor,
            _redacted_renderer(renderer),
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(_not_about_voice_support)
    setattr(handler, _HANDLER_MARK, True)

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    if install_excepthook:
        sys.excepthook = _log_uncaught
        threading.excepthook = _log_uncaught_in_thread
    return handler


def _not_about_voice_support(record: logging.LogRecord) -> bool:
    """Drop disnake's "PyNaCl ... not installed, voice will NOT be supported" warning.

    The bot never joins voice (it only reads voice states), and on a voice-time bot that line
    reads like a fault.
    """
    return not (record.name == "disnake.client" and "voice will NOT be supported" in str(record.msg))


_crash_log = logging.getLogger("bot_entry.crash")


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """Uncaught exceptions go through the redacting pipeline instead of raw to stderr."""
    _crash_log.critical("uncaught exception", exc_info=(kind, exc, tb))


def _log_uncaught_in_thread(args: Any) -> None:
    if args.exc_value is not None:
        _crash_log.critical(
            "uncaught exception in thread %s",
            getattr(args.thread, "name", "?"),
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )
