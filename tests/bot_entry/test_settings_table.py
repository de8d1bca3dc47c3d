"""Both ways to set a guild setting take exactly the same values, refused with the same sentence.

The operator's default (environment or ``.env``, via ``load_settings``) and an admin's choice
(``/lbconfig set``, via the pure checks the command calls) read one row of the guild settings
table. Each setting gets a table of good and bad raw values; every one goes down both paths. The
command's options, the ``/lbconfig show`` lines and ``.env.example`` are checked against the table.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from attrs import fields

from bot_entry.commands.admin import AdminCommands
from bot_entry.commands.validation import (
    EmojiFact,
    GuildFacts,
    Invalid,
    SetOptions,
    config_changes,
    shown,
)
from bot_entry.commands.views import config_embed, describe_value
from bot_entry.config import ConfigError, Settings, declared, load_settings
from demo.settings import DemoSettings
from domain.guild_config import GuildConfig
from domain.guild_settings import BY_NAME, BY_OPTION, GUILD_SETTINGS
from domain.setting import Refused

ROOT = Path(__file__).resolve().parents[2]
PARTY = 1403295268505522187
FACTS = GuildFacts(1000, emojis={PARTY: EmojiFact("purp_arrow", True)})

# setting -> (good raw values, bad raw values). Every guild setting has a row.
CASES: dict[str, tuple[list[str], list[str]]] = {
    "message_board_channel_id": (["1404855785183252572", ""], ["-1", "chat-lb", "0", str(2**64)]),
    "voice_board_channel_id": (["1404855743596728374", ""], ["#vc-lb", "1.5"]),
    "arrow": (
        ["➡️", "🔥", " 👍🏽 ", "🇫🇷", f"<a:purp_arrow:{PARTY}>"],
        ["#", "->", "arrow", "🔥🔥", "", "<:x:1>", "x" * 101],
    ),
    "colour": (["#571173", "ff00AA", " #000000 "], ["#zzz", "571173ff", "red", "0x571173", ""]),
    "update_interval": (
        ["10", "60", "86400", "1e3", " 30.5 "],
        ["0", "0.5", "9.99", "86401", "1e300", "inf", "-inf", "nan", "1e-9", "soon", ""],
    ),
    "period_days": (["1", "30", "365"], ["0", "366", "100000000", "-1", "1.5", "1e3", "thirty", ""]),
    "period_anchor": (
        ["2026-09-21", "2026-09-21T10:00", "2026-09-21T12:00+02:00"],
        ["yesterday", "1999-01-01", "9" * 500],
    ),
    "count_deafened": (["true", "no"], ["maybe"]),
    "count_muted": (["yes", "0"], ["2"]),
    "count_alone": (["on", "off"], [""]),
    "excluded_channels": (["", "1,2", " 3 , 4 "], ["1,two", ",".join(str(i) for i in range(1, 102))]),
    "excluded_roles": ([], ["1"]),
    "message_cooldown": (["0", "5", "3600"], ["-1", "3601", "nan", "inf", "x"]),
    "hide_departed": (["true", "false"], ["hidden"]),
    "web_page": (["true", "false"], ["public"]),
}  # fmt: skip


def test_every_guild_setting_has_a_case_row() -> None:
    assert set(CASES) == {s.name for s in GUILD_SETTINGS}


def _env(name: str, raw: str) -> Any:
    """The environment path: the value ``Settings`` holds for that guild default."""
    env = BY_NAME[name].env
    assert env is not None
    settings = load_settings({env: raw}, env_file=None)
    return settings.pipeline.defaults.__getattribute__(name)


def _typed(name: str, raw: str) -> object | None:
    """``raw`` as Discord's client would deliver the option (None: the client cannot send it, or
    the option is not the value: board channels and exclusions are picked from the server)."""
    if len(BY_NAME[name].options) != 1:
        return None
    (option,) = BY_NAME[name].options
    kind = {"update_interval": float, "message_cooldown": float, "period_days": int}.get(option.name)
    if kind is None:
        if option.name in ("count_deafened", "count_muted", "count_alone", "hide_departed", "web_page"):
            return {"true": True, "false": False}.get(raw)  # Discord's boolean option
        return raw if option.name in ("arrow", "colour", "period_anchor") else None
    try:
        return kind(raw)
    except ValueError:
        return None  # Discord's client refuses it before sending


def _command(name: str, value: object) -> Any:
    """The /lbconfig path: the checks ``/lbconfig set`` runs, on a guild whose config is all defaults."""
    (option,) = BY_NAME[name].options
    changes = config_changes(GuildConfig(), SetOptions(**{option.name: value}), FACTS)
    return changes.get(name, getattr(GuildConfig(), name))


def _cases(good: bool) -> list[tuple[str, str]]:
    return [(name, raw) for name, (ok, bad) in CASES.items() for raw in (ok if good else bad)]


@pytest.mark.parametrize(("name", "raw"), _cases(good=True))
def test_a_good_value_is_taken_alike_on_both_paths(name: str, raw: str) -> None:
    setting = BY_NAME[name]
    value = setting.parse(raw)
    if setting.env is not None:
        assert _env(name, raw) == value
    typed = _typed(name, raw)
    if typed is not None:
        assert _command(name, typed) == value


@pytest.mark.parametrize(("name", "raw"), _cases(good=False))
def test_a_bad_value_is_refused_on_both_paths_with_one_sentence(name: str, raw: str) -> None:
    setting = BY_NAME[name]
    reasons = []
    if setting.env is not None:
        with pytest.raises(ConfigError) as on_env:
            load_settings({setting.env: raw}, env_file=None)
        prefix = f"{setting.env}: {raw!r} "
        assert str(on_env.value).startswith(prefix)
        reasons.append(str(on_env.value).removeprefix(prefix))
    typed = _typed(name, raw)
    if typed is not None:
        with pytest.raises(Invalid) as on_command:
            _command(name, typed)
        prefix = f"{setting.subject} {shown(typed)} "
        assert str(on_command.value).startswith(prefix)
        reasons.append(str(on_command.value).removeprefix(prefix))
    if not reasons:  # no path takes text for it (roles are picked from the server)
        with pytest.raises(Refused):
            setting.parse(raw)
        return
    assert len(set(reasons)) == 1, reasons
    assert "\n" not in reasons[0] and reasons[0].startswith(
        ("is not ", "is out of range: ", "is too long", "is set")
    )


def test_the_issue_reproductions_are_refused() -> None:
    for env, raw, sentence in [
        ("PERIOD_DAYS", "100000000", "is out of range: it must be 1 to 365 days"),
        ("LEADERBOARD_INTERVAL_SECONDS", "0.5", "is out of range: it must be 10 to 86400 seconds"),
        ("LEADERBOARD_ARROW_EMOJI", "#", "is not an emoji"),
    ]:
        with pytest.raises(ConfigError, match=f"^{env}: '{re.escape(raw)}' {sentence}"):
            load_settings({env: raw}, env_file=None)


def test_a_custom_emoji_of_another_server_is_refused_only_where_the_server_is_known() -> None:
    other = "<:ghost:123456789012345678>"
    assert load_settings({"LEADERBOARD_ARROW_EMOJI": other}, env_file=None).arrow_emoji == other
    with pytest.raises(Invalid, match="is not an emoji of this server"):
        _command("arrow", other)


# -- what the table generates ---------------------------------------------------------------------------


def test_lbconfig_set_options_are_the_tables() -> None:
    options = {o.name: o for o in AdminCommands.config_set.body.options}
    assert list(options) == [o.name for s in GUILD_SETTINGS for o in s.options]
    assert list(options) == [f.name for f in fields(SetOptions)]
    for name, option in options.items():
        setting = BY_OPTION[name]
        (declared_,) = [o for o in setting.options if o.name == name]
        assert option.description == declared_.description
        assert option.max_length == declared_.max_length
        bounds = (setting.number.low, setting.number.high) if setting.number else (None, None)
        assert (option.min_value, option.max_value) == bounds, name
        assert not option.required


def test_lbconfig_show_lists_every_setting_with_its_label_and_display() -> None:
    config = GuildConfig(
        message_board_channel_id=11, colour=0x00FF00, update_interval=30.0, period_days=1,
        excluded_channels=frozenset(range(1, 30)), message_cooldown=5.0, hide_departed=True,
    )  # fmt: skip
    lines = config_embed(config, 0.0, 86_400.0)["description"].splitlines()
    assert lines[:-1] == [f"**{s.label}**: {s.display(getattr(config, s.name))}" for s in GUILD_SETTINGS]
    assert [describe_value(k, v) for k, v in [
        ("message_board_channel_id", 11), ("voice_board_channel_id", None), ("colour", 0x00FF00),
        ("update_interval", 30.0), ("period_days", 1), ("period_days", 30), ("message_cooldown", 0.0),
        ("count_muted", True), ("hide_departed", True),
    ]] == ["<#11>", "not set", "#00FF00", "30 s", "1 day", "30 days", "off", "counts", "hidden"]  # fmt: skip
    assert describe_value("excluded_channels", frozenset(range(1, 30))).endswith("<#25> and 4 more")


def _example_lines() -> dict[str, list[tuple[bool, str]]]:
    """NAME -> [(commented, value)] for every ``NAME=value`` / ``# NAME=value`` line."""
    found: dict[str, list[tuple[bool, str]]] = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.fullmatch(r"(# )?([A-Z][A-Z0-9_]*)=(.*)", line)
        if match:
            found.setdefault(match.group(2), []).append((match.group(1) is not None, match.group(3)))
    return found


