"""TLS: the STARTTLS upgrader on ``ssl.SSLContext`` and the implicit-TLS transport."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Optional

from zope.interface import implementer

from ..interfaces import IAsyncTLSUpgrader, IConnection, ITLSUpgrader, ITransport
from .tcp import SocketConnection, TCPTransport

__all__ = ["CallableTLS", "ImplicitTLSTransport", "SSLContextTLS", "TLSFromTheStart", "default_context"]


def default_context(
    *,
    cafile: Optional[str] = None,
    certfile: Optional[str] = None,
    keyfile: Optional[str] = None,
    password: Optional[str] = None,
) -> ssl.SSLContext:
    """A client context that verifies the certificate chain and host name and refuses
    anything older than TLS 1.2.

    :param cafile: trust these CAs (PEM) instead of the system's.
    :param certfile: a client certificate chain (PEM) to present, for servers that
        authenticate clients by certificate...
    :param keyfile: ...its private key, if not in ``certfile``...
    :param password: ...and the key's password, if it is encrypted.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if certfile is not None:
        context.load_cert_chain(certfile, keyfile, password)
    return context


def _socket_of(connection: Any) -> socket.socket:
    sock = getattr(connection, "socket", None)
    if not isinstance(sock, socket.socket):
        raise TypeError(
            f"this TLS provider needs a socket-based connection, not {type(connection).__name__}"
        )
    return sock


@implementer(ITLSUpgrader, IAsyncTLSUpgrader)
class SSLContextTLS:
    """STARTTLS with an ``ssl.SSLContext``.

    :param context: defaults to :func:`default_context` (verified, TLS 1.2+). A
        custom context is used as given.
    """

    def __init__(self, context: Optional[ssl.SSLContext] = None) -> None:
        self._context = context

    @property
    def context(self) -> ssl.SSLContext:
        """The context; the default one is made on first use (loading the CA store
        takes tens of milliseconds, wasted on plaintext connections)."""
        if self._context is None:
            self._context = default_context()
        return self._context

    def wrap(self, connection: Any, server_hostname: str, timeout: float) -> IConnection:
        """Handshake over ``connection``'s socket, checking ``server_hostname``."""
        sock = _socket_of(connection)
        sock.settimeout(timeout)
        with _no_orphan_socket():
            secure = self.context.wrap_socket(sock, server_hostname=server_hostname)
        return SocketConnection(secure, server_hostname, secure=True, loopback=connection.loopback)

    async def wrap_async(self, connection: Any, server_hostname: str, timeout: float
                         ) -> Any:
        """Upgrade ``connection`` in place (its ``start_tls``), checking ``server_hostname``."""
        await connection.start_tls(self.context, server_hostname, timeout)
        return connection


@contextmanager
def _no_orphan_socket() -> Iterator[None]:
    """Close the ``ssl.SSLSocket`` that a failed ``wrap_socket`` leaves behind.

    ``wrap_socket`` takes the plain socket's descriptor first; when the server resets
    the connection before the handshake, it raises without closing the new socket,
    which nothing else can reach, so the descriptor stays open until the garbage
    collector runs. It is found in the frames of the traceback that belong to the
    ``ssl`` module itself (a socket that other code was using is left alone).
    """
    try:
        yield
    except BaseException as exc:
        frame = exc.__traceback__
        while frame is not None:
            orphan = frame.tb_frame.f_locals.get("self")
            if isinstance(orphan, ssl.SSLSocket) and frame.tb_frame.f_code.co_filename == ssl.__file__:
                orphan.close()
            frame = frame.tb_next
        raise


@implementer(ITLSUpgrader)
class CallableTLS:
    """Adapts a Racket-style ``tls_encode`` procedure to :class:`ITLSUpgrader`.

    The procedure is called as ``encode(sock, server_hostname=name)`` with the plain
    socket and must return the TLS socket -- ``ssl.SSLContext.wrap_socket`` of a
    context has exactly this contract, as ``ports->ssl-ports`` has in Racket.
    """

    def __init__(self, encode: Callable[..., socket.socket]) -> None:
        self.encode = encode

    def wrap(self, connection: Any, server_hostname: str, timeout: float) -> IConnection:
        """Call the procedure on ``connection``'s socket."""
        sock = _socket_of(connection)
        sock.settimeout(timeout)
        with _no_orphan_socket():
            wrapped = self.encode(sock, server_hostname=server_hostname)
        return SocketConnection(wrapped, server_hostname, secure=True, loopback=connection.loopback)


@implementer(ITransport)
class TLSFromTheStart:
    """Implicit TLS over any transport: connect with ``transport``, then handshake with
    ``tls`` before the greeting.

    :param server_hostname: the name to verify; defaults to the host connected to.
    """

    def __init__(self, transport: Any, tls: Any, server_hostname: Optional[str] = None) -> None:
        self.transport = transport
        self.tls = tls
        self.server_hostname = server_hostname

    def connect(self, host: str, port: int, timeout: float) -> IConnection:
        """Connect, then handshake before the greeting."""
        plain = self.transport.connect(host, port, timeout)
        try:
            secure: IConnection = self.tls.wrap(plain, self.server_hostname or host, timeout)
        except BaseException:
            plain.close()
            raise
        return secure


class ImplicitTLSTransport(TLSFromTheStart):
    """SMTPS: TLS from the first byte (port 465), as Racket's ``ssl-connect``.

    :param context: defaults to :func:`default_context` (verified, TLS 1.2+).
    :param server_hostname: the name to verify; defaults to the host connected to.
    """

    def __init__(self, context: Optional[ssl.SSLContext] = None, server_hostname: Optional[str] = None) -> None:
        super().__init__(TCPTransport(), SSLContextTLS(context), server_hostname)
