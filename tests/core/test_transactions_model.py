"""Mail transactions (smtpunit.core.transactions) against a model of a server that
refuses at random: every message ends in exactly one outcome, a delivered message is
one the server took, the client never waits for a reply nobody owes it, and the
conversation's state never refuses a step."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Optional

from hypothesis import example, given, settings
from hypothesis import strategies as st

from smtpunit.core import transactions as transactions_module
from smtpunit.core.actions import Channel, Receive, Send
from smtpunit.core.capabilities import Capabilities
from smtpunit.core.commands import prepare_envelope
from smtpunit.core.reply import Reply, ReplyParser
from smtpunit.core.results import SendResult
from smtpunit.core.state import ConversationOptions, SessionState
from smtpunit.core.transactions import transactions
from smtpunit.drivers.io import feed
from smtpunit.errors import SMTPConnectionClosed, SMTPError, SMTPOutcomeUnknown

KINDS = ("mail", "rcpt", "data", "bdat", "end", "rset")
CODES = st.sampled_from([250, 250, 250, 451, 550, 421])


@dataclass
class ModelServer:
    """Reads the client's bytes as a server would (pipelined commands, DATA, BDAT) and
    answers each command, taking its code from ``plan`` (250 when the plan runs out)."""

    plan: dict[str, Iterator[int]]
    lmtp: bool = False
    out: bytearray = field(default_factory=bytearray)
    pending: bytearray = field(default_factory=bytearray)
    delivered: list[bytes] = field(default_factory=list)
    closed: bool = False
    mail: bool = False
    rcpts: int = 0
    failed_chunk: bool = False
    chunks: bytearray = field(default_factory=bytearray)
    in_data: bool = False

    def code(self, kind: str, accept: int = 250) -> int:
        code = next(self.plan[kind], 250)
        return accept if code == 250 else code

    def say(self, code: int, text: str = "ok") -> None:
        self.out += b"%d %s\r\n" % (code, text.encode())
        if code == 421:
            self.closed = True

    def reset(self) -> None:
        self.mail, self.rcpts, self.failed_chunk, self.chunks = False, 0, False, bytearray()

    def end_of_message(self, data: bytes) -> None:
        ok = self.mail and self.rcpts
        for _ in range(self.rcpts if self.lmtp and ok else 1):
            if self.closed:
                break
            code = self.code("end") if ok else 503
            self.say(code)
            if code == 250 and data not in self.delivered:
                self.delivered.append(data)
        self.reset()

    def receive(self, data: bytes) -> None:
        assert not self.closed, "the client wrote after the server closed"
        self.pending += data
        while not self.closed:
            if self.in_data:
                end = self.pending.find(b"\r\n.\r\n")
                if end < 0:
                    return
                data, self.pending = bytes(self.pending[:end]), self.pending[end + 5:]
                self.in_data = False
                self.end_of_message(data)
                continue
            end = self.pending.find(b"\r\n")
            if end < 0:
                return
            line = bytes(self.pending[:end])
            bdat = re.fullmatch(rb"BDAT (\d+)( LAST)?", line)
            if bdat and len(self.pending) < end + 2 + int(bdat.group(1)):
                return  # the chunk is not all here yet
            del self.pending[: end + 2]
            if bdat:
                size = int(bdat.group(1))
                chunk, self.pending = bytes(self.pending[:size]), self.pending[size:]
                self.command_bdat(chunk, last=bool(bdat.group(2)))
            else:
                self.command(line)

    def command(self, line: bytes) -> None:
        verb = line[:4].upper()
        if verb == b"MAIL":
            code = 503 if self.mail else self.code("mail")
            self.mail = code == 250
            self.say(code)
        elif verb == b"RCPT":
            code = self.code("rcpt") if self.mail else 503
            self.rcpts += code == 250
            self.say(code)
        elif verb == b"DATA":
            code = self.code("data", 354) if self.mail and self.rcpts else 554
            self.in_data = code == 354
            self.say(code)
        elif verb == b"RSET":
            code = self.code("rset")
            if code == 250:
                self.reset()
            self.say(code)
        elif verb == b"QUIT":
            self.say(221)
            self.closed = True
        else:
            raise AssertionError(f"the client sent an unknown command {line!r}")

    def command_bdat(self, chunk: bytes, last: bool) -> None:
        self.chunks += chunk
        if not (self.mail and self.rcpts) or self.failed_chunk:
            # After the last chunk an LMTP server answers each recipient (RFC 2033).
            for _ in range(self.rcpts if last and self.lmtp and self.rcpts else 1):
                self.say(503)
            if last:
                self.reset()
            return
        if last:
            self.end_of_message(bytes(self.chunks))
            return
        code = self.code("bdat")
        self.failed_chunk = code != 250
        self.say(code)


def run(server: ModelServer, extensions: list[str], count: int, **options: Any) -> list[Any]:
    """``transactions`` of ``count`` messages over an open session to ``server``,
    driven as a driver does; the outcomes."""
    parser = ReplyParser()
    state = SessionState(Channel(parser, loopback=True))
    state.opened(Capabilities.from_ehlo_reply(Reply(250, ("model", *extensions))))
    envelopes = [prepare_envelope("a@example.org", ["b@example.org", "c@example.org"], "Subject: m\r\n\r\n",
                                  [f"message {n}", "x" * 30]) for n in range(count)]
    conversation = transactions(state, envelopes, ConversationOptions("client", lmtp=server.lmtp, **options))
    chunk_size, transactions_module.BDAT_CHUNK = transactions_module.BDAT_CHUNK, 16  # several chunks a message
    try:
        return _drive(conversation, server, parser, count)
    finally:
        transactions_module.BDAT_CHUNK = chunk_size


def _drive(conversation: Any, server: ModelServer, parser: ReplyParser, count: int) -> list[Any]:
    value: Any = None
    error: Optional[BaseException] = None
    while True:
        try:
            action = conversation.throw(error) if error else conversation.send(value)
        except StopIteration as stop:
            outcomes = stop.value
            break
        value, error = None, None
        if isinstance(action, Send):
            if server.closed:
                error = SMTPConnectionClosed("closed")
            else:
                server.receive(bytes(action.data))
        else:
            assert isinstance(action, Receive)
            value = parser.next_reply()
            if value is None:
                if not server.out:
                    assert server.closed, f"the client waits for a reply ({action.phase}) the server does not owe"
                data, server.out = bytes(server.out), bytearray()
                try:
                    value = feed(parser, data, action)
                except SMTPError as exc:
                    error = exc
    assert len(outcomes) == count
    return outcomes


plans = st.fixed_dictionaries({kind: st.lists(CODES, max_size=6) for kind in KINDS})


@settings(max_examples=300, deadline=None)
@given(plans, st.sets(st.sampled_from(["PIPELINING", "CHUNKING"])), st.integers(1, 4), st.booleans(),
       st.booleans())
# A refused RSET while pipelining (it once raised SMTPStateError).
@example({"mail": [550], "rcpt": [], "data": [], "bdat": [], "end": [], "rset": [554]},
         {"PIPELINING"}, 3, False, False)
# A refused BDAT chunk while pipelining (the next message was once lost, and the session with it).
@example({"mail": [], "rcpt": [], "data": [], "bdat": [552], "end": [], "rset": []},
         {"PIPELINING", "CHUNKING"}, 3, False, False)
def test_every_message_ends_in_one_outcome_that_tells_the_truth(plan, extensions, count, lmtp, partial):
    server = ModelServer({kind: iter(codes) for kind, codes in plan.items()}, lmtp=lmtp)
    outcomes = run(server, sorted(extensions), count, chunking=True, partial_delivery=partial)
    # A message the client calls sent is one the server took, and no other was taken;
    # only a message whose end went out may have an unknown outcome.
    sent = [n for n, outcome in enumerate(outcomes) if isinstance(outcome, SendResult)]
    unknown = [n for n, outcome in enumerate(outcomes) if isinstance(outcome, SMTPOutcomeUnknown)]
    taken = [n for n in range(count) if any(f"message {n}\r\n".encode() in data for data in server.delivered)]
    assert all(isinstance(outcome, (SendResult, SMTPError)) for outcome in outcomes)
    # (With LMTP, a message some recipients took may be refused for the others.)
    assert set(sent) <= set(taken) <= set(sent) | set(unknown) | (set(range(count)) if lmtp else set())


def test_a_refused_bdat_chunk_while_pipelining_leaves_the_next_message_to_go():
    plan = {kind: iter(()) for kind in KINDS}
    plan["bdat"] = iter([552])
    outcomes = run(ModelServer(plan), ["PIPELINING", "CHUNKING"], 3, chunking=True)
    assert [type(o).__name__ for o in outcomes][1:] == ["SendResult", "SendResult"]
