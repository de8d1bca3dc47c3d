"""The voice machine, with no Trio: examples for each transition, then properties against the oracle.

All generated times are whole quarter-seconds after a realistic epoch, so every sum is exact in
floating point and totals can be compared with `==`.
"""

import itertools
import json
from collections.abc import Sequence

import attrs
import cattrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.voice_machine import (
    Interval,
    PauseReason,
    Phase,
    Presence,
    VoiceSession,
    advance,
    classify,
    close,
    hold,
    observe,
    release,
    start,
)
from domain.guild_config import VoicePolicy
from tests.voice_oracle import counts, expected_seconds

T0 = 1_700_000_000.0
DEFAULT = VoicePolicy()
ALONE = Presence(channel_id=1)
TOGETHER = Presence(channel_id=1, has_company=True)
LEFT = Presence(channel_id=None)


def counting_since(t: float, policy: VoicePolicy = DEFAULT) -> VoiceSession:
    return start(TOGETHER, t, 1, policy)


# --- transitions, one example each ---------------------------------------------------------------


def test_join_alone_is_paused_alone() -> None:
    s = start(ALONE, T0, 1, DEFAULT)
    assert (s.phase, s.reason, s.channel_id, s.counted_until) == (Phase.PAUSED, PauseReason.ALONE, 1, T0)


def test_company_arrives_starts_counting_and_alone_time_is_not_counted() -> None:
    s, iv = observe(start(ALONE, T0, 1, DEFAULT), TOGETHER, T0 + 30, 2, DEFAULT)
    assert (s.phase, s.reason, iv) == (Phase.COUNTING, None, None)
    assert advance(s, T0 + 50)[1] == Interval(T0 + 30, T0 + 50)


def test_company_leaves_pauses_and_emits_the_counted_stretch() -> None:
    s, iv = observe(counting_since(T0), ALONE, T0 + 40, 2, DEFAULT)
    assert (s.phase, s.reason, iv) == (Phase.PAUSED, PauseReason.ALONE, Interval(T0, T0 + 40))


def test_deafen_pauses_and_emits_the_counted_stretch() -> None:
    s, iv = observe(counting_since(T0), attrs.evolve(TOGETHER, self_deaf=True), T0 + 60, 2, DEFAULT)
    assert (s.phase, s.reason, iv) == (Phase.PAUSED, PauseReason.DEAFENED, Interval(T0, T0 + 60))


def test_undeafen_resumes_and_deafened_time_is_not_counted() -> None:
    s, iv = observe(start(attrs.evolve(TOGETHER, deaf=True), T0, 1, DEFAULT), TOGETHER, T0 + 60, 2, DEFAULT)
    assert (s.phase, iv) == (Phase.COUNTING, None)
    assert advance(s, T0 + 90)[1] == Interval(T0 + 60, T0 + 90)


def test_move_to_afk_channel_pauses_afk() -> None:
    s, iv = observe(
        counting_since(T0), Presence(channel_id=2, afk=True, has_company=True), T0 + 5, 2, DEFAULT
    )
    assert (s.phase, s.reason, s.channel_id, iv) == (Phase.PAUSED, PauseReason.AFK, 2, Interval(T0, T0 + 5))


def test_move_to_excluded_channel_pauses_excluded() -> None:
    moved = Presence(channel_id=3, excluded=True, has_company=True)
    s, iv = observe(counting_since(T0), moved, T0 + 5, 2, DEFAULT)
    assert (s.phase, s.reason, s.channel_id, iv) == (
        Phase.PAUSED,
        PauseReason.EXCLUDED,
        3,
        Interval(T0, T0 + 5),
    )


def test_move_between_counting_channels_keeps_counting_and_settles() -> None:
    s, iv = observe(counting_since(T0), attrs.evolve(TOGETHER, channel_id=2), T0 + 5, 2, DEFAULT)
    assert (s.phase, s.channel_id, s.counted_until, iv) == (Phase.COUNTING, 2, T0 + 5, Interval(T0, T0 + 5))


