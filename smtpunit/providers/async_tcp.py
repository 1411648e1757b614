"""TCP for asyncio: a small protocol with its own buffer, so that STARTTLS can upgrade
the very transport it reads from (``loop.start_tls``).

The buffer is bounded: past :data:`BUFFER_LIMIT` the protocol stops reading until
the conversation takes what it holds, so a server that talks without being asked
cannot grow a session's memory. Writes to a transport that the server has closed
are refused, never dropped: asyncio would discard them silently.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, Optional

from zope.interface import implementer

from ..errors import SMTPConnectionClosed, SMTPProtocolError
from ..interfaces import IAsyncConnection, IAsyncTransport
from . import guard
from .tcp import HangUpWatch, _peer_is_loopback, socket_unsent

__all__ = ["AsyncTCPTransport", "AsyncConnection", "BUFFER_LIMIT", "stream_connection"]

BUFFER_LIMIT = 256 * 1024
"""Bytes the protocol buffers before it pauses reading from the socket."""


class _StreamProtocol(asyncio.Protocol):
    """Buffers what arrives and wakes the one reader waiting for it."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: Optional[asyncio.BaseTransport] = None
        self.reading_paused = False
        self.closed = False
        self.error: Optional[BaseException] = None
        self._reader: Optional[asyncio.Future[None]] = None
        self._drained: Optional[asyncio.Future[None]] = None
        self._deadline: Optional[float] = None  # of the read under way, in loop time
        self._watchdog: Optional[asyncio.TimerHandle] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) >= BUFFER_LIMIT and not self.reading_paused:
            self._pause_reading(True)
        self._wake()

    def _pause_reading(self, pause: bool) -> None:
        transport = self.transport
        if isinstance(transport, asyncio.ReadTransport) and not transport.is_closing():
            if pause:
                transport.pause_reading()
            else:
                transport.resume_reading()
        self.reading_paused = pause

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.closed = True
        self.error = exc
        self._wake()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def pause_writing(self) -> None:
        self._drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._drained = None

    def _wake(self) -> None:
        if self._reader is not None and not self._reader.done():
            self._reader.set_result(None)

    async def read(self, max_bytes: int, timeout: float) -> bytes:
        """What is buffered (waiting for it up to ``timeout``), at most ``max_bytes``."""
        if not self.buffer and not self.closed:
            loop = asyncio.get_running_loop()
            self._reader = reader = loop.create_future()
            self._deadline = deadline = loop.time() + timeout
            if self._watchdog is None or self._watchdog.when() > deadline:
                self._watch(loop, deadline)
            try:
                await reader
            finally:
                self._deadline = None
        if self.buffer:
            data = bytes(self.buffer[:max_bytes])
            del self.buffer[:max_bytes]
            if self.reading_paused and len(self.buffer) < BUFFER_LIMIT:
                self._pause_reading(False)
            return data
        if self.error is not None:
            raise ConnectionError(f"the connection was lost: {self.error}")
        return b""

    def _watch(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        # One timer for the connection, not one per read: reads only move the deadline,
        # and the timer, when it fires, expires the read or follows the deadline.
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._watchdog = loop.call_at(when, self._check_deadline, loop)

    def _check_deadline(self, loop: asyncio.AbstractEventLoop) -> None:
        self._watchdog = None
        if self._deadline is None:
            return
        if loop.time() < self._deadline:
            self._watch(loop, self._deadline)
        elif self._reader is not None and not self._reader.done():
            self._reader.set_exception(TimeoutError("no data from the server in time"))

    @property
    def writable(self) -> Optional[asyncio.Future[None]]:
        """While the transport asks the writer to wait: the future done when it may go on."""
        return self._drained

    def check_not_lost(self) -> None:
        if self.closed and self.error is not None:
            raise ConnectionError(f"the connection was lost: {self.error}")


@implementer(IAsyncConnection)
class AsyncConnection:
    """An :class:`~smtpunit.interfaces.IAsyncConnection` over an asyncio transport."""

    def __init__(self, transport: asyncio.Transport, protocol: _StreamProtocol, server_hostname: str) -> None:
        self.transport = transport
        self._socket_transport = transport  # after STARTTLS, the one under the TLS layer
        self.protocol = protocol
        self.server_hostname = server_hostname
        self.secure = transport.get_extra_info("sslcontext") is not None
        sock = transport.get_extra_info("socket")
        self.loopback = sock is not None and _peer_is_loopback(sock)
        self._fileno = -1 if sock is None else sock.fileno()
        self._hang_up = HangUpWatch(self._fileno)

    async def send(self, data: bytes, timeout: float) -> None:
        """Write ``data``; wait (up to ``timeout``) while the peer is slow to read.

        :raises SMTPConnectionClosed: nothing of ``data`` was written, since the
            server had closed the connection (or it failed at the first attempt).
        """
        if self._socket_transport.is_closing() or (
                (self.protocol.closed or self._hang_up.hung_up()) and not self.protocol.buffer):
            # (A server that said something before it closed is heard when its reply is read.)
            raise SMTPConnectionClosed("the server closed the connection; the write did not go out")
        self.transport.write(data)
        # A failed write closes the socket's transport at once; its later writes would
        # be dropped. (The protocol hears of it only in a later turn of the loop.)
        if self._socket_transport.is_closing():
            raise SMTPConnectionClosed("the connection was lost; the write did not go out")
        writable = self.protocol.writable
        if writable is not None:  # only then is there anything to wait for
            await self._drain(writable, timeout)

    async def _drain(self, writable: asyncio.Future[None], timeout: float) -> None:
        """Wait until the transport takes more, for as long as each ``timeout`` sees
        some of what is queued leave (a slow reader that keeps reading is waited for)."""
        unsent = self._unsent()
        while not writable.done():
            await asyncio.wait((writable,), timeout=timeout)
            if not writable.done():
                now = self._unsent()
                if now >= unsent:
                    raise TimeoutError(f"the server took nothing of the client's data in {timeout:g}s")
                unsent = now
        self.protocol.check_not_lost()

    def _unsent(self) -> int:
        """Bytes written but not yet taken by the server: in the transports and, where
        the system tells, in the socket."""
        unsent = self._socket_transport.get_write_buffer_size()
        if self.transport is not self._socket_transport:
            unsent += self.transport.get_write_buffer_size()
        return unsent + socket_unsent(self._fileno)

    async def receive(self, max_bytes: int, timeout: float) -> bytes:
        """What arrives within ``timeout`` seconds, up to ``max_bytes``; ``b''`` at EOF."""
        return await self.protocol.read(max_bytes, timeout)

    async def start_tls(self, context: ssl.SSLContext, server_hostname: str, timeout: float) -> None:
        """Handshake over this connection, verifying ``server_hostname``."""
        if self.protocol.buffer:
            raise SMTPProtocolError("the server sent plaintext after its 220 to STARTTLS (response injection)")
        loop = asyncio.get_running_loop()
        upgraded = await asyncio.wait_for(
            loop.start_tls(self.transport, self.protocol, context, server_hostname=server_hostname,
                           ssl_handshake_timeout=timeout),
            timeout,
        )
        if upgraded is None:  # pragma: no cover -- the loop closed the transport
            raise ConnectionError("the connection was closed during the TLS handshake")
        self.transport = self.protocol.transport = upgraded
        self.secure = True

    def close(self) -> None:
        """Close the transport; at once, dropping what the server has not taken."""
        if self._unsent():
            self.transport.abort()
        else:
            self.transport.close()


@implementer(IAsyncTransport)
class AsyncTCPTransport:
    """Connects with TCP on the running event loop; Nagle is off."""

    async def connect(self, host: str, port: int, timeout: float,
                      ssl_context: Optional[ssl.SSLContext] = None) -> AsyncConnection:
        """Open a connection (TLS from the start with ``ssl_context``)."""
        guard.check(f"TCP to {host}:{port}, asyncio")
        create = functools.partial(asyncio.get_running_loop().create_connection, host=host, port=port)
        return await stream_connection(create, host, timeout, ssl_context)


async def stream_connection(create: Callable[..., Awaitable[tuple[Any, Any]]], host: str, timeout: float,
                            ssl_context: Optional[ssl.SSLContext] = None) -> AsyncConnection:
    """The :class:`AsyncConnection` that ``create`` opens -- an event loop's
    ``create_connection`` or ``create_unix_connection``, its address given -- within
    ``timeout``; TLS from the start with ``ssl_context``, verifying ``host``."""
    transport, protocol = await asyncio.wait_for(
        create(_StreamProtocol, ssl=ssl_context, server_hostname=host if ssl_context else None), timeout)
    return AsyncConnection(transport, protocol, host)
