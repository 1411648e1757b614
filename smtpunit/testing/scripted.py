"""A scripted SMTP server on a real socket, for what a real server will not do on demand.

:class:`ScriptedServer` listens on 127.0.0.1 (a free port), in a thread, and plays a
*script* on each connection it accepts. A script is a list of steps::

    from smtpunit.testing import Expect, ExpectClose, Reply, ScriptedServer, standard_session

    script = [*standard_session(extensions=["STARTTLS"]),
              Expect(b"STARTTLS"), Reply(b"454 4.7.0 TLS not available"),
              Expect(b"QUIT"), Reply(b"221 bye")]
    with ScriptedServer(script) as server:
        ...  # point the client at server.host, server.port

The steps:

==================================  ====================================================================
:class:`Reply` ``(*lines)``         send the lines, each ending in CRLF (added if missing), in one write
:class:`Raw` ``(data)``             send exactly ``data`` (malformed replies, bare LF, ...)
:class:`Expect` ``(prefix)``        the client's next line must start with ``prefix`` (or equal it)
:class:`ExpectData` ``()``          read message data up to the lone ``.`` line
:class:`ExpectClose` ``()``         the client must close the connection without sending anything
:class:`Sleep` ``(seconds)``        wait
:class:`Drip` ``(data, interval)``  send ``data`` a byte (or ``chunk``) at a time, ``interval`` apart
:class:`StartTLS` ``(context)``     TLS handshake, server side, with an ``ssl.SSLContext``
:class:`Close` ``()``               close the connection now (``reset=True``: with a TCP reset)
``step(peer)``                      any callable: the escape hatch, given the :class:`Peer`
==================================  ====================================================================

Plain ``bytes`` (or ``str``) in a script mean :class:`Reply`. A script may also be a
single callable, given the :class:`Peer` of the connection.

When the client does something else than the script expects -- another command,
silence past the timeout, closing too early -- the server records a
:class:`ScriptMismatch` (an :class:`AssertionError`) and closes the connection, and
:meth:`ScriptedServer.close` (or leaving the ``with`` block) raises it, so the test
fails loudly even when the client swallowed the error. Exceptions raised by callable
steps are reported the same way. A client that goes away while the server is
*writing* ends the script quietly (:attr:`Peer.client_gone`): replies are the
server's part, expectations are the assertions.

Every blocking read is bounded (``timeout``, 10 s by default); :meth:`ScriptedServer.close`
joins the threads.
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Optional, Union

__all__ = [
    "DEFAULT_TIMEOUT",
    "ClientClosed",
    "ClientGone",
    "Close",
    "Drip",
    "Expect",
    "ExpectClose",
    "ExpectData",
    "Peer",
    "Raw",
    "Reply",
    "Script",
    "ScriptMismatch",
    "ScriptedServer",
    "Sleep",
    "StartTLS",
    "Step",
    "accept_envelope",
    "standard_session",
]

DEFAULT_TIMEOUT = 10.0
"""Seconds any blocking read of a scripted server waits before giving up."""

RECEIVE_SIZE = 64 * 1024

Step = Union[bytes, str, Callable[["Peer"], Any]]
"""One step of a script: bytes or str (a :class:`Reply`), or a callable given the :class:`Peer`."""

Script = Union[Sequence[Step], Callable[["Peer"], Any]]
"""A list of steps, or one callable that plays the whole connection."""


def _as_bytes(data: Union[bytes, str], what: str = "data") -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"{what} must be bytes or str, not {type(data).__name__}")


def _show(data: bytes, limit: int = 200) -> str:
    """``data`` as an escaped, bounded Python literal."""
    return repr(data) if len(data) <= limit else repr(data[:limit]) + f"... ({len(data)} bytes)"


# -- errors --------------------------------------------------------------------------


class ScriptMismatch(AssertionError):
    """The client did not do what the script expected.

    :ivar message: what went wrong.
    :ivar expected: what the script expected, when it says (bytes), else ``None``.
    :ivar actual: what the client sent instead (bytes), else ``None``.
    :ivar connection: the connection's number (0 for the first), once known.
    :ivar step_index: the number of the step in the script (0 for the first), once known.
    :ivar step: the step itself, once known.
    """

    def __init__(self, message: str, *, expected: Optional[bytes] = None, actual: Optional[bytes] = None) -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.actual = actual
        self.connection: Optional[int] = None
        self.step_index: Optional[int] = None
        self.step: Any = None

    def __str__(self) -> str:
        where = []
        if self.connection is not None:
            where.append(f"connection {self.connection}")
        if self.step_index is not None:
            where.append(f"step {self.step_index} {self.step!r}")
        return (", ".join(where) + ": " if where else "") + self.message


class ClientClosed(ScriptMismatch):
    """The client closed the connection while the script expected more from it."""


class ClientGone(ConnectionError):
    """Writing to the client failed: it went away. Ends a script quietly."""


class _EndOfScript(Exception):
    """Raised by :class:`Close` to stop the script."""


class _Stopped(Exception):
    """The server is being closed by force."""


# -- the server's end of one connection -------------------------------------------------


class Peer:
    """The server's end of one connection, as scripts see it.

    :ivar index: the connection's number (0 for the first).
    :ivar sock: the socket (an ``ssl.SSLSocket`` after :meth:`start_tls`).
    :ivar timeout: the bound, in seconds, on each blocking read.
    :ivar lines: every line read with :meth:`line`, without CRLF, in order.
    :ivar messages: the data of each message read with :meth:`until_end_of_data`.
    :ivar secure: True once :meth:`start_tls` succeeded.
    :ivar client_gone: True if the script ended because writing to the client failed.
    :ivar tls_error: the handshake error, if a :class:`StartTLS` allowed to fail failed.
    """

    def __init__(self, sock: socket.socket, index: int, timeout: float, stopping: threading.Event) -> None:
        self.sock = sock
        self.index = index
        self.timeout = timeout
        self.lines: list[bytes] = []
        self.messages: list[bytes] = []
        self.secure = False
        self.client_gone = False
        self.tls_error: Optional[BaseException] = None
        self._pending = bytearray()
        self._received = bytearray()
        self._stopping = stopping
        self._closed = False

    @property
    def received(self) -> bytes:
        """Every byte the client sent on this connection (the plaintext, after TLS)."""
        return bytes(self._received)

    # -- writing ---------------------------------------------------------------------

    def say(self, data: Union[bytes, str]) -> None:
        """Send ``data`` exactly as given.

        :raises ClientGone: if the client went away.
        """
        try:
            self.sock.settimeout(self.timeout)
            self.sock.sendall(_as_bytes(data))
        except OSError as exc:
            raise ClientGone(f"writing to the client failed: {exc}") from exc

    # -- reading -----------------------------------------------------------------------

    def receive(self, max_bytes: int = RECEIVE_SIZE, timeout: Optional[float] = None) -> bytes:
        """Up to ``max_bytes`` of what the client sent, as soon as some arrive; ``b""``
        once it closed the connection.

        :raises TimeoutError: if nothing arrives within ``timeout`` (default :attr:`timeout`).
        """
        if not self._pending and not self._fill(self.timeout if timeout is None else timeout):
            return b""
        chunk = bytes(self._pending[:max_bytes])
        del self._pending[:max_bytes]
        return chunk

    def line(self, timeout: Optional[float] = None) -> bytes:
        """The client's next line, without its CRLF.

        :raises ClientClosed: if the client closes first.
        :raises ScriptMismatch: if no whole line arrives within ``timeout``.
        """
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while (end := self._pending.find(b"\r\n")) < 0:
            partial = f" (it sent {_show(bytes(self._pending))} without CRLF)" if self._pending else ""
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError
                more = self._fill(remaining)
            except TimeoutError:
                raise ScriptMismatch(f"no line from the client within {limit:g}s{partial}",
                                     actual=bytes(self._pending)) from None
            if not more:
                raise ClientClosed(f"the client closed the connection while the server waited for a line{partial}",
                                   actual=bytes(self._pending))
        line = bytes(self._pending[:end])
        del self._pending[: end + 2]
        self.lines.append(line)
        return line

    def until_end_of_data(self, timeout: Optional[float] = None) -> bytes:
        """Read message data up to the lone ``.`` line; return it un-stuffed, each
        line ending in CRLF (also kept in :attr:`messages`)."""
        lines = []
        while (line := self.line(timeout)) != b".":
            lines.append(line[1:] if line.startswith(b".") else line)
        data = b"".join(line + b"\r\n" for line in lines)
        self.messages.append(data)
        return data

    def wait_for_close(self, timeout: Optional[float] = None) -> None:
        """Wait for the client to close the connection.

        :raises ScriptMismatch: if it sends anything first, or does not close within ``timeout``.
        """
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while not self._pending:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError
                if not self._fill(remaining):
                    return
            except TimeoutError:
                raise ScriptMismatch(f"the client did not close the connection within {limit:g}s") from None
        raise ScriptMismatch(
            f"expected the client to close the connection, but it sent {_show(bytes(self._pending))}",
            actual=bytes(self._pending),
        )

    def _fill(self, timeout: float) -> bool:
        """Read more from the client into the buffer; False at EOF."""
        if self._stopping.is_set():
            raise _Stopped
        self.sock.settimeout(max(timeout, 0.001))
        try:
            chunk = self.sock.recv(RECEIVE_SIZE)
        except TimeoutError:
            raise
        except OSError:  # reset by the client: as good as closed
            chunk = b""
        if self._stopping.is_set():
            raise _Stopped
        if not chunk:
            return False
        self._received += chunk
        self._pending += chunk
        return True

    # -- the rest ------------------------------------------------------------------

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or less if the server is closed by force."""
        if self._stopping.wait(seconds):
            raise _Stopped

    def start_tls(self, context: ssl.SSLContext, timeout: Optional[float] = None) -> None:
        """Run the TLS handshake, server side, over the connection.

        :raises ScriptMismatch: if the client sent bytes that the handshake would
            swallow (plaintext after its STARTTLS).
        :raises ssl.SSLError: (or :class:`OSError`) if the handshake fails.
        """
        if self._pending:
            raise ScriptMismatch(
                f"the client sent {_show(bytes(self._pending))} before the TLS handshake",
                actual=bytes(self._pending),
            )
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        self.sock = context.wrap_socket(self.sock, server_side=True)
        self.secure = True

    def close(self, reset: bool = False) -> None:
        """Close the connection; with ``reset``, abortively (a TCP RST). Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if reset:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()
        except OSError:
            pass

    def _abort(self) -> None:
        """Wake a blocked read (used when the server is closed by force)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


