"""Board rendering: snapshots of whole embeds, plus the rules a snapshot cannot show on its own.

Snapshots live in tests/actors/snapshots/<case>.json (pretty-printed, sorted keys, invisible characters
written as \\u escapes so a reviewer can see them). A mismatch fails with a line diff; regenerate with
UPDATE_SNAPSHOTS=1 and review the diff before committing.
"""

from __future__ import annotations

import difflib
import json
import os
import time
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.board_render import (
    BoardEntry,
    BoardStyle,
    BoardView,
    check_limits,
    embed_length,
    format_count,
    format_voice,
    render_board,
)
from domain.kinds import BoardKind
from tests.harness import host_tz

SNAPSHOTS = Path(__file__).parent / "snapshots"
ZWSP = "\u200b"
BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
MARKDOWN = set("\\*_~|>#-`[]")
ARROW = BoardStyle().arrow

# 2025-03-01 11:30 UTC is already 2025-03-02 01:30 in Kiritimati (UTC+14): a TZ leak changes both fields.
UPDATED_AT = datetime(2025, 3, 1, 11, 30, 45, tzinfo=UTC).timestamp()
NEXT_RESET_AT = datetime(2025, 3, 31, 0, 0, tzinfo=UTC).timestamp()
ICON = "https://cdn.discordapp.com/icons/111/abc.png"


# --- snapshot machinery -----------------------------------------------------------------------------


def _visible_json(obj: object) -> str:
    """Pretty JSON with invisible or combining characters escaped, so hostile names are reviewable."""
    text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def show(ch: str) -> str:
        hidden = unicodedata.category(ch) in ("Cf", "Cc", "Mn", "Me", "Zl", "Zp", "Co", "Cn") or (
            unicodedata.category(ch) == "Zs" and ch != " "
        )
        return json.dumps(ch)[1:-1] if hidden and ch != "\n" else ch

    return "".join(show(ch) for ch in text)


def _exploded(embed: dict) -> str:
    """The embed with its description split into lines, so a diff points at the changed board line."""
    copy = dict(embed)
    if "description" in copy:
        copy["description"] = copy["description"].split("\n")
    return _visible_json(copy)


def assert_snapshot(case: str, embed: dict) -> None:
    path = SNAPSHOTS / f"{case}.json"
    actual = _visible_json(embed)
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"no snapshot {path}; run with UPDATE_SNAPSHOTS=1 to create it", pytrace=False)
    expected_text = path.read_text(encoding="utf-8")
    if actual == expected_text:
        return
    expected = json.loads(expected_text)
    diff = "".join(
        difflib.unified_diff(
            _exploded(expected).splitlines(keepends=True),
            _exploded(embed).splitlines(keepends=True),
            fromfile=f"snapshots/{case}.json",
            tofile="rendered",
        )
    )
    if not diff:  # same content, different layout on disk
        diff = "".join(
            difflib.unified_diff(
                expected_text.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                "on disk",
                "rendered",
            )
        )
    pytest.fail(
        f"rendered embed differs from snapshot {case} (UPDATE_SNAPSHOTS=1 to accept):\n{diff}", pytrace=False
    )


# --- fixtures ---------------------------------------------------------------------------------------


def view(kind: BoardKind, entries: list[BoardEntry], **overrides: object) -> BoardView:
    base = BoardView(
        kind=kind,
        entries=tuple(entries),
        guild_name="Purple Lounge",
        guild_icon_url=ICON,
        updated_at=UPDATED_AT,
        next_reset_at=NEXT_RESET_AT,
    )
    return attrs.evolve(base, **overrides)


# Deliberately not in rank order: render must sort.
TWELVE_CHATTERS = [
    BoardEntry(100000000000000007, "Gwen", 412),
    BoardEntry(100000000000000001, "Aria", 1_234_567),
    BoardEntry(100000000000000012, "Lumi", 1),
    BoardEntry(100000000000000003, "Chloé", 20_480),
    BoardEntry(100000000000000010, "Jun", 17),
    BoardEntry(100000000000000002, "bob_the_builder", 98_765),
    BoardEntry(100000000000000005, "Emeka", 2_001),
    BoardEntry(100000000000000004, "Dmitri", 5_432),
    BoardEntry(100000000000000008, "Hana 🌸", 250),
    BoardEntry(100000000000000006, "Fatima", 1_999),
    BoardEntry(100000000000000011, "Kai", 3),
    BoardEntry(100000000000000009, "Ingrid", 99),
]

