"""Hostile data and hostile servers, through every entry point.

Each case runs through the one-shot functions, a session, a :class:`smtpunit.Pool`
and asyncio (one-shot and session) where it applies (:data:`ENTRY_POINTS`), against
real sockets on 127.0.0.1: aiosmtpd (``start_server``), a :class:`MiniServer` played
by :class:`~smtpunit.testing.ScriptedServer` (DATA and BDAT with exact octet counts,
slow or stalled reading, drops at chosen points), Postfix's smtpd and smtp-sink.

1. header injection through a compat32 ``email.message.Message``;
2. BDAT octet counts for lines and raw content given as wide memoryviews;
3. a server that reads slowly, and one that stops reading;
4. a connect that never completes (a full listen backlog);
5. drops in the middle of the data;
6. 100 messages over connections dropped at random, audited against what the
   server accepted;
7. no file descriptor leaked over 1,000 failing sends;
8. memory flat over 10,000 sends on one session.

Next to, not instead of: test_smuggling.py (end-of-data variants in a header string,
an EmailMessage body), test_fast_paths.py (encode_body counts the octets of
bytes-like lines), test_fault_matrix.py (a drop instead of the 354, and after the
final dot), test_faults.py (slow writers, silent servers), test_pool.py (one unknown
outcome, one dead connection).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import email.message
import email.policy
import functools
import gc
import hashlib
import itertools
import logging
import os
import random
import re
import socket
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from email.message import Message
from typing import Any, Optional, Union

import pytest
from postfix import PostfixInstance, start_smtp_sink
from postfix import postfix as postfix_fixture  # noqa: F401

import smtpunit
import smtpunit.aio
from smtpunit import errors
from smtpunit.core.commands import prepare_raw_envelope
from smtpunit.testing.scripted import (
    Close,
    Expect,
    Peer,
    Reply,
    ScriptedServer,
    ScriptMismatch,
    accept_envelope,
    standard_session,
)

HOST = "127.0.0.1"
SENDER, RECIPIENT = "a@example.org", "b@example.org"
TIMEOUTS = smtpunit.Timeouts(connect=5, reply=5, data_end=5, tls_handshake=5)
CHUNKING = ("PIPELINING", "CHUNKING", "8BITMIME")
MB = 1024 * 1024

Job = Union[Message, tuple[Any, Sequence[Any]]]
"""What to send: an ``email.message.Message``, or ``(header, lines)`` from SENDER to RECIPIENT."""


# -- the entry points -------------------------------------------------------------------------


def _send_on(target: Any, job: Job) -> Any:
    """Send ``job`` on a session, a pool or an async session (then a coroutine)."""
    if isinstance(job, Message):
        return target.send_message(job)
    return target.send(SENDER, [RECIPIENT], *job)


@contextlib.contextmanager
def _event_loop() -> Iterator[Callable[[Any], Any]]:
    """One event loop for every send of the block (asyncio.Runner is 3.11+)."""
    loop = asyncio.new_event_loop()
    try:
        yield loop.run_until_complete
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


@contextlib.contextmanager
def _one_shot(port: int, **options: Any) -> Iterator[Callable[[Job], Any]]:
    def send(job: Job) -> Any:
        if isinstance(job, Message):
            return smtpunit.send_message(HOST, job, port, **options)
        return smtpunit.smtp_send_message(HOST, SENDER, [RECIPIENT], *job, port, **options)

    yield send


@contextlib.contextmanager
def _session(port: int, **options: Any) -> Iterator[Callable[[Job], Any]]:
    def send(job: Job) -> Any:
        with smtpunit.connect(HOST, port, **options) as session:
            return _send_on(session, job)

    yield send


@contextlib.contextmanager
def _pool(port: int, **options: Any) -> Iterator[Callable[[Job], Any]]:
    with smtpunit.Pool(HOST, port, size=1, **options) as pool:
        yield lambda job: _send_on(pool, job)


@contextlib.contextmanager
def _asyncio_one_shot(port: int, **options: Any) -> Iterator[Callable[[Job], Any]]:
    async def send(job: Job) -> Any:
        if isinstance(job, Message):
            return await smtpunit.aio.send_message(HOST, job, port, **options)
        return await smtpunit.aio.smtp_send_message(HOST, SENDER, [RECIPIENT], *job, port, **options)

    with _event_loop() as run:
        yield lambda job: run(send(job))


@contextlib.contextmanager
def _asyncio_session(port: int, **options: Any) -> Iterator[Callable[[Job], Any]]:
    async def send(job: Job) -> Any:
        async with await smtpunit.aio.connect(HOST, port, **options) as session:
            return await _send_on(session, job)

    with _event_loop() as run:
        yield lambda job: run(send(job))


@dataclass(frozen=True)
class EntryPoint:
    """One way into smtpunit. ``sender(port, **options)`` is a context giving a
    function that sends a :data:`Job` (sharing its pool or event loop within the
    block); ``bdat``: it sends with BDAT when the server offers CHUNKING."""

    name: str
    sender: Callable[..., contextlib.AbstractContextManager[Callable[[Job], Any]]]
    bdat: bool

    def send(self, port: int, job: Job, **options: Any) -> Any:
        with self.sender(port, **options) as send:
            return send(job)


ENTRY_POINTS = [
    EntryPoint("one-shot", _one_shot, bdat=False),
    EntryPoint("session", _session, bdat=True),
    EntryPoint("pool", _pool, bdat=True),
    EntryPoint("asyncio", _asyncio_one_shot, bdat=False),
    EntryPoint("asyncio-session", _asyncio_session, bdat=True),
]
every_entry_point = pytest.mark.parametrize("api", ENTRY_POINTS, ids=lambda api: api.name)


# -- a small SMTP server for ScriptedServer -------------------------------------------------------

_STUFFED = re.compile(rb"(?:^|(?<=\r\n))\.")
_BDAT = re.compile(rb"BDAT ([0-9]+)( LAST)?", re.IGNORECASE)


class Wire:
    """The server's reading side of one connection: command lines, exact octet
    counts and DATA, optionally throttled (``chunk`` octets, then ``pause`` seconds)
    or stalled (nothing read past ``stall_after`` octets until ``release`` is set).
    Once ``release`` is set -- the test is done with the client -- it reads what is
    left at full speed, waiting at most 1 s for more: a client that neither sends
    nor closes is then ``silent``."""

    def __init__(self, peer: Peer, chunk: int = 64 * 1024, pause: float = 0.0, stall_after: Optional[int] = None,
                 release: Optional[threading.Event] = None) -> None:
        self.peer = peer
        self.buffer = bytearray()
        self.chunk, self.pause, self.stall_after, self.release = chunk, pause, stall_after, release
        self.wait: Optional[float] = None  # seconds a read may wait (None: the server's timeout)
        self.octets = 0

    def more(self) -> None:
        if self.release is not None:
            if self.stall_after is not None and self.octets >= self.stall_after:
                self.release.wait(10)
            if self.release.is_set():
                self.chunk, self.pause, self.wait, self.release = 64 * 1024, 0.0, 1.0, None
        data = self.peer.receive(self.chunk, self.wait)  # TimeoutError if nothing comes
        if not data:
            raise EOFError
        self.buffer += data
        self.octets += len(data)
        if self.pause:
            self.peer.sleep(self.pause)

    def line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            if len(self.buffer) > 4096:
                raise ScriptMismatch(f"no command line in {bytes(self.buffer[:80])!r}...")
            self.more()
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 2]
        return line

    def exact(self, count: int) -> bytes:
        while len(self.buffer) < count:
            self.more()
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data

    def data(self) -> bytes:
        """DATA content up to the lone ``.``, with the transparency dots taken out."""
        start = 0
        while (end := self.buffer.find(b"\r\n.\r\n", start)) < 0:
            start = max(0, len(self.buffer) - 4)
            self.more()
        raw = bytes(self.buffer[: end + 2])
        del self.buffer[: end + 5]
        return _STUFFED.sub(b"", raw)


DROPS = ("before-mail", "after-rcpt", "mid-data", "after-dot", "after-250")
"""Where a :class:`MiniServer` can drop a connection: on reading MAIL; right after its
250 to the (one) RCPT; while reading the data (the message is not accepted); after
the end of the data, accepted but before its 250; after the 250. A drop after the
RCPT or in the data first reads what arrives within 50 ms: if the client wrote the
end of the message by then, it counts as having reached the server (not accepted)."""


class MiniServer:
    """An SMTP server played on each connection of a ScriptedServer (a callable script).

    It speaks EHLO, MAIL, RCPT, DATA, BDAT (reading exactly the octets each BDAT
    announces: a wrong count leaves data where a command must be, a script mismatch),
    RSET, NOOP and QUIT. ``fate(rng)`` picks a :data:`DROPS` point (or None) for each
    transaction, with ``rng`` a ``random.Random`` seeded per connection.

    :ivar accepted: the data of each message accepted (committed at its end).
    :ivar ended: the data of each message whose end reached the server, accepted or not.
    :ivar verbs: every command verb read, in order, all connections together.
    :ivar silent: connections the client left open without a word for a read's bound.
    """

    def __init__(self, extensions: Sequence[str] = CHUNKING, *, fate: Optional[Callable[[random.Random], Any]] = None,
                 mail_reply: bytes = b"250 2.1.0 ok", seed: int = 0, chunk: int = 64 * 1024, pause: float = 0.0,
                 rcvbuf: Optional[int] = None, stall_after: Optional[int] = None,
                 release: Optional[threading.Event] = None) -> None:
        lines = ["mini.invalid", *extensions]
        self.ehlo = b"".join(f"250{' ' if i == len(lines) - 1 else '-'}{line}\r\n".encode()
                             for i, line in enumerate(lines))
        self.fate, self.mail_reply, self.seed = fate, mail_reply + b"\r\n", seed
        self.reading = dict(chunk=chunk, pause=pause, stall_after=stall_after, release=release)
        self.rcvbuf = rcvbuf
        self.accepted: list[bytes] = []
        self.ended: list[bytes] = []
        self.verbs: list[bytes] = []
        self.silent = 0
        self._lock = threading.Lock()
        self._connections = 0

    def __call__(self, peer: Peer) -> None:
        with self._lock:
            number, self._connections = self._connections, self._connections + 1
        rng = random.Random(f"{self.seed}:{number}")
        peer.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # pipelined replies go at once
        if self.rcvbuf:  # no autotuning: the client cannot get far ahead of the reader
            peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        wire = Wire(peer, **self.reading)  # type: ignore[arg-type]
        peer.say(b"220 mini.invalid ESMTP\r\n")
        try:
            self._serve(peer, wire, rng)
        except EOFError:
            pass
        except TimeoutError:
            with self._lock:
                self.silent += 1

    def _serve(self, peer: Peer, wire: Wire, rng: random.Random) -> None:
        fate, chunks = None, []
        while True:
            line = wire.line()
            verb = line[:4].upper()
            with self._lock:
                self.verbs.append(verb)
            if verb in (b"EHLO", b"HELO"):
                peer.say(self.ehlo)
            elif verb == b"MAIL":
                fate, chunks = (self.fate(rng) if self.fate else None), []
                if fate == "before-mail":
                    return self._drop(peer, rng)
                peer.say(self.mail_reply)
            elif verb == b"RCPT":
                peer.say(b"250 2.1.5 ok\r\n")
                if fate == "after-rcpt":  # one recipient: before DATA or BDAT (whose LAST may follow at once)
                    return self._drop_mid_data(peer, wire, rng, functools.partial(_whole_bdat_message, wire))
            elif verb == b"DATA":
                peer.say(b"354 go ahead\r\n")
                if fate == "mid-data":
                    return self._drop_mid_data(peer, wire, rng, wire.data)
                if not self._end(peer, wire.data(), fate, rng):
                    return
            elif verb == b"BDAT":
                match = _BDAT.fullmatch(line)
                if match is None:
                    raise ScriptMismatch(f"not a BDAT command: {line!r}")
                count, last = int(match.group(1)), match.group(2) is not None
                if fate == "mid-data":
                    rest = functools.partial(_rest_of_bdat, wire, chunks, count, last)
                    return self._drop_mid_data(peer, wire, rng, rest)
                chunks.append(wire.exact(count))
                if not last:
                    peer.say(b"250 2.0.0 chunk ok\r\n")
                elif not self._end(peer, b"".join(chunks), fate, rng):
                    return
            elif verb in (b"RSET", b"NOOP"):
                fate = None
                peer.say(b"250 2.0.0 ok\r\n")
            elif verb == b"QUIT":
                peer.say(b"221 2.0.0 bye\r\n")
                return
            else:
                raise ScriptMismatch(f"not a command (a BDAT count that was not the octets sent?): {line[:80]!r}")

    def _end(self, peer: Peer, data: bytes, fate: Any, rng: random.Random) -> bool:
        """The end of a message arrived: accept it; False if the connection is dropped."""
        with self._lock:
            self.ended.append(data)
            self.accepted.append(data)
        if fate == "after-dot":
            self._drop(peer, rng)
            return False
        peer.say(b"250 2.0.0 queued\r\n")
        if fate == "after-250":
            self._drop(peer, rng)
            return False
        return True

    def _drop_mid_data(self, peer: Peer, wire: Wire, rng: random.Random, read: Callable[[], bytes]) -> None:
        """Drop while reading the data, accepting nothing; the end counts as having
        reached the server if it is already there (what arrives within 50 ms)."""
        wire.wait = 0.05
        with contextlib.suppress(EOFError, TimeoutError):
            data = read()
            with self._lock:
                self.ended.append(data)
        self._drop(peer, rng)

    @staticmethod
    def _drop(peer: Peer, rng: random.Random) -> None:
        peer.close(reset=rng.random() < 0.5)


def _whole_bdat_message(wire: Wire) -> bytes:
    """A message sent in one ``BDAT n LAST`` (a client with PIPELINING sends it as soon
    as its envelope is answered); EOFError for anything else (``DATA``)."""
    match = _BDAT.fullmatch(wire.line())
    if match is None or match.group(2) is None:
        raise EOFError
    return wire.exact(int(match.group(1)))


def _rest_of_bdat(wire: Wire, chunks: list[bytes], count: int, last: bool) -> bytes:
    """The message's data from its BDAT chunks so far, this one (``count`` octets) and
    those after it, up to the LAST one."""
    parts = [*chunks]
    while True:
        parts.append(wire.exact(count))
        if last:
            return b"".join(parts)
        match = _BDAT.fullmatch(wire.line())
        if match is None:
            raise EOFError  # not a chunk: the end of this message is not here
        count, last = int(match.group(1)), match.group(2) is not None


def digest(data: bytes) -> str:
    """A short stand-in for big data in assertion messages."""
    return f"{len(data)} octets, sha256 {hashlib.sha256(data).hexdigest()[:16]}"


def octets(value: Any) -> bytes:
    """A str's UTF-8, or every octet of a bytes-like object (whatever its item size)."""
    return value.encode() if isinstance(value, str) else bytes(value)


