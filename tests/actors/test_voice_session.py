"""The voice-session shell: what it reports to the ledger, when, and how it resumes after a crash.

The rules themselves are the pure machine's (tests/actors/test_voice_machine.py); here a real
supervisor runs the actor on MockClock, and the ledger's inbox is read directly.
"""

from __future__ import annotations

import itertools

import trio
import trio.testing

from actors import voice_machine as vm
from actors.voice_ledger import Checkpointed, SessionEnded
from actors.voice_session import PresenceChanged, SessionEvent, VoiceFault, VoiceSessionActor
from domain.clock import WallClock
from supervisor.inbox import SessionInbox
from supervisor.mailbox import Mailbox
from supervisor.supervisor import open_supervisor
from supervisor.ticker import open_ticker

T0 = 1_790_000_000.0
KEY = (1, 10, 1)
TOGETHER = vm.Presence(100, has_company=True, name="Ada")
ALONE = vm.Presence(100, has_company=False)


async def run_session(
    changes: list[tuple[float, vm.Presence]], until: float, fault: VoiceFault | None = None
) -> list[Checkpointed | SessionEnded]:
    """Feed ``changes`` (seconds after T0) to one session, leave at ``until``; what the ledger got."""
    clock = WallClock.starting_at(T0)
    send, receive = trio.open_memory_channel[Checkpointed | SessionEnded](100)
    inbox = Mailbox[SessionEvent]("voice")
    async with open_ticker() as ticker, open_supervisor("voice", intensity=3, period=60.0) as voice:
        actor = VoiceSessionActor(KEY, send, clock, checkpoint_seconds=5.0, ticker=ticker, fault=fault)
        await voice.start_child(actor.spec(), inbox)
        for seq, (after, presence) in enumerate([*changes, (until, vm.Presence(None))], start=1):
            await clock.sleep_until(T0 + after)
            await inbox.send(PresenceChanged(presence, clock.now(), seq))
    send.close()
    return [report async for report in receive]


def counted(reports: list[Checkpointed | SessionEnded]) -> float:
    return sum(r.interval.end - r.interval.start for r in reports if r.interval is not None)


async def test_a_counting_session_checkpoints_every_interval_and_ends_with_its_last_seconds(
    autojump_clock: object,
) -> None:
    reports = await run_session([(0.0, TOGETHER)], until=12.0)
    assert [type(r).__name__ for r in reports] == ["Checkpointed"] * 3 + ["SessionEnded"]
    assert [r.state.counted_until - T0 for r in reports] == [0.0, 5.0, 10.0, 12.0]
    assert counted(reports) == 12.0
    assert reports[0].name == ("Ada", T0)  # the name rides on the report of the change that carried it


async def test_a_paused_session_reports_its_changes_but_no_ticks(autojump_clock: object) -> None:
    reports = await run_session([(0.0, ALONE), (20.0, TOGETHER)], until=23.0)
    assert [r.state.phase for r in reports] == [vm.Phase.PAUSED, vm.Phase.COUNTING, vm.Phase.AWAY]
    assert counted(reports) == 3.0  # only the three seconds with company


async def test_a_crash_resumes_from_the_last_report_and_counts_nothing_twice(autojump_clock: object) -> None:
    crashed = []

    def crash_once(key: object, change: SessionEvent) -> None:
        if isinstance(change, PresenceChanged) and change.seq == 2 and not crashed:
            crashed.append(change)
            raise RuntimeError("injected")

    reports = await run_session([(0.0, TOGETHER), (7.0, ALONE)], until=9.0, fault=crash_once)
    assert crashed  # the second change crashed the actor once; the mailbox handed it back
    assert counted(reports) == 7.0


async def test_the_shared_ticker_checkpoints_a_counting_session_at_least_every_interval_across_a_crash(
    autojump_clock: object,
) -> None:
    crashed = []

    def crash_once(key: object, change: SessionEvent) -> None:
        if isinstance(change, PresenceChanged) and change.seq == 2 and not crashed:
            crashed.append(change)
            raise RuntimeError("injected")

    changes = [(0.0, TOGETHER), (3.0, TOGETHER), (4.5, TOGETHER)]
    reports = await run_session(changes, until=21.0, fault=crash_once)
    assert crashed
    marks = [r.state.counted_until - T0 for r in reports]
    assert marks == [0.0, 3.0, 4.5, 9.5, 14.5, 19.5, 21.0]  # due again 5 s after each report
    assert counted(reports) == 21.0


async def test_many_sessions_share_one_ticker_with_one_entry_each(autojump_clock: object) -> None:
    clock = WallClock.starting_at(T0)
    send, receive = trio.open_memory_channel[Checkpointed | SessionEnded](10_000)
    inboxes = [SessionInbox[SessionEvent](f"voice:{n}", capacity=8) for n in range(50)]
    async with open_ticker() as ticker, open_supervisor("voice", intensity=3, period=60.0) as voice:
        for n, inbox in enumerate(inboxes):
            actor = VoiceSessionActor((1, n, 1), send, clock, checkpoint_seconds=5.0, ticker=ticker)
            await voice.start_child(actor.spec(), inbox)
            await clock.sleep_until(T0 + n * 0.1)
            await inbox.send(PresenceChanged(TOGETHER, clock.now(), 1))
        await clock.sleep_until(T0 + 29.95)  # between due times: every wake is pending
        assert len(ticker) == len(inboxes)  # one pending wake per counting session, no more
        for inbox in inboxes:
            await inbox.send(PresenceChanged(vm.Presence(None), clock.now(), 2))
    send.close()
    reports = [report async for report in receive]
    for n in range(len(inboxes)):
        marks = [r.state.counted_until - T0 for r in reports if r.key == (1, n, 1)]
        assert abs(marks[0] - n * 0.1) < 1e-6
        assert all(b - a <= 5.0 + 1e-9 for a, b in itertools.pairwise(marks))
        assert abs(marks[-1] - 29.95) < 1e-6


async def test_changes_that_move_a_counting_sessions_mark_leave_one_ticker_entry_and_checkpoint_on_time(
    autojump_clock: object,
) -> None:
    """A change moves the mark, so the next checkpoint is due later; the session keeps its earlier
    entry (it arrives early and is ignored) instead of registering anew on every change (issue 18,
    round 4): the ticker's heap holds one entry, and the checkpoints fall where they did."""
    clock = WallClock.starting_at(T0)
    send, receive = trio.open_memory_channel[Checkpointed | SessionEnded](100)
    inbox = SessionInbox[SessionEvent]("voice", capacity=8)
    async with open_ticker() as ticker, open_supervisor("voice", intensity=3, period=60.0) as voice:
        actor = VoiceSessionActor(KEY, send, clock, checkpoint_seconds=5.0, ticker=ticker)
        await voice.start_child(actor.spec(), inbox)
        for seq in range(1, 21):  # a change every 0.1 s: each one moves the mark
            await clock.sleep_until(T0 + (seq - 1) * 0.1)
            await inbox.send(PresenceChanged(TOGETHER, clock.now(), seq))
        await trio.testing.wait_all_tasks_blocked()
        assert len(ticker) == 1
        assert len(ticker._heap) == 1  # no cancelled entries left behind by the 20 changes
        await clock.sleep_until(T0 + 12.0)
        await inbox.send(PresenceChanged(vm.Presence(None), clock.now(), 21))
    send.close()
    marks = [round(r.state.counted_until - T0, 6) for r in [report async for report in receive]]
    assert marks == [round(n * 0.1, 6) for n in range(20)] + [6.9, 11.9, 12.0]
    assert len(ticker) == 0
