"""The router hands a config change to every actor that keeps a copy, in order with the stream."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from domain.events import GuildSnapshot, MessageSent, ReactionAdded
from domain.guild_config import GuildConfig
from domain.messages import GuildConfigured
from supervisor.mailbox import Mailbox
from supervisor.supervisor import ChildSpec, open_supervisor
from wiring.router import Router


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
    send, receive = trio.open_memory_channel[Any](len(stream))
    for event in stream:
        send.send_nowait(event)
    send.close()
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