def body_of(lines: Sequence[Any]) -> bytes:
    """The octets of ``lines`` as they must arrive: each line's octets, then CRLF."""
    return b"".join(octets(line) + b"\r\n" for line in lines)


@functools.cache
def filler_lines(size: int) -> list[str]:
    """About ``size`` octets of message lines, 1000 octets each with their CRLF."""
    return ["y" * 998] * (size // 1000)


# -- 1. header injection through a compat32 email.message.Message -----------------------------

INJECTED_SUBJECTS = {
    "crlf-bcc": "x\r\nBcc: evil@example.org",
    "lf-bcc": "x\nBcc: evil@example.org",
    "cr-bcc": "x\rBcc: evil@example.org",
    "dot-then-commands": "x\r\n.\r\nMAIL FROM:<evil@attacker.example>\r\nRCPT TO:<evil@example.org>\r\nDATA",
    "blank-line-then-commands": "x\r\n\r\n.\r\nMAIL FROM:<evil@attacker.example>\r\nRCPT TO:<evil@example.org>",
}


def compat32_message(subject: str) -> Message:
    message = email.message.Message()  # policy compat32: a header value is kept as given, CR and LF too
    message["From"], message["To"], message["Subject"] = SENDER, RECIPIENT, subject
    message.set_payload("hello\n")
    return message


@every_entry_point
@pytest.mark.parametrize("subject", INJECTED_SUBJECTS.values(), ids=INJECTED_SUBJECTS.keys())
def test_a_compat32_header_value_injects_no_field_and_no_command(start_server, api, subject):
    """A header value holding CR or LF is either refused before any byte (an
    SMTPInputError, the server sees no MAIL), or sent so that the server gets the
    three fields given and the body given: no new field, no early end of the header."""
    server = start_server()
    message = compat32_message(subject)
    assert message.policy is email.policy.compat32
    try:
        result = api.send(server.port, message, timeout=TIMEOUTS)
    except errors.SMTPInputError:
        assert server.handler.mail_commands == [] and server.handler.messages == []
        return
    assert result.reply.code == 250
    (delivered,) = server.handler.messages
    assert (server.handler.mail_commands, delivered.rcpt_tos) == ([SENDER], [RECIPIENT])
    header, _, body = delivered.content.partition(b"\r\n\r\n")
    fields = [line.split(b":", 1)[0] for line in header.split(b"\r\n") if line[:1] not in (b" ", b"\t")]
    assert fields == [b"From", b"To", b"Subject"], f"a field was injected into the header sent: {header!r}"
    assert body == b"hello\r\n", f"the header ended early; the body sent: {body!r}"


# -- 2. BDAT octet counts from wide memoryviews ----------------------------------------------


def wide(data: bytes, typecode: str) -> memoryview:
    """``data`` as a memoryview of ``typecode`` items: len() counts items, not octets."""
    items = array.array(typecode)
    items.frombytes(data)
    return memoryview(items)


def wide_lines() -> list[Any]:
    return [
        wide(b"wide H line!", "H"),                             # 6 items, 12 octets
        wide(b"I" * 996, "I"),                                  # 249 items, 996 octets
        wide(b"Q" * 992, "Q"),                                  # 124 items, 992 octets
        memoryview(b"two dimensions " * 40).cast("B", [20, 30]),  # 20 rows, 600 octets
        memoryview(b"strided!" * 50).cast("H")[::2],            # not contiguous: 100 items, 200 octets
        wide(b".dotted line", "H"),                             # stuffed for DATA, not for BDAT
        wide(b"", "H"),                                         # an empty line
    ]


WIDE_HEADER = b"Subject: wide memoryviews\r\nX-Pad: 00\r\n\r\n"  # 40 octets: 20 items of 2
WIDE_CASES = {
    "lines": lambda: (WIDE_HEADER.decode(), wide_lines()),
    "header-too": lambda: (wide(WIDE_HEADER, "H"), wide_lines()),
    "three-bdat-chunks": lambda: (WIDE_HEADER.decode(), [wide(b"M" * 996, "I")] * 2200 + wide_lines()),
}


@every_entry_point
@pytest.mark.parametrize("case", WIDE_CASES.values(), ids=WIDE_CASES.keys())
def test_wide_memoryviews_go_out_with_the_count_of_their_octets(api, case):
    """The server reads exactly the octets each BDAT announces (one too few or too
    many leaves data where a command must be, and fails the script); what it gets is
    the octets of the views. Sessions and pools use BDAT, the one-shots DATA."""
    header, lines = case()
    expected = octets(header) + body_of(lines)
    server = MiniServer(CHUNKING)
    with ScriptedServer(server) as scripted:
        result = api.send(scripted.port, (header, lines), timeout=TIMEOUTS)
    assert result.reply.code == 250
    assert [digest(data) for data in server.accepted] == [digest(expected)]
    assert (b"BDAT" in server.verbs, b"DATA" in server.verbs) == (api.bdat, not api.bdat)


RAW = b"Subject: raw\r\n\r\n" + b"raw body lines\r\n" * 100  # 1616 octets: whole items of 2, 4 and 8


@pytest.mark.parametrize("typecode", ["H", "I", "Q"])
def test_a_raw_message_as_a_wide_memoryview_is_refused_before_any_byte(typecode):
    server = MiniServer(CHUNKING)
    with ScriptedServer(server) as scripted:
        with smtpunit.connect(HOST, scripted.port, timeout=TIMEOUTS) as session:
            with pytest.raises(errors.SMTPInputError):
                session.send_envelopes([prepare_raw_envelope(SENDER, [RECIPIENT], wide(RAW, typecode))])
            assert not session.closed
    assert b"MAIL" not in server.verbs and server.accepted == []


def complete_header(recipient: str, subject: str) -> bytes:
    """A header Postfix's cleanup adds nothing to."""
    return (f"From: <{SENDER}>\r\nTo: <{recipient}>\r\nSubject: {subject}\r\n"
            f"Date: Thu, 02 Jan 2025 10:00:00 +0000\r\nMessage-ID: <{recipient}>\r\n\r\n").encode()


def test_wide_memoryviews_reach_postfix_smtpd_through_bdat(postfix: PostfixInstance):
    """Postfix's smtpd counts BDAT octets itself: both messages (one in three chunks)
    must be delivered exactly."""
    small, big = postfix.address("wide"), postfix.address("wide-big")
    messages = [(small, complete_header(small, "wide"), wide_lines()),
                (big, complete_header(big, "wide big"), [wide(b"M" * 996, "I")] * 2200 + wide_lines())]
    with smtpunit.connect(HOST, postfix.port, timeout=TIMEOUTS) as session:
        assert session.capabilities.supports("CHUNKING")
        outcomes = session.send_many([(SENDER, [rcpt], header, lines) for rcpt, header, lines in messages])
    assert all(isinstance(outcome, smtpunit.SendResult) and outcome.reply.code == 250 for outcome in outcomes), outcomes
    for rcpt, header, lines in messages:
        [delivery] = postfix.messages(to=rcpt)
        assert digest(delivery.original()) == digest(header + body_of(lines))


# -- 3. a server that reads slowly, and one that stops reading ----------------------------------
#
# On Linux loopback the kernel takes some 2.6-2.9 MB of a client's writes before one
# blocks (the client's send buffer autotunes up to 4 MB, whatever the server's receive
# buffer), so a 2 MB message is written whole at once and never meets a slow reader.
# The messages here are bigger than that, so that the writes do wait for the reader.

SLOW = smtpunit.Timeouts(connect=5, reply=0.3, data_end=5)


@every_entry_point
def test_a_slow_reader_that_keeps_reading_gets_the_whole_message(api):
    """The server reads 16 KB every 6 ms (about 2.6 MB/s): each write makes progress
    far within the 0.3 s reply bound, so the 5 MB message must go through."""
    header, lines = "Subject: slow reader\r\n\r\n", filler_lines(5 * MB)
    done = threading.Event()
    server = MiniServer(CHUNKING, chunk=16 * 1024, pause=0.006, rcvbuf=64 * 1024, release=done)
    with ScriptedServer(server) as scripted:
        try:
            result = api.send(scripted.port, (header, lines), timeout=SLOW)
        finally:
            done.set()
    assert result.reply.code == 250
    assert [digest(data) for data in server.accepted] == [digest(octets(header) + body_of(lines))]
    assert server.silent == 0, "the client left its connection open"


STALLED = smtpunit.Timeouts(connect=5, reply=0.5, data_end=0.5)


@every_entry_point
def test_a_reader_that_stops_is_a_timeout_and_unknown_only_after_the_end(api):
    """The server reads 64 KB of an 8 MB message and then nothing (until the client
    has given up, then it reads what came, to see whether the end did). The client
    must fail within about the reply bound -- SMTPTimeout or SMTPTransportError,
    SMTPOutcomeUnknown only if the end of the message reached the server -- and
    close the connection (the server then reads to its end)."""
    release = threading.Event()
    server = MiniServer(CHUNKING, rcvbuf=64 * 1024, stall_after=64 * 1024, release=release)
    with ScriptedServer(server) as scripted:
        started = time.monotonic()
        try:
            with pytest.raises((errors.SMTPTimeout, errors.SMTPTransportError)) as caught:
                api.send(scripted.port, ("Subject: stalled\r\n\r\n", filler_lines(8 * MB)), timeout=STALLED)
            elapsed = time.monotonic() - started
        finally:
            release.set()
    assert elapsed < 3, f"took {elapsed:.1f}s to give up"
    if isinstance(caught.value, errors.SMTPOutcomeUnknown):
        assert server.ended, f"{caught.value!r}, but the end of the message never reached the server"
    assert server.accepted == []
    assert server.silent == 0, "the client left its connection open after failing"


# -- 4. a connect that never completes ------------------------------------------------------------


@every_entry_point
def test_a_connect_that_never_completes_fails_within_the_connect_bound(api, unanswered_port):
    bound = 0.5
    started = time.monotonic()
    with pytest.raises((errors.SMTPTimeout, errors.SMTPTransportError)) as caught:
        api.send(unanswered_port, ("Subject: x\r\n\r\n", ["x"]),
                 timeout=smtpunit.Timeouts(connect=bound, reply=30, data_end=30))
    elapsed = time.monotonic() - started
    assert bound * 0.8 <= elapsed < bound + 1.0, f"gave up after {elapsed:.2f}s, the bound is {bound}s"
    if isinstance(caught.value, errors.SMTPTimeout):
        assert caught.value.phase == "connect"


# -- 5. drops in the middle of the data --------------------------------------------------------------


def read_then_reset(octets: int) -> Callable[[Peer], None]:
    """A step: read ``octets`` of what the client sends, then reset the connection."""

    def step(peer: Peer) -> None:
        got = 0
        while got < octets and (chunk := peer.receive(64 * 1024)):
            got += len(chunk)
        peer.close(reset=True)

    return step


def go_away_with_the_354(reset: bool = False) -> Callable[[Peer], None]:
    """A step: the 354 and the close leave together (the reply held back with
    ``TCP_CORK`` until the FIN goes with it; then, with ``reset``, an RST), so the
    client learns of the close before it writes the data, however the threads are
    scheduled. A close that comes only after the client wrote the end of the data is
    another case: an unknown outcome, rightly."""

    def step(peer: Peer) -> None:
        peer.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        peer.sock.sendall(b"354 end data with <CR><LF>.<CR><LF>\r\n")
        peer.sock.shutdown(socket.SHUT_WR)
        peer.close(reset)

    return step


BDAT_OPENING = [*standard_session(CHUNKING), Expect(b"MAIL FROM:<"), Expect(b"RCPT TO:<"),
                Reply(b"250 2.1.0 ok", b"250 2.1.5 ok")]
MID_DATA_DROPS = {  # name: (script, message size, needs an entry point that sends BDAT)
    "354-then-close": ([*standard_session(), *accept_envelope()[:-1], go_away_with_the_354()], 1000, False),
    "354-then-reset": ([*standard_session(), *accept_envelope()[:-1], go_away_with_the_354(reset=True)],
                       1000, False),
    "data-256k-of-16m-then-reset": ([*standard_session(), *accept_envelope(), read_then_reset(256 * 1024)],
                                    16 * MB, False),
    "bdat-256k-of-16m-then-reset": ([*BDAT_OPENING, read_then_reset(256 * 1024)], 16 * MB, True),
}


@pytest.mark.parametrize("api, drop", [
    pytest.param(api, drop, id=f"{api.name}-{drop}")
    for api in ENTRY_POINTS for drop, (_, _, bdat) in MID_DATA_DROPS.items() if api.bdat or not bdat])
def test_a_drop_before_the_end_of_the_data_is_a_transport_error_not_unknown(api, drop, caplog):
    """The server went away before the end of the message could reach it: the message
    was certainly not delivered, and the error must say so (SMTPTransportError, not
    SMTPOutcomeUnknown); asyncio must not flood the log with failed writes."""
    script, size, _ = MID_DATA_DROPS[drop]
    with caplog.at_level(logging.WARNING, logger="asyncio"), ScriptedServer(script) as scripted:
        with pytest.raises(errors.SMTPError) as caught:
            api.send(scripted.port, ("Subject: dropped\r\n\r\n", filler_lines(size)), timeout=TIMEOUTS)
    problems = []
    if not isinstance(caught.value, errors.SMTPTransportError) or isinstance(caught.value, errors.SMTPOutcomeUnknown):
        problems.append(f"not delivered, but reported as {caught.value!r}")
    flood = [r for r in caplog.records if r.getMessage().startswith("socket.send() raised exception")]
    if len(flood) >= 5:
        problems.append(f"{len(flood)} 'socket.send() raised exception.' warnings from asyncio")
    assert not problems, "\n".join(problems)


# -- 6. 100 messages over random drops, audited against what the server accepted ----------------------

AUDIT = smtpunit.Timeouts(connect=5, reply=3, data_end=3)
_TAG = re.compile(rb"Message-ID: <([0-9]+)@hostile\.test>\r\nX-Attempt: ([0-9]+)\r\n")


def numbered(message: int, attempt: int) -> tuple[str, list[str]]:
    """Message ``message`` (its Message-ID), sent for the ``attempt``-th time overall."""
    return (f"From: <{SENDER}>\r\nTo: <{RECIPIENT}>\r\nMessage-ID: <{message}@hostile.test>\r\n"
            f"X-Attempt: {attempt}\r\nSubject: message {message}\r\n\r\n", [f"message {message}", ".", "end"])


def tag(data: bytes) -> tuple[int, int]:
    found = _TAG.search(data)
    assert found is not None, f"no Message-ID and X-Attempt in {data[:200]!r}"
    return int(found.group(1)), int(found.group(2))


class RandomDrops:
    """A :class:`MiniServer` fate: a drop at a random point in 30% of transactions;
    counts the points dropped at."""

    def __init__(self) -> None:
        self.dropped: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, rng: random.Random) -> Optional[str]:
        fate = rng.choice(DROPS) if rng.random() < 0.3 else None
        if fate is not None:
            with self._lock:
                self.dropped[fate] += 1
        return fate