def test_env_example_documents_every_setting_and_nothing_else() -> None:
    names = {d.env for d in declared(Settings)} | {d.env for d in declared(DemoSettings)}
    assert {s.env for s in GUILD_SETTINGS if s.env} <= names
    lines = _example_lines()
    assert set(lines) == names
    for name, entries in lines.items():
        assert sum(1 for commented, _ in entries if not commented) <= 1, name


def test_env_example_values_are_the_defaults_and_the_examples_are_valid(tmp_path: Path) -> None:
    example = load_settings({}, env_file=ROOT / ".env.example")
    default = load_settings({}, env_file=None)
    assert example.warnings == ()
    for f in fields(Settings):
        if f.name not in ("env_file_used", "warnings"):
            assert getattr(example, f.name) == getattr(default, f.name), f.name
    commented = {name: v for name, entries in _example_lines().items() for c, v in entries if c}
    assert commented["GUILD_ID"] == "1315029949211738222"
    assert commented["MESSAGE_BOARD_CHANNEL_ID"] == "1404855785183252572"  # chat-lb
    assert commented["VOICE_BOARD_CHANNEL_ID"] == "1404855743596728374"  # vc-lb
    examples = load_settings(commented, env_file=None)  # each example value passes its rule
    assert examples.message_board_channel_id == 1404855785183252572
