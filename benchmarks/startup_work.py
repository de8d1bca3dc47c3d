"""startup_work_per_guild: the work a start-up costs per guild, at 100, 2,500 and 10,000 guilds.

The real ``Pipeline`` (router, reset clock, publisher, a real SQLite file) starts on a database
that already holds G guilds, each with its stored config (both board channels set), and is fed
one ``GuildSnapshot`` per guild, as the gateway's GUILD_CREATEs after a start. The publisher
talks to an in-process Discord that answers at once (no network: this measures our work, not
Discord's). Measured from the pipeline's start until it is idle (every guild's periods tracked by
the reset clock, both boards of every guild posted, every inbox empty): the store calls and the CPU
seconds (process time, the store's thread included), each divided by G.

The figure is the largest per-guild store-call count over the sizes; the "baseline" is the
smallest, so ``ratio`` is largest / smallest (target: flat within 1.5x). The CPU figures per guild
are in the notes, and the wall seconds the stop then takes (the bound is 10 s at any size). The
code before this benchmark called the store once per known guild for every guild seen (1,032,600
calls and 254 s of CPU at 2,500 guilds).
"""

from __future__ import annotations

import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import trio

from actors.board_protocol import Done, MemberFound, MemberOutcome, NoneFound, Outcome, Posted
from benchmarks.common import Sample, Size, settings_for
from domain.clock import WallClock
from domain.events import Event, GuildSnapshot
from domain.guild_config import GuildConfig, config_to_json
from domain.kinds import BoardKind
from persistence.store import Store
from wiring.pipeline import Pipeline

FIRST_GUILD = 900_000_000_000_000_000
IDLE_WAIT = 600.0  # seconds (of the clock the run is given) the pipeline may take to become idle


class InstantDiscord:
    """Discord answering every board call at once: an empty channel, then the posted board."""

    def __init__(self) -> None:
        self.posts = 0
        self.calls = 0
        self._ids = iter(range(10**15, 10**18))

    async def _call(self) -> None:
        self.calls += 1
        await trio.lowlevel.checkpoint()

    async def post(
        self, channel_id: int, embed: dict[str, Any], nonce: str, *, waiting_since: float | None = None
    ) -> Outcome:
        await self._call()
        self.posts += 1
        return Posted(next(self._ids))

    async def edit(
        self, channel_id: int, message_id: int, embed: dict[str, Any], *, waiting_since: float | None = None
    ) -> Outcome:
        await self._call()
        return Done()

    async def check(self, channel_id: int, message_id: int, *, waiting_since: float | None = None) -> Outcome:
        await self._call()
        return Done()

    async def scan(self, channel_id: int, kind: BoardKind, *, waiting_since: float | None = None) -> Outcome:
        await self._call()
        return NoneFound()

    async def delete(
        self, channel_id: int, message_id: int, *, waiting_since: float | None = None
    ) -> Outcome:
        await self._call()
        return Done()

    async def fetch_member(
        self, guild_id: int, user_id: int, *, waiting_since: float | None = None
    ) -> MemberOutcome:
        await self._call()
        return MemberFound(f"Member {user_id}")


def channels_of(guild_id: int) -> tuple[int, int]:
    """The guild's two board channels (messages, voice)."""
    base = (guild_id - FIRST_GUILD) * 10 + 1_000
    return base, base + 1


def prepare(db: Path, guilds: int, at: float) -> list[GuildSnapshot]:
    """A database holding ``guilds`` guilds (layouts and configs, as a running bot left them), and
    the snapshot of each that the gateway hands over after a start."""
    store = Store(db)
    try:
        snapshots = []
        for g in range(guilds):
            guild_id = FIRST_GUILD + g
            messages, voice = channels_of(guild_id)
            store.period_spec_sync(guild_id, at)
            config = GuildConfig(message_board_channel_id=messages, voice_board_channel_id=voice)
            store.save_guild_config_sync(guild_id, config_to_json(config), at, 1, "config", "set")
            snapshots.append(
                GuildSnapshot(guild_id, f"guild {g}", at, text_channel_ids=frozenset({messages, voice}))
            )
    finally:
        store.close()
    return snapshots


def idle(pipeline: Pipeline, discord: InstantDiscord, guilds: int) -> bool:
    """Every snapshot routed and taken, every guild tracked by the reset clock, every board posted."""
    handle = pipeline.handle
    if handle is None or handle.publisher is None or discord.posts < 2 * guilds:
        return False
    tracked = getattr(handle.reset_clock, "tracked", guilds)  # (the code before this had none)
    return (
        len(handle.router.guilds) >= guilds
        and tracked >= guilds
        and handle.reset_inbox.depth() == 0
        and handle.publisher.inbox.depth() == 0
    )


async def start_guilds(
    db: Path,
    snapshots: list[GuildSnapshot],
    clock: WallClock | None = None,
    *,
    inline: bool = False,
    poll: float = 0.01,
) -> tuple[int, float, float]:
    """Start the pipeline on ``db`` (on ``clock``; None: the real one), feed ``snapshots``, wait
    until idle: (store calls, CPU seconds) until then; then stop it: the wall seconds the stop took."""
    pipeline = Pipeline(settings_for(db).pipeline, clock or WallClock.real(), inline_db=inline)
    discord = InstantDiscord()
    send, receive = trio.open_memory_channel[Event](1_000)
    cpu_started = time.process_time()
    async with trio.open_nursery() as nursery:
        handle = await nursery.start(partial(pipeline.run, receive, poster=discord))
        async with send:
            for snapshot in snapshots:
                await send.send(snapshot)
            with trio.fail_after(IDLE_WAIT):
                while not idle(pipeline, discord, len(snapshots)):  # noqa: ASYNC110
                    await trio.sleep(poll)
            calls, cpu = handle.store.calls, time.process_time() - cpu_started
        stop_started = time.perf_counter()
    return calls, cpu, time.perf_counter() - stop_started


def sample(size: Size, cache: Path, rep: int = 0) -> Sample:
    sizes = size.pick((10, 20, 40), (100, 500, 2_500), (100, 2_500, 10_000))
    calls: dict[int, float] = {}
    cpu: dict[int, float] = {}
    stop: dict[int, float] = {}
    for guilds in sizes:
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            db = Path(tmp, "startup.db")
            snapshots = prepare(db, guilds, time.time())
            total_calls, seconds, stop[guilds] = trio.run(start_guilds, db, snapshots)
        calls[guilds], cpu[guilds] = total_calls / guilds, seconds / guilds
    notes = {f"store_calls_per_guild_at_{g}": calls[g] for g in sizes}
    notes |= {f"cpu_ms_per_guild_at_{g}": cpu[g] * 1000 for g in sizes}
    notes |= {f"stop_s_at_{g}": stop[g] for g in sizes}
    notes["cpu_ratio_max_min"] = max(cpu.values()) / min(cpu.values())
    return Sample(value=max(calls.values()), baseline=min(calls.values()), notes=notes)