def audit(server: MiniServer, reports: list[tuple[int, int, Any]], count: int) -> Counter[str]:
    """Check what the client was told of each attempt against what the server did:
    nothing reported sent that it did not accept, nothing accepted twice, unknown
    only if the end reached it, not delivered only if it did not accept it; every
    message sent or unknown in the end. Returns how many were sent and unknown."""
    problems = []
    accepted = [tag(data) for data in server.accepted]
    ended = {tag(data) for data in server.ended}
    problems += [f"message {m} accepted {n} times" for m, n in Counter(m for m, _ in accepted).items() if n > 1]
    resolved: dict[int, str] = {}
    for message, attempt, outcome in reports:
        key = (message, attempt)
        if isinstance(outcome, smtpunit.SendResult):
            resolved[message] = "sent"
            if key not in accepted:
                problems.append(f"{key} reported sent, never accepted")
        elif isinstance(outcome, errors.SMTPOutcomeUnknown):
            resolved[message] = "unknown"
            if key not in ended:
                problems.append(f"{key} reported unknown, its end never reached the server: {outcome}")
        elif isinstance(outcome, (errors.SMTPTransportError, errors.SMTPTimeout)):
            if key in accepted:
                problems.append(f"{key} reported not delivered, but accepted: {outcome!r}")
        else:
            problems.append(f"{key}: unexpected outcome {outcome!r}")
    if len(resolved) != count:
        problems.append(f"never sent nor unknown: {sorted(set(range(count)) - set(resolved))}")
    assert not problems, "\n".join(problems)
    return Counter(resolved.values())


