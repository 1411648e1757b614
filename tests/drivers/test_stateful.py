"""A hypothesis state machine: a session against a server that misbehaves at random.

Whatever the server does -- drop the connection, send garbage, say 421, go silent --
every call ends in a result or one smtpunit error, a broken session stays closed, a
message reported delivered was delivered, and none is delivered twice.
"""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from zope.interface import implementer

import smtpunit
from smtpunit import errors
from smtpunit.interfaces import IConnection, ITransport
from smtpunit.testing import MemoryServer

FAULTS = ["ok"] * 6 + ["drop", "garbage", "421", "silence", "split"]


@implementer(IConnection)
class ChaosConnection:
    """A connection to a MemoryServer whose replies suffer the faults planned for them."""

    secure = False
    loopback = True
    server_hostname = "chaos.invalid"

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.plan: list[str] = []
        self.dead = False

    def send(self, data: bytes, timeout: float) -> None:
        if self.dead:
            raise BrokenPipeError("the chaos server hung up")
        self.inner.send(data, timeout)

    def receive(self, max_bytes: int, timeout: float) -> bytes:
        if self.dead:
            return b""
        fault = self.plan.pop(0) if self.plan else "ok"
        if fault == "drop":
            self.dead = True
            return b""
        if fault == "garbage":
            return b"\xffgarbage\r\n"
        if fault == "421":
            self.dead = True
            return b"421 4.3.0 going away\r\n"
        if fault == "silence":
            raise TimeoutError("the chaos server went quiet")
        data = self.inner.receive(max_bytes, timeout)
        if fault == "split" and len(data) > 1:
            self.inner._session.outgoing[:0] = data[1:]  # the rest arrives with the next read
            return data[:1]
        return data

    def close(self) -> None:
        self.inner.close()


@implementer(ITransport)
class ChaosTransport:
    def __init__(self, server: MemoryServer) -> None:
        self.server = server
        self.connection: ChaosConnection | None = None

    def connect(self, host: str, port: int, timeout: float) -> ChaosConnection:
        self.connection = ChaosConnection(self.server.open(host))
        return self.connection


class SessionAgainstChaos(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.server = MemoryServer(extensions=("PIPELINING", "8BITMIME"), refuse={"refused@example.org"})
        self.transport = ChaosTransport(self.server)
        self.session = smtpunit.connect("chaos.invalid", tcp_connect=self.transport)
        self.numbers = itertools.count()
        self.delivered: set[str] = set()  # reported delivered by the client
        self.unknown: set[str] = set()

    def _plan(self, faults: list[str]) -> None:
        assert self.transport.connection is not None
        self.transport.connection.plan = faults

    def _message(self, recipients: list[str]) -> tuple[str, tuple]:
        tag = f"message-{next(self.numbers)}"
        return tag, ("a@example.org", recipients, "Subject: chaos\r\n\r\n", [tag])

    def _record(self, tag: str, outcome: object) -> None:
        if isinstance(outcome, smtpunit.SendResult):
            self.delivered.add(tag)
        elif isinstance(outcome, errors.SMTPOutcomeUnknown):
            self.unknown.add(tag)
        else:
            assert isinstance(outcome, errors.SMTPError), f"not an smtpunit error: {outcome!r}"

    @precondition(lambda self: not self.session.closed)
    @rule(faults=st.lists(st.sampled_from(FAULTS), max_size=6), refused=st.booleans())
    def send(self, faults: list[str], refused: bool) -> None:
        self._plan(faults)
        tag, message = self._message(["b@example.org", *(["refused@example.org"] if refused else [])])
        try:
            outcome: object = self.session.send(*message)
        except errors.SMTPError as exc:
            outcome = exc
        self._record(tag, outcome)

    @precondition(lambda self: not self.session.closed)
    @rule(faults=st.lists(st.sampled_from(FAULTS), max_size=10), count=st.integers(1, 4))
    def send_many(self, faults: list[str], count: int) -> None:
        self._plan(faults)
        messages = [self._message(["b@example.org"]) for _ in range(count)]
        outcomes = self.session.send_many([m for _, m in messages])
        assert len(outcomes) == count
        for (tag, _), outcome in zip(messages, outcomes, strict=True):
            self._record(tag, outcome)

    @precondition(lambda self: not self.session.closed)
    @rule(faults=st.lists(st.sampled_from(FAULTS), max_size=2))
    def noop(self, faults: list[str]) -> None:
        self._plan(faults)
        try:
            assert self.session.noop().code == 250
        except errors.SMTPError:
            assert self.session.closed

    @precondition(lambda self: self.session.closed)
    @rule()
    def a_closed_session_refuses(self) -> None:
        try:
            self.session.send("a@example.org", ["b@example.org"], "Subject: x\r\n\r\n", ["x"])
        except errors.SMTPConnectionClosed:
            return
        raise AssertionError("a closed session sent a message")

    @invariant()
    def deliveries_are_honest(self) -> None:
        on_server = [m.data.rsplit(b"\r\n\r\n", 1)[1].strip().decode() for m in self.server.messages]
        assert len(on_server) == len(set(on_server)), "a message was delivered twice"
        assert self.delivered <= set(on_server), "a message reported delivered is missing"

    def teardown(self) -> None:
        self.session.close()


TestSessionAgainstChaos = SessionAgainstChaos.TestCase
TestSessionAgainstChaos.settings = settings(max_examples=150, stateful_step_count=15, deadline=None)
