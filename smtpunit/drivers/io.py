"""What the blocking and asyncio drivers share: feeding the parser, and turning the
I/O's exceptions into smtpunit's."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from concurrent.futures import TimeoutError as FuturesTimeoutError
from contextlib import contextmanager
from typing import Optional

from ..core.actions import Receive
from ..core.reply import Reply, ReplyParser
from ..errors import SMTPTimeout, SMTPTransportError, TLSHandshakeError

__all__ = ["RECEIVE_SIZE", "TIMEOUT_ERRORS", "feed", "io_errors", "handshake_errors", "server_label"]

RECEIVE_SIZE = 64 * 1024

TIMEOUT_ERRORS = tuple({TimeoutError, FuturesTimeoutError, asyncio.TimeoutError})
"""A wait that ran out: one class from Python 3.11, three before it."""


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
    except TIMEOUT_ERRORS:
        raise SMTPTimeout(phase, limit) from None
    except OSError as exc:
        raise SMTPTransportError(f"{what} the server failed: {exc}") from exc


@contextmanager
def handshake_errors(limit: float, server: str) -> Iterator[None]:
    """Turn a failed STARTTLS handshake with ``server`` (its :func:`server_label`) into
    :class:`~smtpunit.errors.TLSHandshakeError`."""
    try:
        yield
    except TIMEOUT_ERRORS:
        raise SMTPTimeout("starttls", limit) from None
    except (ssl.SSLError, ssl.CertificateError, OSError, ValueError, TypeError) as exc:
        # ValueError, TypeError: a TLS provider that cannot work with this connection.
        raise TLSHandshakeError(f"TLS handshake (STARTTLS) with {server} failed: {exc}") from exc


def server_label(host: str, port: Optional[int]) -> str:
    """``host:port`` (``[host]:port`` for an IPv6 address), or ``host`` alone."""
    if port is None:
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
