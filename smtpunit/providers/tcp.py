"""Plain TCP: the default transport, and the connection wrapper for any socket."""

from __future__ import annotations

import ipaddress
import math
import socket
import ssl
from typing import Any, Optional

from zope.interface import implementer

from ..errors import InvalidArgument, SMTPConnectionClosed
from ..interfaces import IConnection, ITransport

__all__ = ["SocketConnection", "TCPTransport", "as_connection"]


def _peer_is_loopback(sock: socket.socket) -> bool:
    if getattr(socket, "AF_UNIX", None) is not None and sock.family == socket.AF_UNIX:
        return True
    try:
        host = sock.getpeername()[0]
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except (OSError, ValueError, IndexError, TypeError):
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
        self._timeout: Optional[float] = None
        self.server_hostname = server_hostname
        self.secure = isinstance(sock, ssl.SSLSocket) if secure is None else secure
        self.loopback = _peer_is_loopback(sock) if loopback is None else loopback

    def send(self, data: bytes, timeout: float) -> None:
        """Write all of ``data`` within ``timeout`` seconds per blocking step.

        :raises SMTPConnectionClosed: the server had closed the connection, so nothing
            of ``data`` was written.
        """
        self._set_timeout(timeout)
        try:
            sent = self.socket.send(data)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as exc:
            raise SMTPConnectionClosed(f"the server closed the connection; the write did not go out ({exc})") from exc
        if sent < len(data):
            self.socket.sendall(memoryview(data)[sent:])

    def receive(self, max_bytes: int, timeout: float) -> bytes:
        """Return what arrives within ``timeout`` seconds; ``b''`` at EOF."""
        self._set_timeout(timeout)
        return self.socket.recv(max_bytes)

    def _set_timeout(self, timeout: float) -> None:
        # Rounded up to a tenth of a second, so that the socket is reconfigured (a
        # system call) only when the bound really changes, not on every read.
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
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return SocketConnection(sock, host)
