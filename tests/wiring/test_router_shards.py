"""A gateway outage is one shard's: only the guilds that shard carries hold their voice sessions."""

from __future__ import annotations

from typing import Any

import trio

from actors.voice_session import OutageBegan, OutageEnded, PresenceChanged
from domain.events import ConnectionLost, ConnectionResumed, GuildSnapshot, VoiceStateChanged
from domain.shards import shard_of
from supervisor.mailbox import Mailbox
from supervisor.supervisor import ChildSpec, Restart, open_supervisor
from wiring.router import Router

ON_0, ON_1 = 0 << 22, 1 << 22  # guild ids whose shard (of 2) is 0 and 1
CHANNEL = 99


async def _idle(checkpoint: Any, inbox: Any, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    task_status.started()
    await trio.sleep_forever()


async def _nothing() -> None:
    return None


def idle_voice(key: tuple[int, int, int]) -> ChildSpec:
    return ChildSpec(f"voice:{key[0]}:{key[1]}:{key[2]}", _idle, _nothing, Restart.TRANSIENT)


def taken(mailbox: Mailbox[Any]) -> list[type]:
    out = []
    while True:
        try:
            out.append(type(mailbox.receive_nowait()))
        except trio.WouldBlock:
            return out


def in_voice(guild_id: int, user_id: int) -> VoiceStateChanged:
    return VoiceStateChanged(guild_id, user_id, CHANNEL, 0.0)


async def test_an_outage_of_one_shard_holds_only_the_guilds_it_carries() -> None:
    assert (shard_of(ON_0, 2), shard_of(ON_1, 2)) == (0, 1)
    async with open_supervisor("voice", intensity=1, period=1) as voice:
        router = Router(Mailbox[Any]("message_counter"), voice, idle_voice)
        for guild_id in (ON_0, ON_1):
            snapshot = GuildSnapshot(
                guild_id,
                "g",
                0.0,
                voice_states=(in_voice(guild_id, 1), in_voice(guild_id, 2)),
                shard_id=shard_of(guild_id, 2),
            )
            await router.route(snapshot)
        boxes = {key: box for key, box in router.sessions.items()}
        assert all(taken(box) == [PresenceChanged] for box in boxes.values())

        await router.route(ConnectionLost(10.0, shard_id=1))
        assert router.in_outage == {ON_1}
        assert {key: taken(box) for key, box in boxes.items()} == {
            (ON_0, 1): [],
            (ON_0, 2): [],
            (ON_1, 1): [OutageBegan],
            (ON_1, 2): [OutageBegan],
        }
        await router.route(ConnectionResumed(12.0, shard_id=0))  # the other shard's: ends nothing
        assert router.in_outage == {ON_1}
        await router.route(ConnectionResumed(15.0, shard_id=1))
        assert router.in_outage == set()
        assert {key: taken(box) for key, box in boxes.items()} == {
            (ON_0, 1): [],
            (ON_0, 2): [],
            (ON_1, 1): [OutageEnded],
            (ON_1, 2): [OutageEnded],
        }
        voice._nursery.cancel_scope.cancel()


async def test_a_re_identify_ends_a_shards_outage_guild_by_guild_at_its_snapshot() -> None:
    async with open_supervisor("voice", intensity=1, period=1) as voice:
        router = Router(Mailbox[Any]("message_counter"), voice, idle_voice)
        for guild_id in (ON_0, ON_0 + 2, ON_1):  # ON_0 + 2: the same shard (the low bits do not count)
            await router.route(GuildSnapshot(guild_id, "g", 0.0, shard_id=shard_of(guild_id, 2)))
        await router.route(ConnectionLost(10.0, shard_id=0))
        assert router.in_outage == {ON_0, ON_0 + 2}
        await router.route(GuildSnapshot(ON_0, "g", 20.0, shard_id=0))
        assert router.in_outage == {ON_0 + 2}
        voice._nursery.cancel_scope.cancel()
