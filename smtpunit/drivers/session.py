"""Sessions: one connection, many messages (blocking).

Open one with :func:`smtpunit.connect`::

    with smtpunit.connect("mail.example.org", 587, tls_encode=True) as session:
        session.send("a@example.org", ["b@example.org"], header, lines)
        outcomes = session.send_many(messages)   # pipelined across messages

A failed message does not end the session: it is RSET before the next. A
connection that can no longer be trusted (transport failure, 421, a refusal while
the server waited for data) is closed, and the session with it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator, Iterable
from typing import Any, Optional, TypeVar

from zope.interface import implementer

from ..core import commands, parameters
from ..core.actions import Action, expect
from ..core.capabilities import Capabilities
from ..core.commands import Envelope
from ..core.conversation import close_session
from ..core.reply import Reply
from ..core.results import Outcome
from ..core.state import ConversationOptions, Phase, SessionState
from ..core.transactions import transactions
from ..core.verbs import SessionVerbs
from ..errors import SMTPConnectionClosed
from ..interfaces import ISession
from .blocking import Driver

__all__ = ["Session", "SessionCore"]

T = TypeVar("T")


class SessionCore:
    """What sync and asyncio sessions share: the state, and the conversations they run.

    A subclass runs those conversations with its driver (``_run``).
    """

    def __init__(self, state: SessionState, options: ConversationOptions) -> None:
        self._state = state
        self._options = options

    @property
    def capabilities(self) -> Capabilities:
        """What the server advertised (after TLS, only what it said over TLS)."""
        return self._state.capabilities

    @property
    def closed(self) -> bool:
        """True once the session was closed, or its connection broke."""
        return self._state.phase is Phase.CLOSED

    def _check_open(self) -> None:
        if self._state.phase is Phase.CLOSED:
            raise SMTPConnectionClosed("the session is closed")

    def _transactions(self, envelopes: list[Envelope], partial_delivery: Optional[bool]
                      ) -> Generator[Action, Any, list[Outcome]]:
        options = dataclasses.replace(
            self._options,
            end_of_message=parameters.smtp_sending_end_of_message(),
            partial_delivery=self._options.partial_delivery if partial_delivery is None else partial_delivery,
        )
        return transactions(self._state, envelopes, options)

    def _noop(self) -> Generator[Action, Any, Reply]:
        return expect(self._state.link, commands.noop(), "noop", 250)

    def _reset(self) -> Generator[Action, Any, None]:
        yield from expect(self._state.link, commands.rset(), "rset", 250)
        self._state.reset()

    def _goodbye(self) -> Generator[Action, Any, None]:
        if not self._state.broken:
            yield from close_session(self._state)

    def _mark_closed(self) -> None:
        self._state.close()


@implementer(ISession)
class Session(SessionCore, SessionVerbs):
    """An open, greeted (and, as asked, encrypted and authenticated) connection.

    Not thread-safe: use one session per thread, or a :class:`~smtpunit.pool.Pool`.
    """

    def __init__(self, driver: Driver, state: SessionState, options: ConversationOptions) -> None:
        super().__init__(state, options)
        self._driver = driver

    @property
    def connection(self) -> Any:
        """The :class:`~smtpunit.interfaces.IConnection` the session runs over."""
        return self._driver.connection

    def send_envelopes(self, envelopes: Iterable[Envelope], *, partial_delivery: Optional[bool] = None
                       ) -> list[Outcome]:
        """Send checked envelopes (from :func:`~smtpunit.core.commands.prepare_envelope`, ...),
        pipelined when the server allows: each message's data shares a write with the
        next message's envelope.

        :returns: per envelope, in order, its :class:`~smtpunit.core.results.SendResult` or
            the :class:`~smtpunit.errors.SMTPError` that stopped it.
        """
        return self._run(self._transactions(list(envelopes), partial_delivery))

    def noop(self) -> Reply:
        """``NOOP``: a health check. A failure closes the session."""
        return self._run(self._noop())

    def reset(self) -> None:
        """``RSET``: abandon any transaction in progress."""
        self._run(self._reset())

    def close(self) -> None:
        """``QUIT`` (ignoring its failure) and close the connection. Idempotent."""
        if self.closed:
            return
        try:
            self._driver.run(self._goodbye())
        finally:
            self._abort()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _run(self, conversation: Generator[Action, Any, T]) -> T:
        self._check_open()
        try:
            result = self._driver.run(conversation)
        except BaseException:
            self._abort()
            raise
        if self._state.broken:
            self._abort()
        return result

    def _abort(self) -> None:
        self._mark_closed()
        self._driver.close()