# -- steps -----------------------------------------------------------------------------


class Reply:
    """Send reply lines in one write; CRLF is added to each line that lacks it.

    (A script step -- not :class:`smtpunit.core.reply.Reply`, which is a parsed reply.)
    """

    def __init__(self, *lines: Union[bytes, str]) -> None:
        if not lines:
            raise ValueError("Reply needs at least one line")
        self.lines = tuple(_as_bytes(line, "a reply line") for line in lines)
        self.data = b"".join(line if line.endswith(b"\r\n") else line + b"\r\n" for line in self.lines)

    def __call__(self, peer: Peer) -> None:
        peer.say(self.data)

    def __repr__(self) -> str:
        return f"Reply({', '.join(map(repr, self.lines))})"


class Raw:
    """Send ``data`` exactly: malformed replies, bare LF, several replies in one write."""

    def __init__(self, data: Union[bytes, str]) -> None:
        self.data = _as_bytes(data)

    def __call__(self, peer: Peer) -> None:
        peer.say(self.data)

    def __repr__(self) -> str:
        return f"Raw({self.data!r})"


class Expect:
    """Read the client's next line; it must start with ``prefix`` (or, with
    ``exact=True``, equal it), compared as bytes, case-sensitively.

    :param timeout: seconds to wait for the line (default: the server's timeout).
    """

    def __init__(self, prefix: Union[bytes, str], *, exact: bool = False, timeout: Optional[float] = None) -> None:
        self.prefix = _as_bytes(prefix, "prefix")
        self.exact = exact
        self.timeout = timeout

    def __call__(self, peer: Peer) -> bytes:
        line = peer.line(self.timeout)
        if line == self.prefix or (not self.exact and line.startswith(self.prefix)):
            return line
        how = "the line" if self.exact else "a line starting with"
        raise ScriptMismatch(f"expected {how} {self.prefix!r}, the client sent {_show(line)}",
                             expected=self.prefix, actual=line)

    def __repr__(self) -> str:
        return f"Expect({self.prefix!r}{', exact=True' if self.exact else ''})"


