"""The chaos oracle (``tests.faults.chaos_oracle``) on hand-built records: it must be able to fail.

A chaos seed passes when every user's stored totals are inside ``Bounds``; these tests check that
the bounds are tight where the design promises exactness (no kill: not a message or a second
lost, nothing counted twice, downtime never counts) and loose only where it allows.
"""

from __future__ import annotations

import pytest

from tests.faults import chaos_oracle
from tests.faults.chaos_oracle import Bounds, Record, close_gaps, counting_intervals, merged_outages, windows

# -- the oracle can fail ----------------------------------------------------------------------------


def record_with_voice(*, kills: list[float] | None = None) -> Record:
    """Two users together in one channel from t=10 to t=70 of a bot up from t=0 to t=100."""
    record = Record(start=0.0, end=100.0, starts=[0.0], identifies=[0.5], kills=kills or [])
    record.afk = {1: 99}
    for user in (11, 12):
        record.voice.append((10.0, 1, user, 5, {}))
    for user in (11, 12):
        record.voice.append((70.0, 1, user, None, {}))
    return record


def test_the_voice_oracle_flags_time_above_the_truth_and_loss_beyond_a_checkpoint() -> None:
    bounds = Bounds(record_with_voice())
    exact = {d.key: d for d in bounds.voice({(1, 11): 60.0, (1, 12): 60.0})}
    assert all(d.ok and d.truth == 60.0 for d in exact.values())
    too_much = {d.key: d for d in bounds.voice({(1, 11): 60.0 + 1.0, (1, 12): 60.0})}
    assert not too_much[(1, 11)].ok and too_much[(1, 12)].ok
    lost = {d.key: d for d in bounds.voice({(1, 11): 60.0 - 1.0, (1, 12): 60.0})}
    assert not lost[(1, 11)].ok, "without a kill, losing a second is a failure"


def test_a_kill_allows_one_checkpoint_and_flush_of_loss_and_downtime_never_counts() -> None:
    record = record_with_voice(kills=[40.0])
    record.starts.append(41.0)
    record.identifies.append(42.0)
    bounds = Bounds(record)
    allowed = chaos_oracle.CHECKPOINT + chaos_oracle.FLUSH + chaos_oracle.STAMP
    truth = 60.0 - 2.0  # down from 40 to 42
    within = {d.key: d for d in bounds.voice({(1, 11): truth - allowed + 0.1, (1, 12): truth})}
    assert within[(1, 11)].ok and within[(1, 12)].truth == truth
    beyond = {d.key: d for d in bounds.voice({(1, 11): truth - 2.0, (1, 12): truth + 1.5})}
    assert not beyond[(1, 11)].ok, "lost more than a checkpoint and a flush"
    assert not beyond[(1, 12)].ok, "counted the downtime"


def test_the_message_oracle_is_exact_without_kills_and_never_allows_more() -> None:
    record = Record(start=0.0, end=10.0, starts=[0.0], identifies=[0.5])
    record.messages = [(1.0 + i, 1, 11, True) for i in range(5)] + [(2.0, 1, 12, False)]
    record.messages.append((0.2, 1, 13, True))  # before the bot connected: it cannot have seen it
    bounds = Bounds(record)
    assert all(d.ok for d in bounds.messages({(1, 11): 5}))
    assert not all(d.ok for d in bounds.messages({(1, 11): 4})), "one lost without a kill"
    assert not all(d.ok for d in bounds.messages({(1, 11): 6})), "one counted twice"
    assert not all(d.ok for d in bounds.messages({(1, 11): 5, (1, 12): 1})), "a bot's message counted"
    record.kills, record.starts, record.identifies = [4.05], [0.0, 5.0], [0.5, 5.5]
    at_risk = {d.key: d for d in Bounds(record).messages({(1, 11): 3})}[(1, 11)]
    assert at_risk.truth == 4 and at_risk.ok, "the message at t=4 was still unflushed at the kill"


def test_a_reidentify_cut_short_by_a_kill_ends_at_the_next_process_identify() -> None:
    """Chaos seed 803: INVALID_SESSION reached a connection still waiting to re-IDENTIFY (so its
    next IDENTIFY was spoilt), then the bot was killed; the new process's IDENTIFY is clean and the
    messages after it are delivered, which the oracle had taken for lost until the end."""
    record = Record(start=0.0, end=10.0, starts=[0.0, 4.0], identifies=[0.5, 6.0], kills=[3.6])
    record.messages = [(7.0, 1, 11, True), (7.5, 1, 11, True)]
    close_gaps(record, [("invalid_session", 2.7, 0), ("invalid_session", 3.5, 1)])
    assert [(g0, g1) for _, g0, g1 in record.gaps] == [(2.7, 6.0), (3.5, 6.0)]
    assert {d.key: d.truth for d in Bounds(record).messages({(1, 11): 2})} == {(1, 11): 2}