def test_leave_goes_away_and_emits_the_counted_stretch() -> None:
    s, iv = observe(counting_since(T0), LEFT, T0 + 70, 2, DEFAULT)
    assert (s.phase, s.reason, s.channel_id, iv) == (Phase.AWAY, None, None, Interval(T0, T0 + 70))


def test_close_counts_up_to_the_end_and_goes_away() -> None:
    s, iv = close(counting_since(T0), T0 + 12.5)
    assert (s, iv) == (VoiceSession(Phase.AWAY, None, None, T0 + 12.5, 1), Interval(T0, T0 + 12.5))


def test_close_while_paused_counts_nothing_but_settles() -> None:
    s, iv = close(start(ALONE, T0, 1, DEFAULT), T0 + 100)
    assert (s.phase, s.counted_until, iv) == (Phase.AWAY, T0 + 100, None)


def test_rejoin_after_close_counts_from_the_rejoin() -> None:
    s, _ = close(counting_since(T0), T0 + 10)
    s, iv = observe(s, TOGETHER, T0 + 100, 2, DEFAULT)
    assert (s.phase, iv, advance(s, T0 + 101)[1]) == (Phase.COUNTING, None, Interval(T0 + 100, T0 + 101))


# --- advance (checkpoint tick) -------------------------------------------------------------------


def test_advance_while_counting_emits_and_moves_the_mark() -> None:
    s, iv = advance(counting_since(T0), T0 + 5)
    assert (s, iv) == (attrs.evolve(counting_since(T0), counted_until=T0 + 5), Interval(T0, T0 + 5))


def test_advance_while_paused_moves_the_mark_without_counting() -> None:
    s, iv = advance(start(ALONE, T0, 1, DEFAULT), T0 + 5)
    assert (s.phase, s.counted_until, iv) == (Phase.PAUSED, T0 + 5, None)


def test_advance_to_the_mark_or_before_changes_nothing() -> None:
    s = counting_since(T0 + 10)
    assert advance(s, T0 + 10) == (s, None) and advance(s, T0) == (s, None)


# --- stale and out-of-order input ----------------------------------------------------------------


def test_stale_or_duplicate_seq_is_ignored() -> None:
    s = start(TOGETHER, T0, 5, DEFAULT)
    assert observe(s, LEFT, T0 + 10, 5, DEFAULT) == (s, None)
    assert observe(s, LEFT, T0 + 10, 4, DEFAULT) == (s, None)


def test_out_of_order_timestamp_never_counts_backwards() -> None:
    s, first = advance(counting_since(T0), T0 + 100)
    s, late = observe(s, LEFT, T0 + 50, 2, DEFAULT)  # newer seq, older clock reading
    assert (first, late, s.counted_until, s.phase) == (Interval(T0, T0 + 100), None, T0 + 100, Phase.AWAY)


def test_simultaneous_change_emits_no_empty_interval() -> None:
    s, iv = observe(counting_since(T0), ALONE, T0, 2, DEFAULT)
    assert (s.phase, iv) == (Phase.PAUSED, None)


# --- policies ------------------------------------------------------------------------------------


def test_count_alone_policy_counts_alone_time() -> None:
    s = start(ALONE, T0, 1, VoicePolicy(count_alone=True))
    assert (s.phase, advance(s, T0 + 3)[1]) == (Phase.COUNTING, Interval(T0, T0 + 3))


def test_count_deafened_policy_counts_deafened_time() -> None:
    s = start(attrs.evolve(TOGETHER, self_deaf=True), T0, 1, VoicePolicy(count_deafened=True))
    assert s.phase is Phase.COUNTING


@pytest.mark.parametrize("flag", ["self_mute", "mute", "suppress"])
def test_muted_counts_by_default_and_pauses_when_policy_says_so(flag: str) -> None:
    muted = attrs.evolve(TOGETHER, **{flag: True})
    assert classify(muted, DEFAULT) == (Phase.COUNTING, None)
    assert classify(muted, VoicePolicy(count_muted=False)) == (Phase.PAUSED, PauseReason.MUTED)


