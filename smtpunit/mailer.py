"""A configured mailer: the server, TLS, credentials, timeouts and pool size, given
once (or as one URL), then the verbs without them::

    mailer = smtpunit.Mailer.from_url("smtp://me:secret@mail.example.org")  # 587, STARTTLS
    mailer.send_message(email_message)
    mailer.send_many(messages)
    await mailer.send_message_async(email_message)
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Optional

from zope.interface.registry import Components

from .core.commands import Envelope, Line
from .core.parameters import smtp_sending_server
from .core.results import Outcome, SendResult
from .core.retry import RateLimiter, retrying
from .core.verbs import MessageTuple
from .drivers.aio import AsyncSessionVerbs
from .drivers.blocking import SessionVerbs
from .errors import InvalidArgument
from .options import SendOptions
from .pool import Pool, session_opener
from .units.contract import (
    AsyncMailSession,
    MailProvider,
    MailSession,
    as_mailer,
    check_target,
    raise_if_never_opened,
    run_retrying_async,
)
from .units.lookup import configuration_registry, configured_mailer, installed_mailer
from .units.urls import MailURL, endpoint

if TYPE_CHECKING:  # pragma: no cover
    from email.message import Message

    from typing_extensions import Unpack

    from .options import SendKeywords

__all__ = ["Mailer", "URL_VARIABLE"]

URL_VARIABLE = "SMTPUNIT_URL"
"""The environment variable :meth:`Mailer.from_env` reads."""


class Mailer(SessionVerbs):
    """Sends to one server with options given once; safe to share between threads.

    The blocking verbs (``send``, ``send_message``, ``send_envelope``, ``send_many``,
    ``connect``) go over a :class:`~smtpunit.pool.Pool` of up to ``pool_size``
    sessions, made when first needed and kept while fresh (``idle_timeout``). Under
    asyncio (``send_async``, ... ``connect_async``) each send opens its own
    connection, and ``send_many_async`` one for its batch. A registry installed for
    the process (a test double: :func:`smtpunit.units.lookup.installed`) gets every
    message, even of a mailer made before it was installed.

    :param server_address: the server's host name or address.
    :param port_no: its port.
    :param pool_size: the most sessions open at once.
    :param idle_timeout: seconds a pooled session may stay unused.
    :param rate: the most messages a second the mailer sends, from all its threads and
        tasks together.
    :param provider: the mail provider to send through (an
        :class:`~smtpunit.interfaces.IMailer`, or a provider of ``smtp^``); by default
        the current registry's when the mailer is made (but not a test double
        installed for the process: :func:`~smtpunit.units.lookup.configuration_registry`).
    :param options: the keyword options of :func:`smtpunit.connect` (``tls_encode``,
        ``auth_user``, ``auth_passwd``, ``timeout``, ...), checked now: a misspelled
        one is a ``TypeError`` here, not at the first send.
    """

    def __init__(self, server_address: str, port_no: int = 25, *, pool_size: int = 4, idle_timeout: float = 30.0,
                 rate: Optional[float] = None, provider: Any = None, **options: Unpack[SendKeywords]) -> None:
        self._configure("Mailer", server_address, port_no, pool_size, idle_timeout, rate, provider, options,
                        f"{server_address}:{port_no}")

    def _configure(self, caller: str, server_address: str, port_no: int, pool_size: int, idle_timeout: float,
                   rate: Optional[float], provider: Any, options: Mapping[str, Any], shown: str) -> None:
        self.options = SendOptions.of(caller, options, chunking=True)
        self.server, self.port = check_target(server_address, port_no)
        self.provider: MailProvider = configured_mailer() if provider is None else as_mailer(provider)
        self._shown = shown
        self._ehlo_name = smtp_sending_server()
        self.rate = None if rate is None else RateLimiter(rate)
        opener = session_opener(self.provider, self.server, self.port, self.options)
        self._pool = Pool(self.server, self.port, size=pool_size, idle_timeout=idle_timeout, connect=opener,
                          rate=self.rate, retry=self.options.retry)
        self._async = _AsyncVerbs(self)

    @classmethod
    def from_url(cls, url: str, *, registry: Optional[Components] = None, pool_size: int = 4,
                 idle_timeout: float = 30.0, rate: Optional[float] = None, **options: Unpack[SendKeywords]
                 ) -> Mailer:
        """A mailer for a connection URL (see :mod:`smtpunit.units.schemes`)::

            smtp://[user[:password]@]host[:port]   587, STARTTLS required (?tls=opportunistic, ?tls=none)
            smtps://...                            465, TLS from the first byte
            lmtp://...   smtp+unix:///path/to.sock   lmtp+unix:///...
            sendmail:///usr/sbin/sendmail   console://   file:///some/dir

        The scheme's provider comes from ``registry`` (by default the one a send would
        use now), where a plugin may add schemes. Keyword ``options`` add to the URL's
        or replace them (``tls_encode=ssl_context``, ``allow_insecure_auth=True``, ...).
        The URL's password is never shown: not in the repr, nor in an error.

        :raises InvalidArgument: the URL is malformed, or names an unknown scheme.
        :raises TypeError: a misspelled or ill-typed option.
        """
        parsed = MailURL.parse(url)
        target = endpoint(parsed, configuration_registry() if registry is None else registry)
        mailer = cls.__new__(cls)
        try:
            mailer._configure("Mailer.from_url", target.server, target.port, pool_size, idle_timeout, rate,
                              target.provider, {**target.options, **options}, parsed.redacted())
        except InvalidArgument as exc:  # a URL's value: say which URL
            raise parsed.fail(str(exc)) from None
        return mailer

    @classmethod
    def from_env(cls, variable: str = URL_VARIABLE, *, registry: Optional[Components] = None,
                 pool_size: int = 4, idle_timeout: float = 30.0, rate: Optional[float] = None,
                 **options: Unpack[SendKeywords]) -> Mailer:
        """:meth:`from_url` with the URL in the environment variable ``variable``
        (``SMTPUNIT_URL``).

        :raises InvalidArgument: the variable is not set (or is empty), or its URL is bad.
        """
        url = os.environ.get(variable, "")
        if not url:
            raise InvalidArgument(f"the environment variable {variable} is not set: give it a connection URL, "
                                  "such as smtp://user:password@mail.example.org")
        return cls.from_url(url, registry=registry, pool_size=pool_size, idle_timeout=idle_timeout, rate=rate,
                            **options)

    def __repr__(self) -> str:
        return f"<Mailer {self._shown} via {type(self.provider).__name__}>"

    # -- blocking: over the pool ------------------------------------------------------------

    def send_envelopes(self, envelopes: Iterable[Envelope], *, partial_delivery: Optional[bool] = None
                       ) -> list[Outcome]:
        """Send checked envelopes over one pooled session, pipelined."""
        return self._pool.send_envelopes(envelopes, partial_delivery=partial_delivery)

    def send_envelope(self, envelope: Envelope, *, partial_delivery: Optional[bool] = None) -> SendResult:
        """Send a checked envelope; once more on a new connection if a pooled one turns
        out dead before the message was complete (:meth:`smtpunit.Pool.send_envelope`)."""
        return self._pool.send_envelope(envelope, partial_delivery=partial_delivery)

    def connect(self) -> AbstractContextManager[MailSession]:
        """Lend a pooled session for a block, as :meth:`smtpunit.Pool.connect` does:
        ``with mailer.connect() as session: session.send_many(messages)``."""
        return self._pool.connect()

    def close(self) -> None:
        """Close the pooled sessions not in use. The mailer goes on, over new sessions
        as needed: closing never fails a send of another thread."""
        self._pool.close_idle()

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- asyncio: a connection per send -----------------------------------------------------

    async def send_async(self, from_: str, to: Iterable[str], header: Line, message: Iterable[Line], *,
                         partial_delivery: Optional[bool] = None) -> SendResult:
        """:meth:`send` for asyncio."""
        return await self._async.send(from_, to, header, message, partial_delivery=partial_delivery)

    async def send_message_async(self, message: Message, *, from_: Optional[str] = None,
                                 to: Optional[Iterable[str]] = None,
                                 partial_delivery: Optional[bool] = None) -> SendResult:
        """:meth:`send_message` for asyncio."""
        return await self._async.send_message(message, from_=from_, to=to, partial_delivery=partial_delivery)

    async def send_envelope_async(self, envelope: Envelope, *, partial_delivery: Optional[bool] = None
                                  ) -> SendResult:
        """:meth:`send_envelope` for asyncio."""
        return await self._async.send_envelope(envelope, partial_delivery=partial_delivery)

    async def send_many_async(self, messages: Iterable[MessageTuple], *, partial_delivery: Optional[bool] = None
                              ) -> list[Outcome]:
        """:meth:`send_many` for asyncio: one connection for the batch, pipelined."""
        return await self._async.send_many(messages, partial_delivery=partial_delivery)

    async def connect_async(self) -> AsyncMailSession:
        """An open asyncio session (:class:`~smtpunit.interfaces.IAsyncSession`) of its
        own; close it (``async with``)."""
        with smtp_sending_server.parameterize(self._ehlo_name):
            return await self._current().open_session_async(self.server, self.port, self.options)

    def _current(self) -> MailProvider:
        """The provider a send goes through now: an installed double's, else the mailer's."""
        return installed_mailer() or self.provider


class _AsyncVerbs(AsyncSessionVerbs):
    """A mailer's asyncio verbs: one connection per call."""

    def __init__(self, mailer: Mailer) -> None:
        self._mailer = mailer

    async def send_envelopes(self, envelopes: Iterable[Envelope], *, partial_delivery: Optional[bool] = None
                             ) -> list[Outcome]:
        mailer, batch = self._mailer, list(envelopes)
        if not batch:
            return []
        options = mailer.options if partial_delivery is None else mailer.options.replace(
            partial_delivery=partial_delivery)
        provider = mailer._current()

        async def attempt(envelopes: list[Envelope]) -> list[Outcome]:
            if mailer.rate is not None:
                await asyncio.sleep(mailer.rate.delay(len(envelopes)))
            with smtp_sending_server.parameterize(mailer._ehlo_name):
                if len(envelopes) == 1:
                    return [await provider.deliver_async(mailer.server, mailer.port, envelopes[0], options)]
                async with await provider.open_session_async(mailer.server, mailer.port, options) as session:
                    return list(await session.send_envelopes(envelopes))

        if options.retry is None:
            return await attempt(batch)
        return raise_if_never_opened(
            await run_retrying_async(retrying(batch, options.retry), attempt))
