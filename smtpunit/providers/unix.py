"""Unix domain sockets: for a local MTA or an LMTP server listening on a path."""

from __future__ import annotations

import os
import socket
from typing import Union

from zope.interface import implementer

from ..interfaces import ITransport
from . import guard
from .tcp import SocketConnection

__all__ = ["UnixSocketTransport"]


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