def test_policy_flip_applies_from_the_next_observation() -> None:
    s = start(ALONE, T0, 1, VoicePolicy(count_alone=True))
    s, iv = observe(s, ALONE, T0 + 8, 2, DEFAULT)
    assert (s.phase, s.reason, iv) == (Phase.PAUSED, PauseReason.ALONE, Interval(T0, T0 + 8))


@pytest.mark.parametrize(
    ("presence", "policy", "expected"),
    [
        (Presence(None, afk=True), DEFAULT, (Phase.AWAY, None)),
        (Presence(1, afk=True, has_company=True), DEFAULT, (Phase.PAUSED, PauseReason.AFK)),
        (Presence(1, afk=True, excluded=True), DEFAULT, (Phase.PAUSED, PauseReason.AFK)),
        (Presence(1, excluded=True, deaf=True), DEFAULT, (Phase.PAUSED, PauseReason.EXCLUDED)),
        (
            Presence(1, deaf=True, mute=True),
            VoicePolicy(count_muted=False),
            (Phase.PAUSED, PauseReason.DEAFENED),
        ),
        (Presence(1, self_mute=True), VoicePolicy(count_muted=False), (Phase.PAUSED, PauseReason.MUTED)),
        (Presence(1, self_mute=True), DEFAULT, (Phase.PAUSED, PauseReason.ALONE)),
        (Presence(1, afk=True), VoicePolicy(True, True, True), (Phase.PAUSED, PauseReason.AFK)),
    ],
)
def test_classify_reports_the_first_reason_in_precedence_order(
    presence: Presence, policy: VoicePolicy, expected: tuple[Phase, PauseReason | None]
) -> None:
    assert classify(presence, policy) == expected


# --- values --------------------------------------------------------------------------------------


def test_interval_is_never_empty() -> None:
    assert Interval(T0, T0 + 1.5).seconds == 1.5
    with pytest.raises(ValueError):
        Interval(T0, T0)


def test_session_rejects_states_the_machine_never_makes() -> None:
    with pytest.raises(ValueError):
        VoiceSession(Phase.PAUSED, None, 1, T0, 1)
    with pytest.raises(ValueError):
        VoiceSession(Phase.COUNTING, None, None, T0, 1)


def test_checkpoint_round_trips_through_cattrs_and_json() -> None:
    s = start(attrs.evolve(TOGETHER, deaf=True), T0 + 0.1, 7, DEFAULT)
    blob = json.dumps(cattrs.unstructure(s))
    assert cattrs.structure(json.loads(blob), VoiceSession) == s


def test_oracle_on_a_hand_worked_script() -> None:
    script = [
        (0.0, {"channel_id": 1}),
        (10.0, {"channel_id": 1, "has_company": True}),
        (25.0, {"channel_id": None}),
    ]
    assert expected_seconds(script, 40.0) == 15.0
    assert expected_seconds(script, 40.0, {"count_alone": True}) == 25.0


# --- properties ----------------------------------------------------------------------------------

PROPERTY = settings(derandomize=True, database=None, deadline=None, max_examples=200)

rarely = st.sampled_from([False, False, False, False, True])
usually = st.sampled_from([True, True, True, True, False])
presences = st.fixed_dictionaries(
    {
        "channel_id": st.sampled_from([None, 10, 11, 12]),
        "self_mute": st.booleans(),
        "self_deaf": rarely,
        "mute": rarely,
        "deaf": rarely,
        "suppress": rarely,
        "afk": rarely,
        "excluded": rarely,
        "has_company": usually,
    }
)
policies = st.builds(VoicePolicy, st.booleans(), st.booleans(), st.booleans())
quarters = st.integers(0, 4 * 900).map(lambda q: q / 4)  # up to 15 minutes, exact in binary


