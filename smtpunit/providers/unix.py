"""Unix domain sockets: for a local MTA or an LMTP server listening on a path."""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import ssl
from typing import Optional, Union

from zope.interface import implementer

from ..interfaces import IAsyncTransport, ITransport
from . import guard
from .async_tcp import AsyncConnection, stream_connection
from .tcp import SocketConnection

__all__ = ["AsyncUnixSocketTransport", "UnixSocketTransport"]


@implementer(ITransport)
class UnixSocketTransport:
    """Connects to the Unix domain socket at ``path``, whatever host and port are
    asked for; the host is still the name TLS would verify.

    :param path: the socket's file system path.
    """

    def __init__(self, path: Union[str, os.PathLike[str]]) -> None:
        self.path = os.fspath(path)

    def connect(self, host: str, port: int, timeout: float) -> SocketConnection:
        """Open a stream connection to :attr:`path`."""
        guard.check(f"Unix socket {self.path}")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(self.path)
        except BaseException:
            sock.close()
            raise
        return SocketConnection(sock, host, loopback=True)

    def __repr__(self) -> str:
        return f"<UnixSocketTransport {self.path!r}>"


@implementer(IAsyncTransport)
class AsyncUnixSocketTransport:
    """:class:`UnixSocketTransport` for asyncio.

    :param path: the socket's file system path.
    """

    def __init__(self, path: Union[str, os.PathLike[str]]) -> None:
        self.path = os.fspath(path)

    async def connect(self, host: str, port: int, timeout: float,
                      ssl_context: Optional[ssl.SSLContext] = None) -> AsyncConnection:
        """Open a stream connection to :attr:`path` on the running event loop (TLS from
        the start with ``ssl_context``, verifying ``host``)."""
        guard.check(f"Unix socket {self.path}, asyncio")
        create = functools.partial(asyncio.get_running_loop().create_unix_connection, path=self.path)
        return await stream_connection(create, host, timeout, ssl_context)

    def __repr__(self) -> str:
        return f"<AsyncUnixSocketTransport {self.path!r}>"
