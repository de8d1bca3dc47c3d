"""Structured logs: one pipeline for stdlib and structlog, actor context, and no token anywhere."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
import warnings

import pytest
import structlog
import trio

from bot_entry.logs import REDACTED, Redactor, bind_actor, configure_logging

CONFIGURED = "configured-secret-token-for-this-test-0123"  # no token shape: only exact match catches it
DISCORD_LIKE = "MTA5ODc2NTQzMjEwOTg3NjU0.GhIjKl.abcdefghijklmnopqrstuvwxyzABCDEFGHIJK"  # a fake, token-shaped
LEAKS = (CONFIGURED, DISCORD_LIKE, "MTA5ODc2NTQzMjEwOTg3NjU0", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJK")


class Leaky:
    def __repr__(self) -> str:
        return f"Leaky(token={CONFIGURED!r})"


def _log_the_token_every_way() -> None:
    std = logging.getLogger("bot_entry.gateway")
    std.warning("connecting with %s", CONFIGURED)
    std.info(f"header Bot {DISCORD_LIKE}")
    std.info("extra field", extra={"auth": CONFIGURED})
    slog = structlog.stdlib.get_logger("bot_entry.test")
    slog.info("login", token=CONFIGURED, headers={"Authorization": f"Bot {DISCORD_LIKE}"}, items=[CONFIGURED])
    slog.info("positional %s", DISCORD_LIKE)
    slog.info("object field", thing=Leaky())
    try:
        raise RuntimeError(f"bad token {CONFIGURED}")
    except RuntimeError:
        std.exception("stdlib exception")
    try:
        try:
            raise ValueError("MTA5ODc2NTQzMjEwOTg3NjU0.GhIjKl.abcdefghijklmnopqrstuvwxyzABCDEFGHIJK")
        except ValueError as inner:
            raise KeyError(CONFIGURED) from inner
    except KeyError:
        slog.exception("structlog exception")
        sys.excepthook(*sys.exc_info())  # what an uncaught exception would do
    thread = threading.Thread(target=_raise_in_thread, name="worker")
    thread.start()
    thread.join()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn(f"deprecated token {CONFIGURED}", UserWarning, stacklevel=1)


def _raise_in_thread() -> None:
    raise RuntimeError(f"thread saw {DISCORD_LIKE}")


EXPECTED = [
    f"connecting with {REDACTED}",
    f"header Bot {REDACTED}",
    "extra field",
    "login",
    f"positional {REDACTED}",
    "object field",
    f"RuntimeError: bad token {REDACTED}",
    f'raise ValueError("{REDACTED}")',  # the traceback's source line
    f"KeyError: '{REDACTED}'",
    "uncaught exception",
    "uncaught exception in thread worker",
    f"RuntimeError: thread saw {REDACTED}",
    f"deprecated token {REDACTED}",
]


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_the_token_never_appears_in_any_line(fmt: str) -> None:
    out = io.StringIO()
    configure_logging("DEBUG", fmt, secrets=[CONFIGURED], stream=out)
    _log_the_token_every_way()
    text = out.getvalue()
    for leak in LEAKS:
        assert leak not in text
    shown = text if fmt == "console" else "\n".join(_json_values(text))
    for line in EXPECTED:
        assert line in shown, line  # each way was really logged, and redacted in place


def _json_values(text: str) -> list[str]:
    values: list[str] = []
    for line in text.splitlines():
        values += [str(v) for v in json.loads(line).values()]
    return values


def test_json_lines_carry_level_logger_and_the_actor_context() -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    with bind_actor("message_counter", guild_id=1402040735958470776):
        logging.getLogger("actors.message_counter").warning("flushed %d messages", 3)
        structlog.stdlib.get_logger("actors.voice").info("checkpoint", seconds=5)
    logging.getLogger("supervisor").info("outside")
    logging.getLogger("quiet").debug("below the level")
    first, second, third = (json.loads(line) for line in out.getvalue().splitlines())
    assert first | {"timestamp": None} == {
        "event": "flushed 3 messages",
        "level": "warning",
        "logger": "actors.message_counter",
        "actor": "message_counter",
        "guild_id": 1402040735958470776,
        "timestamp": None,
    }
    assert second["actor"] == "message_counter" and second["seconds"] == 5
    assert "actor" not in third and third["event"] == "outside"


async def test_bind_actor_tags_only_its_own_trio_task() -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)

    async def actor(name: str, guild_id: int) -> None:
        bind_actor(name, guild_id)
        await trio.lowlevel.checkpoint()
        logging.getLogger("actors").info("working")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(actor, "voice_session", 1)
        nursery.start_soon(actor, "message_counter", 2)
    logging.getLogger("app").info("parent")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert sorted((ln.get("actor", ""), ln.get("guild_id", 0)) for ln in lines) == [
        ("", 0),
        ("message_counter", 2),
        ("voice_session", 1),
    ]


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_is_json_for_services_and_pretty_on_a_terminal() -> None:
    service, terminal = io.StringIO(), FakeTerminal()
    configure_logging("INFO", "auto", stream=service)
    logging.getLogger("x").info("hello")
    assert json.loads(service.getvalue())["event"] == "hello"
    configure_logging("INFO", "auto", stream=terminal)
    logging.getLogger("x").info("hello")
    assert "hello" in terminal.getvalue() and not terminal.getvalue().startswith("{")
    assert "\x1b[" in terminal.getvalue()  # coloured
    with pytest.raises(ValueError, match="log format 'xml'"):
        configure_logging("INFO", "xml", stream=service)


def test_the_pattern_spares_ordinary_text() -> None:
    redactor = Redactor(["s3cret"])
    ordinary = "supervisor.supervisor: child voice_session.1402040735958470776.2 crashed; v1.2.3 a.b.c"
    assert redactor.text(ordinary) == ordinary
    assert redactor.text("x s3cret y") == f"x {REDACTED} y"
    assert redactor.text(f"Bot {DISCORD_LIKE}!") == f"Bot {REDACTED}!"
    assert Redactor([""]).text("empty secrets are ignored") == "empty secrets are ignored"


def test_the_processor_scrubs_every_field_before_rendering() -> None:
    redactor = Redactor([CONFIGURED])
    event = {
        "event": f"login {CONFIGURED}",
        "exception": f"Traceback ...\nRuntimeError: {DISCORD_LIKE}",
        "nested": {"list": [CONFIGURED, 1, None], "tuple": (DISCORD_LIKE,)},
        "thing": Leaky(),
        "count": 3,
    }
    assert redactor(None, "info", event) == {
        "event": f"login {REDACTED}",
        "exception": f"Traceback ...\nRuntimeError: {REDACTED}",
        "nested": {"list": [REDACTED, 1, None], "tuple": [REDACTED]},
        "thing": f"Leaky(token='{REDACTED}')",
        "count": 3,
    }


async def test_disnakes_voice_support_warning_is_hidden_and_its_other_warnings_are_not(
    aio_loop: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    import disnake

    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    monkeypatch.setattr(disnake.VoiceClient, "warn_nacl", True)  # as on a machine without PyNaCl
    disnake.Client()
    logging.getLogger("disnake.client").warning("something else went wrong")
    events = [json.loads(line)["event"] for line in out.getvalue().splitlines()]
    assert events == ["something else went wrong"]