def not_delivered(outcome: Any) -> bool:
    """Reported as certainly not delivered: to send again."""
    return isinstance(outcome, (errors.SMTPTransportError, errors.SMTPTimeout)) \
        and not isinstance(outcome, errors.SMTPOutcomeUnknown)


AUDIT_MODES = {"data": ("PIPELINING", "8BITMIME"), "bdat": CHUNKING}
audit_modes = pytest.mark.parametrize("extensions", AUDIT_MODES.values(), ids=AUDIT_MODES.keys())


@audit_modes
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_send_many_over_random_drops_reports_every_message_truthfully(extensions, seed):
    """100 messages with send_many, reconnecting after each broken session and
    sending again those reported not delivered (never those reported unknown)."""
    drops = RandomDrops()
    server = MiniServer(extensions, fate=drops, seed=seed)
    reports: list[tuple[int, int, Any]] = []
    attempts = itertools.count()
    pending = list(range(100))
    with ScriptedServer(server) as scripted:
        for _ in range(200):
            if not pending:
                break
            batch = [(message, next(attempts)) for message in pending]
            with smtpunit.connect(HOST, scripted.port, timeout=AUDIT) as session:
                outcomes = session.send_many([(SENDER, [RECIPIENT], *numbered(*key)) for key in batch])
            reports += [(*key, outcome) for key, outcome in zip(batch, outcomes, strict=True)]
            pending = [message for (message, _), outcome in zip(batch, outcomes, strict=True)
                       if not_delivered(outcome)]
    assert set(drops.dropped) == set(DROPS), drops.dropped  # every drop point was met
    audit(server, reports, 100)