def test_messages_counted_from_the_downtime_are_an_overcount() -> None:
    """The bot cannot have seen a message sent between a kill and the next process's IDENTIFY."""
    record = Record(start=0.0, end=10.0, starts=[0.0, 5.0], identifies=[0.5, 6.0], kills=[4.0])
    record.messages = [(2.0, 1, 11, True), (5.5, 1, 11, True), (8.0, 1, 11, True)]
    bounds = Bounds(record)
    assert bounds.undelivered() == 1
    (counted_all,) = bounds.messages({(1, 11): 3})
    assert counted_all.truth == 2 and counted_all.error == 1 and not counted_all.ok
    (counted_seen,) = bounds.messages({(1, 11): 2})
    assert counted_seen.ok


def test_messages_sent_during_a_reidentify_are_not_delivered() -> None:
    record = Record(start=0.0, end=10.0, starts=[0.0], identifies=[0.5, 6.0])
    record.messages = [(3.0, 1, 11, True), (7.0, 1, 11, True)]
    close_gaps(record, [("invalid_session", 2.0, 0)])
    bounds = Bounds(record)
    assert not bounds.delivered(3.0) and bounds.delivered(7.0)
    assert not all(d.ok for d in bounds.messages({(1, 11): 2})), "counted a message no session received"


# -- the pieces ---------------------------------------------------------------------------------------


def test_windows_run_from_a_process_first_identify_to_its_kill() -> None:
    record = Record(start=0.0, end=100.0, starts=[0.0, 41.0], identifies=[0.5, 20.0, 42.0], kills=[40.0])
    assert windows(record) == [(0.5, 40.0), (42.0, 100.0)]
    never_up = Record(start=0.0, end=100.0, starts=[0.0, 41.0], identifies=[0.5], kills=[40.0])
    assert windows(never_up) == [(0.5, 40.0)], "a process that never identified was never up"


def test_a_resume_gap_ends_at_the_next_resume_or_identify_or_the_end() -> None:
    record = Record(start=0.0, end=10.0, identifies=[0.5, 5.0], resumes=[3.2])
    close_gaps(record, [("drop", 3.0, 0), ("reconnect", 4.0, 0), ("drop", 8.0, 0)])
    assert record.gaps == [("drop", 3.0, 3.2), ("reconnect", 4.0, 5.0), ("drop", 8.0, 10.0)]


def test_overlapping_outages_merge_into_one_with_both_kinds() -> None:
    record = Record(start=0.0, end=100.0)
    record.gaps = [("invalid_session", 10.0, 16.0), ("drop", 30.0, 30.5), ("drop", 15.0, 20.0)]
    assert merged_outages(record) == [({"invalid_session", "drop"}, 10.0, 20.0), ({"drop"}, 30.0, 30.5)]


def test_voice_counts_with_company_and_never_in_afk_or_with_only_a_bot() -> None:
    record = Record(start=0.0, end=100.0)
    record.afk, record.bots = {1: 99}, {13}
    record.voice = [
        (10.0, 1, 11, 5, {}),  # alone
        (20.0, 1, 13, 5, {}),  # a bot is no company
        (30.0, 1, 12, 5, {}),  # company: 11 and 12 count
        (40.0, 1, 14, 99, {}),
        (41.0, 1, 15, 99, {}),  # together, but in the AFK channel
        (50.0, 1, 12, 5, {"self_deaf": True}),  # 12 stops; still company for 11
        (60.0, 1, 12, None, {}),  # 11 alone again
    ]
    assert counting_intervals(record) == {(1, 11): [(30.0, 60.0)], (1, 12): [(30.0, 50.0)]}


def test_simultaneous_changes_settle_together() -> None:
    """One companion leaves as another joins: the user never was alone, so one unbroken interval."""
    record = Record(start=0.0, end=100.0)
    record.afk = {1: 99}
    record.voice = [(10.0, 1, 11, 5, {}), (10.0, 1, 12, 5, {}), (70.0, 1, 12, None, {}), (70.0, 1, 13, 5, {})]
    assert counting_intervals(record)[(1, 11)] == [(10.0, 100.0)]


@pytest.mark.parametrize(("kind", "allowed"), [("invalid_session", True), ("drop", False)])
def test_only_a_reidentify_may_count_a_break_the_bot_could_not_see(kind: str, allowed: bool) -> None:
    """Both users leave and come back inside an outage. After a re-IDENTIFY the bot sees only
    the end state (as if they never left): counting the break is allowed. A RESUME replays the
    leave, so counting the break is an overcount."""
    record = Record(start=0.0, end=100.0, starts=[0.0], identifies=[0.5])
    record.afk = {1: 99}
    for at, channel in ((10.0, 5), (32.0, None), (33.0, 5), (70.0, None)):
        for user in (11, 12):
            record.voice.append((at, 1, user, channel, {}))
    record.gaps = [(kind, 30.0, 35.0)]
    deviations = {d.key: d for d in Bounds(record).voice({(1, 11): 60.0, (1, 12): 59.0})}
    assert deviations[(1, 11)].truth == 59.0 and deviations[(1, 11)].ok is allowed
    assert deviations[(1, 12)].ok
    assert chaos_oracle.STAMP < 1.0, "the one-second break is more than stamping allows"
