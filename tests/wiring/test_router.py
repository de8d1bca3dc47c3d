"""The router hands a config change to every actor that keeps a copy, in order with the stream."""

from __future__ import annotations

from typing import Any

import trio

from domain.events import GuildSnapshot, MessageSent
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
