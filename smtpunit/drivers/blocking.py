# Generated from smtpunit/drivers/aio.py by scripts/unasync.py: do not edit.
"""The blocking driver and session, generated from :mod:`smtpunit.drivers.aio` by
``scripts/unasync.py``: do not edit, change the asyncio source and run the script.

:class:`Driver` runs a conversation of the sans-IO core over an
:class:`~smtpunit.interfaces.IConnection`, with the same deadlines and the same
errors as the asyncio driver; :class:`Session` is an open connection that sends many
messages.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any, Optional, TypeVar, Union

from zope.interface import implementer

from ..core.actions import Action, Receive, Send, UpgradeTLS
from ..core.commands import Envelope, Line, prepare_envelope
from ..core.reply import Reply, ReplyParser
from ..core.results import Outcome, SendResult
from ..core.state import ConversationOptions, SessionState
from ..core.verbs import MessageTuple, envelope_of_message, single
from ..errors import SMTPError, SMTPTimeout, TLSHandshakeError
from ..interfaces import ISession
from ..options import Timeouts
from .io import RECEIVE_SIZE, TIMEOUT_ERRORS, feed, handshake_errors, io_errors, server_label
from .session import SessionCore

if TYPE_CHECKING:  # pragma: no cover
    from email.message import Message as EmailMessageType

__all__ = ["Driver", "Session", "SessionVerbs"]

T = TypeVar("T")


class Driver:
    """Drives conversations over one connection.

    :param connection: an :class:`~smtpunit.interfaces.IConnection` provider.
    :param timeouts: the bounds on each wait.
    :param tls: the TLS upgrader for STARTTLS, if any
        (:class:`~smtpunit.interfaces.ITLSUpgrader`).
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
                if isinstance(action, Receive):
                    value = self._receive(action)
                elif isinstance(action, Send):
                    self._send(action.data)
                elif isinstance(action, UpgradeTLS):
                    self._upgrade()
                else:
                    raise TypeError(f"unknown action {action!r}")  # pragma: no cover
            except SMTPError as exc:
                error = exc

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()

    def _send(self, data: Union[bytes, memoryview]) -> None:
        try:
            self.connection.send(data, self.timeouts.reply)
        except SMTPError:
            raise  # the connection's own word (SMTPConnectionClosed: nothing was written)
        except (OSError, *TIMEOUT_ERRORS) as exc:
            with io_errors("writing to", "write", self.timeouts.reply):
                raise exc

    def _receive(self, action: Receive) -> Reply:
        # The conversations of smtpunit.core ask only when no complete reply is
        # buffered; another one may not know that.
        if self.parser.has_pending_input:
            reply = self.parser.next_reply()
            if reply is not None:
                return reply
        limit = self.timeouts.data_end if action.final else self.timeouts.reply
        deadline = time.monotonic() + limit
        remaining = limit
        while True:
            try:
                # A longer wait (after the data) in steps of a reply's bound: a socket
                # keeps its timeout instead of switching it on every message.
                data = self.connection.receive(RECEIVE_SIZE, min(remaining, self.timeouts.reply))
            except TIMEOUT_ERRORS:
                pass  # the deadline decides
            except OSError as exc:
                with io_errors("reading from", action.phase, limit):
                    raise exc
            else:
                reply = feed(self.parser, data, action)
                if reply is not None:
                    return reply
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SMTPTimeout(action.phase, limit)

    def _upgrade(self) -> None:
        if self.tls is None:
            raise TLSHandshakeError("STARTTLS was negotiated but no TLS provider is configured")
        with handshake_errors(self.timeouts.tls_handshake, self.server):
            self.connection = self.tls.wrap(
                self.connection, self.server_hostname, self.timeouts.tls_handshake)
        if not getattr(self.connection, "secure", False):  # else AUTH would go as if encrypted
            raise TLSHandshakeError(f"the TLS provider {self.tls!r} left the connection to {self.server} "
                                    "unencrypted after STARTTLS")


