"""Recording conversations: :class:`Recorder` and :class:`Conversation`.

:class:`Recorder` wraps a real transport and TLS upgrader and records the plaintext
of every connection made through them, before and after STARTTLS. Each connection
becomes a :class:`Conversation`: who sent what, in order, and where TLS started. A
conversation can be saved to a file and loaded back, and
:class:`~smtpunit.testing.replay.ReplayServer` plays it back::

    recorder = Recorder()
    smtpunit.smtp_send_message(..., tcp_connect=recorder.transport(TCPTransport()),
                               tls_encode=recorder.tls(SSLContextTLS(context)))
    recorder.save("conversation.jsonl")

The file is JSON lines: one object per change of direction,
``{"from": "client", "data": "EHLO localhost\\r\\n"}`` (``"server"`` for the other
side), whose ``data`` is the text when the bytes are UTF-8 (JSON escapes control
characters) and otherwise base64, marked ``"encoding": "base64"``; and the marker
``{"event": "starttls"}`` where the TLS handshake happened (first, for implicit TLS).
Only plaintext is ever stored.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple, Optional, Union

from zope.interface import implementer

from ..interfaces import IConnection, ITLSUpgrader, ITransport

__all__ = ["CLIENT", "SERVER", "STARTTLS", "Conversation", "ConversationEvent", "Recorder"]

CLIENT = "client"
"""The kind of a :class:`ConversationEvent` holding bytes the client sent."""
SERVER = "server"
"""The kind of a :class:`ConversationEvent` holding bytes the server sent."""
STARTTLS = "starttls"
"""The kind of the :class:`ConversationEvent` marking where the TLS handshake happened."""

PathLike = Union[str, "os.PathLike[str]"]


class ConversationEvent(NamedTuple):
    """One event of a :class:`Conversation`.

    :ivar kind: :data:`CLIENT`, :data:`SERVER` or :data:`STARTTLS`.
    :ivar data: the bytes sent (``b""`` for :data:`STARTTLS`).
    """

    kind: str
    data: bytes = b""


class Conversation:
    """The plaintext of one connection: the bytes each side sent, in order, and where
    TLS started. Consecutive bytes from one side are kept as one event.

    :param events: :class:`ConversationEvent` objects or ``(kind, data)`` pairs.
    """

    def __init__(self, events: Iterable[Union[ConversationEvent, tuple[str, bytes]]] = ()) -> None:
        self.events: list[ConversationEvent] = []
        for kind, data in events:
            self.add(kind, data)

    def add(self, kind: str, data: bytes = b"") -> None:
        """Append an event; bytes from the side that spoke last are joined to its event."""
        if kind == STARTTLS:
            if data:
                raise ValueError("a starttls event holds no data")
            self.events.append(ConversationEvent(STARTTLS))
            return
        if kind not in (CLIENT, SERVER):
            raise ValueError(f"an event's kind is 'client', 'server' or 'starttls', not {kind!r}")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"an event's data must be bytes, not {type(data).__name__}")
        if not data:
            return
        if self.events and self.events[-1].kind == kind:
            self.events[-1] = ConversationEvent(kind, self.events[-1].data + bytes(data))
        else:
            self.events.append(ConversationEvent(kind, bytes(data)))

    @property
    def client_bytes(self) -> bytes:
        """Everything the client sent, TLS or not."""
        return b"".join(e.data for e in self.events if e.kind == CLIENT)

    @property
    def server_bytes(self) -> bytes:
        """Everything the server sent, TLS or not."""
        return b"".join(e.data for e in self.events if e.kind == SERVER)

    @property
    def uses_tls(self) -> bool:
        """True if TLS started somewhere in the conversation."""
        return any(e.kind == STARTTLS for e in self.events)

    def __iter__(self) -> Iterator[ConversationEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Conversation) and self.events == other.events

    def __repr__(self) -> str:
        return (f"<Conversation: {len(self.events)} events, client {len(self.client_bytes)} bytes, "
                f"server {len(self.server_bytes)} bytes{', TLS' if self.uses_tls else ''}>")

    # -- files ---------------------------------------------------------------------

    def dumps(self) -> str:
        """The conversation as JSON lines (see the module's documentation)."""
        lines = []
        for kind, data in self.events:
            if kind == STARTTLS:
                record: dict[str, str] = {"event": STARTTLS}
            else:
                try:
                    record = {"from": kind, "data": data.decode("utf-8")}
                except UnicodeDecodeError:
                    record = {"from": kind, "data": base64.b64encode(data).decode("ascii"), "encoding": "base64"}
            lines.append(json.dumps(record) + "\n")
        return "".join(lines)

    @classmethod
    def loads(cls, text: str, source: str = "<string>") -> Conversation:
        """Parse JSON lines made by :meth:`dumps`.

        :raises ValueError: naming ``source`` and the line, for anything malformed.
        """
        conversation = cls()
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                conversation.add(*_decode(record))
            except (ValueError, TypeError, binascii.Error) as exc:
                raise ValueError(f"{source}:{number}: not a conversation event: {exc}") from None
        return conversation

    def save(self, path: PathLike) -> None:
        """Write the conversation to ``path`` as JSON lines."""
        with open(path, "w", encoding="ascii", newline="\n") as file:
            file.write(self.dumps())

    @classmethod
    def load(cls, path: PathLike) -> Conversation:
        """Read a conversation saved with :meth:`save`."""
        with open(path, encoding="ascii") as file:
            return cls.loads(file.read(), os.fspath(path))


def _decode(record: Any) -> tuple[str, bytes]:
    if not isinstance(record, dict):
        raise ValueError("expected a JSON object")
    if record.get("event") == STARTTLS and set(record) == {"event"}:
        return STARTTLS, b""
    kind, data, encoding = record.get("from"), record.get("data"), record.get("encoding", "text")
    if kind not in (CLIENT, SERVER) or not isinstance(data, str) or not set(record) <= {"from", "data", "encoding"}:
        raise ValueError(f"expected {{'from': 'client'|'server', 'data': str}} or {{'event': 'starttls'}}, "
                         f"not {record!r}")
    if encoding == "base64":
        return kind, base64.b64decode(data.encode("ascii"), validate=True)
    if encoding == "text":
        return kind, data.encode("utf-8")
    raise ValueError(f"unknown encoding {encoding!r}")


# -- recording any connection ----------------------------------------------------------


@implementer(IConnection)
class _RecordingConnection:
    def __init__(self, inner: Any, recorder: Recorder, conversation: Conversation) -> None:
        self.inner = inner
        self.recorder = recorder
        self.conversation = conversation

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
        self.conversation.add(CLIENT, bytes(data))

    def receive(self, max_bytes: int, timeout: float) -> bytes:
        data: bytes = self.inner.receive(max_bytes, timeout)
        self.recorder.received += data
        self.conversation.add(SERVER, data)
        return data

    def close(self) -> None:
        self.inner.close()


@implementer(ITransport)
class _RecordingTransport:
    def __init__(self, inner: Any, recorder: Recorder) -> None:
        self.inner = inner
        self.recorder = recorder

    def connect(self, host: str, port: int, timeout: float) -> _RecordingConnection:
        connection = self.inner.connect(host, port, timeout)
        conversation = self.recorder._new_conversation()
        if connection.secure:  # implicit TLS: the handshake came first
            conversation.add(STARTTLS)
        return _RecordingConnection(connection, self.recorder, conversation)


@implementer(ITLSUpgrader)
class _RecordingTLS:
    def __init__(self, inner: Any, recorder: Recorder) -> None:
        self.inner = inner
        self.recorder = recorder

    def wrap(self, connection: Any, server_hostname: str, timeout: float) -> _RecordingConnection:
        if isinstance(connection, _RecordingConnection):
            inner, conversation = connection.inner, connection.conversation
        else:
            inner, conversation = connection, self.recorder._new_conversation()
        self.recorder.tls_started_at = len(self.recorder.sent)
        conversation.add(STARTTLS)
        return _RecordingConnection(self.inner.wrap(inner, server_hostname, timeout), self.recorder, conversation)


class Recorder:
    """Records the plaintext of conversations, before and after STARTTLS.

    Wrap the real providers with :meth:`transport` and :meth:`tls`, and pass them
    (or link them) in their place.

    :ivar sent: every byte the client sent, in order, over all connections.
    :ivar received: every byte the client received.
    :ivar tls_started_at: the length of :attr:`sent` when TLS last started, or ``None``.
    :ivar conversations: one :class:`Conversation` per connection, in order.
    """

    def __init__(self) -> None:
        self.sent = bytearray()
        self.received = bytearray()
        self.tls_started_at: Optional[int] = None
        self.conversations: list[Conversation] = []

    def transport(self, inner: Any) -> Any:
        """An :class:`~smtpunit.interfaces.ITransport` recording through ``inner``."""
        return _RecordingTransport(inner, self)

    def tls(self, inner: Any) -> Any:
        """An :class:`~smtpunit.interfaces.ITLSUpgrader` recording through ``inner``."""
        return _RecordingTLS(inner, self)

    @property
    def conversation(self) -> Conversation:
        """The conversation of the last connection.

        :raises LookupError: if nothing was recorded yet.
        """
        if not self.conversations:
            raise LookupError("the recorder has not recorded any connection yet")
        return self.conversations[-1]

    def save(self, path: PathLike, index: int = -1) -> None:
        """Save the conversation of connection ``index`` (the last by default) to
        ``path``; see :meth:`Conversation.save`."""
        if not self.conversations:
            raise LookupError("the recorder has not recorded any connection yet")
        self.conversations[index].save(path)

    def _new_conversation(self) -> Conversation:
        conversation = Conversation()
        self.conversations.append(conversation)
        return conversation
