"""A process-wide guard on real mail: while it refuses (as smtpunit's pytest plugin
makes it do while a test double is installed), opening a real SMTP connection or
running sendmail raises :class:`~smtpunit.errors.RealConnectionRefused`, and the
attempt is recorded, so that a test is failed even if the code under test swallows
the error."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import RealConnectionRefused

__all__ = ["check", "refusing"]

_reasons: list[str] = []  # why real connections are refused now, innermost last
_attempts: list[list[str]] = []  # the attempts made in each refusing block
_lock = threading.Lock()


@contextmanager
def refusing(reason: str) -> Iterator[list[str]]:
    """Refuse real connections, in every thread, for a block; yields the list of the
    attempts made in it (each a message naming what was tried and ``reason``)."""
    attempts: list[str] = []
    with _lock:
        _reasons.append(reason)
        _attempts.append(attempts)
    try:
        yield attempts
    finally:
        with _lock:
            _reasons.remove(reason)
            _attempts.remove(attempts)


def check(what: str) -> None:
    """Raise :class:`~smtpunit.errors.RealConnectionRefused` (and record it) if real
    connections are refused now; ``what`` names the attempt (``"TCP to host:25"``)."""
    if not _reasons:  # the common case: one look at a list
        return
    with _lock:
        if not _reasons:
            return
        message = f"a real connection ({what}) while {_reasons[-1]}"
        for attempts in _attempts:
            attempts.append(message)
    raise RealConnectionRefused(message)
