"""smtpunit for asyncio: the same conversations, the same errors, the same bounds.

::

    import smtpunit.aio

    await smtpunit.aio.smtp_send_message(server, from_, to, header, lines, 587, tls_encode=True)

    async with await smtpunit.aio.connect(server, 587, tls_encode=True) as session:
        await session.send(from_, to, header, lines)

The sans-IO core (:mod:`smtpunit.protocol`, :mod:`smtpunit.transaction`) is shared
with the blocking API; only the driver differs. The connection comes from the
registry's :class:`~smtpunit.interfaces.IAsyncTransport`; TLS needs an
``ssl.SSLContext`` (``tls_encode=True``, a context, or an
:class:`~smtpunit.providers.tls.SSLContextTLS`).
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable
from concurrent.futures import TimeoutError as FuturesTimeoutError
from typing import TYPE_CHECKING, Any, Optional, TypeVar

from zope.interface import implementer

from .commands import Envelope, Line
from .contract import AsyncMailSession, AsyncSessionVerbs
from .driver import RECEIVE_SIZE, Timeouts, feed, handshake_errors, io_errors, server_label
from .errors import SMTPError, SMTPTimeout, TLSHandshakeError
from .exchange import Action, Receive, Send, UpgradeTLS
from .interfaces import IAsyncSession
from .options import ConversationOptions, SessionState
from .reply import Reply, ReplyParser
from .results import Outcome, SendResult
from .session import SessionCore

if TYPE_CHECKING:  # pragma: no cover
    from email.message import EmailMessage

    from typing_extensions import Unpack

    from .send_options import SendKeywords

__all__ = ["AsyncDriver", "AsyncSession", "smtp_send_message", "send_envelope", "send_message", "connect"]

T = TypeVar("T")


class AsyncDriver:
    """Drives conversations over an :class:`~smtpunit.interfaces.IAsyncConnection`.

    :param tls_context: the ``ssl.SSLContext`` for STARTTLS, if any.
    :param server_hostname: the name TLS verifies.
    :param port: the server's port, to name the server in errors.
    """

    def __init__(self, connection: Any, timeouts: Timeouts, tls_context: Any, server_hostname: str,
                 port: Optional[int] = None) -> None:
        self.connection = connection
        self.timeouts = timeouts
        self.tls_context = tls_context
        self.server_hostname = server_hostname
        self.server = server_label(server_hostname, port)
        self.parser = ReplyParser()

    async def run(self, conversation: Generator[Action, Any, T]) -> T:
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
                value = await self._perform(action)
            except SMTPError as exc:
                error = exc

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()

    async def _perform(self, action: Action) -> Optional[Reply]:
        if isinstance(action, Send):
            try:
                await self.connection.send(action.data, self.timeouts.reply)
            except SMTPError:
                raise  # the connection's own word (SMTPConnectionClosed: nothing was written)
            except (OSError, FuturesTimeoutError) as exc:  # mapped only when it happens
                with io_errors("writing to", "write", self.timeouts.reply):
                    raise exc
            return None
        if isinstance(action, Receive):
            return await self._receive(action)
        if isinstance(action, UpgradeTLS):
            if self.tls_context is None:
                raise TLSHandshakeError("STARTTLS was negotiated but no TLS context is configured")
            with handshake_errors(self.timeouts.tls_handshake, self.server):
                await self.connection.start_tls(self.tls_context, self.server_hostname, self.timeouts.tls_handshake)
            return None
        raise TypeError(f"unknown action {action!r}")  # pragma: no cover

    async def _receive(self, action: Receive) -> Reply:
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
                data = await self.connection.receive(RECEIVE_SIZE, remaining)
            except (OSError, FuturesTimeoutError) as exc:
                with io_errors("reading from", action.phase, limit):
                    raise exc
            reply = feed(self.parser, data, action)
        return reply


@implementer(IAsyncSession)
class AsyncSession(SessionCore, AsyncSessionVerbs):
    """:class:`~smtpunit.session.Session` for asyncio. Use one per task at a time."""

    def __init__(self, driver: AsyncDriver, state: SessionState, options: ConversationOptions) -> None:
        super().__init__(state, options)
        self._driver = driver

    async def send_envelopes(self, envelopes: Iterable[Envelope], *,
                             partial_delivery: Optional[bool] = None) -> list[Outcome]:
        """Send checked envelopes; see :meth:`smtpunit.session.Session.send_envelopes`."""
        return await self._run(self._transactions(list(envelopes), partial_delivery))

    async def noop(self) -> Reply:
        """``NOOP``: a health check. A failure closes the session."""
        return await self._run(self._noop())

    async def reset(self) -> None:
        """``RSET``."""
        await self._run(self._reset())

    async def close(self) -> None:
        """``QUIT`` (ignoring its failure) and close the connection. Idempotent."""
        if self._closed:
            return
        try:
            await self._driver.run(self._goodbye())
        finally:
            self._abort()

    async def __aenter__(self) -> AsyncSession:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    async def _run(self, conversation: Generator[Action, Any, T]) -> T:
        self._check_open()
        try:
            result = await self._driver.run(conversation)
        except BaseException:
            self._abort()
            raise
        if self._state.broken:
            self._abort()
        return result

    def _abort(self) -> None:
        self._mark_closed()
        self._driver.close()


async def smtp_send_message(server_address: str, from_: str, to: Iterable[str], header: Line,
                            message: Iterable[Line], port_no: int = 25, **options: Unpack[SendKeywords]
                            ) -> SendResult:
    """:func:`smtpunit.smtp_send_message` for asyncio, with the same arguments
    (``tcp_connect`` must be an :class:`~smtpunit.interfaces.IAsyncTransport`)."""
    from .smtp import current_mailer  # the facade, which imports this module

    return await current_mailer().smtp_send_message_async(
        server_address, from_, to, header, message, port_no, **options)


async def send_envelope(server_address: str, envelope: Envelope, port_no: int = 25,
                        **options: Unpack[SendKeywords]) -> SendResult:
    """:func:`smtpunit.send_envelope` for asyncio."""
    from .smtp import current_mailer  # the facade, which imports this module

    return await current_mailer().send_envelope_async(
        server_address, envelope, port_no, **options)


async def send_message(server_address: str, message: EmailMessage, port_no: int = 25, *,
                       from_: Optional[str] = None, to: Optional[Iterable[str]] = None,
                       **options: Unpack[SendKeywords]) -> SendResult:
    """:func:`smtpunit.send_message` for asyncio."""
    from .smtp import current_mailer  # the facade, which imports this module

    return await current_mailer().send_message_async(
        server_address, message, port_no, from_=from_, to=to, **options)


async def connect(server_address: str, port_no: int = 25, **options: Unpack[SendKeywords]) -> AsyncMailSession:
    """:func:`smtpunit.connect` for asyncio: an open session
    (:class:`AsyncSession` with the SMTP unit)."""
    from .smtp import current_mailer  # the facade, which imports this module

    return await current_mailer().connect_async(server_address, port_no, **options)
