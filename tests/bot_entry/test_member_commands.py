"""``/leaderboard`` through the simulator: pages built like the posted boards, ``hide_departed`` too."""

from __future__ import annotations

from pathlib import Path

from actors.names import escape_name
from domain.clock import WallClock
from tests.e2e.test_commands_e2e import MANAGE_GUILD, ask, bot, chat


def names_on(asked: object) -> list[str]:
    description = asked.original["embeds"][0]["description"]  # type: ignore[attr-defined]
    return [line.split("** ", 1)[1].rsplit(" — ", 1)[0] for line in description.splitlines()]


async def test_leaderboard_hides_members_who_left_when_the_server_says_so(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    """Issue 16.4: ``hide_departed`` is honoured by ``/leaderboard`` as by the posted boards; the
    pages count only members still in the server."""
    db = tmp_path / "lb.db"
    async with bot(clock, db) as (scenario, _app):
        humans = scenario.humans
        await chat(scenario, db, [(member, 20 - i) for i, member in enumerate(humans[:13])])
        shown = [escape_name(m.global_name or m.username) for m in humans[:13]]
        first = await ask(scenario, humans[2], "leaderboard", {"board": "messages"})
        assert names_on(first) == shown[:10]

        scenario.sim.remove_member(scenario.guild, humans[1])  # the second placed leaves
        still = await ask(scenario, humans[2], "leaderboard", {"board": "messages"})
        assert names_on(still) == shown[:10]  # hide_departed is off: they stay listed

        await ask(scenario, humans[0], "lbconfig set", {"hide_departed": True}, permissions=MANAGE_GUILD)
        hidden = await ask(scenario, humans[2], "leaderboard", {"board": "messages"})
        assert names_on(hidden) == [shown[0], *shown[2:11]]
        description = hidden.original["embeds"][0]["description"]  # type: ignore[index]
        assert [line.split("**")[1] for line in description.splitlines()] == [f"#{i}" for i in range(1, 11)]
        second = await ask(scenario, humans[2], "leaderboard", {"board": "messages", "page": 2})
        assert names_on(second) == shown[11:13]