VOICE_REGULARS = [
    BoardEntry(200000000000000001, "Night Owl", 1234 * 3600 + 7 * 60 + 59),
    BoardEntry(200000000000000002, "Streamer Sam", 43_500),  # 12h 05m
    BoardEntry(200000000000000003, "AFK Andy", 3_599),  # 0h 59m
    BoardEntry(200000000000000004, "Quick Hello", 59),  # 0h 00m
    BoardEntry(200000000000000005, "Podcast Pat", 86_400),  # 24h, never "1d"
]


# --- snapshots --------------------------------------------------------------------------------------


def test_snapshot_messages_top_10_of_12() -> None:
    embed = render_board(view(BoardKind.MESSAGES, TWELVE_CHATTERS))
    assert_snapshot("messages_top10_of_12", embed)
    lines = embed["description"].split("\n")
    assert len(lines) == 10
    assert "Kai" not in embed["description"] and "Lumi" not in embed["description"]  # ranks 11, 12


def test_snapshot_voice() -> None:
    assert_snapshot("voice", render_board(view(BoardKind.VOICE, VOICE_REGULARS)))


def test_snapshot_ties() -> None:
    entries = [
        BoardEntry(3, "carol", 30),
        BoardEntry(1, "Alice", 50),
        BoardEntry(5, "Eve", 10),
        BoardEntry(2, "Bob", 30),
        BoardEntry(4, "dave", 30),
        BoardEntry(7, "Zed", 1),
        BoardEntry(6, "dan", 10),
    ]
    embed = render_board(view(BoardKind.MESSAGES, entries))
    assert_snapshot("ties", embed)
    ranks = [line.split("**")[1] for line in embed["description"].split("\n")]
    assert ranks == ["#1", "#2", "#2", "#2", "#5", "#5", "#7"]


def test_snapshot_fewer_than_10_without_icon_or_reset() -> None:
    entries = TWELVE_CHATTERS[:3]
    embed = render_board(view(BoardKind.MESSAGES, entries, guild_icon_url=None, next_reset_at=None))
    assert_snapshot("fewer_than_10", embed)
    assert "thumbnail" not in embed
    assert "Next reset" not in embed["footer"]["text"]


@pytest.mark.parametrize("kind", list(BoardKind))
def test_snapshot_empty(kind: BoardKind) -> None:
    embed = render_board(view(kind, []))
    assert_snapshot(f"empty_{kind.value}", embed)
    assert ARROW not in embed["description"]


HOSTILE = [
    BoardEntry(300000000000000001, "**bold** __under__ ~~gone~~ ||spoiler|| `code`", 90),
    BoardEntry(300000000000000002, "@everyone", 80),
    BoardEntry(300000000000000003, "<@123> <#1> <@&1>", 70),
    BoardEntry(300000000000000004, "Z\u0338\u0321\u0322\u031b\u0317\u034d\u035a\u0347algo", 60),
    BoardEntry(300000000000000005, "A" * 120, 50),
    BoardEntry(300000000000000006, "\u202eevil\u202c admin", 40),
    BoardEntry(300000000000000007, "[free nitro](https://evil.example)", 30),
    BoardEntry(300000000000000008, "line one\n# heading\n> quote", 20),
    BoardEntry(300000000000000009, "\u200b\u3164\u200b", 10),  # renders blank
    BoardEntry(300000000000000010, "@here", 5),
]


def test_snapshot_hostile_names() -> None:
    embed = render_board(view(BoardKind.MESSAGES, HOSTILE))
    assert_snapshot("hostile_names", embed)
    description = embed["description"]
    # Checked outright as well, so a careless snapshot update cannot bless an unsafe board.
    assert "@everyone" not in description and "@here" not in description
    assert "<@" not in description and "<#" not in description
    assert "https://" not in description and "](" not in description.replace("\\]", "")
    assert not BIDI & set(description)
    assert len(description.split("\n")) == 10
    assert "Unknown member" in description
    assert "A" * 31 + "…" in description and "A" * 32 not in description


