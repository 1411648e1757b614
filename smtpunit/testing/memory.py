"""An SMTP server living in memory, and the transport that reaches it.

:class:`MemoryTransport` is an :class:`~smtpunit.interfaces.ITransport` whose
connections reach a :class:`MemoryServer`: the real client runs its real
conversation, and no socket is ever opened.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Optional

from zope.interface import implementer

from ..interfaces import IAsyncConnection, IAsyncTransport, IConnection, ITransport

__all__ = ["AsyncMemoryConnection", "AsyncMemoryTransport", "MemoryServer", "MemoryTransport", "MemoryConnection",
           "ReceivedMessage"]


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


@implementer(IAsyncConnection)
class AsyncMemoryConnection:
    """A :class:`MemoryConnection` for asyncio (no TLS: the memory server has none)."""

    secure = False
    loopback = True

    def __init__(self, connection: MemoryConnection) -> None:
        self.connection = connection
        self.server_hostname = connection.server_hostname

    async def send(self, data: bytes, timeout: float) -> None:
        """Hand ``data`` to the server."""
        self.connection.send(data, timeout)

    async def receive(self, max_bytes: int, timeout: float) -> bytes:
        """Take up to ``max_bytes`` of what the server said."""
        return self.connection.receive(max_bytes, timeout)

    async def start_tls(self, context: Any, server_hostname: str, timeout: float) -> None:
        """Refused: the in-memory server speaks no TLS."""
        raise ConnectionError("the in-memory server speaks no TLS")

    def close(self) -> None:
        """Close this end."""
        self.connection.close()


@implementer(IAsyncTransport)
class AsyncMemoryTransport:
    """:class:`MemoryTransport` for asyncio: an :class:`~smtpunit.interfaces.IAsyncTransport`
    to a :class:`MemoryServer`."""

    def __init__(self, server: Optional[MemoryServer] = None) -> None:
        self.server = server if server is not None else MemoryServer()

    async def connect(self, host: str, port: int, timeout: float, ssl_context: Any = None) -> AsyncMemoryConnection:
        """Open a connection to the in-memory server (not with TLS from the start)."""
        if ssl_context is not None:
            raise ConnectionError("the in-memory server speaks no TLS")
        return AsyncMemoryConnection(self.server.open(host))