@audit_modes
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_pool_shared_by_16_threads_over_random_drops_reports_every_message_truthfully(extensions, seed):
    """100 messages through one Pool of 8 sessions, 16 threads sending; each thread
    sends again what was reported not delivered, never what was reported unknown."""
    drops = RandomDrops()
    server = MiniServer(extensions, fate=drops, seed=seed)
    reports: list[tuple[int, int, Any]] = []
    crashes: list[BaseException] = []
    lock = threading.Lock()
    attempts = itertools.count()

    def worker(pool: smtpunit.Pool, first: int) -> None:
        try:
            for message in range(first, 100, 16):
                for _ in range(30):
                    with lock:
                        attempt = next(attempts)
                    try:
                        outcome: Any = pool.send(SENDER, [RECIPIENT], *numbered(message, attempt))
                    except errors.SMTPError as exc:
                        outcome = exc
                    with lock:
                        reports.append((message, attempt, outcome))
                    if not not_delivered(outcome):
                        break
        except BaseException as exc:  # noqa: BLE001 -- reported by the test
            crashes.append(exc)

    with ScriptedServer(server, timeout=30) as scripted:
        with smtpunit.Pool(HOST, scripted.port, size=8, timeout=AUDIT) as pool:
            threads = [threading.Thread(target=worker, args=(pool, first)) for first in range(16)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            assert not any(thread.is_alive() for thread in threads), "a sender thread hangs"
    assert crashes == []
    assert set(drops.dropped) == set(DROPS), drops.dropped
    audit(server, reports, 100)


# -- 7. no file descriptor leaked over 1,000 failing sends ---------------------------------------------


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@every_entry_point
def test_no_file_descriptor_leaks_over_1000_failing_sends(api):
    """A third of the sends find the port refusing connections, a third a server that
    closes after its greeting, a third a server that answers 550 to MAIL."""
    job = ("Subject: doomed\r\n\r\n", ["x"])
    with contextlib.ExitStack() as stack:
        refusing = stack.enter_context(socket.socket())
        refusing.bind((HOST, 0))  # bound, never listening: every connect is refused
        greeting_then_close = stack.enter_context(ScriptedServer([Reply(b"220 hello and goodbye"), Close()]))
        mail_refused = stack.enter_context(ScriptedServer(MiniServer((), mail_reply=b"550 5.7.1 not from you")))
        kinds = [(refusing.getsockname()[1], errors.SMTPTransportError),
                 (greeting_then_close.port, errors.SMTPTransportError),
                 (mail_refused.port, errors.SMTPReplyError)]
        senders = [(stack.enter_context(api.sender(port, timeout=TIMEOUTS)), error) for port, error in kinds]

        def fail(number: int) -> None:
            send, error = senders[number % len(senders)]
            with pytest.raises(error):
                send(job)

        for number in range(6):  # warm up: lazy imports, the pool's session, the event loop
            fail(number)
        gc.collect()
        before = open_descriptors()
        for number in range(1000):
            fail(number)
        deadline = time.monotonic() + 3  # the servers' threads close their ends
        while (gc.collect(), open_descriptors())[1] > before and time.monotonic() < deadline:
            time.sleep(0.05)
        after = open_descriptors()
    assert after <= before, f"{after - before} file descriptors more after 1,000 failing sends"


# -- 8. memory flat over 10,000 sends on one session -------------------------------------------------------


def test_memory_stays_flat_over_10000_sends_on_one_session():
    with start_smtp_sink(None) as sink, smtpunit.connect(HOST, sink.port, timeout=TIMEOUTS) as session:

        def send(first: int, last: int) -> int:
            gc.collect()
            for number in range(first, last):
                result = session.send(SENDER, [RECIPIENT], f"Subject: message {number}\r\n\r\n",
                                      ["hello", f"number {number}"])
                assert result.reply.code == 250
            gc.collect()
            return tracemalloc.get_traced_memory()[0]

        tracemalloc.start()
        try:
            after_1000 = send(0, 1000)
            after_10000 = send(1000, 10000)
        finally:
            tracemalloc.stop()
    growth = after_10000 - after_1000
    assert growth < MB, f"traced memory grew by {growth:,} bytes from 1,000 to 10,000 sends"
