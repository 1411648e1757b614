"""A thread-safe pool of sessions to one server.

::

    pool = smtpunit.Pool("mail.example.org", 587, size=4, tls_encode=True)
    pool.send(from_, to, header, lines)      # from any thread
    pool.close()

Sessions are reused while fresh: one idle longer than ``idle_timeout`` is closed,
and one the server closed meanwhile (seen as readable at reuse) is replaced. If a
reused connection still fails before the end of the message, the server cannot
have accepted it, so the message is retried once on a new connection; a failure
after the end of the message (:class:`~smtpunit.errors.SMTPOutcomeUnknown`) is
never retried, so a message is neither lost silently nor sent twice.
"""

from __future__ import annotations

import contextlib
import select
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Optional, Union

from .core.commands import Envelope
from .core.parameters import smtp_sending_server
from .core.results import Outcome, SendResult
from .core.retry import RateLimiter, retrying
from .core.verbs import single
from .drivers.blocking import SessionVerbs
from .errors import (
    InvalidArgument,
    SMTPConnectionClosed,
    SMTPOutcomeUnknown,
    SMTPReplyError,
    SMTPTimeout,
    SMTPTransportError,
)
from .options import SendOptions
from .units.contract import MailProvider, check_target, raise_if_never_opened, run_retrying
from .units.lookup import configured_mailer, installed_mailer, installed_registry

if TYPE_CHECKING:  # pragma: no cover

    from typing_extensions import Unpack

    from .options import SendKeywords

__all__ = ["Pool", "session_opener"]

_STALE_CONNECTION = (SMTPTransportError, SMTPTimeout)


def _server_went_away(session: Any) -> bool:
    """True if the server closed (or spoke on) an idle connection."""
    sock = getattr(getattr(session, "connection", None), "socket", None)
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _never_accepted(error: BaseException) -> bool:
    """True if ``error`` shows a dead connection that cannot have accepted the message:
    a transport failure or a 421 ("closing") before the end of the message."""
    if isinstance(error, SMTPOutcomeUnknown):
        return False
    if isinstance(error, SMTPReplyError):
        return error.code == 421 and error.phase != "data-end"
    return isinstance(error, _STALE_CONNECTION)


def session_opener(mailer: MailProvider, server: str, port: int, options: SendOptions) -> Callable[[], Any]:
    """What opens a pool's sessions: ``mailer``'s to ``server``:``port`` with ``options``
    (all checked), greeting with the EHLO name current now, in whichever thread sends.
    A registry installed for the process (a test double) wins over ``mailer``, even
    one installed after the pool was made."""
    ehlo_name = smtp_sending_server()

    def connect() -> Any:
        with smtp_sending_server.parameterize(ehlo_name):
            return (installed_mailer() or mailer).open_session(server, port, options)

    return connect


