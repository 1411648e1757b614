"""A process-wide guard on real mail: while it refuses (as smtpunit's pytest plugin
makes it do while a test double is installed), opening a real SMTP connection or
running sendmail raises :class:`~smtpunit.errors.RealConnectionRefused`, and the
attempt is recorded, so that a test is failed even if the code under test swallows
the error.

smtpunit's own transports, sendmail, a ``tcp_connect`` procedure and a connection
given to ``smtp_send_message_star`` check it; a transport of one's own that reaches
the network should call :func:`check` before it connects.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import RealConnectionRefused

__all__ = ["check", "refusing"]


class _Block:
    """One refusing block: why, and the attempts made while it lasted."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.attempts: list[str] = []


_blocks: list[_Block] = []  # innermost last
_lock = threading.Lock()


@contextmanager
def refusing(reason: str) -> Iterator[list[str]]:
    """Refuse real connections, in every thread, for a block; yields the list of the
    attempts made in it (each a message naming what was tried and ``reason``)."""
    block = _Block(reason)
    with _lock:
        _blocks.append(block)
    try:
        yield block.attempts
    finally:
        with _lock:
            _blocks[:] = [other for other in _blocks if other is not block]


def check(what: str) -> None:
    """Raise :class:`~smtpunit.errors.RealConnectionRefused` (and record it) if real
    connections are refused now; ``what`` names the attempt (``"TCP to host:25"``)."""
    if not _blocks:  # the common case: one look at a list
        return
    with _lock:
        if not _blocks:
            return
        message = f"a real connection ({what}) while {_blocks[-1].reason}"
        for block in _blocks:
            block.attempts.append(message)
    raise RealConnectionRefused(message)
