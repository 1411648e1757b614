"""The blocking driver: runs a :mod:`smtpunit.core.conversation` conversation over an
:class:`~smtpunit.interfaces.IConnection`.

It owns the clock: every reply has a deadline (a server that drips one byte a
second is held to it), and the TLS handshake has its own. It turns the I/O's
exceptions into smtpunit's and throws them back into the conversation, which
decides what they mean.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Generator, Iterator
from concurrent.futures import TimeoutError as FuturesTimeoutError
from contextlib import contextmanager
from typing import Any, Optional, TypeVar, Union

from ..core.actions import Action, Receive, Send, UpgradeTLS
from ..core.reply import Reply, ReplyParser
from ..errors import SMTPError, SMTPTimeout, SMTPTransportError, TLSHandshakeError
from ..options import Timeouts

__all__ = ["Driver", "feed", "io_errors", "handshake_errors", "server_label"]

RECEIVE_SIZE = 64 * 1024
T = TypeVar("T")


class Driver:
    """Drives conversations over one connection, blocking.

    :param connection: an :class:`~smtpunit.interfaces.IConnection` provider.
    :param timeouts: the bounds on each wait.
    :param tls: the :class:`~smtpunit.interfaces.ITLSUpgrader` for STARTTLS, if any.
    :param server_hostname: the name TLS verifies: the configured server name, even
        when the connection was made to another address. Defaults to the connection's.
    :param port: the server's port, to name the server in errors.
    """

    def __init__(self, connection: Any, timeouts: Timeouts, tls: Any = None,
                 server_hostname: Optional[str] = None, port: Optional[int] = None) -> None:
        self.connection = connection
        self.timeouts = timeouts
        self.tls = tls
        self.server_hostname = server_hostname if server_hostname is not None else connection.server_hostname
        self.server = server_label(self.server_hostname, port)
        self.parser = ReplyParser()

    def run(self, conversation: Generator[Action, Any, T]) -> T:
        """Run ``conversation`` to its end and return what it returns."""
        value: Any = None
        error: Optional[BaseException] = None
        while True:
            try:
                action = conversation.throw(error) if error else conversation.send(value)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            value, error = None, None
            try:
                value = self._perform(action)
            except SMTPError as exc:
                error = exc

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()

    def _perform(self, action: Action) -> Optional[Reply]:
        if isinstance(action, Send):
            self._send(action.data)
            return None
        if isinstance(action, Receive):
            return self._receive(action)
        if isinstance(action, UpgradeTLS):
            self._upgrade()
            return None
        raise TypeError(f"unknown action {action!r}")  # pragma: no cover

    def _send(self, data: Union[bytes, memoryview]) -> None:
        try:
            self.connection.send(data, self.timeouts.reply)
        except SMTPError:
            raise  # the connection's own word (SMTPConnectionClosed: nothing was written)
        except OSError as exc:  # TimeoutError included
            with io_errors("writing to", "write", self.timeouts.reply):
                raise exc

    def _receive(self, action: Receive) -> Reply:
        reply = self.parser.next_reply()
        if reply is not None:
            return reply
        limit = self.timeouts.data_end if action.final else self.timeouts.reply
        deadline = time.monotonic() + limit
        while reply is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SMTPTimeout(action.phase, limit)
            try:
                # A longer wait (after the data) in steps of a reply's bound: a socket
                # keeps its timeout instead of switching it on every message.
                data = self.connection.receive(RECEIVE_SIZE, min(remaining, self.timeouts.reply))
            except TimeoutError:
                continue  # the deadline decides
            except OSError as exc:
                with io_errors("reading from", action.phase, limit):
                    raise exc
            reply = feed(self.parser, data, action)
        return reply

    def _upgrade(self) -> None:
        if self.tls is None:
            raise TLSHandshakeError("STARTTLS was negotiated but no TLS provider is configured")
        with handshake_errors(self.timeouts.tls_handshake, self.server):
            self.connection = self.tls.wrap(self.connection, self.server_hostname, self.timeouts.tls_handshake)


def feed(parser: ReplyParser, data: bytes, action: Receive) -> Optional[Reply]:
    """Give ``data`` to ``parser``; the next reply if it is complete. ``b""`` is EOF."""
    if not data:
        parser.feed_eof(action.phase)
    parser.feed(data)
    return parser.next_reply()


@contextmanager
def io_errors(what: str, phase: str, limit: float) -> Iterator[None]:
    """Turn the I/O's timeouts and failures into smtpunit's errors."""
    try:
        yield
    except (TimeoutError, FuturesTimeoutError):  # asyncio's, before Python 3.11
        raise SMTPTimeout(phase, limit) from None
    except OSError as exc:
        raise SMTPTransportError(f"{what} the server failed: {exc}") from exc


@contextmanager
def handshake_errors(limit: float, server: str) -> Iterator[None]:
    """Turn a failed STARTTLS handshake with ``server`` (its :func:`server_label`) into
    :class:`~smtpunit.errors.TLSHandshakeError`."""
    try:
        yield
    except (TimeoutError, FuturesTimeoutError):
        raise SMTPTimeout("starttls", limit) from None
    except (ssl.SSLError, ssl.CertificateError, OSError, ValueError, TypeError) as exc:
        # ValueError, TypeError: a TLS provider that cannot work with this connection.
        raise TLSHandshakeError(f"TLS handshake (STARTTLS) with {server} failed: {exc}") from exc


def server_label(host: str, port: Optional[int]) -> str:
    """``host:port`` (``[host]:port`` for an IPv6 address), or ``host`` alone."""
    if port is None:
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