def test_snapshot_pagination_offset_10() -> None:
    page_two = [BoardEntry(400000000000000000 + i, f"Member {i:02d}", 100 - i) for i in range(11, 21)]
    page_two[3] = attrs.evolve(page_two[3], value=page_two[2].value)  # a tie inside the page
    embed = render_board(view(BoardKind.MESSAGES, page_two, offset=10))
    assert_snapshot("pagination_offset_10", embed)
    ranks = [line.split("**")[1] for line in embed["description"].split("\n")]
    assert ranks == ["#11", "#12", "#13", "#13", "#15", "#16", "#17", "#18", "#19", "#20"]


def test_empty_page_past_the_end() -> None:
    embed = render_board(view(BoardKind.VOICE, [], offset=20))
    assert embed["description"] == "No entries past #20."


# --- look rules -------------------------------------------------------------------------------------


def test_every_line_starts_with_the_arrow_and_no_raw_ids() -> None:
    embed = render_board(view(BoardKind.MESSAGES, TWELVE_CHATTERS))
    assert all(line.startswith(ARROW + " **#") for line in embed["description"].split("\n"))
    text = json.dumps(embed)
    assert not any(str(entry.user_id) in text for entry in TWELVE_CHATTERS)


def test_style_and_header() -> None:
    style = BoardStyle(colour=0x123456, arrow="➤")
    embed = render_board(view(BoardKind.VOICE, VOICE_REGULARS, style=style))
    assert embed["title"] == "Voice Leaderboard"
    assert embed["color"] == 0x123456
    assert embed["thumbnail"] == {"url": ICON}
    assert embed["timestamp"] == "2025-03-01T11:30:45+00:00"
    assert embed["footer"]["text"] == "Updated 2025-03-01 11:30 UTC · Next reset 2025-03-31"
    assert embed["description"].startswith("➤ **#1** Night Owl — 1234h 07m\n")


def test_singular_message() -> None:
    embed = render_board(view(BoardKind.MESSAGES, [BoardEntry(1, "Solo", 1), BoardEntry(2, "Duo", 2)]))
    assert embed["description"].split("\n")[1].endswith("Solo — 1 message")
    assert embed["description"].split("\n")[0].endswith("Duo — 2 messages")


@settings(deadline=None)
@given(st.permutations([*TWELVE_CHATTERS[:6], BoardEntry(9, "Gwen", 412), BoardEntry(8, "gwen", 412)]))
def test_order_of_entries_does_not_matter(entries: list[BoardEntry]) -> None:
    # The publisher skips an edit when the text is unchanged, so equal totals must render equal text.
    reference = render_board(view(BoardKind.MESSAGES, sorted(entries, key=lambda e: e.user_id)))
    assert render_board(view(BoardKind.MESSAGES, entries)) == reference


def test_render_is_identical_in_any_host_time_zone() -> None:
    board = view(BoardKind.MESSAGES, TWELVE_CHATTERS)
    in_utc = render_board(board)
    with host_tz("Pacific/Kiritimati"):
        # Guard against a vacuous pass when the zone database is missing (TZ would silently mean UTC).
        assert time.localtime(UPDATED_AT).tm_mday == 2
        in_kiritimati = render_board(board)
    assert in_kiritimati == in_utc
    assert_snapshot("messages_top10_of_12", in_kiritimati)


def test_view_rejects_nonsense_config() -> None:
    with pytest.raises(ValueError):
        view(BoardKind.MESSAGES, [], limit=0)
    with pytest.raises(ValueError):
        view(BoardKind.MESSAGES, [], offset=-1)
    with pytest.raises(ValueError):
        BoardStyle(colour=0x1000000)
    with pytest.raises(ValueError):
        BoardStyle(arrow="x" * 101)


# --- limits -----------------------------------------------------------------------------------------

