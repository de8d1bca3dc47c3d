"""``python -m benchmarks`` still runs every benchmark and prints lines scripts can read (issue 10)."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from actors.board_render import BoardEntry, BoardView, render_board
from benchmarks.common import Sample, Size
from benchmarks.scale_startup import (
    FIGURES,
    Plan,
    call_kind,
    fair_cycle,
    messages_boards_changed,
    shown_counts,
    voice_boards_changed,
)
from benchmarks.suite import BENCHMARKS, BY_NAME, PENDING, Figure
from domain.kinds import BoardKind

ROOT = Path(__file__).resolve().parent.parent.parent
NUMBER = r"\d+(?:\.\d+)?"
LINE = re.compile(
    rf"^BENCH (?P<name>\S+) (?P<value>{NUMBER}) (?P<unit>\S+)"
    rf"(?: ratio=(?P<ratio>{NUMBER}) baseline=(?P<baseline>\S+))?$"
)


def test_every_benchmark_runs_at_tiny_size_and_prints_one_bench_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--size", "tiny"],
        capture_output=True,
        text=True,
        timeout=240,  # multi_process starts seven bot processes (about 30 s)
        cwd=ROOT,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    bench = [line for line in lines if line.startswith("BENCH ")]
    assert all(line.startswith(("BENCH ", "# ")) for line in lines), lines
    parsed = [LINE.match(line) for line in bench]
    assert all(parsed), bench
    skipped = {b.name for b in BENCHMARKS if any(line.startswith(f"# {b.name}: skipped (") for line in lines)}
    needs_a_server = {"core_pipeline_postgres", *(f"multi_process_events_per_s_{n}p" for n in (1, 2, 4))}
    assert skipped <= needs_a_server, skipped  # only a figure that needs a server may skip
    assert [m["name"] for m in parsed if m] == [b.name for b in BENCHMARKS if b.name not in skipped]
    for m in parsed:
        assert m is not None
        spec = BY_NAME[m["name"]]
        assert m["unit"] == spec.unit
        assert float(m["value"]) > 0 or spec.zero_ok  # zero_ok: a count whose target is 0
        assert m["baseline"] == spec.baseline  # a ratio exactly where there is a baseline
    for name in PENDING:
        assert any(line.startswith(f"# {name}: pending") for line in lines)


def test_value_is_the_median_and_ratio_the_median_of_paired_ratios() -> None:
    bench = BY_NAME["core_pipeline"]
    figure = Figure(bench, (Sample(100.0, 1.0), Sample(300.0, 2.0), Sample(200.0, 4.0)))
    assert figure.bench_line() == (
        "BENCH core_pipeline 200 events/s ratio=100 baseline=sqlite3-update-commit-per-event"
    )
    assert Figure(BY_NAME["recovery_time"], (Sample(0.25),)).bench_line() == "BENCH recovery_time 0.250 s"
    assert Figure(BY_NAME["end_to_end"], (Sample(95.0, 100.0),)).bench_line().split()[4] == "ratio=0.95"


def test_the_asyncio_baseline_asks_for_the_bots_intents() -> None:
    from benchmarks.asyncio_baseline import intents as baseline_intents
    from bot_entry.gateway import intents

    assert baseline_intents() == intents()


@pytest.mark.slow
def test_scale_startup_runs_the_real_bot_in_200_guilds_and_prints_its_four_lines() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.scale_startup", "--size", "tiny", "--guilds", "200"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    parsed = [LINE.match(line) for line in done.stdout.splitlines() if line.startswith("BENCH ")]
    assert all(parsed), done.stdout
    assert [m["name"] for m in parsed if m] == list(FIGURES)
    values = {m["name"]: float(m["value"]) for m in parsed if m}
    assert values["shard_startup_s"] > 0 and values["board_staleness_p99_s"] > 0
    assert "# shard_startup_s: guilds median 200" in done.stdout


def test_scale_startup_reads_the_counts_a_real_board_shows() -> None:
    entries = (BoardEntry(1, "Owner 3", 1234), BoardEntry(2, "Member 1", 1234), BoardEntry(3, "Member 2", 1))
    embed = render_board(BoardView(BoardKind.MESSAGES, entries, "Guild 3", None, 0.0, None))
    assert shown_counts(embed) == {"Owner 3": 1234, "Member 1": 1234, "Member 2": 1}


def test_scale_startup_counts_the_boards_whose_content_moved() -> None:
    chat = [(0.5, 1), (1.0, 1), (9.9, 2), (10.0, 3)]  # (sent, guild)
    assert messages_boards_changed(chat, 0.0, 10.0) == 2  # guild 1 twice is one board; 3 is later
    before = {(1, 10): 4, (1, 11): 0, (2, 20): 7}
    after = {(1, 10): 4, (1, 11): 1, (2, 20): 7, (3, 30): 0}  # a minute in guild 1, a newcomer in 3
    assert voice_boards_changed(before, after) == 2


def test_scale_startup_tells_the_calls_apart() -> None:
    edit = {"embeds": [{"title": "Voice Leaderboard"}]}
    assert call_kind("PATCH", "/api/v10/channels/1/messages/2", edit) == "edits_voice"
    assert (
        call_kind("PATCH", "/api/v10/channels/1/messages/2", {"embeds": [{"title": "x"}]}) == "edits_messages"
    )
    assert call_kind("POST", "/api/v10/channels/1/messages", {}) == "posts"
    assert call_kind("GET", "/api/v10/channels/1/messages", None) == "reads"
    assert call_kind("GET", "/api/v10/channels/1/messages/2", None) == "checks"
    assert call_kind("DELETE", "/api/v10/channels/1/messages/2", None) == "deletes"
    assert call_kind("GET", "/api/v10/guilds/1/members/2", None) == "member_fetches"
    assert call_kind("POST", "/api/v10/interactions/1/tok/callback", {}) == "interactions"
    assert call_kind("PUT", "/api/v10/applications/1/commands", []) == "other"


def test_the_fair_cycle_is_the_interval_when_the_budget_covers_every_change() -> None:
    assert fair_cycle([(2500, 100), (2300, 100)], 10.0, 40.0) == 10.0  # 20 edits/s wanted


def test_the_fair_cycle_is_where_the_edits_wanted_meet_the_budget() -> None:
    """Boards that change faster than the budget: the cycle T at which the edits wanted,
    sum(boards * (1 - exp(-rate * T))) / T, equal the budget; longer than the issue's first step
    (changed boards per interval / budget), since the boards change again while the backlog goes."""
    demand = [(2500, 422.0), (2300, 500.0)]
    cycle = fair_cycle(demand, 10.0, 40.0)
    rates = [(n, -math.log(1 - changed / n) / 10.0) for n, changed in demand]
    wanted = sum(n * (1 - math.exp(-rate * cycle)) for n, rate in rates) / cycle
    assert wanted == pytest.approx(40.0, rel=1e-6)
    assert cycle > (422 + 500) / 40.0
    assert fair_cycle(demand, 10.0, 80.0) < cycle  # more budget, a shorter cycle


def test_scale_startup_takes_a_lighter_load_from_its_knobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCALE_IN_VOICE", raising=False)
    monkeypatch.delenv("SCALE_CHAT_PER_SECOND", raising=False)
    issue = Plan.for_size(Size.FULL, 2500)
    assert (issue.in_voice, issue.chat_per_second) == (0.05, 50.0)  # the issue's load
    monkeypatch.setenv("SCALE_IN_VOICE", "0")
    monkeypatch.setenv("SCALE_CHAT_PER_SECOND", "20")
    light = Plan.for_size(Size.FULL, 2500)
    assert (light.in_voice, light.chat_per_second) == (0.0, 20.0)
