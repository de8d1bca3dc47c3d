"""Mailbox capacity means what it says (as in trio): 0 is zero, inf is explicit, nonsense is refused."""

from __future__ import annotations

import math

import pytest
import trio

from supervisor.mailbox import Mailbox


async def test_capacity_zero_is_a_rendezvous_not_unbounded() -> None:
    mailbox = Mailbox[int]("zero", capacity=0)
    with pytest.raises(trio.WouldBlock):
        mailbox.sender.send_nowait(1)  # nobody is receiving: zero room
    async with trio.open_nursery() as nursery:
        nursery.start_soon(mailbox.send, 7)
        assert await mailbox.receive() == 7


async def test_a_bounded_mailbox_holds_exactly_its_capacity() -> None:
    mailbox = Mailbox[int]("two", capacity=2)
    mailbox.sender.send_nowait(1)
    mailbox.sender.send_nowait(2)
    with pytest.raises(trio.WouldBlock):
        mailbox.sender.send_nowait(3)
    assert mailbox.depth() == 2


def test_unbounded_must_be_said_explicitly() -> None:
    mailbox = Mailbox[int]("inf", capacity=math.inf)
    for n in range(10_000):
        mailbox.sender.send_nowait(n)
    assert mailbox.depth() == 10_000


@pytest.mark.parametrize("capacity", [-1, 0.5, -math.inf])
def test_nonsense_capacities_are_refused(capacity: float) -> None:
    with pytest.raises(ValueError, match="capacity"):
        Mailbox[int]("bad", capacity=capacity)
