"""Retrying what may succeed later, and pacing sends (sans-IO: no sleeping here).

:class:`Retry` says how often and how long to try; :func:`retryable` which failures
may succeed on a later attempt: a 4xx reply, or a connection that failed before the
end of the message -- never a 5xx, never bad input, and never after the final ``.``
(:class:`~smtpunit.errors.SMTPOutcomeUnknown`: the message may have been delivered).
:func:`retrying` plans the attempts of a batch of messages as a generator the
drivers run: it yields the envelopes to send now (and gets their outcomes back) or
the seconds to wait, and returns one outcome per message, each carrying its earlier
attempts. :class:`RateLimiter` spaces messages out, shared by threads.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Optional, Union

from ..errors import (
    InvalidArgument,
    NotAttempted,
    RealConnectionRefused,
    SMTPError,
    SMTPOutcomeUnknown,
    SMTPReplyError,
    SMTPTimeout,
    SMTPTransportError,
)
from .commands import Envelope
from .results import Outcome, SendResult

__all__ = ["RateLimiter", "Retry", "retryable", "retrying"]


@dataclass(frozen=True)
class Retry:
    """How to retry a message that failed in a way that may pass.

    :ivar attempts: attempts in all, the first included (1: no retry).
    :ivar backoff: seconds before the second attempt; each wait after doubles, up to
        ``max_backoff``, and is drawn at random between half and all of that
        ("jitter", so that many senders do not come back at once).
    :ivar max_backoff: the longest wait.
    :ivar deadline: seconds after the first attempt when no further one starts.
    """

    attempts: int = 3
    backoff: float = 1.0
    max_backoff: float = 60.0
    deadline: Optional[float] = None

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) or self.attempts < 1:
            raise InvalidArgument(f"Retry.attempts is an int of at least 1, not {self.attempts!r}")
        for name in ("backoff", "max_backoff", "deadline"):
            value = getattr(self, name)
            if value is None and name == "deadline":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise InvalidArgument(f"Retry.{name} is a number of seconds, not {value!r}")

    def wait(self, retry_number: int, draw: Callable[[], float] = random.random) -> float:
        """The seconds before retry ``retry_number`` (1 for the second attempt)."""
        full = float(min(self.max_backoff, self.backoff * 2 ** (retry_number - 1)))
        return full * (0.5 + draw() / 2)


def retryable(error: BaseException) -> bool:
    """Whether ``error`` may pass on another attempt: a 4xx reply (every refused
    recipient's 4xx, for a refusal; with LMTP, their replies after the data, and only
    if no recipient took the message), a message never sent, or a connection, TLS
    transport or timeout failure before the end of the message."""
    if isinstance(error, (SMTPOutcomeUnknown, RealConnectionRefused)):
        return False
    if isinstance(error, SMTPReplyError):
        results = getattr(error, "recipients", ())
        if any(r.data_reply is not None and r.accepted for r in results):
            return False  # LMTP: some recipients have the message already
        refused = [(r.reply if r.data_reply is None else r.data_reply).code for r in results if not r.accepted]
        return all(400 <= code < 500 for code in (refused or [error.code]))
    if isinstance(error, SMTPTimeout):
        return getattr(error, "phase", None) != "data-end"
    return isinstance(error, (NotAttempted, SMTPTransportError))


Step = Union[list[Envelope], float]
"""What :func:`retrying` asks for: these envelopes sent now, or this many seconds waited."""


def retrying(envelopes: Sequence[Envelope], retry: Optional[Retry], clock: Callable[[], float] = time.monotonic,
             draw: Callable[[], float] = random.random) -> Generator[Step, Optional[list[Outcome]], list[Outcome]]:
    """Plan the attempts of ``envelopes``: yield a list of envelopes to send (send
    back their outcomes, in order) or a wait in seconds; return every outcome.

    A failed message is tried again while :func:`retryable` says so, attempts are
    left, its content can be read again and the deadline allows; the messages to try
    again go together after the longest of their waits. Each final outcome carries
    the errors of the attempts before it (``SendResult.attempts``, or the error's
    ``attempts``).
    """
    outcomes: list[Optional[Outcome]] = [None] * len(envelopes)
    history: list[list[SMTPError]] = [[] for _ in envelopes]
    started = clock()
    pending = list(range(len(envelopes)))
    while pending:
        results = yield [envelopes[index] for index in pending]
        assert results is not None and len(results) == len(pending)
        again: list[int] = []
        waits: list[float] = []
        for index, outcome in zip(pending, results, strict=True):
            if isinstance(outcome, SendResult):
                outcomes[index] = dataclasses.replace(outcome, attempts=tuple(history[index]))
                continue
            tried = history[index]
            if retry is not None and len(tried) + 1 < retry.attempts and retryable(outcome) \
                    and not getattr(envelopes[index].content, "consumed", False):
                wait = retry.wait(len(tried) + 1, draw)
                if retry.deadline is None or clock() + wait - started <= retry.deadline:
                    tried.append(outcome)
                    again.append(index)
                    waits.append(wait)
                    continue
            outcome.attempts = tuple(tried)
            outcomes[index] = outcome
        if again:
            yield max(waits)
        pending = again
    return [outcome for outcome in outcomes if outcome is not None]


class RateLimiter:
    """Spaces messages out to at most ``rate`` a second, for every thread (and task)
    that shares it: each :meth:`delay` books the next slots and says how long to wait
    for the first of them.

    :raises InvalidArgument: ``rate`` is not a number above 0.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
            raise InvalidArgument(f"rate is a number of messages a second above 0, not {rate!r}")
        self.rate = float(rate)
        self._interval = 1.0 / rate
        self._clock = clock
        self._next = clock()
        self._lock = threading.Lock()

    def delay(self, messages: int = 1) -> float:
        """Book ``messages`` slots; the seconds to wait before sending them."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + messages * self._interval
        return start - now
