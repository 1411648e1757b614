"""The asyncio driver and session: conversations of the sans-IO core over an
:class:`~smtpunit.interfaces.IAsyncConnection`, with the bounds of the blocking driver."""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable
from concurrent.futures import TimeoutError as FuturesTimeoutError
from typing import Any, Optional, TypeVar

from zope.interface import implementer

from ..core.actions import Action, Receive, Send, UpgradeTLS
from ..core.commands import Envelope
from ..core.reply import Reply, ReplyParser
from ..core.results import Outcome
from ..core.state import ConversationOptions, SessionState
from ..core.verbs import AsyncSessionVerbs
from ..errors import SMTPError, SMTPTimeout, TLSHandshakeError
from ..interfaces import IAsyncSession
from ..options import Timeouts
from .blocking import RECEIVE_SIZE, feed, handshake_errors, io_errors, server_label
from .session import SessionCore

__all__ = ["AsyncDriver", "AsyncSession"]

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
    """:class:`~smtpunit.drivers.session.Session` for asyncio. Use one per task at a time."""

    def __init__(self, driver: AsyncDriver, state: SessionState, options: ConversationOptions) -> None:
        super().__init__(state, options)
        self._driver = driver

    async def send_envelopes(self, envelopes: Iterable[Envelope], *,
                             partial_delivery: Optional[bool] = None) -> list[Outcome]:
        """Send checked envelopes; see :meth:`smtpunit.drivers.session.Session.send_envelopes`."""
        return await self._run(self._transactions(list(envelopes), partial_delivery))

    async def noop(self) -> Reply:
        """``NOOP``: a health check. A failure closes the session."""
        return await self._run(self._noop())

    async def reset(self) -> None:
        """``RSET``."""
        await self._run(self._reset())

    async def close(self) -> None:
        """``QUIT`` (ignoring its failure) and close the connection. Idempotent."""
        if self.closed:
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
