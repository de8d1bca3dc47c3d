"""The router hands a config change to every actor that keeps a copy, in order with the stream."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from domain.events import GuildSnapshot, MessageSent, ReactionAdded, VoiceStateChanged
from domain.guild_config import GuildConfig
from domain.messages import GuildConfigured
from supervisor.mailbox import Mailbox
from supervisor.supervisor import ChildSpec, Restart, open_supervisor
from wiring.router import SESSION_INBOX, Router


def no_voice(key: tuple[int, int, int]) -> ChildSpec:
    raise AssertionError("no voice in this test")


def drain(receive: Any) -> list[Any]:
    taken = []
    while True:
        try:
            taken.append(receive.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            return taken


async def test_a_config_change_reaches_the_counter_the_reset_clock_and_the_publisher_in_order() -> None:
    counter = Mailbox[Any]("message_counter")
    reset_clock = Mailbox[Any]("reset_clock")
    to_publisher, publisher = trio.open_memory_channel[Any](10)
    snapshot = GuildSnapshot(1, "Guild", 0.0)
    before = MessageSent(1, 2, 3, 4, "a", 1.0)
    configured = GuildConfigured(1, GuildConfig(message_cooldown=5.0), 2.0)
    after = MessageSent(1, 2, 5, 4, "a", 3.0)
    async with open_supervisor("voice", intensity=1, period=1) as voice:
        router = Router(counter, voice, no_voice, reset_clock=reset_clock, publisher=to_publisher)
        for event in (snapshot, before, configured, after):
            await router.route(event)
    assert drain(counter) == [before, configured, after]
    assert drain(reset_clock) == [snapshot, configured]
    assert drain(publisher) == [snapshot, configured]
    assert router.configs.get(1).message_cooldown == 5.0  # the router's own copy


def played(stream: list[Any]) -> trio.MemoryReceiveChannel[Any]:
    """A closed channel holding ``stream``: the gateway's side, all sent before the router runs."""
    send, receive = trio.open_memory_channel[Any](len(stream))
    for event in stream:
        send.send_nowait(event)
    send.close()
    return receive


async def test_the_counted_short_path_keeps_order_waits_when_the_counter_is_full_and_drops_nothing() -> None:
    """``Router.run`` puts messages and reactions straight into the counter's inbox; a full inbox
    holds the router back (backpressure), and the events around them keep their order."""
    counter = Mailbox[Any]("message_counter", capacity=2)
    snapshot = GuildSnapshot(1, "Guild", 0.0)
    configured = GuildConfigured(1, GuildConfig(message_cooldown=5.0), 2.0)
    stream: list[Any] = [snapshot, MessageSent(9, 2, 1, 4, "a", 0.5)]  # guild 9: not known
    stream += [MessageSent(1, 2, 10 + n, 4, "a", 1.0) for n in range(5)]
    stream += [ReactionAdded(1, 2, 10 + n, 5, "x", 1.5, message_author_id=4) for n in range(3)]
    stream += [configured, *(MessageSent(1, 2, 20 + n, 4, "a", 3.0) for n in range(5))]
    receive = played(stream)
    taken: list[Any] = []
    async with open_supervisor("voice", intensity=1, period=1) as voice:
        router = Router(counter, voice, no_voice)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(router.run, receive)
            await trio.testing.wait_all_tasks_blocked()
            assert counter.depth() == 2  # full: the router waits, it does not drop
            while True:
                try:
                    taken.append(await counter.receive())
                except trio.EndOfChannel:
                    break
    assert taken == stream[2:]
    assert router.unknown_guild_events == 1
    assert router.routed == len(stream) - 1


async def _reads_nothing(checkpoint: Any, inbox: Any, *, task_status: Any) -> None:
    task_status.started()  # and ends: the test reads the session's inbox itself


async def _no_checkpoint() -> None:
    return None


def unread_voice(key: tuple[int, int, int]) -> ChildSpec:
    return ChildSpec(f"voice:{key[0]}:{key[1]}:{key[2]}", _reads_nothing, _no_checkpoint, Restart.TRANSIENT)


async def test_the_voice_short_path_sends_only_changes_waits_on_a_full_session_and_ends_at_a_leave() -> None:
    """``Router.run`` hands voice changes to the sessions without ``route`` (issue 18, round 4):
    a change that alters nothing for the user sends their session nothing, a full session inbox
    holds the router back (nothing dropped, order kept), and a leave is the session's last event."""
    join = VoiceStateChanged(1, 7, 50, 1.0)
    toggles = [VoiceStateChanged(1, 7, 50, 2.0 + n, self_mute=n % 2 == 0) for n in range(SESSION_INBOX + 5)]
    again = VoiceStateChanged(1, 7, 50, 100.0, self_mute=toggles[-1].self_mute)  # changes nothing
    leave = VoiceStateChanged(1, 7, None, 101.0)
    stream: list[Any] = [GuildSnapshot(1, "Guild", 0.0), join, *toggles, again, leave]
    receive = played(stream)
    got: list[Any] = []
    async with open_supervisor("voice", intensity=1, period=1) as voice:
        router = Router(Mailbox[Any]("message_counter"), voice, unread_voice)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(router.run, receive)
            await trio.testing.wait_all_tasks_blocked()
            session = router.sessions[(1, 7)]
            assert session.depth() == SESSION_INBOX  # full: the router waits, it does not drop
            while True:
                try:
                    got.append(await session.receive())
                except trio.EndOfChannel:
                    break
    assert [change.at for change in got] == [1.0, *(t.at for t in toggles), 101.0]  # not ``again``
    assert [change.presence.self_mute for change in got[:-1]] == [False, *(t.self_mute for t in toggles)]
    assert got[-1].presence.channel_id is None
    assert [change.seq for change in got] == sorted(change.seq for change in got)
    assert router.sessions == {}
    assert router.routed == len(stream)


async def test_each_presence_carries_the_policy_of_the_guilds_config_at_that_moment() -> None:
    """The router keeps one policy per config (issue 18, round 4); a config replaced through
    ``/lbconfig`` or by anyone holding the router's ``configs`` is the one the next change carries."""
    async with open_supervisor("voice", intensity=1, period=1) as voice:
        router = Router(Mailbox[Any]("message_counter"), voice, unread_voice)
        await router.route(GuildSnapshot(1, "Guild", 0.0))
        await router.route(VoiceStateChanged(1, 7, 50, 1.0))
        await router.route(VoiceStateChanged(1, 7, 50, 2.0, self_mute=True))
        await router.route(GuildConfigured(1, GuildConfig(count_muted=False), 3.0))
        await router.route(VoiceStateChanged(1, 7, 50, 4.0))
        router.configs.set(1, GuildConfig(count_alone=True))
        await router.route(VoiceStateChanged(1, 7, 50, 5.0, self_mute=True))
        session = router.sessions[(1, 7)]
        got = []
        while session.depth():
            got.append(session.receive_nowait())
    policies = [(c.at, c.policy.count_muted, c.policy.count_alone) for c in got]
    assert policies == [
        (1.0, True, False),
        (2.0, True, False),
        (3.0, False, False),
        (4.0, False, False),
        (5.0, True, True),
    ]