class ExpectData:
    """Read message data up to the lone ``.`` line (kept in :attr:`Peer.messages`).

    :param contains: if given, the (un-stuffed) data must contain these bytes.
    :param timeout: seconds to wait for each line (default: the server's timeout).
    """

    def __init__(self, contains: Union[bytes, str, None] = None, *, timeout: Optional[float] = None) -> None:
        self.contains = None if contains is None else _as_bytes(contains, "contains")
        self.timeout = timeout

    def __call__(self, peer: Peer) -> bytes:
        data = peer.until_end_of_data(self.timeout)
        if self.contains is not None and self.contains not in data:
            raise ScriptMismatch(f"the message data does not contain {self.contains!r}: {_show(data)}",
                                 expected=self.contains, actual=data)
        return data

    def __repr__(self) -> str:
        return f"ExpectData({self.contains!r})" if self.contains is not None else "ExpectData()"


class ExpectClose:
    """The client must close the connection without sending anything more.

    :param timeout: seconds to wait (default: the server's timeout).
    """

    def __init__(self, *, timeout: Optional[float] = None) -> None:
        self.timeout = timeout

    def __call__(self, peer: Peer) -> None:
        peer.wait_for_close(self.timeout)

    def __repr__(self) -> str:
        return "ExpectClose()"


