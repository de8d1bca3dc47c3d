"""The router: one task that reads gateway events and hands each to the actor that owns it.

It holds no counts and does no I/O; sending to a full mailbox waits (backpressure), it never drops.
When the gateway's channel closes, the router closes every mailbox so actors flush and stop.
"""

from __future__ import annotations

import logging

import trio
from attrs import define

from actors.events import Event, GuildSnapshot, MessageSent, VoiceStateChanged
from supervisor.mailbox import Mailbox

log = logging.getLogger(__name__)


@define
class Router:
    messages: Mailbox[MessageSent]
    routed: int = 0

    async def run(self, events: trio.MemoryReceiveChannel[Event]) -> None:
        try:
            async with events:
                async for event in events:
                    await self.route(event)
        finally:
            self.messages.close()

    async def route(self, event: Event) -> None:
        match event:
            case MessageSent():
                await self.messages.sender.send(event)
            case VoiceStateChanged() | GuildSnapshot():
                pass  # voice sessions arrive with the voice issue
            case _:
                log.warning("router: no route for %r", event)
                return
        self.routed += 1
