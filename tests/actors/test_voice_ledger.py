"""The voice ledger against a real SQLite file: names from voice are kept; a failing disk at a stop
is retried within a bound, then reported per guild."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from actors.voice_ledger import FINAL_BACKOFF, VoiceLedger
from actors.voice_machine import Interval, Phase, VoiceSession
from persistence.errors import FlushIncomplete
from persistence.store import Store

T0 = 1_790_000_000.0
G, OTHER = 7, 8


def counting(until: float) -> VoiceSession:
    return VoiceSession(Phase.COUNTING, None, 5, until, 1)


async def test_a_name_seen_in_voice_is_the_last_known_name(tmp_path: Path) -> None:
    store = Store(tmp_path / "lb.db", inline=True)
    ledger = VoiceLedger(store)
    ledger.named((G, 10, 1), "Ada in voice", T0)
    ledger.record((G, 10, 1), counting(T0 + 60), Interval(T0, T0 + 60))
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
