"""/lbexport never has a blank name: stored, else fetched (and stored), else "unknown member (left)"."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

from domain.checkpoints import VoiceBatch
from domain.clock import WallClock
from persistence.export import UNKNOWN_MEMBER
from persistence.store import Store
from tests.e2e.test_commands_e2e import MANAGE_GUILD, ask, commands_ready, started
from tests.harness import EPOCH, simulator

LEFT_LONG_AGO = 4242  # has voice time from an older version, and is no member any more


async def test_every_export_row_has_the_best_name_the_bot_knows(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    db = tmp_path / "lb.db"
    async with simulator(clock, seed=3, members=8) as scenario:
        sim, guild, humans = scenario.sim, scenario.guild, scenario.humans
        unnamed = humans[4]  # voice time stored by an older version, which stored no voice names
        store = Store(db)
        store.apply_voice_sync(
            VoiceBatch(
                (
                    (guild.guild_id, unnamed.user_id, EPOCH - 600, EPOCH - 300),
                    (guild.guild_id, LEFT_LONG_AGO, EPOCH - 600, EPOCH - 60),
                )
            )
        )
        store.close()
        async with started(sim, db, clock, inline_db=True):
            await commands_ready(scenario)
            asked = await ask(scenario, humans[0], "lbexport", permissions=MANAGE_GUILD)
            (attachment,) = asked.original["attachments"]  # type: ignore[index]
            rows = list(csv.DictReader(io.StringIO(sim.world.attachments[int(attachment["id"])].decode())))
            fetches = [
                path for method, path, _ in sim.world.rest_calls if method == "GET" and "/members/" in path
            ]
        with sqlite3.connect(db) as conn:
            stored = dict(conn.execute("SELECT user_id, name FROM members"))
    names = {int(row["user_id"]): row["name"] for row in rows}
    assert names == {unnamed.user_id: unnamed.global_name, LEFT_LONG_AGO: UNKNOWN_MEMBER}
    assert sorted(fetches) == sorted(
        f"/api/v10/guilds/{guild.guild_id}/members/{user}" for user in (unnamed.user_id, LEFT_LONG_AGO)
    ), "one fetch each, for the members without a stored name"
    assert stored == {unnamed.user_id: unnamed.global_name}, "a fetched name is kept; no name is made up"
