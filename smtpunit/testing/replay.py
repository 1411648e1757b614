"""Replaying a recorded conversation: :class:`ReplayServer`.

The server plays the server's side of a :class:`~smtpunit.testing.recording.Conversation`
on 127.0.0.1 and checks that the client sends exactly the recorded bytes. Record once
against a real server, replay in every test run without it::

    with ReplayServer(Conversation.load("tests/data/send.jsonl")) as server:
        smtpunit.smtp_send_message("127.0.0.1", ..., server.port)

On the first byte that differs the server records a :class:`ReplayMismatch` (with the
offset in the client's byte stream, and the expected and actual bytes), answers
``500 5.5.0 replay mismatch`` and closes; leaving the ``with`` block (or
:meth:`~smtpunit.testing.scripted.ScriptedServer.close`) raises it.

Where the recording holds a ``starttls`` marker, the server runs the TLS handshake
with ``tls_context``, so a recorded STARTTLS conversation replays over real TLS
(give it the certificate the recording server had, e.g. from ``trustme``).

Replay fits *deterministic* conversations: the client must send the same bytes on
every run. Anything random in them breaks the replay -- a SCRAM ``AUTH`` exchange
(its client nonce), a ``Message-ID`` or ``Date`` generated per run. Fix such values
in the test (``ScramSHA256Mechanism(nonce_factory=...)``, a fixed header) or use a
:class:`~smtpunit.testing.scripted.ScriptedServer` for that part instead.
"""

from __future__ import annotations

import ssl
from typing import NoReturn, Optional, Union

from .recording import CLIENT, SERVER, STARTTLS, Conversation, PathLike
from .scripted import DEFAULT_TIMEOUT, ClientGone, Peer, ScriptedServer, ScriptMismatch, _show

__all__ = ["ReplayMismatch", "ReplayServer", "MISMATCH_REPLY"]

MISMATCH_REPLY = b"500 5.5.0 replay mismatch\r\n"
"""What the replay server answers when the client diverges from the recording."""


class ReplayMismatch(ScriptMismatch):
    """The client sent something else than the recording holds.

    :ivar offset: where, in the bytes the client sent on the connection (0-based,
        plaintext, TLS or not), the first difference is.
    :ivar expected: the recorded client bytes around it (its line).
    :ivar actual: what the client sent there instead.
    """

    def __init__(self, message: str, offset: int, expected: bytes, actual: bytes) -> None:
        super().__init__(message, expected=expected, actual=actual)
        self.offset = offset

    def __str__(self) -> str:
        return (f"connection {self.connection}: " if self.connection is not None else "") + self.message


def _line_around(data: bytes, offset: int) -> tuple[int, bytes]:
    """The start of the line holding ``offset`` in ``data``, and that line (with its CRLF)."""
    start = data.rfind(b"\n", 0, offset) + 1
    end = data.find(b"\n", offset)
    return start, data[start : len(data) if end < 0 else end + 1]


class ReplayServer(ScriptedServer):
    """Plays a recorded conversation's server side on 127.0.0.1 and checks the client's.

    :param conversation: a :class:`~smtpunit.testing.recording.Conversation`, or the
        path of one saved with :meth:`~smtpunit.testing.recording.Recorder.save`.
    :param tls_context: the server ``ssl.SSLContext`` for the ``starttls`` markers;
        required if the conversation has one.
    :param timeout: the bound, in seconds, on each wait for the client.

    One connection is replayed; another one is a mismatch. Everything else (``port``,
    ``peers``, ``close()``, the context manager) is :class:`~smtpunit.testing.scripted.ScriptedServer`'s.
    """

    def __init__(
        self,
        conversation: Union[Conversation, PathLike],
        tls_context: Optional[ssl.SSLContext] = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        host: str = "127.0.0.1",
    ) -> None:
        self.conversation = conversation if isinstance(conversation, Conversation) else Conversation.load(conversation)
        if self.conversation.uses_tls and tls_context is None:
            raise ValueError("the conversation starts TLS: give the replay server a tls_context")
        self.tls_context = tls_context
        super().__init__(scripts=[self._replay], timeout=timeout, host=host)

    def _replay(self, peer: Peer) -> None:
        events = list(self.conversation)
        expected_stream = self.conversation.client_bytes
        offset = 0  # client bytes matched so far
        pending = b""  # client bytes read but not yet matched

        def mismatch(at: int, why: str, actual: Optional[bytes] = None) -> ReplayMismatch:
            start, expected_line = _line_around(expected_stream, at)
            if actual is None:  # what the client sent from the start of that line
                sent = peer.received[start:]
                actual = sent[: sent.find(b"\n") + 1] if b"\n" in sent else sent
            line_number = expected_stream.count(b"\n", 0, start) + 1
            return ReplayMismatch(
                f"the client diverged from the recording at byte {at} (line {line_number}): {why}; "
                f"expected {_show(expected_line)}, got {_show(actual)}",
                at, expected_line, actual,
            )

        def fail(error: ReplayMismatch) -> NoReturn:
            try:
                peer.say(MISMATCH_REPLY)
            except ClientGone:
                pass
            raise error

        for number, (kind, data) in enumerate(events):
            if kind == SERVER:
                try:
                    peer.say(data)
                except ClientGone:
                    if any(e.kind == CLIENT for e in events[number:]):
                        raise mismatch(offset, "the client went away", b"") from None
                    return
            elif kind == STARTTLS:
                if pending:
                    fail(mismatch(offset, "bytes where the TLS handshake was recorded"))
                assert self.tls_context is not None
                try:
                    peer.start_tls(self.tls_context)
                except (ssl.SSLError, OSError) as exc:
                    raise mismatch(offset, f"the TLS handshake failed ({exc})", b"") from exc
            elif kind == CLIENT:
                matched = 0
                while matched < len(data):
                    if not pending:
                        try:
                            pending = peer.receive(timeout=self.timeout)
                        except TimeoutError:
                            fail(mismatch(offset + matched, f"the client sent nothing more within {self.timeout:g}s"))
                        if not pending:
                            raise mismatch(offset + matched, "the client closed the connection")
                    size = min(len(pending), len(data) - matched)
                    if pending[:size] != data[matched : matched + size]:
                        at = next(i for i in range(size) if pending[i] != data[matched + i])
                        fail(mismatch(offset + matched + at, "different bytes"))
                    matched += size
                    pending = pending[size:]
                offset += len(data)
        if pending:
            fail(mismatch(offset, "bytes after the end of the recording", pending))
        try:
            extra = peer.receive(timeout=self.timeout)
        except TimeoutError:
            return  # the client keeps the connection open: nothing more was recorded either
        if extra:
            fail(mismatch(offset, "bytes after the end of the recording", extra))