changeable = presences.map(lambda p: p | {"has_company": p["self_mute"]}) | presences  # flips often


@st.composite
def scripts(
    draw: st.DrawFn, max_size: int = 20, presences: st.SearchStrategy[dict] = presences
) -> tuple[list[tuple[float, dict]], float]:
    """A time-ordered presence history for one user, and the time its session is closed."""
    steps = draw(st.lists(st.tuples(quarters, presences), min_size=1, max_size=max_size))
    t, script = T0, []
    for gap, presence in steps:
        t += gap
        script.append((t, presence))
    return script, t + draw(quarters)


Action = tuple[str, float, dict | None, int]  # (kind, time, presence, seq)


def actions_for(script: list[tuple[float, dict]], end: float, ticks: Sequence[float] = ()) -> list[Action]:
    """Observations numbered in delivery order, checkpoint ticks merged in by time, then close."""
    acts: list[Action] = [("observe", t, p, seq) for seq, (t, p) in enumerate(script, start=1)]
    acts += [("advance", t, None, 0) for t in ticks]
    acts.sort(key=lambda a: a[1])  # stable: at equal times an observation goes before a tick
    return [*acts, ("close", end, None, 0)]


def drive(
    actions: list[Action], policy: VoicePolicy, state: VoiceSession | None = None
) -> list[tuple[VoiceSession, Interval | None]]:
    """Run the machine over the actions as an actor would; return (state, interval) after each."""
    out = []
    for kind, t, presence, seq in actions:
        interval = None
        if kind in ("hold", "release") and state is None:
            continue  # the actor has no session to hold yet
        if kind == "hold":
            state, interval = hold(state, t, seq)
        elif kind == "release":
            state, interval = release(state, t, seq)
        elif kind == "observe" and state is None:
            state = start(Presence(**presence), t, seq, policy)
        elif kind == "observe":
            state, interval = observe(state, Presence(**presence), t, seq, policy)
        elif kind == "advance":
            state, interval = advance(state, t)
        elif kind == "close":
            state, interval = close(state, t)
        out.append((state, interval))
    return out


def total(steps: list[tuple[VoiceSession, Interval | None]]) -> float:
    return sum(iv.seconds for _, iv in steps if iv is not None)


def intervals(steps: list[tuple[VoiceSession, Interval | None]]) -> list[Interval]:
    return [iv for _, iv in steps if iv is not None]


@PROPERTY
@given(scripts(), policies)
def test_counted_time_never_exceeds_wall_time_in_voice(
    history: tuple[list[tuple[float, dict]], float], policy: VoicePolicy
) -> None:
    script, end = history
    bounds = [t for t, _ in script[1:]] + [end]
    in_voice = sum(u - t for (t, p), u in zip(script, bounds, strict=True) if p["channel_id"] is not None)
    steps = drive(actions_for(script, end), policy)
    ivs = intervals(steps)
    assert total(steps) <= in_voice
    for earlier, later in itertools.pairwise(ivs):
        assert earlier.end <= later.start  # disjoint and in order: nothing counted twice
    assert all(script[0][0] <= iv.start and iv.end <= end for iv in ivs)


@PROPERTY
@given(scripts(), policies)
def test_never_counts_while_paused_away_afk_or_excluded(
    history: tuple[list[tuple[float, dict]], float], policy: VoicePolicy
) -> None:
    script, end = history
    pol = attrs.asdict(policy)
    bounds = [t for t, _ in script[1:]] + [end]
    steps = drive(actions_for(script, end), policy)
    for iv in intervals(steps):
        for (t, p), u in zip(script, bounds, strict=True):
            if max(iv.start, t) < min(iv.end, u):  # this stretch of the script overlaps the interval
                assert counts(p, pol), (iv, p)
                assert not (p["afk"] or p["excluded"] or p["channel_id"] is None)
    for (state, _), (_, p) in zip(steps, script, strict=False):  # the state after each presence
        assert (state.phase is Phase.COUNTING) == counts(p, pol)