NAMES = st.one_of(
    st.text(max_size=300),
    st.text(
        alphabet="*_~|>#-`[]()@<&:/\\ \n\t\u202e\u2066\u200f\u0301\u0338\u200b\u200dAa1🇬👩", max_size=300
    ),
)


@settings(deadline=None, max_examples=200)
@given(
    kind=st.sampled_from(list(BoardKind)),
    names=st.lists(NAMES, min_size=10, max_size=10),
    values=st.lists(st.integers(min_value=0, max_value=10**15), min_size=10, max_size=10),
)
def test_any_ten_names_stay_within_discord_limits(
    kind: BoardKind, names: list[str], values: list[int]
) -> None:
    entries = [
        BoardEntry(10**17 + i, name, value) for i, (name, value) in enumerate(zip(names, values, strict=True))
    ]
    embed = render_board(view(kind, entries))
    check_limits(embed)  # render checks too; this is the promise stated where a reader looks for it
    lines = embed["description"].split("\n")
    assert len(lines) == 10
    assert all(line.startswith(ARROW + " **#") for line in lines)
    description = embed["description"]
    assert not BIDI & set(description)
    assert all(description[i + 1] == ZWSP for i, ch in enumerate(description) if ch == "@")


def test_a_huge_limit_is_cut_to_fit_with_a_count() -> None:
    entries = [BoardEntry(i, "W" * 60, 1_000_000 + i) for i in range(500)]
    embed = render_board(view(BoardKind.MESSAGES, entries, limit=500))
    check_limits(embed)
    last = embed["description"].split("\n")[-1]
    assert last.startswith("…and ") and last.endswith(" more")
    shown = len(embed["description"].split("\n")) - 1
    assert last == f"…and {500 - shown} more"
    assert len(embed["description"]) <= 4096


def test_embed_length_counts_the_fields_discord_counts() -> None:
    embed = {
        "title": "ab",
        "description": "cde",
        "fields": [{"name": "f", "value": "gh"}],
        "footer": {"text": "ijkl", "icon_url": "x" * 100},
        "author": {"name": "m", "url": "y" * 100},
        "color": 123456,
        "thumbnail": {"url": "z" * 100},
    }
    assert embed_length(embed) == 2 + 3 + 1 + 2 + 4 + 1
    assert embed_length({}) == 0


@pytest.mark.parametrize(
    ("embed", "named"),
    [
        ({"title": "t" * 257}, "title.*256"),
        ({"description": "d" * 4097}, "description.*4096"),
        ({"fields": [{"name": "n", "value": "v"}] * 26}, "26 fields.*25"),
        ({"fields": [{"name": "n" * 257, "value": "v"}]}, "field 0 name.*256"),
        ({"fields": [{"name": "n", "value": "v" * 1025}]}, "field 0 value.*1024"),
        ({"footer": {"text": "f" * 2049}}, "footer.*2048"),
        ({"author": {"name": "a" * 257}}, "author name.*256"),
        ({"description": "d" * 4096, "footer": {"text": "f" * 1905}}, "total.*6000"),
    ],
)
def test_check_limits_names_the_limit(embed: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        check_limits(embed)


def test_check_limits_accepts_the_edges() -> None:
    check_limits(
        {
            "title": "t" * 256,
            "description": "d" * 4096,
            "fields": [{"name": "n", "value": "v"}] * 25,
            "footer": {"text": "f" * (6000 - 256 - 4096 - 50)},
        }
    )
    check_limits({})


# --- numbers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0h 00m"),
        (59, "0h 00m"),
        (60, "0h 01m"),
        (3_599, "0h 59m"),
        (3_600, "1h 00m"),
        (43_500, "12h 05m"),
        (86_400, "24h 00m"),
        (1234 * 3600 + 7 * 60 + 59, "1234h 07m"),
        (-300, "-0h 05m"),
    ],
)
def test_format_voice(seconds: int, shown: str) -> None:
    assert format_voice(seconds) == shown


@pytest.mark.parametrize(
    ("n", "shown"),
    [(0, "0"), (7, "7"), (999, "999"), (1_000, "1,000"), (1_234_567, "1,234,567"), (-1_234, "-1,234")],
)
def test_format_count(n: int, shown: str) -> None:
    assert format_count(n) == shown