class Pool(SessionVerbs):
    """Up to ``size`` sessions to ``server_address``:``port_no``, shared by threads.

    :param size: the most sessions open at once; senders wait for a free one.
    :param idle_timeout: seconds a session may stay unused before it is closed.
    :param rate: the most messages a second the pool sends, from all threads together
        (a batch goes at once and counts for its messages; a session lent by
        :meth:`connect` is the borrower's, and not paced); or a
        :class:`~smtpunit.core.retry.RateLimiter` shared with other senders.
    :param connect: makes a new session; by default :func:`smtpunit.connect` with
        the server and ``options``, using the registry and the EHLO name
        (:data:`~smtpunit.smtp_sending_server`) current when the pool is made (but
        not a test double installed for the process, which gets the sends only while
        installed: :func:`~smtpunit.units.lookup.configuration_registry`).
    :param options: keyword arguments of :func:`smtpunit.connect`; with ``retry``
        (a :class:`~smtpunit.core.retry.Retry`), a message that failed in a way that
        may pass is sent again after a wait.
    """

    def __init__(
        self,
        server_address: str,
        port_no: int = 25,
        *,
        size: int = 4,
        idle_timeout: float = 30.0,
        connect: Optional[Callable[[], Any]] = None,
        rate: Union[float, RateLimiter, None] = None,
        **options: Unpack[SendKeywords],
    ) -> None:
        if size < 1:
            raise InvalidArgument("a pool needs a size of at least 1")
        checked = SendOptions.of("Pool", options, chunking=True)
        if connect is None:
            connect = session_opener(configured_mailer(), *check_target(server_address, port_no), checked)
        self._connect = connect
        self._retry = checked.retry
        self.rate = rate if isinstance(rate, RateLimiter) or rate is None else RateLimiter(rate)
        self.size = size
        self.idle_timeout = idle_timeout
        self._idle: list[tuple[Any, float]] = []  # (session, when it was put back), most recent last
        # The registry installed for the process (a test's double) when each session was
        # opened: a session is reused only while the same one is installed.
        self._opened_under: dict[int, Any] = {}
        self._open = 0
        self._closed = False
        self._available = threading.Condition()

    def send_envelopes(self, envelopes: Iterable[Envelope], *, partial_delivery: Optional[bool] = None
                       ) -> list[Outcome]:
        """Send several checked envelopes on one pooled session, pipelined; what
        :meth:`~smtpunit.drivers.blocking.SessionVerbs.send_many` runs. (Unlike
        :meth:`send_envelope`, a batch is not retried on a fresh connection.)"""
        envelopes = list(envelopes)
        if not envelopes:
            return []  # no connection for nothing

        def batch(envelopes: list[Envelope]) -> list[Outcome]:
            self._pace(len(envelopes))
            session, _ = self._acquire()
            try:
                return list(session.send_envelopes(envelopes, partial_delivery=partial_delivery))
            finally:
                self._release(session)

        if self._retry is None:
            return batch(envelopes)
        return raise_if_never_opened(run_retrying(retrying(envelopes, self._retry), batch))

    def send_envelope(self, envelope: Envelope, *, partial_delivery: Optional[bool] = None) -> SendResult:
        """Send a checked envelope, once more on a new connection if a reused one turns
        out to be dead before the message was complete; and again as the pool's
        ``retry`` says."""
        if self._retry is None:
            self._pace(1)
            return self._send_once(envelope, partial_delivery)

        def attempt(envelopes: list[Envelope]) -> list[Outcome]:
            self._pace(1)
            return [self._send_once(envelopes[0], partial_delivery)]

        return single(run_retrying(retrying([envelope], self._retry), attempt))

    def _pace(self, messages: int) -> None:
        """Wait for the rate limit's slots for ``messages``."""
        if self.rate is not None:
            time.sleep(self.rate.delay(messages))

    def _send_once(self, envelope: Envelope, partial_delivery: Optional[bool]) -> SendResult:
        options = {"partial_delivery": partial_delivery}
        session: Optional[Any]
        session, reused = self._acquire()
        try:
            try:
                return self._send(session, envelope, options)
            except (*_STALE_CONNECTION, SMTPReplyError) as exc:
                # Retried only on a connection that sat in the pool (a session whose
                # messages each have their own may have handed this one on already).
                stale = reused and getattr(session, "holds_connection", True) and _never_accepted(exc)
                if not stale or getattr(envelope.content, "consumed", False):
                    raise  # a streamed body already read cannot be sent again
            self._release(session)  # closed by its failure: it leaves the pool
            session = None
            session, reused = self._acquire(fresh=True)
            return self._send(session, envelope, options)
        finally:
            if session is not None:
                self._release(session)

    @contextlib.contextmanager
    def connect(self) -> Iterator[Any]:
        """Lend one of the pool's sessions for a block, as :func:`smtpunit.connect` gives
        one for good: it goes back to the pool at the end (and leaves it, if it broke or
        was closed)::

            with pool.connect() as session:
                session.send_many(messages)
        """
        session, _ = self._acquire()
        try:
            yield session
        finally:
            self._release(session)

    def close(self) -> None:
        """Close every idle session; sessions in use close when they come back. The
        pool sends no more."""
        with self._available:
            self._closed = True
        self.close_idle()

    def close_idle(self) -> None:
        """Close every idle session; the pool goes on, with new sessions as needed."""
        with self._available:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._available.notify_all()
        for session, _ in idle:
            self._forget(session)

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    @staticmethod
    def _send(session: Any, envelope: Envelope, options: dict[str, Any]) -> SendResult:
        return single(session.send_envelopes([envelope], **options))

    def _acquire(self, fresh: bool = False) -> tuple[Any, bool]:
        """A session: an idle one still usable (unless ``fresh``), or a new one."""
        stale: list[Any] = []
        try:
            with self._available:
                while True:
                    if self._closed:
                        raise SMTPConnectionClosed("the pool is closed")
                    while self._idle and not fresh:
                        session, since = self._idle.pop()
                        if session.closed or time.monotonic() - since > self.idle_timeout \
                                or self._opened_under.get(id(session)) is not installed_registry() \
                                or _server_went_away(session):
                            stale.append(session)
                            self._open -= 1
                            continue
                        return session, True
                    if self._open < self.size:
                        self._open += 1
                        break
                    if fresh and self._idle:
                        # Every slot is held, some by idle sessions: one gives way, else a
                        # retry would wait for a slot that no sender is going to free.
                        session, _ = self._idle.pop(0)
                        stale.append(session)
                        self._open -= 1
                        continue
                    self._available.wait()
        finally:
            for session in stale:
                self._forget(session)
        try:
            under = installed_registry()
            session = self._connect()
            self._opened_under[id(session)] = under
            return session, False
        except BaseException:
            with self._available:
                self._open -= 1
                self._available.notify()
            raise

    def _release(self, session: Any) -> None:
        with self._available:
            if session.closed or self._closed:
                self._open -= 1
                self._available.notify()
                keep = False
            else:
                self._idle.append((session, time.monotonic()))
                self._available.notify()
                keep = True
        if not keep:
            self._forget(session)

    def _forget(self, session: Any) -> None:
        """Close a session that leaves the pool."""
        self._opened_under.pop(id(session), None)
        session.close()
