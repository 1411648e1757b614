"""Test doubles for code that sends mail with smtpunit.

Each double provides one of smtpunit's signatures and is checked against it with
``verifyObject`` in smtpunit's own tests, so it can be linked in place of the real
provider:

* :class:`Outbox` -- a whole :class:`~smtpunit.interfaces.ISMTP` that records each
  message instead of sending it (after the same input checks as the real one).
* :class:`MemoryTransport` -- an :class:`~smtpunit.interfaces.ITransport` whose
  connections reach a :class:`MemoryServer`, an SMTP server living in memory: the
  real client runs its real conversation, and no socket is ever opened.
* :class:`Recorder` -- wraps any transport and TLS upgrader and records every byte
  sent and received, TLS or not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Optional

from zope.interface import implementer

from . import parameters
from .commands import Envelope, Line, check_port, check_server_address, prepare_envelope
from .interfaces import ISMTP, IConnection, ITLSUpgrader, ITransport
from .protocol import RecipientResult, SendResult
from .reply import Reply

__all__ = [
    "Outbox",
    "OutboxMessage",
    "MemoryServer",
    "MemoryTransport",
    "MemoryConnection",
    "ReceivedMessage",
    "Recorder",
]


def _unstuff(line: bytes) -> bytes:
    """A data line as the sender meant it: without CRLF and the stuffed dot."""
    line = line[:-2] if line.endswith(b"\r\n") else line
    return line[1:] if line.startswith(b".") else line


# -- a whole ISMTP -----------------------------------------------------------------


@dataclass(frozen=True)
class OutboxMessage:
    """A message an :class:`Outbox` accepted.

    :ivar server: the server address it was meant for (``None`` for an open connection).
    :ivar port: the port it was meant for.
    :ivar envelope: the checked envelope, header and dot-stuffed data.
    """

    server: Optional[str]
    port: Optional[int]
    envelope: Envelope

    @property
    def sender(self) -> str:
        """The MAIL FROM address."""
        return self.envelope.sender

    @property
    def recipients(self) -> tuple[str, ...]:
        """The RCPT TO addresses, in order."""
        return self.envelope.recipients

    @property
    def header(self) -> bytes:
        """The header, as it would be sent."""
        return self.envelope.header

    @property
    def lines(self) -> tuple[bytes, ...]:
        """The body lines as given (UTF-8 bytes), without dot-stuffing or CRLF."""
        return tuple(_unstuff(line) for line in self.envelope.body)


@implementer(ISMTP)
class Outbox:
    """An :class:`~smtpunit.interfaces.ISMTP` that keeps messages instead of sending.

    Input is checked exactly as the real unit checks it, and the end-of-message
    procedure is called, so code under test meets the same errors and hooks.
    """

    smtp_sending_server = parameters.smtp_sending_server
    smtp_sending_end_of_message = parameters.smtp_sending_end_of_message

    def __init__(self) -> None:
        self.messages: list[OutboxMessage] = []

    def smtp_send_message(
        self,
        server_address: str,
        from_: str,
        to: Iterable[str],
        header: Line,
        message: Iterable[Line],
        port_no: int = 25,
        **options: Any,
    ) -> SendResult:
        """Check and record the message; see :func:`smtpunit.smtp_send_message`."""
        server, port = check_server_address(server_address), check_port(port_no)
        return self._deliver(server, port, prepare_envelope(from_, to, header, message))

    def smtp_send_message_star(
        self, connection: Any, from_: str, to: Iterable[str], header: Line, message: Iterable[Line], *args: Any,
        **options: Any,
    ) -> SendResult:
        """Check and record the message; ``connection`` is closed if it has ``close``."""
        envelope = prepare_envelope(from_, to, header, message)
        close = getattr(connection, "close", None)
        if close is not None:
            close()
        return self._deliver(None, None, envelope)

    def _deliver(self, server: Optional[str], port: Optional[int], envelope: Envelope) -> SendResult:
        self.smtp_sending_server()
        self.smtp_sending_end_of_message()()
        self.messages.append(OutboxMessage(server, port, envelope))
        ok = Reply(250, ("2.0.0 recorded by smtpunit.testing.Outbox",))
        return SendResult(tuple(RecipientResult(r, ok) for r in envelope.recipients), ok)


# -- an SMTP server in memory ----------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMessage:
    """A message a :class:`MemoryServer` accepted: envelope and un-stuffed data."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes


