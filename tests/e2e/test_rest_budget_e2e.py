"""The REST budget through the whole path: the real disnake client, the simulator's clock.

Many guilds start at once with boards to post: far more calls than the budget lets go per second.
The simulator records every REST call with its (virtual) time, so the budget is checked where
Discord would see it; a slash command asked in the middle of that burst is answered within
Discord's 3 seconds all the same.
"""

from __future__ import annotations

import random
from pathlib import Path

from bot_entry.rest_budget import RestPolicy
from discord_sim.crowd import Scenario, build_scenario
from domain.clock import WallClock
from domain.guild_config import GuildConfig, config_to_json
from persistence.store import Store
from tests.e2e.test_boards_e2e import boards, timed_calls
from tests.harness import running_bot, settings_for, simulator, wait_until

GUILDS = 60  # 2 boards each: a post per board (their reads come minutes later), 120 board calls at start
RATE = 10.0  # calls per second: the burst takes twelve seconds to go out
ANSWER_WITHIN = 3.0  # Discord drops an interaction not answered within 3 s


def seed_boards(db: Path, scenarios: list[Scenario]) -> None:
    """Each guild's two boards in its own text channels (stored as an admin sets them)."""
    store = Store(db)
    try:
        for scenario in scenarios:
            config = GuildConfig(
                message_board_channel_id=scenario.text_channels[0].channel_id,
                voice_board_channel_id=scenario.text_channels[1].channel_id,
            )
            store.save_guild_config_sync(
                scenario.guild.guild_id, config_to_json(config), 0.0, 1, "config", "test"
            )
    finally:
        store.close()


def interaction_call(method: str, path: str) -> bool:
    return "/interactions/" in path or path.startswith("/api/v10/webhooks/")


async def test_the_simulator_never_sees_more_than_the_budget_while_a_command_answers_in_time(
    autojump_clock: object, aio_loop: object, clock: WallClock, tmp_path: Path
) -> None:
    db = tmp_path / "boards.db"
    policy = RestPolicy.of(RATE)
    async with simulator(clock, seed=5, members=4) as first:
        sim = first.sim
        scenarios = [first] + [
            build_scenario(sim, random.Random(i), members=4, name=f"Guild {i}") for i in range(GUILDS - 1)
        ]
        seed_boards(db, scenarios)
        settings = settings_for(db, REST_GLOBAL_PER_SECOND=str(RATE))
        with timed_calls(sim, clock) as calls:
            async with running_bot(sim, settings, clock) as app:
                await wait_until(
                    lambda: any("/messages" in path for _, path, _ in calls), what="the first board call"
                )
                asked_at = clock.now()
                asked = sim.interact(first.guild, first.humans[0], first.text_channels[0], "rank")
                await wait_until(lambda: asked.response_type is not None, within=10, what="the /rank answer")
                answered_at = next(
                    t
                    for t, (method, path, _) in zip(calls.times, calls, strict=True)
                    if path.endswith("/callback") and str(asked.interaction_id) in path
                )

                def all_posted() -> bool:
                    return all(
                        len(boards(sim, s.text_channels[0].channel_id)) == 1
                        and len(boards(sim, s.text_channels[1].channel_id)) == 1
                        for s in scenarios
                    )

                await wait_until(all_posted, within=120, what="every guild's boards")
                boards_done_at = clock.now()
                snapshot = app.metrics.exposition().decode()

    paced = [t for t, (m, path, _) in zip(calls.times, calls, strict=True) if not interaction_call(m, path)]
    assert len(paced) >= 2 * GUILDS  # the 120 board calls of the start, as when each post had a scan
    worst_second = max(sum(1 for u in paced if t <= u < t + 1.0) for t in paced)
    assert worst_second <= RATE + policy.burst, worst_second
    for i in range(len(paced)):
        for j in range(i + 1, len(paced)):
            # (+1 us on the span: an epoch-seconds float near 1.79e9 is exact to 2.4e-7 s only, and at
            # the default burst the grants sit exactly on the bound)
            span = paced[j] - paced[i] + 1e-6
            assert j - i + 1 <= policy.rate * span + policy.burst + 1e-6, (i, j)
    assert answered_at - asked_at <= ANSWER_WITHIN, answered_at - asked_at
    assert answered_at < boards_done_at - 5, "the command was answered in the middle of the burst"

    assert 'leaderboard_rest_calls_total{class="board"}' in snapshot
    # The answer went through the budget too (counted, not paced): disnake's webhook adapter.
    assert 'leaderboard_rest_calls_total{class="interaction"} 0.0' not in snapshot
    assert "leaderboard_rest_breaker_open 0.0" in snapshot
