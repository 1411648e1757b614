"""Plain TCP: the default transport, and the connection wrapper for any socket."""

from __future__ import annotations

import functools
import ipaddress
import math
import select
import socket
import ssl
import struct
from typing import Any, Optional, Union

try:  # where the system tells what a socket has not sent yet
    import fcntl
    import termios
except ImportError:  # pragma: no cover -- not on Windows
    fcntl = termios = None  # type: ignore[assignment]

from zope.interface import implementer

from ..errors import InvalidArgument, SMTPConnectionClosed
from ..interfaces import IConnection, ITransport
from . import guard

__all__ = ["HangUpWatch", "SocketConnection", "TCPTransport", "as_connection", "socket_unsent"]


_POLLRDHUP: Optional[int] = getattr(select, "POLLRDHUP", None) if hasattr(select, "poll") else None


class HangUpWatch:
    """Tells, without blocking or reading, whether the peer has closed (or reset) a
    connection: a ``poll`` for hang-up on its descriptor. On systems without
    ``POLLRDHUP`` it never tells."""

    def __init__(self, fileno: int) -> None:
        self._fileno = fileno
        self._poll: Optional[select.poll] = None
        if _POLLRDHUP is not None and fileno >= 0:
            self._poll = select.poll()
            self._poll.register(fileno, _POLLRDHUP)

    def hung_up(self) -> bool:
        """True if the peer has closed its side (or reset the connection) without
        leaving anything to read: a server that said something first (a refusal)
        is heard when its reply is read."""
        return self._poll is not None and bool(self._poll.poll(0)) and _unread(self._fileno) == 0


def _unread(fileno: int) -> int:
    """Bytes received on a socket and not yet read (``FIONREAD``); 0 where unknown."""
    if fcntl is None or termios is None:
        return 0
    try:
        return int(struct.unpack("i", fcntl.ioctl(fileno, termios.FIONREAD, b"\0\0\0\0"))[0])
    except OSError:
        return 0


def socket_unsent(fileno: int) -> int:
    """Bytes in a socket's send queue that the peer has not acknowledged (Linux's
    ``SIOCOUTQ``): it falls while a slow reader reads. 0 where the system does not tell."""
    if fcntl is None or termios is None or fileno < 0:
        return 0
    try:
        return int(struct.unpack("i", fcntl.ioctl(fileno, termios.TIOCOUTQ, b"\0\0\0\0"))[0])
    except OSError:
        return 0


def _peer_is_loopback(sock: socket.socket) -> bool:
    if getattr(socket, "AF_UNIX", None) is not None and sock.family == socket.AF_UNIX:
        return True
    try:
        return _is_loopback_address(sock.getpeername()[0])
    except (OSError, IndexError, TypeError):
        return False


