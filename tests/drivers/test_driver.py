"""The drivers' side of the action vocabulary: a conversation that asks for a reply
already received gets it from the buffer, without reading again."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any

from smtpunit.core.actions import Action, Receive
from smtpunit.core.reply import Reply
from smtpunit.drivers.aio import AsyncDriver
from smtpunit.drivers.blocking import Driver
from smtpunit.options import Timeouts

BOTH = b"220 first\r\n250 second\r\n"


class OneRead:
    """A connection that has both replies for the first read, and nothing after."""

    secure = False
    loopback = True
    server_hostname = "localhost"

    def __init__(self) -> None:
        self.reads = 0

    def receive(self, max_bytes: int, timeout: float) -> bytes:
        self.reads += 1
        assert self.reads == 1, "read again although the reply was buffered"
        return BOTH

    def close(self) -> None:
        pass


class AsyncOneRead(OneRead):
    async def receive(self, max_bytes: int, timeout: float) -> bytes:  # type: ignore[override]
        return OneRead.receive(self, max_bytes, timeout)


def two_receives() -> Generator[Action, Any, list[Reply]]:
    """Asks twice, without looking at the parser itself."""
    first = yield Receive("one")
    second = yield Receive("two")
    return [first, second]


def test_the_blocking_driver_answers_a_receive_from_the_buffer():
    connection = OneRead()
    replies = Driver(connection, Timeouts(1, 1, 1, 1)).run(two_receives())
    assert [(r.code, r.lines) for r in replies] == [(220, ("first",)), (250, ("second",))]
    assert connection.reads == 1


def test_the_asyncio_driver_answers_a_receive_from_the_buffer():
    connection = AsyncOneRead()
    replies = asyncio.run(AsyncDriver(connection, Timeouts(1, 1, 1, 1)).run(two_receives()))
    assert [(r.code, r.lines) for r in replies] == [(220, ("first",)), (250, ("second",))]
    assert connection.reads == 1
