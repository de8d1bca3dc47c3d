"""The voice ledger's forget: nothing of a forgotten member's from before the cutoff is written."""

from __future__ import annotations

from pathlib import Path

import trio

from actors import voice_machine as vm
from actors.voice_ledger import Checkpointed, LedgerMessage, SessionEnded, VoiceLedger
from domain.messages import MemberForgotten
from persistence.store import Store
from supervisor.mailbox import Mailbox

GUILD, GONE, KEPT = 1, 10, 11
T0 = 1_790_000_000.0


def counting(until: float) -> vm.VoiceSession:
    return vm.VoiceSession(vm.Phase.COUNTING, None, 5, until, 1)


def voice_ms(store: Store, user_id: int) -> int:
    (ms,) = store.db.execute(
        "SELECT COALESCE(SUM(voice_ms), 0) FROM activity WHERE user_id = ?", (user_id,)
    ).fetchone()
    return int(ms)


async def test_a_forget_drops_pending_time_and_clips_what_the_session_reports_later(
    autojump_clock: object, tmp_path: Path
) -> None:
    store = Store(tmp_path / "lb.db", inline=True)
    store.period_spec_sync(GUILD, T0)
    ledger = VoiceLedger(store, flush_seconds=1.0)
    gone, kept = (GUILD, GONE, 1), (GUILD, KEPT, 2)
    ledger.record(gone, counting(T0 + 60), vm.Interval(T0, T0 + 60))
    ledger.record(kept, counting(T0 + 60), vm.Interval(T0, T0 + 60))
    inbox = Mailbox[LedgerMessage]("voice_ledger")
    forgotten = MemberForgotten(GUILD, GONE, T0 + 90)
    async with trio.open_nursery() as nursery:
        await nursery.start(ledger.run, None, inbox)
        await inbox.send(forgotten)
        await forgotten.applied.wait()
        assert not ledger.pending or all(key[:2] != (GUILD, GONE) for key in ledger._checkpoints)
        # The session did not hear of the forget: its next checkpoint covers time before it.
        await inbox.send(Checkpointed(gone, counting(T0 + 120), vm.Interval(T0 + 60, T0 + 120)))
        await trio.sleep(2)
        assert voice_ms(store, GONE) == 30_000  # only from the forget on
        assert voice_ms(store, KEPT) == 60_000
        away = vm.VoiceSession(vm.Phase.AWAY, None, None, T0 + 150, 2)
        await inbox.send(SessionEnded(gone, away, vm.Interval(T0 + 120, T0 + 150)))
        await trio.sleep(2)
        assert ledger._cutoffs == {}  # no session of the member has time from before the cutoff now
        inbox.close()
    assert voice_ms(store, GONE) == 60_000
    store.close()