@PROPERTY
@given(scripts(), policies, st.data())
def test_checkpoint_ticks_anywhere_do_not_change_the_total(
    history: tuple[list[tuple[float, dict]], float], policy: VoicePolicy, data: st.DataObject
) -> None:
    script, end = history
    span = st.integers(0, int((end - script[0][0]) * 4)).map(lambda q: script[0][0] + q / 4)
    ticks = data.draw(st.lists(span, max_size=30))
    plain = drive(actions_for(script, end), policy)
    ticked = drive(actions_for(script, end, ticks), policy)
    assert total(ticked) == total(plain)
    assert ticked[-1][0] == plain[-1][0]


@PROPERTY
@given(scripts(), policies, st.data())
def test_restart_from_any_checkpoint_gives_the_same_total(
    history: tuple[list[tuple[float, dict]], float], policy: VoicePolicy, data: st.DataObject
) -> None:
    script, end = history
    span = st.integers(0, int((end - script[0][0]) * 4)).map(lambda q: script[0][0] + q / 4)
    actions = actions_for(script, end, data.draw(st.lists(span, max_size=10)))
    steps = drive(actions, policy)
    crash_after = data.draw(st.integers(0, len(steps) - 1), label="crash_after")
    # The router may redeliver, in any order, presences that were applied before the crash.
    applied = [a for a in actions[: crash_after + 1] if a[0] == "observe"]
    redelivered = data.draw(st.lists(st.sampled_from(applied), max_size=5), label="redelivered")
    saved = json.dumps(cattrs.unstructure(steps[crash_after][0]))
    checkpoint = cattrs.structure(json.loads(saved), VoiceSession)
    replayed = drive([*redelivered, *actions[crash_after + 1 :]], policy, state=checkpoint)
    assert total(steps[: crash_after + 1]) + total(replayed) == total(steps)


@PROPERTY
@given(scripts(), policies)
def test_total_equals_the_oracle(
    history: tuple[list[tuple[float, dict]], float], policy: VoicePolicy
) -> None:
    script, end = history
    assert total(drive(actions_for(script, end), policy)) == expected_seconds(
        script, end, attrs.asdict(policy)
    )


@PROPERTY
@given(st.lists(st.tuples(quarters, presences), min_size=1, max_size=20), quarters, policies)
def test_out_of_order_clock_counts_as_if_time_stood_still(
    steps: list[tuple[float, dict]], end_offset: float, policy: VoicePolicy
) -> None:
    # Timestamps in any order (seqs still increase): a late reading is treated as "now" at the mark.
    script = [(T0 + offset, p) for offset, p in steps]
    actions = [("observe", t, p, seq) for seq, (t, p) in enumerate(script, start=1)]
    got = total(drive([*actions, ("close", T0 + end_offset, None, 0)], policy))
    clamped = [(max(t for t, _ in script[: i + 1]), p) for i, (_, p) in enumerate(script)]
    end = max(T0 + end_offset, clamped[-1][0])
    assert got == expected_seconds(clamped, end, attrs.asdict(policy))
    assert got <= end - script[0][0]


# --- gateway outages ------------------------------------------------------------------------------


def test_an_outage_counts_for_a_user_counting_all_through_it() -> None:
    state, before = hold(counting_since(T0), T0 + 10, 2)
    assert before == Interval(T0, T0 + 10)
    assert advance(state, T0 + 20) == (state, None)  # the mark waits for the outage's end
    state, after = release(state, T0 + 30, 3)
    assert after == Interval(T0 + 10, T0 + 30) and state.counted_until == T0 + 30