@dataclass
class _ServerSession:
    server: MemoryServer
    outgoing: bytearray = field(default_factory=bytearray)
    pending: bytearray = field(default_factory=bytearray)
    sender: Optional[str] = None
    recipients: list[str] = field(default_factory=list)
    data: Optional[list[bytes]] = None
    closed: bool = False

    def reply(self, text: str) -> None:
        self.outgoing += text.encode("utf-8") + b"\r\n"

    def receive(self, data: bytes) -> None:
        self.server.received += data
        self.pending += data
        while not self.closed:
            end = self.pending.find(b"\r\n")
            if end < 0:
                return
            line = bytes(self.pending[:end])
            del self.pending[: end + 2]
            if self.data is not None:
                self._data_line(line)
            else:
                self._command(line.decode("utf-8", "replace"))

    def _data_line(self, line: bytes) -> None:
        assert self.data is not None
        if line != b".":
            self.data.append(line[1:] if line.startswith(b".") else line)
            return
        assert self.sender is not None
        message = ReceivedMessage(self.sender, tuple(self.recipients), b"".join(x + b"\r\n" for x in self.data))
        self.server.messages.append(message)
        self.sender, self.recipients, self.data = None, [], None
        self.reply("250 2.0.0 OK")

    def _command(self, line: str) -> None:
        verb = line.split(" ", 1)[0].upper()
        argument = line[len(verb) + 1 :]
        if verb == "EHLO":
            lines = [self.server.hostname, *self.server.extensions]
            for number, text in enumerate(lines, 1):
                self.reply(f"250{' ' if number == len(lines) else '-'}{text}")
        elif verb == "MAIL" and argument.upper().startswith("FROM:<"):
            self.sender = argument[6 : argument.index(">")]
            self.reply("250 2.1.0 OK")
        elif verb == "RCPT" and argument.upper().startswith("TO:<") and self.sender is not None:
            address = argument[4 : argument.index(">")]
            if address in self.server.refuse:
                self.reply("550 5.1.1 no such user")
            else:
                self.recipients.append(address)
                self.reply("250 2.1.5 OK")
        elif verb == "DATA" and self.recipients:
            self.data = []
            self.reply("354 end with <CRLF>.<CRLF>")
        elif verb in ("RSET", "NOOP"):
            if verb == "RSET":
                self.sender, self.recipients = None, []
            self.reply("250 2.0.0 OK")
        elif verb == "QUIT":
            self.reply("221 2.0.0 bye")
            self.closed = True
        else:
            self.reply("503 5.5.1 bad sequence of commands")


class MemoryServer:
    """An SMTP server in memory: EHLO, MAIL, RCPT, DATA, RSET, NOOP and QUIT.

    :param hostname: the name in its greeting and EHLO reply.
    :param extensions: the EHLO keywords it advertises.
    :param refuse: recipients it answers with 550.

    :ivar messages: every :class:`ReceivedMessage` accepted, in order.
    :ivar received: every byte any client sent.
    :ivar connections: how many connections were opened.
    """

    def __init__(
        self,
        hostname: str = "memory.invalid",
        extensions: Iterable[str] = ("8BITMIME", "SMTPUTF8"),
        refuse: Iterable[str] = (),
    ) -> None:
        self.hostname = hostname
        self.extensions = tuple(extensions)
        self.refuse = frozenset(refuse)
        self.messages: list[ReceivedMessage] = []
        self.received = bytearray()
        self.connections = 0

    def open(self, server_hostname: str) -> MemoryConnection:
        """Accept a connection: the greeting is queued at once."""
        self.connections += 1
        session = _ServerSession(self)
        session.reply(f"220 {self.hostname} ESMTP smtpunit.testing.MemoryServer")
        return MemoryConnection(session, server_hostname)