@functools.lru_cache(maxsize=256)
def _is_loopback_address(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@implementer(IConnection)
class SocketConnection:
    """An :class:`~smtpunit.interfaces.IConnection` over a connected socket.

    :param sock: a connected ``socket.socket`` or ``ssl.SSLSocket``.
    :param server_hostname: the name the connection was made for; TLS checks it.
    :param secure: defaults to whether ``sock`` is an ``ssl.SSLSocket``.
    :param loopback: defaults to whether the peer address is a loopback address.
    """

    def __init__(
        self,
        sock: socket.socket,
        server_hostname: str,
        secure: Optional[bool] = None,
        loopback: Optional[bool] = None,
    ) -> None:
        self.socket = sock
        self._hang_up = HangUpWatch(sock.fileno())
        self._timeout: Optional[float] = None
        self._asked: Optional[float] = None  # the last timeout asked for, before rounding
        self.server_hostname = server_hostname
        self.secure = isinstance(sock, ssl.SSLSocket) if secure is None else secure
        self.loopback = _peer_is_loopback(sock) if loopback is None else loopback

    def send(self, data: Union[bytes, memoryview], timeout: float) -> None:
        """Write all of ``data``. A wait for the socket to take more is bounded by
        ``timeout``; one that runs out is forgiven while the server keeps taking data
        (a slow reader that keeps reading is waited for), so a server that takes
        nothing fails the write within about twice ``timeout``.

        :raises SMTPConnectionClosed: the server had closed the connection, so nothing
            of ``data`` was written.
        """
        self._set_timeout(timeout)
        if self._hang_up.hung_up():
            raise SMTPConnectionClosed("the server closed the connection; the write did not go out")
        try:
            sent = self.socket.send(data)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as exc:
            if self.secure:  # a TLS socket may have sent some of its records first
                raise
            raise SMTPConnectionClosed(f"the server closed the connection; the write did not go out ({exc})") from exc
        except TimeoutError:
            sent = 0
            unsent: Optional[int] = socket_unsent(self.socket.fileno())
        else:
            unsent = None
        if sent < len(data):
            self._send_rest(memoryview(data)[sent:], unsent)

    def _send_rest(self, rest: memoryview, unsent: Optional[int]) -> None:
        # The system says a socket has room only once much of its queue has gone, which
        # a slow reader may take longer than the bound to free: a wait that times out is
        # forgiven while the queue shrinks (``unsent``: its size when the last wait ended).
        while rest:
            try:
                rest = rest[self.socket.send(rest):]
                unsent = None
            except TimeoutError:
                now = socket_unsent(self.socket.fileno())
                if unsent is not None and now >= unsent:
                    raise
                unsent = now

    def receive(self, max_bytes: int, timeout: float) -> bytes:
        """Return what arrives within ``timeout`` seconds; ``b''`` at EOF."""
        self._set_timeout(timeout)
        return self.socket.recv(max_bytes)

    def _set_timeout(self, timeout: float) -> None:
        # Rounded up to a tenth of a second, so that the socket is reconfigured (a
        # system call) only when the bound really changes, not on every read.
        if timeout == self._asked:
            return
        self._asked = timeout
        timeout = math.ceil(timeout * 10) / 10
        if timeout != self._timeout:
            self.socket.settimeout(timeout)
            self._timeout = timeout

    def close(self) -> None:
        """Close the socket."""
        self.socket.close()

    def __repr__(self) -> str:
        kind = "TLS" if self.secure else "plain"
        return f"<SocketConnection {kind} to {self.server_hostname!r}>"


def as_connection(value: Any, server_hostname: str) -> Any:
    """Accept an :class:`IConnection` provider as is, or wrap a connected socket."""
    if IConnection.providedBy(value):
        return value
    if isinstance(value, socket.socket):
        return SocketConnection(value, server_hostname)
    close = getattr(value, "close", None)
    if callable(close):
        close()
    raise InvalidArgument(
        f"expected a connected socket or an IConnection provider, not {type(value).__name__}"
    )


@implementer(ITransport)
class TCPTransport:
    """Connects with TCP, as Racket's ``tcp-connect``; Nagle is off, since SMTP
    exchanges many small commands."""

    def connect(self, host: str, port: int, timeout: float) -> SocketConnection:
        """Open a TCP connection to ``host``:``port``."""
        guard.check(f"TCP to {host}:{port}")
        family = _address_family(host)
        if family is None:  # a name: resolved, each of its addresses tried in turn
            sock = socket.create_connection((host, port), timeout=timeout)
            loopback = None  # told by the socket's peer
        else:  # an address: nothing to resolve, and it is the peer
            sock = _connect_address(family, host, port, timeout)
            loopback = _is_loopback_address(host)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return SocketConnection(sock, host, loopback=loopback)


@functools.lru_cache(maxsize=256)
def _address_family(host: str) -> Optional[int]:
    """The family of ``host`` if it is an IPv4 or IPv6 address as the system writes
    them (without a zone); ``None`` for anything else, which ``getaddrinfo`` resolves."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except (OSError, ValueError):  # ValueError: a NUL in the text
            continue
        return family
    return None


def _connect_address(family: int, address: str, port: int, timeout: float) -> socket.socket:
    """``socket.create_connection`` for an address, without its ``getaddrinfo``."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((address, port))
    except BaseException:
        sock.close()
        raise
    return sock
