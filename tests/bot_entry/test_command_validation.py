"""What admins and members may type into the commands: pure checks, no Discord, no database."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot_entry.commands.validation import (
    ChannelKind,
    ChannelRef,
    EmojiFact,
    GuildFacts,
    Invalid,
    Period,
    RoleRef,
    SetOptions,
    config_changes,
    is_unicode_emoji,
    parse_anchor,
    parse_arrow,
    parse_board,
    parse_colour,
    parse_interval,
    parse_page,
    parse_period,
    parse_period_days,
    shown,
)
from bot_entry.commands.views import PageRef, audit_detail, page_buttons, voice_rules
from domain.guild_config import GuildConfig
from domain.kinds import BoardKind

GUILD = 1000
GENERAL, NEWS, LOUNGE, CATEGORY, FORUM, THREAD = 1, 2, 3, 4, 5, 6
MODS = 77
PARTY = 1403295268505522187
FACTS = GuildFacts(
    GUILD,
    {
        GENERAL: ChannelKind.TEXT,
        NEWS: ChannelKind.ANNOUNCEMENT,
        LOUNGE: ChannelKind.VOICE,
        CATEGORY: ChannelKind.CATEGORY,
        FORUM: ChannelKind.FORUM,
        THREAD: ChannelKind.THREAD,
    },
    frozenset({GUILD, MODS}),
    {PARTY: EmojiFact("purp_arrow", True)},
)


def refusal(options: SetOptions, current: GuildConfig | None = None) -> str:
    with pytest.raises(Invalid) as refused:
        config_changes(current or GuildConfig(), options, FACTS)
    return str(refused.value)


# -- echoing values safely ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("red", "“red”"),
        ("**bold**", "“\\*\\*bold\\*\\*”"),
        ("@everyone", "“@\u200beveryone”"),
        ("<@123456789012345678>", "“<\u200b@\u200b123456789012345678\\>”"),
        ("", "an empty value"),
        ("\u200b\u202e", "an empty value"),
        (10**40, "“1" + "0" * 40 + "”"),
        (10**100, "“1" + "0" * 58 + "…”"),
        (-3, "“-3”"),
        (math.inf, "“inf”"),
    ],
)
def test_values_are_echoed_escaped_and_quoted(value: object, expected: str) -> None:
    assert shown(value) == expected


@given(st.text(max_size=300))
def test_an_echoed_value_never_mentions_or_breaks_the_line(value: str) -> None:
    text = shown(value)
    assert "\n" not in text and "@everyone" not in text and "<@" not in text and "<#" not in text
    assert len(text) <= 62


# -- members' options -------------------------------------------------------------------------------


def test_board_period_and_page_choices() -> None:
    assert parse_board("voice") is BoardKind.VOICE
    assert parse_period("all-time") is Period.ALL_TIME
    assert parse_page(1) == 1
    with pytest.raises(Invalid, match="board “\\\\\\*\\\\\\*x\\\\\\*\\\\\\*” does not exist"):
        parse_board("**x**")
    with pytest.raises(Invalid, match="period “weekly” does not exist"):
        parse_period("weekly")
    for page in (0, -3, 10**18):
        with pytest.raises(Invalid, match=f"page “{page}” is out of range"):
            parse_page(page)


def test_page_custom_ids_round_trip_and_forged_ones_are_refused() -> None:
    for ref in (
        PageRef(BoardKind.MESSAGES, 0, 2),
        PageRef(BoardKind.VOICE, None, 1),
        PageRef(BoardKind.VOICE, -4, 9),
    ):
        assert PageRef.parse(ref.custom_id()) == ref
    for forged in (
        "lb:messages:0:0",
        "lb:messages:0:99999999",
        "lb:chat:0:1",
        "lb:voice:1e9:1",
        "lb:none:next",
        "",
    ):
        assert PageRef.parse(forged) is None


def test_page_buttons_cover_first_middle_last_and_beyond() -> None:
    def state(page: int, total: int) -> list[tuple[str | None, bool]]:
        return [(str(PageRef.parse(b["custom_id"]) and PageRef.parse(b["custom_id"]).page), b["disabled"])  # type: ignore[union-attr]
                for b in page_buttons(PageRef(BoardKind.MESSAGES, 3, page), total)]  # fmt: skip

    assert page_buttons(PageRef(BoardKind.MESSAGES, 3, 1), 10) == [], "one page: no buttons"
    assert state(1, 25) == [("None", True), ("2", False)]
    assert state(2, 25) == [("1", False), ("3", False)]
    assert state(3, 25) == [("2", False), ("None", True)]
    assert state(9, 25) == [("3", False), ("None", True)], "past the end, Previous goes to the last page"


# -- numbers, colours, dates ------------------------------------------------------------------------------


def test_numbers_in_range_pass_and_others_are_named() -> None:
    assert parse_interval(10) == 10.0 and parse_period_days(365) == 365
    for bad in (9.99, -1, 86_401, 1e300):
        with pytest.raises(
            Invalid, match=re.escape(f"update interval “{bad:g}” is out of range: it must be 10 to")
        ):
            parse_interval(bad)
    with pytest.raises(Invalid, match="update interval “nan” is not a number"):
        parse_interval(math.nan)
    for days in (0, 366, 10**20):
        with pytest.raises(Invalid, match=f"period length “{days}” is out of range"):
            parse_period_days(days)


def test_colours_are_hex_triplets() -> None:
    assert parse_colour("#571173") == 0x571173
    assert parse_colour(" ff00AA ") == 0xFF00AA
    for bad in ("red", "#12345", "#1234567", "#GGGGGG", "0x571173", ""):
        with pytest.raises(Invalid, match=r"is not a colour like #571173$"):  # the env path's sentence
            parse_colour(bad)


def test_anchors_are_iso_dates_in_utc() -> None:
    assert parse_anchor("2026-09-21") == 1_789_948_800.0
    assert parse_anchor("2026-09-21T10:00") == 1_789_948_800.0 + 36_000
    assert parse_anchor("2026-09-21T12:00+02:00") == 1_789_948_800.0 + 36_000
    for bad in ("yesterday", "21/09/2026", "2026-13-01", "9" * 500):
        with pytest.raises(Invalid, match="is not a date"):
            parse_anchor(bad)
    for far in ("1999-01-01", "2200-01-01"):
        with pytest.raises(Invalid, match="between 2015 and 2100"):
            parse_anchor(far)


# -- emoji ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("emoji", ["➡️", "➡", "🔥", "👍🏽", "🇫🇷", "1️⃣", "#⃣", "👨‍👩‍👧", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "🩵", "▶️", "⭐"])
def test_one_unicode_emoji_is_an_arrow(emoji: str) -> None:
    assert is_unicode_emoji(emoji)
    assert parse_arrow(emoji, {}) == emoji


@pytest.mark.parametrize(
    "text", ["->", "a", "🔥🔥", "🇫", "**", "<@123456789012345678>", "@everyone", "🔥x", "1", ""]
)
def test_anything_else_is_not_an_arrow(text: str) -> None:
    assert not is_unicode_emoji(text)
    with pytest.raises(Invalid, match="is not an emoji"):
        parse_arrow(text, {})


def test_custom_emoji_must_exist_in_this_guild_as_written() -> None:
    emojis = {PARTY: EmojiFact("purp_arrow", True)}
    assert parse_arrow(f"<a:purp_arrow:{PARTY}>", emojis) == f"<a:purp_arrow:{PARTY}>"
    with pytest.raises(Invalid, match="is not an emoji of this server"):
        parse_arrow("<:ghost:123456789012345678>", emojis)
    with pytest.raises(Invalid, match="does not match this server's emoji “purp\\\\_arrow”"):
        parse_arrow(f"<:purp_arrow:{PARTY}>", emojis)  # not animated: Discord would show nothing
    with pytest.raises(Invalid, match="is not an emoji"):
        parse_arrow("<:x:1>", emojis)  # not even the custom emoji syntax


# -- /lbconfig set as a whole ------------------------------------------------------------------------


def test_valid_options_become_exactly_the_changed_fields() -> None:
    current = GuildConfig(colour=0x571173, excluded_channels=frozenset({LOUNGE}))
    changes = config_changes(
        current,
        SetOptions(
            message_board_channel=ChannelRef(NEWS, "news"),
            colour="#571173",  # unchanged: left out
            update_interval=30,
            count_deafened=True,
            exclude_channel=ChannelRef(FORUM, "ideas"),
            include_channel=ChannelRef(LOUNGE, "Lounge"),
            exclude_role=RoleRef(MODS, "mods"),
            message_cooldown=0,  # unchanged
        ),
        FACTS,
    )
    assert changes == {
        "message_board_channel_id": NEWS,
        "update_interval": 30.0,
        "count_deafened": True,
        "excluded_channels": frozenset({FORUM}),
        "excluded_roles": frozenset({MODS}),
    }
    assert "update_interval: 60.0 -> 30.0" in audit_detail(current, changes)
    assert f"excluded_channels: [{LOUNGE}] -> [{FORUM}]" in audit_detail(current, changes)


def test_every_invalid_value_is_named_and_nothing_passes() -> None:
    text = refusal(
        SetOptions(
            message_board_channel=ChannelRef(LOUNGE, "Lounge"),
            voice_board_channel=ChannelRef(424242, "other-guild-general"),
            colour="purple",
            update_interval=5,
            period_days=0,
            exclude_channel=ChannelRef(CATEGORY, "community"),
            exclude_role=RoleRef(GUILD, "everyone"),
            include_role=RoleRef(MODS, "mods"),
            count_alone=True,
        )
    )
    assert text.splitlines() == [
        "message board channel “#Lounge” is a voice channel: choose a text channel",
        "voice board channel “#other\\-guild\\-general” is not a channel of this server",  # Discord shows "-"
        "colour “purple” is not a colour like #571173",  # LEADERBOARD_COLOUR's sentence too
        "update interval “5” is out of range: it must be 10 to 86400 seconds",
        "period length “0” is out of range: it must be 1 to 365 days",
        "excluded channel “#community” is a category: exclude its channels one by one",
        "excluded role “@\u200beveryone” would exclude every member: exclude channels instead",
        "role “@\u200bmods” is not excluded",  # a zero-width space: never a mention
    ]


def test_hostile_names_of_refused_channels_are_escaped() -> None:
    text = refusal(SetOptions(message_board_channel=ChannelRef(999, "**x** @everyone <@1>")))
    assert "@everyone" not in text and "<@1>" not in text and "**" not in text


def test_threads_and_forums_are_not_board_channels_but_can_be_excluded() -> None:
    assert "is a thread channel" in refusal(SetOptions(voice_board_channel=ChannelRef(THREAD, "t")))
    assert "is a forum channel" in refusal(SetOptions(voice_board_channel=ChannelRef(FORUM, "f")))
    assert config_changes(GuildConfig(), SetOptions(exclude_channel=ChannelRef(THREAD, "t")), FACTS) == {
        "excluded_channels": frozenset({THREAD})
    }


def test_no_options_or_no_change_is_said_plainly() -> None:
    assert refusal(SetOptions()) == "nothing to change: give at least one option"
    assert config_changes(GuildConfig(), SetOptions(count_muted=True), FACTS) == {}


def test_voice_rules_say_what_does_not_count() -> None:
    rules = voice_rules(
        GuildConfig(excluded_channels=frozenset({LOUNGE}), message_cooldown=5), afk_channel_id=9
    )
    assert rules == [
        "Deafened time does not count here.",
        "Muted time counts here (stage listeners too).",
        "Time alone in a voice channel (bots are no company) does not count here.",
        "Time in the AFK channel <#9> never counts.",
        f"Time and messages in <#{LOUNGE}> do not count.",
        "Messages less than 5 s apart count once.",
    ]
    flipped = voice_rules(GuildConfig(count_deafened=True, count_muted=False, count_alone=True), None)
    assert flipped[:3] == [
        "Deafened time counts here.",
        "Muted time does not count here (stage listeners neither).",
        "Time alone in a voice channel counts here.",
    ]
