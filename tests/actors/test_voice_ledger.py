"""The voice ledger against a real SQLite file: names from voice are kept; a failing disk at a stop
is retried within a bound, then reported per guild; a forget drops what is not written yet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from actors.batch_writer import FINAL_BACKOFF
from actors.voice_ledger import Checkpointed, LedgerMessage, SessionEnded, SessionKey, VoiceLedger
from actors.voice_machine import Interval, Phase, VoiceSession
from domain.messages import MemberForgotten
from persistence.errors import FlushIncomplete
from persistence.store import Store
from supervisor.inbox import QueueInbox
from supervisor.mailbox import Mailbox
from supervisor.supervisor import open_supervisor

T0 = 1_790_000_000.0
G, OTHER = 7, 8


def counting(until: float) -> VoiceSession:
    return VoiceSession(Phase.COUNTING, None, 5, until, 1)


async def test_a_name_seen_in_voice_is_the_last_known_name(tmp_path: Path) -> None:
    store = Store(tmp_path / "lb.db", inline=True)
    ledger = VoiceLedger(store)
    ledger.record((G, 10, 1), counting(T0 + 60), Interval(T0, T0 + 60), ("Ada in voice", T0))
    assert await ledger.flush()
    assert store.db.execute("SELECT user_id, name FROM members").fetchall() == [(10, "Ada in voice")]
    assert store.voice_seconds_sync(G) == {10: 60.0}
    await store.aclose()


async def test_a_final_flush_on_a_full_disk_is_bounded_and_reports_seconds_per_guild(
    autojump_clock: object, tmp_path: Path
) -> None:
    store = Store(tmp_path / "lb.db", inline=True)
    (pages,) = store.db.execute("PRAGMA page_count").fetchone()
    store.db.execute(f"PRAGMA max_page_count = {pages}")  # a real SQLITE_FULL on the first new page
    ledger = VoiceLedger(store)
    for user in range(2000):  # enough rows to need a new page
        guild = G if user % 4 else OTHER
        ledger.record((guild, user, 1), counting(T0 + 30), Interval(T0, T0 + 30))
    began = trio.current_time()
    assert not await ledger.flush(final=True)
    assert trio.current_time() - began == pytest.approx(FINAL_BACKOFF.total_wait)
    assert store.unwritten == {"voice seconds": {G: 1500 * 30.0, OTHER: 500 * 30.0}}
    with pytest.raises(FlushIncomplete, match=f"voice seconds: guild {G}: 45000, guild {OTHER}: 15000"):
        await store.aclose()


GUILD, GONE, KEPT = 1, 10, 11


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
    ledger.record(gone, counting(T0 + 60), Interval(T0, T0 + 60))
    ledger.record(kept, counting(T0 + 60), Interval(T0, T0 + 60))
    inbox = Mailbox[LedgerMessage]("voice_ledger")
    forgotten = MemberForgotten(GUILD, GONE, T0 + 90)
    async with trio.open_nursery() as nursery:
        await nursery.start(ledger.run, None, inbox)
        await inbox.send(forgotten)
        await forgotten.applied.wait()
        # Nothing of the member's from before the forget is left to write.
        assert all((g, u) != (GUILD, GONE) or start >= forgotten.at for g, u, start, _ in ledger._intervals)
        # The session did not hear of the forget: its next checkpoint covers time before it.
        await inbox.send(Checkpointed(gone, counting(T0 + 120), Interval(T0 + 60, T0 + 120)))
        await trio.sleep(2)
        assert voice_ms(store, GONE) == 30_000  # only from the forget on
        assert voice_ms(store, KEPT) == 60_000
        away = VoiceSession(Phase.AWAY, None, None, T0 + 150, 2)
        await inbox.send(SessionEnded(gone, away, Interval(T0 + 120, T0 + 150)))
        await trio.sleep(2)
        assert ledger._cutoffs == {}  # no session of the member has time from before the cutoff now
        inbox.close()
    assert voice_ms(store, GONE) == 60_000
    store.close()


async def test_a_crash_inside_a_batch_of_reports_loses_none_and_takes_none_twice(
    autojump_clock: object, tmp_path: Path
) -> None:
    """The ledger takes queued reports as one batch; a crash at the 5th of 10 hands out that one
    and the rest again (the ones before it are taken already): every user's minute, once."""
    crashed: list[SessionKey] = []

    class CrashOnce(VoiceLedger):
        def record(self, key: SessionKey, *args: Any, **kw: Any) -> None:
            if key[1] == 5 and not crashed:
                crashed.append(key)
                raise RuntimeError("injected fault")
            super().record(key, *args, **kw)

    store = Store(tmp_path / "lb.db", inline=True)
    store.period_spec_sync(G, T0)
    ledger = CrashOnce(store, flush_seconds=1.0)
    inbox = QueueInbox[LedgerMessage]("voice_ledger", capacity=100)
    for user in range(1, 11):
        away = VoiceSession(Phase.AWAY, None, None, T0 + 60, 2)
        inbox.sender.send_nowait(SessionEnded((G, user, user), away, Interval(T0, T0 + 60)))
    async with open_supervisor("root", intensity=5, period=60.0) as root:
        await root.start_child(ledger.spec(), inbox)
        await trio.sleep(3)
        inbox.close()
    assert crashed == [(G, 5, 5)] and root.restarts[ledger.spec().name] == 1
    assert [voice_ms(store, user) for user in range(1, 11)] == [60_000] * 10
    store.close()