class Sleep:
    """Wait ``seconds`` before the next step."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self, peer: Peer) -> None:
        peer.sleep(self.seconds)

    def __repr__(self) -> str:
        return f"Sleep({self.seconds!r})"


class Drip:
    """Send ``data`` slowly: ``chunk`` bytes at a time, ``interval`` seconds apart."""

    def __init__(self, data: Union[bytes, str], interval: float, *, chunk: int = 1) -> None:
        if chunk < 1:
            raise ValueError("chunk must be at least 1")
        self.data = _as_bytes(data)
        self.interval = interval
        self.chunk = chunk

    def __call__(self, peer: Peer) -> None:
        for start in range(0, len(self.data), self.chunk):
            if start:
                peer.sleep(self.interval)
            peer.say(self.data[start : start + self.chunk])

    def __repr__(self) -> str:
        return f"Drip({_show(self.data, 40)}, {self.interval!r})"


class StartTLS:
    """Run the TLS handshake, server side, with ``context`` (e.g. from ``trustme``).

    :param may_fail: a failed handshake ends the connection quietly (the error is in
        :attr:`Peer.tls_error`) instead of being a :class:`ScriptMismatch`, for tests
        in which the client is meant to reject the server.
    """

    def __init__(self, context: ssl.SSLContext, *, may_fail: bool = False, timeout: Optional[float] = None) -> None:
        self.context = context
        self.may_fail = may_fail
        self.timeout = timeout

    def __call__(self, peer: Peer) -> None:
        try:
            peer.start_tls(self.context, self.timeout)
        except (ssl.SSLError, OSError) as exc:
            if self.may_fail:
                peer.tls_error = exc
                raise _EndOfScript from exc
            raise ScriptMismatch(f"the TLS handshake failed: {exc}") from exc

    def __repr__(self) -> str:
        return f"StartTLS({'may_fail=True' if self.may_fail else ''})"


class Close:
    """Close the connection now, ending the script; ``reset=True`` sends a TCP RST."""

    def __init__(self, *, reset: bool = False) -> None:
        self.reset = reset

    def __call__(self, peer: Peer) -> None:
        peer.close(self.reset)
        raise _EndOfScript

    def __repr__(self) -> str:
        return "Close(reset=True)" if self.reset else "Close()"


def _ehlo_reply(hostname: str, extensions: Iterable[Union[bytes, str]]) -> Reply:
    lines = [_as_bytes(hostname), *(_as_bytes(e, "an extension") for e in extensions)]
    return Reply(*(b"250" + (b" " if i == len(lines) - 1 else b"-") + line for i, line in enumerate(lines)))


def standard_session(
    extensions: Iterable[Union[bytes, str]] = (),
    *,
    hostname: str = "scripted.invalid",
    hello: Union[bytes, str] = b"EHLO",
) -> list[Step]:
    """The steps of a server's opening: the 220 greeting, then ``EHLO`` (or ``hello``,
    e.g. ``b"LHLO"``) answered with 250 and ``extensions`` (e.g. ``["STARTTLS", "PIPELINING"]``)."""
    return [
        Reply(f"220 {hostname} ESMTP smtpunit.testing.ScriptedServer"),
        Expect(hello),
        _ehlo_reply(hostname, extensions),
    ]


def accept_envelope(recipients: int = 1) -> list[Step]:
    """The steps accepting ``MAIL``, ``recipients`` times ``RCPT`` and ``DATA`` (354),
    one command at a time (no PIPELINING); the data itself is left to the script."""
    steps: list[Step] = [Expect(b"MAIL FROM:<"), Reply(b"250 2.1.0 OK")]
    for _ in range(recipients):
        steps += [Expect(b"RCPT TO:<"), Reply(b"250 2.1.5 OK")]
    return [*steps, Expect(b"DATA", exact=True), Reply(b"354 end data with <CR><LF>.<CR><LF>")]


def _normalize(script: Script) -> Union[list[Callable[[Peer], Any]], Callable[[Peer], Any]]:
    if callable(script):
        return script
    if isinstance(script, (bytes, str)):
        raise TypeError("a script is a list of steps (or one callable), not a single bytes or str")
    steps: list[Callable[[Peer], Any]] = []
    for number, step in enumerate(script):
        if isinstance(step, (bytes, bytearray, str)):
            steps.append(Reply(step))
        elif callable(step):
            steps.append(step)
        else:
            raise TypeError(f"script step {number} must be bytes, str or a callable, not {step!r}")
    return steps


# -- the server ----------------------------------------------------------------------------


class ScriptedServer:
    """A socket server on 127.0.0.1 (a free port) that plays scripts, in threads.

    :param script: the script played on every connection.
    :param scripts: instead, one script per connection, in order; a connection beyond
        them is a :class:`ScriptMismatch`.
    :param timeout: the bound, in seconds, on each blocking read.
    :param host: the loopback address to listen on.

    :ivar host: the address it listens on.
    :ivar port: the port it listens on.
    :ivar peers: the :class:`Peer` of each connection accepted, in order.
    :ivar errors: every :class:`ScriptMismatch` and step error so far.

    Use it as a context manager, or call :meth:`close`; both raise the first error.
    """

    def __init__(
        self,
        script: Optional[Script] = None,
        *,
        scripts: Optional[Sequence[Script]] = None,
        timeout: float = DEFAULT_TIMEOUT,
        host: str = "127.0.0.1",
    ) -> None:
        if (script is None) == (scripts is None):
            raise TypeError("give either script (for every connection) or scripts (one per connection)")
        self._script = None if script is None else _normalize(script)
        self._scripts = None if scripts is None else [_normalize(s) for s in scripts]
        self.timeout = timeout
        self.peers: list[Peer] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._accepting = True
        self._wake_address: Any = None
        self._closed = False
        self._handlers: list[threading.Thread] = []
        self._listener = socket.create_server((host, 0))
        self.host: str = self._listener.getsockname()[0]
        self.port: int = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"{type(self).__name__}:{self.port}",
                                          daemon=True)
        self._acceptor.start()

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)``."""
        return (self.host, self.port)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} on {self.host}:{self.port}, {len(self.peers)} connection(s)>"

    # -- serving ---------------------------------------------------------------------

    def _record(self, error: BaseException) -> None:
        with self._lock:
            self.errors.append(error)

    def _accept_loop(self) -> None:
        while True:
            try:
                sock, address = self._listener.accept()
            except OSError:
                return
            if not self._accepting and address == self._wake_address:
                sock.close()
                return
            peer = Peer(sock, len(self.peers), self.timeout, self._stopping)
            with self._lock:
                self.peers.append(peer)
            script = self._script if self._scripts is None else (
                self._scripts[peer.index] if peer.index < len(self._scripts) else None)
            if script is None:
                error = ScriptMismatch(f"unexpected connection: the server has scripts for "
                                       f"{len(self._scripts or ())} connection(s) only")
                error.connection = peer.index
                self._record(error)
                peer.close()
                continue
            handler = threading.Thread(target=self._handle, args=(peer, script),
                                       name=f"{type(self).__name__}:{self.port}#{peer.index}", daemon=True)
            self._handlers.append(handler)
            handler.start()

    def _handle(self, peer: Peer, script: Union[list[Callable[[Peer], Any]], Callable[[Peer], Any]]) -> None:
        steps = script if isinstance(script, list) else [script]
        current: tuple[int, Any] = (0, None)  # the step running, for the error report
        try:
            for index, step in enumerate(steps):
                current = (index, step)
                step(peer)
        except _EndOfScript:
            pass
        except ClientGone:
            peer.client_gone = True
        except _Stopped:
            error = ScriptMismatch("the script was still running when the server was closed")
            self._locate(error, peer, *current)
            self._record(error)
        except ScriptMismatch as error:
            self._locate(error, peer, *current)
            self._record(error)
        except BaseException as error:  # noqa: BLE001 -- reported to the test by close()
            self._record(error)
        finally:
            peer.close()

    @staticmethod
    def _locate(error: ScriptMismatch, peer: Peer, index: int, step: Any) -> None:
        if error.connection is None:
            error.connection = peer.index
        if error.step_index is None:
            error.step_index, error.step = index, step

    # -- closing -------------------------------------------------------------------------

    def close(self, *, raise_errors: bool = True) -> None:
        """Stop accepting, let running scripts finish (each read is bounded by the
        timeout), close everything and join the threads; then raise the first error,
        unless ``raise_errors`` is false. Closing twice is harmless."""
        if not self._closed:
            self._closed = True
            self._wake_accept()
            self._acceptor.join(timeout=5)
            self._listener.close()
            deadline = time.monotonic() + self.timeout + 0.25
            for handler in self._handlers:
                handler.join(max(0.0, deadline - time.monotonic()))
            if any(handler.is_alive() for handler in self._handlers):
                self._stopping.set()
                for peer in list(self.peers):
                    peer._abort()
                for handler in self._handlers:
                    handler.join(2)
                    if handler.is_alive():
                        self._record(RuntimeError(f"{handler.name} did not stop"))
        if raise_errors:
            self.check()

    def _wake_accept(self) -> None:
        """Stop the accept loop: connect to it from an address it will recognise."""
        try:
            with socket.socket(self._listener.family, socket.SOCK_STREAM) as waker:
                waker.settimeout(1)
                waker.bind((self.host, 0))
                self._wake_address = waker.getsockname()
                self._accepting = False
                waker.connect(self.address)
        except OSError:
            self._listener.close()  # accept() fails at once, or soon

    def check(self) -> None:
        """Raise the first error recorded so far (the others are attached as notes)."""
        with self._lock:
            errors = list(self.errors)
        if not errors:
            return
        first = errors[0]
        if len(errors) > 1 and hasattr(first, "add_note") and not getattr(first, "_smtpunit_noted", False):
            for other in errors[1:]:
                first.add_note(f"also: {type(other).__name__}: {other}")
            first._smtpunit_noted = True  # type: ignore[attr-defined]
        raise first

    def __enter__(self) -> ScriptedServer:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
