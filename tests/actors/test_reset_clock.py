"""Reset clock: exactly one archive per finished period, correct after downtime, crashes and TZ."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
import trio

from actors.leaderboard_publisher import PublishFinal
from actors.leaderboard_publisher import Request as PublisherMessage
from actors.reset_clock import ResetClock, ResetRequested, ResetTooLate, request_reset, reset_clock_inbox
from domain.checkpoints import MessageBatch
from domain.clock import WallClock
from domain.events import Event, MessageSent
from domain.guild_config import GuildConfig, GuildConfigs
from domain.messages import PeriodReset
from domain.periods import DAY, PeriodSpec, day_floor
from persistence.store import Store
from tests.harness import EPOCH, host_tz, settings_for
from tests.voice_script import GUILD, expected, generate
from wiring.pipeline import Pipeline

YEAR = 365 * DAY


def messages_for(seed: int, start: float, users: int, count: int) -> list[MessageSent]:
    rng = random.Random(seed)
    weights = [1 / (i + 1) for i in range(users)]  # a few chatterboxes, so top 10s are meaningful
    times = sorted(int(start) + rng.randrange(1, YEAR) for _ in range(count))
    return [
        MessageSent(GUILD, 7, 10**6 + i, 10_000 + rng.choices(range(users), weights)[0], "someone", float(at))
        for i, at in enumerate(times)
    ]


def top10(values: dict[int, int]) -> list[list[int]]:
    return [[u, v] for u, v in sorted(values.items(), key=lambda kv: (-kv[1], kv[0])) if v > 0][:10]


@pytest.mark.parametrize(
    "engine",
    ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)],  # PostgreSQL: ~40 s
)
async def test_a_year_of_twelve_periods_archives_each_once_matching_the_oracle(
    autojump_clock: trio.testing.MockClock, tmp_path: Path, engine: str, request: pytest.FixtureRequest
) -> None:
    seed = 12
    voice = generate(seed, start=EPOCH, users=25, seconds=YEAR)
    messages = messages_for(seed, EPOCH, users=30, count=3_000)
    timeline = sorted([*voice.changes, *messages], key=lambda e: e.at)
    db: Path | str = tmp_path / "year.db" if engine == "sqlite" else request.getfixturevalue("pg_url")
    clock = WallClock.starting_at(EPOCH)
    # Long checkpoint and flush intervals keep a simulated year fast; they change no total.
    settings = settings_for(
        db, VOICE_CHECKPOINT_SECONDS="21600", MESSAGE_FLUSH_SECONDS="3600", VOICE_FLUSH_SECONDS="3600"
    )
    pipeline = Pipeline(settings.pipeline, clock, inline_db=True)  # virtual time must not pass inside a write
    send, receive = trio.open_memory_channel[Event](1_000)
    async with trio.open_nursery() as nursery:
        await nursery.start(pipeline.run, receive)
        async with send:
            await send.send(voice.snapshot)
            for event in timeline:
                await clock.sleep_until(event.at)
                await send.send(event)
            await clock.sleep_until(voice.end + DAY)  # past the last period's grace
    spec = PeriodSpec(day_floor(EPOCH), 30 * DAY)
    voice_want = expected(voice, spec, frozenset())
    messages_want: Counter[tuple[int, int]] = Counter((m.author_id, spec.index_at(m.at)) for m in messages)
    store = Store(db)
    try:
        assert pipeline.reset_clock is not None and pipeline.reset_clock.resets == 12
        assert store.last_archived_sync(GUILD) == 11
        for period in range(12):
            archive = store.archive_sync(GUILD, period)
            assert archive is not None, f"seed {seed}: period {period} was not archived"
            msgs = {u: n for (u, p), n in messages_want.items() if p == period}
            vms = {u: s * 1000 for (u, p), s in voice_want.items() if p == period}
            assert archive["top_messages"] == top10(msgs), f"seed {seed}, period {period}"
            assert archive["top_voice"] == top10(vms), f"seed {seed}, period {period}"
            assert archive["users"] == len(set(msgs) | set(vms))
            assert (archive["started_at"], archive["ended_at"]) == (
                spec.start_of(period),
                spec.end_of(period),
            )
        all_time = store.message_counts_sync(GUILD)
        assert all_time == dict(Counter(m.author_id for m in messages))  # totals survive every reset
    finally:
        store.close()


SEED_ROWS = ((0, 1, 5), (0, 2, 7), (1, 1, 2), (3, 3, 9))


def seeded_store(
    path: Path | str, rows: tuple[tuple[int, int, int], ...] = SEED_ROWS
) -> tuple[Store, PeriodSpec]:
    """A guild first seen at EPOCH with messages (period, user, count): by default in its first,
    second and fourth periods."""
    store = Store(path)
    spec = store.period_spec_sync(GUILD, EPOCH)
    for period, user, n in rows:
        at = int(spec.start_of(period) + 3600)
        store.apply_messages_sync(MessageBatch({(GUILD, user, at): n}, (), {}))
    return store, spec


async def test_downtime_across_three_boundaries_archives_three_periods_in_order(
    autojump_clock: trio.testing.MockClock, db_target: Path | str
) -> None:
    store, spec = seeded_store(db_target)
    now = spec.start_of(3) + 2 * DAY  # the bot comes back 92 days after the guild was first seen
    clock = WallClock.starting_at(now)
    resets = ResetClock(store, clock, grace_seconds=10)
    assert await resets.catch_up() == [(GUILD, 0), (GUILD, 1), (GUILD, 2)]
    assert await resets.catch_up() == []  # running it again resets nothing
    assert [store.archive_sync(GUILD, p)["users"] for p in range(3)] == [2, 1, 0]  # type: ignore[index]
    assert store.archive_sync(GUILD, 2)["top_messages"] == []  # type: ignore[index]
    assert spec.index_at(clock.now()) == 3 and store.message_counts_sync(GUILD, 3) == {3: 9}
    store.close()


@pytest.mark.parametrize("step", ["begin", "checked", "ranked", "archived"])
async def test_a_crash_at_any_step_of_a_reset_never_resets_twice_nor_loses_the_archive(
    autojump_clock: trio.testing.MockClock, db_target: Path | str, step: str
) -> None:
    store, spec = seeded_store(db_target)
    clock = WallClock.starting_at(spec.start_of(2) + DAY)
    failed: list[str] = []

    def crash_once(at: str) -> None:
        if at == step and not failed:
            failed.append(at)
            raise RuntimeError(f"injected failure at {at}")

    resets = ResetClock(store, clock, grace_seconds=10, fault=crash_once)
    with pytest.raises(RuntimeError, match="injected failure"):
        await resets.catch_up()
    assert store.last_archived_sync(GUILD) is None  # the transaction rolled back whole
    assert await resets.catch_up() == [(GUILD, 0), (GUILD, 1)]
    assert await resets.catch_up() == []
    assert store.archive_sync(GUILD, 0)["top_messages"] == [[2, 7], [1, 5]]  # type: ignore[index]
    assert store.message_counts_sync(GUILD) == {1: 7, 2: 7, 3: 9}
    store.close()


@pytest.mark.parametrize("step", ["checked", "archived"])
async def test_an_early_reset_is_atomic_and_the_next_period_starts_now(
    autojump_clock: trio.testing.MockClock, db_target: Path | str, step: str
) -> None:
    store, spec = seeded_store(db_target, rows=((0, 1, 5), (0, 2, 7)))
    clock = WallClock.starting_at(spec.start_of(0) + 10 * DAY)
    failed: list[str] = []

    def crash_once(at: str) -> None:
        if at == step and not failed:
            failed.append(at)
            raise RuntimeError("injected failure")

    resets = ResetClock(store, clock, grace_seconds=10, fault=crash_once)
    with pytest.raises(RuntimeError):
        await resets.reset_now(GUILD, by_user=99)
    assert store.period_spec_sync(GUILD, clock.now()) == spec  # nothing moved
    assert await resets.reset_now(GUILD, by_user=99) == 0
    moved = store.period_spec_sync(GUILD, clock.now())
    assert (moved.anchor, moved.base) == (clock.now(), 1)
    assert store.archive_sync(GUILD, 0)["ended_at"] == clock.now()  # type: ignore[index]
    store.apply_messages_sync(MessageBatch({(GUILD, 1, int(clock.now()) + 60): 1}, (), {}))
    assert store.message_counts_sync(GUILD, 1) == {1: 1}  # counts after the reset start fresh
    assert store.message_counts_sync(GUILD, 0) == {1: 5, 2: 7}  # and the old period is intact
    rows = store.db.execute("SELECT action, user_id FROM audit WHERE guild_id = ?", [GUILD]).fetchall()
    assert rows == [("reset", 99)]
    store.close()


async def test_the_host_time_zone_changes_nothing(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    archives = []
    for tz in ("UTC", "Pacific/Kiritimati", "America/Adak"):
        with host_tz(tz):
            store, spec = seeded_store(tmp_path / f"{tz.replace('/', '_')}.db")
            resets = ResetClock(store, WallClock.starting_at(spec.start_of(3) + 60), grace_seconds=10)
            await resets.catch_up()
            archives.append(
                [json.dumps(store.archive_sync(GUILD, p), sort_keys=True, default=str) for p in range(3)]
            )
            store.close()
    assert archives[0] == archives[1] == archives[2]
    assert '"period": 2' in archives[0][2]


async def test_boards_are_posted_final_before_each_reset(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    store, spec = seeded_store(tmp_path / "final.db")
    posted: list[tuple[int, int, int | None]] = []
    told: list[PeriodReset] = []
    send, receive = trio.open_memory_channel[PublisherMessage](10)

    async def publisher() -> None:  # answers as the leaderboard publisher does
        async for request in receive:
            if isinstance(request, PublishFinal):
                posted.append((request.guild_id, request.period, store.last_archived_sync(GUILD)))
                request.done.set()
            elif isinstance(request, PeriodReset):
                told.append(request)

    clock = WallClock.starting_at(spec.start_of(2) + DAY)
    resets = ResetClock(store, clock, grace_seconds=10, publisher=send)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(publisher)
        await resets.catch_up()
        send.close()
    assert posted == [(GUILD, 0, None), (GUILD, 1, 0)]  # each board went out before its archive
    assert [(t.guild_id, t.period) for t in told] == [(GUILD, 0), (GUILD, 1)]  # then it was told
    store.close()


async def test_a_new_period_length_applies_from_the_next_reset(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    store, spec = seeded_store(tmp_path / "relayout.db")
    configs = GuildConfigs(GuildConfig())
    configs.update(GUILD, period_days=7)
    clock = WallClock.starting_at(spec.start_of(1) + 10 * DAY)  # day 40: period 0 ended at day 30
    resets = ResetClock(store, clock, grace_seconds=10, configs=configs)
    assert await resets.catch_up() == [(GUILD, 0), (GUILD, 1)]  # period 1 is now days 30-37
    new = store.known_guilds_sync()[GUILD]
    assert (new.anchor, new.length, new.base) == (spec.end_of(0), 7 * DAY, 1)
    assert store.archive_sync(GUILD, 1)["ended_at"] == spec.end_of(0) + 7 * DAY  # type: ignore[index]
    assert new.index_at(clock.now()) == 2
    store.close()


async def test_an_early_reset_is_a_message_answered_by_the_clock_itself(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """The command's reset runs in the reset clock's own task (no call into the actor from outside),
    and one taken after its deadline is refused rather than done late."""
    store, spec = seeded_store(tmp_path / "early.db", rows=((0, 1, 5),))
    store.inline = True  # virtual time must not pass inside a write (the request has a deadline)
    clock = WallClock.starting_at(spec.start_of(0) + 10 * DAY)
    resets = ResetClock(store, clock, grace_seconds=10)
    inbox = reset_clock_inbox()
    async with trio.open_nursery() as nursery:
        await nursery.start(resets.run, None, inbox)
        assert await request_reset(inbox.sender, clock, GUILD, by_user=99) == 0
        late = ResetRequested(GUILD, 99, deadline=clock.now() - 1)
        await inbox.send(late)
        await late.done.wait()
        assert isinstance(late.error, ResetTooLate) and late.period is None
        inbox.close()
    assert resets.resets == 1
    assert store.period_spec_sync(GUILD, clock.now()).base == 1  # one reset, not two