class SessionVerbs:
    """The verbs of a session, over its ``send_envelopes`` (which a session provides)."""

    def send_envelopes(self, envelopes: Iterable[Envelope], *,
                             partial_delivery: Optional[bool] = None) -> list[Outcome]:  # pragma: no cover
        raise NotImplementedError

    def send(self, from_: str, to: Iterable[str], header: Line, message: Iterable[Line], *,
                   partial_delivery: Optional[bool] = None) -> SendResult:
        """Send one message; arguments as :func:`smtpunit.smtp_send_message`.

        :raises smtpunit.errors.SMTPError: what stopped the message (the session goes
            on unless the connection broke).
        """
        return self.send_envelope(prepare_envelope(from_, to, header, message),
                                        partial_delivery=partial_delivery)

    def send_message(self, message: EmailMessageType, *, from_: Optional[str] = None,
                           to: Optional[Iterable[str]] = None, partial_delivery: Optional[bool] = None
                           ) -> SendResult:
        """Send an :class:`email.message.EmailMessage`; see :func:`smtpunit.send_message`."""
        return self.send_envelope(envelope_of_message(message, from_, to), partial_delivery=partial_delivery)

    def send_envelope(self, envelope: Envelope, *, partial_delivery: Optional[bool] = None) -> SendResult:
        """Send a checked :class:`~smtpunit.core.commands.Envelope`."""
        return single(self.send_envelopes([envelope], partial_delivery=partial_delivery))

    def send_many(self, messages: Iterable[MessageTuple], *, partial_delivery: Optional[bool] = None
                        ) -> list[Outcome]:
        """Send several messages (pipelined where the session can). Every message is
        checked before anything is sent (bad input raises ``ValueError``, sends nothing).

        :returns: per message, in order, its :class:`~smtpunit.core.results.SendResult` or
            the :class:`~smtpunit.errors.SMTPError` that stopped it.
        """
        return self.send_envelopes([prepare_envelope(*m) for m in messages],
                                         partial_delivery=partial_delivery)


@implementer(ISession)
class Session(SessionCore, SessionVerbs):
    """An open, greeted (and, as asked, encrypted and authenticated) connection.

    Not safe to share: use one session per thread or task at a time, or a
    :class:`~smtpunit.pool.Pool`.
    """

    def __init__(self, driver: Driver, state: SessionState, options: ConversationOptions,
                 reopen: Optional[Callable[[], Any]] = None, stand_in: Optional[Callable[[], Any]] = None) -> None:
        super().__init__(state, options)
        self._driver = driver
        self._reopen = reopen  # makes a new (driver, state), opened as this one was
        self._stand_in = stand_in  # a session of a test double installed since this one opened, if any

    @property
    def connection(self) -> Any:
        """The :class:`~smtpunit.interfaces.IConnection` the session runs over."""
        return self._driver.connection

    def send_envelopes(self, envelopes: Iterable[Envelope], *,
                             partial_delivery: Optional[bool] = None) -> list[Outcome]:
        """Send checked envelopes (from :func:`~smtpunit.core.commands.prepare_envelope`, ...),
        pipelined when the server allows: each message's data shares a write with the
        next message's envelope.

        While a test double is installed for the process that was not when the session
        opened, the messages go to it instead (:func:`smtpunit.units.lookup.installed`).
        A message refused after its DATA went ahead with its RCPTs can only be stopped by
        closing the connection; the messages after it then go over a new one, opened
        as this one was (their results say ``reconnected``).

        :returns: per envelope, in order, its :class:`~smtpunit.core.results.SendResult` or
            the :class:`~smtpunit.errors.SMTPError` that stopped it.
        """
        self._check_open()
        batch = list(envelopes)
        stand_in = None if self._stand_in is None else self._stand_in()
        if stand_in is not None:  # the messages go to the test double, not over this connection
            with stand_in:
                return list(stand_in.send_envelopes(batch, partial_delivery=partial_delivery))
        outcomes = self._run(self._transactions(batch, partial_delivery))
        while self._reopen is not None and self._state.resumable and (unsent := self._unsent(outcomes)):
            try:
                self._driver, self._state = self._reopen()
            except SMTPError:
                break  # they stay not sent, and the session closed
            resent = self._run(self._transactions([batch[index] for index in unsent], partial_delivery))
            self._merge(outcomes, unsent, resent)
        return outcomes

    def probe(self, envelope: Envelope, *, recipients: bool = True) -> list[Reply]:
        """``MAIL FROM`` and (unless not ``recipients``) each ``RCPT TO`` of ``envelope``,
        then ``RSET``: what the server says of them, with no message sent.

        :returns: the replies to MAIL and to each RCPT, in order.
        :raises smtpunit.errors.SMTPReplyError: MAIL or RSET was refused.
        """
        return self._run(self._probe(envelope, recipients))

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