def test_an_outage_counts_nothing_for_a_user_whose_counting_stopped_during_it() -> None:
    state, _ = hold(counting_since(T0), T0 + 10, 2)
    state, during = observe(state, ALONE, T0 + 30, 3, DEFAULT)  # replayed: when it happened is unknown
    state, back = observe(state, TOGETHER, T0 + 30, 4, DEFAULT)
    assert during is None and back is None and state.phase is Phase.COUNTING
    state, after = release(state, T0 + 30, 5)
    assert after is None and state.counted_until == T0 + 30
    assert advance(state, T0 + 40)[1] == Interval(T0 + 30, T0 + 40)  # counting again from the end


def test_a_session_closed_during_an_outage_ends_where_it_began() -> None:
    state, _ = hold(counting_since(T0), T0 + 10, 2)
    state, last = close(state, T0 + 50)
    assert last is None and state.counted_until == T0 + 10 and state.phase is Phase.AWAY


def test_a_repeated_hold_or_release_changes_nothing() -> None:
    held, _ = hold(counting_since(T0), T0 + 10, 2)
    assert hold(held, T0 + 20, 3) == (held, None)
    released, _ = release(held, T0 + 30, 4)
    assert release(released, T0 + 40, 5) == (released, None)
    assert release(held, T0 + 30, 2) == (held, None)  # a stale sequence number


@st.composite
def outages(draw: st.DrawFn) -> tuple[list[tuple[float, dict]], float, float, float]:
    """A script, its end, and an outage [o0, o1) inside it, often starting or ending at a change."""
    script, end = draw(scripts(presences=changeable))
    moments = st.one_of(
        st.sampled_from([t for t, _ in script] + [end]),
        st.integers(0, int((end - script[0][0]) * 4)).map(lambda q: script[0][0] + q / 4),
    )
    o0, o1 = sorted((draw(moments), draw(moments)))
    return script, end, o0, o1


def outage_actions(
    script: list[tuple[float, dict]], end: float, o0: float, o1: float, *, replayed: bool
) -> list[Action]:
    """What the bot sees: changes in time, then none from o0 until o1, where a RESUME replays them
    all (stamped o1) or a re-IDENTIFY's GUILD_CREATE shows only the last one, if it changed."""
    seq = itertools.count(1)
    before = [(t, p) for t, p in script if t < o0]
    during = [(t, p) for t, p in script if o0 <= t < o1]
    after = [(t, p) for t, p in script if t >= o1]
    acts: list[Action] = [("observe", t, p, next(seq)) for t, p in before]
    acts.append(("hold", o0, None, next(seq)))
    seen = before[-1][1] if before else None
    if replayed:
        acts += [("observe", o1, p, next(seq)) for _, p in during]
    elif during and during[-1][1] != seen:
        acts.append(("observe", o1, during[-1][1], next(seq)))
    acts.append(("release", o1, None, next(seq)))
    acts += [("observe", t, p, next(seq)) for t, p in after]
    return [*acts, ("close", end, None, 0)]


def unchanged_through(script: list[tuple[float, dict]], o0: float, o1: float, policy: dict) -> bool:
    """Did every change during [o0, o1) keep the counting state the user had when it began?"""
    before = [counts(p, policy) for t, p in script if t < o0]
    at_start = before[-1] if before else False  # not in voice yet
    return all(counts(p, policy) == at_start for t, p in script if o0 <= t < o1)


@PROPERTY
@given(outages(), policies, st.booleans())
def test_an_outage_never_counts_a_second_that_did_not_count_and_loses_at_most_its_length(
    case: tuple[list[tuple[float, dict]], float, float, float], policy: VoicePolicy, replayed: bool
) -> None:
    script, end, o0, o1 = case
    pol = attrs.asdict(policy)
    truth = expected_seconds(script, end, pol)
    got = total(drive(outage_actions(script, end, o0, o1, replayed=replayed), policy))
    if unchanged_through(script, o0, o1, pol):
        assert got == truth  # nothing changed during the outage: exact
    elif replayed:
        assert truth - (o1 - o0) <= got <= truth  # a RESUME's replay: never over the truth
    else:
        assert abs(got - truth) <= o1 - o0  # a re-IDENTIFY cannot see a leave-and-return inside it