@implementer(IConnection)
class MemoryConnection:
    """A client's end of a connection to a :class:`MemoryServer`.

    A read the server has nothing for raises :class:`TimeoutError` at once, as a
    real connection would after its timeout.
    """

    secure = False
    loopback = True

    def __init__(self, session: _ServerSession, server_hostname: str) -> None:
        self._session = session
        self.server_hostname = server_hostname
        self.closed = False

    def send(self, data: bytes, timeout: float) -> None:
        """Hand ``data`` to the server."""
        if self.closed or self._session.closed:
            raise BrokenPipeError("the in-memory connection is closed")
        self._session.receive(bytes(data))

    def receive(self, max_bytes: int, timeout: float) -> bytes:
        """Take up to ``max_bytes`` of what the server said."""
        outgoing = self._session.outgoing
        if outgoing:
            chunk = bytes(outgoing[:max_bytes])
            del outgoing[:max_bytes]
            return chunk
        if self._session.closed or self.closed:
            return b""
        raise TimeoutError("the in-memory server has nothing to say")

    def close(self) -> None:
        """Close this end."""
        self.closed = True


@implementer(ITransport)
class MemoryTransport:
    """An :class:`~smtpunit.interfaces.ITransport` that connects to a
    :class:`MemoryServer` whatever host and port are asked for."""

    def __init__(self, server: Optional[MemoryServer] = None) -> None:
        self.server = server if server is not None else MemoryServer()

    def connect(self, host: str, port: int, timeout: float) -> MemoryConnection:
        """Open a connection to the in-memory server."""
        return self.server.open(host)


# -- recording any connection ----------------------------------------------------------


@implementer(IConnection)
class _RecordingConnection:
    def __init__(self, inner: Any, recorder: Recorder) -> None:
        self.inner = inner
        self.recorder = recorder

    @property
    def server_hostname(self) -> str:
        return self.inner.server_hostname  # type: ignore[no-any-return]

    @property
    def secure(self) -> bool:
        return bool(self.inner.secure)

    @property
    def loopback(self) -> bool:
        return bool(self.inner.loopback)

    @property
    def socket(self) -> Any:
        return getattr(self.inner, "socket", None)

    def send(self, data: bytes, timeout: float) -> None:
        self.inner.send(data, timeout)
        self.recorder.sent += data

    def receive(self, max_bytes: int, timeout: float) -> bytes:
        data: bytes = self.inner.receive(max_bytes, timeout)
        self.recorder.received += data
        return data

    def close(self) -> None:
        self.inner.close()


@implementer(ITransport)
class _RecordingTransport:
    def __init__(self, inner: Any, recorder: Recorder) -> None:
        self.inner = inner
        self.recorder = recorder

    def connect(self, host: str, port: int, timeout: float) -> _RecordingConnection:
        return _RecordingConnection(self.inner.connect(host, port, timeout), self.recorder)


@implementer(ITLSUpgrader)
class _RecordingTLS:
    def __init__(self, inner: Any, recorder: Recorder) -> None:
        self.inner = inner
        self.recorder = recorder

    def wrap(self, connection: Any, server_hostname: str, timeout: float) -> _RecordingConnection:
        inner = connection.inner if isinstance(connection, _RecordingConnection) else connection
        self.recorder.tls_started_at = len(self.recorder.sent)
        return _RecordingConnection(self.inner.wrap(inner, server_hostname, timeout), self.recorder)


class Recorder:
    """Records the plaintext of a conversation, before and after STARTTLS.

    Wrap the real providers with :meth:`transport` and :meth:`tls`, and pass them
    (or link them) in their place.

    :ivar sent: every byte the client sent, in order.
    :ivar received: every byte the client received.
    :ivar tls_started_at: the length of :attr:`sent` when TLS started, or ``None``.
    """

    def __init__(self) -> None:
        self.sent = bytearray()
        self.received = bytearray()
        self.tls_started_at: Optional[int] = None

    def transport(self, inner: Any) -> Any:
        """An :class:`~smtpunit.interfaces.ITransport` recording through ``inner``."""
        return _RecordingTransport(inner, self)

    def tls(self, inner: Any) -> Any:
        """An :class:`~smtpunit.interfaces.ITLSUpgrader` recording through ``inner``."""
        return _RecordingTLS(inner, self)
