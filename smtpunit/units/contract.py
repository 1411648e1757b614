"""The one mail contract, and what the framework supplies on top of it.

A mail provider (:class:`~smtpunit.interfaces.IMailer`) implements one primitive,
:meth:`MailProvider.deliver`: send one checked envelope with checked
:class:`~smtpunit.options.SendOptions`. It may implement the others natively --
:meth:`~MailProvider.open_session` (many messages over one connection),
:meth:`~MailProvider.deliver_async` and :meth:`~MailProvider.open_session_async` --
and otherwise :class:`MailProvider` supplies them generically: a session whose every
message is a one-shot delivery (:class:`OneShotSession`), and asyncio through a worker
thread (:class:`ThreadedAsyncSession`). On top of the primitives it gives every verb
of the public API -- ``smtp_send_message``, ``send_envelope``, ``send_message``,
``connect`` and their ``*_async`` forms -- each checking its input and options before
the first byte. So the module functions, :class:`~smtpunit.pool.Pool`, sessions and
:mod:`smtpunit.aio` work the same through any provider: the SMTP and LMTP units,
``sendmail``, the test doubles, a third party's.

A provider of the Racket signature alone (:class:`~smtpunit.interfaces.ISMTP`, only
``smtp_send_message``) is adapted by :func:`as_mailer`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Optional, Protocol, TypeVar, Union

from zope.interface import implementer

from ..core import parameters
from ..core.capabilities import Capabilities
from ..core.commands import Envelope, Line, check_port, check_server_address, prepare_envelope
from ..core.reply import Reply
from ..core.results import Outcome, RecipientResult, SendResult
from ..core.retry import Step, retrying
from ..core.signing import check_signable
from ..core.verbs import MessageTuple, envelope_of_message, single
from ..drivers.aio import AsyncSessionVerbs
from ..drivers.blocking import SessionVerbs
from ..errors import SMTPConnectionClosed, SMTPError
from ..interfaces import IAsyncSession, IMailer, ISession
from ..options import SendOptions

if TYPE_CHECKING:  # pragma: no cover
    from email.message import Message as EmailMessageType

    from typing_extensions import Unpack

    from ..options import SendKeywords

__all__ = [
    "AsyncMailSession",
    "MailSession",
    "MailProvider",
    "OneShotSession",
    "ThreadedAsyncSession",
    "as_mailer",
    "check_target",
    "raise_if_never_opened",
    "run_retrying",
    "run_retrying_async",
]

T = TypeVar("T")

def check_target(server_address: str, port_no: int) -> tuple[str, int]:
    """The checked server name and port."""
    return check_server_address(server_address), check_port(port_no)


# -- sessions ------------------------------------------------------------------------------


class MailSession(Protocol):
    """What an open session offers, whichever provider opened it (for type checkers;
    :class:`~smtpunit.interfaces.ISession` is the contract)."""

    @property
    def capabilities(self) -> Capabilities: ...  # noqa: D102

    @property
    def closed(self) -> bool: ...  # noqa: D102

    def send(self, from_: str, to: Iterable[str], header: Line, message: Iterable[Line], *,
             partial_delivery: Optional[bool] = None) -> SendResult: ...  # noqa: D102

    def send_message(self, message: EmailMessageType, *, from_: Optional[str] = None,
                     to: Optional[Iterable[str]] = None,
                     partial_delivery: Optional[bool] = None) -> SendResult: ...  # noqa: D102

    def send_envelope(self, envelope: Envelope, *,
                      partial_delivery: Optional[bool] = None) -> SendResult: ...  # noqa: D102

    def send_many(self, messages: Iterable[MessageTuple], *,
                  partial_delivery: Optional[bool] = None) -> list[Outcome]: ...  # noqa: D102

    def send_envelopes(self, envelopes: Iterable[Envelope], *,
                       partial_delivery: Optional[bool] = None) -> list[Outcome]: ...  # noqa: D102

    def noop(self) -> Reply: ...  # noqa: D102

    def reset(self) -> None: ...  # noqa: D102

    def close(self) -> None: ...  # noqa: D102

    def __enter__(self) -> Any: ...  # noqa: D105

    def __exit__(self, *exc_info: Any) -> None: ...  # noqa: D105


class AsyncMailSession(Protocol):
    """:class:`MailSession` for asyncio."""

    @property
    def capabilities(self) -> Capabilities: ...  # noqa: D102

    @property
    def closed(self) -> bool: ...  # noqa: D102

    async def send(self, from_: str, to: Iterable[str], header: Line, message: Iterable[Line], *,
                   partial_delivery: Optional[bool] = None) -> SendResult: ...  # noqa: D102

    async def send_message(self, message: EmailMessageType, *, from_: Optional[str] = None,
                           to: Optional[Iterable[str]] = None,
                           partial_delivery: Optional[bool] = None) -> SendResult: ...  # noqa: D102

    async def send_envelope(self, envelope: Envelope, *,
                            partial_delivery: Optional[bool] = None) -> SendResult: ...  # noqa: D102

    async def send_many(self, messages: Iterable[MessageTuple], *,
                        partial_delivery: Optional[bool] = None) -> list[Outcome]: ...  # noqa: D102

    async def send_envelopes(self, envelopes: Iterable[Envelope], *,
                             partial_delivery: Optional[bool] = None) -> list[Outcome]: ...  # noqa: D102

    async def noop(self) -> Reply: ...  # noqa: D102

    async def reset(self) -> None: ...  # noqa: D102

    async def close(self) -> None: ...  # noqa: D102

    async def __aenter__(self) -> Any: ...  # noqa: D105

    async def __aexit__(self, *exc_info: Any) -> None: ...  # noqa: D105


@implementer(ISession)
class OneShotSession(SessionVerbs):
    """A session for a provider that has none of its own: each message is one
    :meth:`MailProvider.deliver`, with the options the session was opened with."""

    capabilities = Capabilities()

    holds_connection = False  # each message has a connection of its own: nothing to go stale

    def __init__(self, provider: MailProvider, server: str, port: int, options: SendOptions) -> None:
        self._provider = provider
        self._target = (server, port)
        self._options = options
        self._ehlo_name = parameters.smtp_sending_server()  # as a real session greets once, when opened
        self.closed = False

    def send_envelopes(self, envelopes: Iterable[Envelope], *,
                       partial_delivery: Optional[bool] = None) -> list[Outcome]:
        """Deliver each envelope on its own; an outcome per envelope."""
        self._check_open()
        options = self._options if partial_delivery is None else self._options.replace(
            partial_delivery=partial_delivery)
        outcomes: list[Outcome] = []
        with parameters.smtp_sending_server.parameterize(self._ehlo_name):
            for envelope in list(envelopes):
                try:
                    outcomes.append(self._provider.deliver(*self._target, envelope, options))
                except SMTPError as exc:
                    outcomes.append(exc)
        return outcomes

    def noop(self) -> Reply:
        """There is no connection to check: well while open."""
        self._check_open()
        return Reply(250, ("2.0.0 OK",))

    def reset(self) -> None:
        """Nothing to reset."""
        self._check_open()

    def close(self) -> None:
        """Close the session. Idempotent."""
        self.closed = True

    def __enter__(self) -> OneShotSession:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _check_open(self) -> None:
        if self.closed:
            raise SMTPConnectionClosed("the session is closed")


@implementer(IAsyncSession)
class ThreadedAsyncSession(AsyncSessionVerbs):
    """A blocking session (:class:`~smtpunit.interfaces.ISession`) for asyncio: each
    call runs in a worker thread, with the caller's parameters; or, ``inline``, on the
    event loop itself, for a session that never blocks (a test double)."""

    def __init__(self, session: Any, *, inline: bool = False) -> None:
        self._session = session
        self._call = _inline if inline else _in_thread

    @property
    def capabilities(self) -> Capabilities:
        """The blocking session's capabilities."""
        return self._session.capabilities  # type: ignore[no-any-return]

    @property
    def closed(self) -> bool:
        """True once closed."""
        return bool(self._session.closed)

    async def send_envelopes(self, envelopes: Iterable[Envelope], *,
                             partial_delivery: Optional[bool] = None) -> list[Outcome]:
        """See :meth:`smtpunit.drivers.blocking.Session.send_envelopes`."""
        return await self._call(self._session.send_envelopes, list(envelopes), partial_delivery=partial_delivery)

    async def noop(self) -> Reply:
        """``NOOP``."""
        return await self._call(self._session.noop)

    async def reset(self) -> None:
        """``RSET``."""
        await self._call(self._session.reset)

    async def close(self) -> None:
        """Close the session. Idempotent."""
        await self._call(self._session.close)

    async def __aenter__(self) -> ThreadedAsyncSession:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()


async def _in_thread(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    import asyncio  # only for asyncio callers

    return await asyncio.to_thread(function, *args, **kwargs)


async def _inline(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return function(*args, **kwargs)


def _close_when_opened(opening: Any) -> None:
    if not opening.cancelled() and opening.exception() is None:
        import asyncio

        asyncio.get_running_loop().run_in_executor(None, opening.result().close)


# -- providers ------------------------------------------------------------------------------


@implementer(IMailer)
class MailProvider:
    """The base of a mail provider: implement :meth:`deliver`; override the other
    primitives where the provider does better than the generic forms."""

    smtp_sending_server = parameters.smtp_sending_server
    smtp_sending_end_of_message = parameters.smtp_sending_end_of_message

    # -- the primitives ------------------------------------------------------------------

    def deliver(self, server: str, port: int, envelope: Envelope, options: SendOptions) -> SendResult:
        """Send ``envelope`` to ``server``:``port`` (checked) with ``options`` (checked)."""
        raise NotImplementedError(f"{type(self).__name__} must implement deliver()")

    def open_session(self, server: str, port: int, options: SendOptions) -> MailSession:
        """An open :class:`~smtpunit.interfaces.ISession`; by default a
        :class:`OneShotSession` over :meth:`deliver`."""
        return OneShotSession(self, server, port, options)

    async def deliver_async(self, server: str, port: int, envelope: Envelope, options: SendOptions) -> SendResult:
        """:meth:`deliver` for asyncio; by default in a worker thread."""
        return await _in_thread(self.deliver, server, port, envelope, options)

    async def open_session_async(self, server: str, port: int, options: SendOptions) -> AsyncMailSession:
        """An open :class:`~smtpunit.interfaces.IAsyncSession`; by default
        :meth:`open_session` run in a worker thread (:class:`ThreadedAsyncSession`)."""
        import asyncio

        opening = asyncio.ensure_future(_in_thread(self.open_session, server, port, options))
        try:
            return ThreadedAsyncSession(await asyncio.shield(opening))
        except asyncio.CancelledError:
            opening.add_done_callback(_close_when_opened)  # no session left open behind a cancel
            raise

    def smtp_send_message_star(self, connection: Any, from_: str, to: Iterable[str], header: Line,
                               message: Iterable[Line], *args: Any, **options: Any) -> SendResult:
        """Racket's ``smtp-send-message*``: a provider that speaks over a given
        connection implements it."""
        raise NotImplementedError(f"{type(self).__name__} does not send over a given connection")

    # -- the verbs (``smtp^`` and the rest of the public API) ---------------------------
    # Each checks its options, its message(s) and the server, in that order, before
    # anything is sent; a misspelled option is a TypeError naming the verb.

    def smtp_send_message(self, server_address: str, from_: str, to: Iterable[str], header: Line,
                          message: Iterable[Line], port_no: int = 25, **options: Unpack[SendKeywords]
                          ) -> SendResult:
        """Connect to ``server_address``:``port_no`` and send one message; see
        :func:`smtpunit.smtp_send_message` for the keyword ``options``."""
        return self._retried(*_one_shot("smtp_send_message", server_address, port_no, options,
                                        lambda: prepare_envelope(from_, to, header, message)))

    def send(self, server_address: str, from_: str, to: Iterable[str], header: Line,
             message: Iterable[Line], port_no: int = 25, **options: Unpack[SendKeywords]) -> SendResult:
        """:meth:`smtp_send_message` under the verb every entry point shares."""
        return self._retried(*_one_shot("send", server_address, port_no, options,
                                        lambda: prepare_envelope(from_, to, header, message)))

    def send_envelope(self, server_address: str, envelope: Envelope, port_no: int = 25,
                      **options: Unpack[SendKeywords]) -> SendResult:
        """Send a checked :class:`~smtpunit.core.commands.Envelope` in one connection."""
        return self._retried(*_one_shot("send_envelope", server_address, port_no, options, lambda: envelope))

    def send_message(self, server_address: str, message: EmailMessageType, port_no: int = 25, *,
                     from_: Optional[str] = None, to: Optional[Iterable[str]] = None,
                     **options: Unpack[SendKeywords]) -> SendResult:
        """Send an :class:`email.message.EmailMessage` in one connection."""
        return self._retried(*_one_shot("send_message", server_address, port_no, options,
                                        lambda: envelope_of_message(message, from_, to)))

    def send_many(self, server_address: str, messages: Iterable[MessageTuple], port_no: int = 25,
                  **options: Unpack[SendKeywords]) -> list[Outcome]:
        """Send several ``(from_, to, header, lines)`` messages over one session (pipelined
        where the provider can), then close it. Every message is checked before the
        connection is opened.

        :returns: per message, in order, its :class:`~smtpunit.core.results.SendResult` or
            the :class:`~smtpunit.errors.SMTPError` that stopped it.
        """
        server, port, envelopes, checked = _many("send_many", server_address, port_no, options, messages)

        def batch(envelopes: list[Envelope]) -> list[Outcome]:
            with self.open_session(server, port, checked) as session:
                return list(session.send_envelopes(envelopes))

        if checked.retry is None:
            return batch(envelopes)
        return raise_if_never_opened(run_retrying(retrying(envelopes, checked.retry), batch))

    def connect(self, server_address: str, port_no: int = 25, **options: Unpack[SendKeywords]) -> MailSession:
        """Open a session to send many messages over one connection (BDAT when offered,
        unless ``chunking=False``)."""
        return self.open_session(*_session("connect", server_address, port_no, options))

    async def smtp_send_message_async(self, server_address: str, from_: str, to: Iterable[str], header: Line,
                                      message: Iterable[Line], port_no: int = 25,
                                      **options: Unpack[SendKeywords]) -> SendResult:
        """:meth:`smtp_send_message` for asyncio."""
        return await self._retried_async(*_one_shot("aio.smtp_send_message", server_address, port_no, options,
                                                    lambda: prepare_envelope(from_, to, header, message)))

    async def send_async(self, server_address: str, from_: str, to: Iterable[str], header: Line,
                         message: Iterable[Line], port_no: int = 25,
                         **options: Unpack[SendKeywords]) -> SendResult:
        """:meth:`send` for asyncio."""
        return await self._retried_async(*_one_shot("aio.send", server_address, port_no, options,
                                                    lambda: prepare_envelope(from_, to, header, message)))

    async def send_envelope_async(self, server_address: str, envelope: Envelope, port_no: int = 25,
                                  **options: Unpack[SendKeywords]) -> SendResult:
        """:meth:`send_envelope` for asyncio."""
        return await self._retried_async(*_one_shot("aio.send_envelope", server_address, port_no, options,
                                                    lambda: envelope))

    async def send_message_async(self, server_address: str, message: EmailMessageType, port_no: int = 25, *,
                                 from_: Optional[str] = None, to: Optional[Iterable[str]] = None,
                                 **options: Unpack[SendKeywords]) -> SendResult:
        """:meth:`send_message` for asyncio."""
        return await self._retried_async(*_one_shot("aio.send_message", server_address, port_no, options,
                                                    lambda: envelope_of_message(message, from_, to)))

    async def send_many_async(self, server_address: str, messages: Iterable[MessageTuple], port_no: int = 25,
                              **options: Unpack[SendKeywords]) -> list[Outcome]:
        """:meth:`send_many` for asyncio."""
        server, port, envelopes, checked = _many("aio.send_many", server_address, port_no, options, messages)

        async def batch(envelopes: list[Envelope]) -> list[Outcome]:
            async with await self.open_session_async(server, port, checked) as session:
                return list(await session.send_envelopes(envelopes))

        if checked.retry is None:
            return await batch(envelopes)
        return raise_if_never_opened(
            await run_retrying_async(retrying(envelopes, checked.retry), batch))

    # -- retried as the options say ----------------------------------------------------------

    def _retried(self, server: str, port: int, envelope: Envelope, options: SendOptions) -> SendResult:
        """:meth:`deliver`, tried again as ``options.retry`` says."""
        if options.retry is None:
            return self.deliver(server, port, envelope, options)
        return single(run_retrying(retrying([envelope], options.retry),
                                   lambda batch: [self.deliver(server, port, batch[0], options)]))

    async def _retried_async(self, server: str, port: int, envelope: Envelope, options: SendOptions
                             ) -> SendResult:
        """:meth:`deliver_async`, tried again as ``options.retry`` says."""
        if options.retry is None:
            return await self.deliver_async(server, port, envelope, options)

        async def batch(envelopes: list[Envelope]) -> list[Outcome]:
            return [await self.deliver_async(server, port, envelopes[0], options)]

        return single(await run_retrying_async(retrying([envelope], options.retry), batch))

    async def connect_async(self, server_address: str, port_no: int = 25,
                            **options: Unpack[SendKeywords]) -> AsyncMailSession:
        """:meth:`connect` for asyncio: an open :class:`~smtpunit.interfaces.IAsyncSession`."""
        return await self.open_session_async(*_session("aio.connect", server_address, port_no, options))


def raise_if_never_opened(outcomes: list[Outcome]) -> list[Outcome]:
    """The outcomes of a retried batch; or, if no attempt got a session, raise why, as
    a batch that is not retried does."""
    first = outcomes[0] if outcomes else None
    if isinstance(first, SMTPError) and all(outcome is first for outcome in outcomes):
        raise first
    return outcomes


def run_retrying(plan: Generator[Step, Optional[list[Outcome]], list[Outcome]],
                 send: Callable[[list[Envelope]], list[Outcome]]) -> list[Outcome]:
    """Run a plan of :func:`~smtpunit.core.retry.retrying`: ``send`` each batch it asks
    for, sleep each wait; return its outcomes. An error that stops a whole batch (no
    session could be had) stands as the outcome of each of its messages, to be tried
    again."""
    try:
        step = next(plan)
        while True:
            if isinstance(step, float):
                time.sleep(step)
                step = plan.send(None)
            else:
                try:
                    outcomes = send(step)
                except SMTPError as exc:
                    outcomes = [exc] * len(step)
                step = plan.send(outcomes)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def run_retrying_async(plan: Generator[Step, Optional[list[Outcome]], list[Outcome]],
                             send: Callable[[list[Envelope]], Awaitable[list[Outcome]]]) -> list[Outcome]:
    """:func:`run_retrying` for asyncio."""
    import asyncio

    try:
        step = next(plan)
        while True:
            if isinstance(step, float):
                await asyncio.sleep(step)
                step = plan.send(None)
            else:
                try:
                    outcomes = await send(step)
                except SMTPError as exc:
                    outcomes = [exc] * len(step)
                step = plan.send(outcomes)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


def _one_shot(verb: str, server_address: str, port_no: int, options: Mapping[str, Any],
              envelope: Callable[[], Envelope]) -> tuple[str, int, Envelope, SendOptions]:
    """The checked arguments of a one-message ``verb``: server, port, envelope, options."""
    checked = SendOptions.of(verb, options)
    made = envelope()
    if checked.signer is not None:
        check_signable(made)
    return (*check_target(server_address, port_no), made, checked)


def _many(verb: str, server_address: str, port_no: int, options: Mapping[str, Any],
          messages: Iterable[MessageTuple]) -> tuple[str, int, list[Envelope], SendOptions]:
    """The checked arguments of a ``send_many``: server, port, envelopes, options."""
    checked = SendOptions.of(verb, options, chunking=True)
    envelopes = [prepare_envelope(*m) for m in messages]
    if checked.signer is not None:
        for made in envelopes:
            check_signable(made)
    return (*check_target(server_address, port_no), envelopes, checked)


def _session(verb: str, server_address: str, port_no: int, options: Mapping[str, Any]
             ) -> tuple[str, int, SendOptions]:
    """The checked arguments of a ``connect``: server, port, options (BDAT on by default)."""
    checked = SendOptions.of(verb, options, chunking=True)
    return (*check_target(server_address, port_no), checked)


class _Primitives(MailProvider):
    """Another :class:`~smtpunit.interfaces.IMailer` provider's primitives, with the verbs."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider

    def deliver(self, server: str, port: int, envelope: Envelope, options: SendOptions) -> SendResult:
        return self.provider.deliver(server, port, envelope, options)  # type: ignore[no-any-return]

    def open_session(self, server: str, port: int, options: SendOptions) -> Any:
        return self.provider.open_session(server, port, options)

    async def deliver_async(self, server: str, port: int, envelope: Envelope, options: SendOptions) -> SendResult:
        return await self.provider.deliver_async(server, port, envelope, options)  # type: ignore[no-any-return]

    async def open_session_async(self, server: str, port: int, options: SendOptions) -> Any:
        return await self.provider.open_session_async(server, port, options)

    def smtp_send_message_star(self, *args: Any, **kwargs: Any) -> SendResult:
        return self.provider.smtp_send_message_star(*args, **kwargs)  # type: ignore[no-any-return]


class _RacketOnly(MailProvider):
    """A provider of ``smtp^`` alone, as a mail provider: an envelope goes to its
    ``smtp_send_message`` as the header and the lines of the message (``str`` when
    they are UTF-8, else ``bytes``), with the options the caller gave; as Racket's
    returns nothing, a provider that returns no result is taken to have sent."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider

    def deliver(self, server: str, port: int, envelope: Envelope, options: SendOptions) -> SendResult:
        data = options.prepared(envelope).message_bytes()
        # A header holds no empty line: the first one ends it (and the empty header is one).
        end = 2 if data.startswith(b"\r\n") else data.find(b"\r\n\r\n") + 4
        lines = [_text(line) for line in data[end:].split(b"\r\n")[:-1]]
        # The framework's own (the message is signed, retries are run here): not the provider's.
        keywords = {name: getattr(options, name) for name in options.given - {"signer", "retry"}}
        result = self.provider.smtp_send_message(
            server, envelope.sender, list(envelope.recipients), _text(data[:end]), lines, port, **keywords)
        if isinstance(result, SendResult):
            return result
        accepted = Reply(250, (f"2.0.0 sent by {type(self.provider).__name__}",))
        return SendResult(tuple(RecipientResult(r, accepted) for r in envelope.recipients), accepted)

    def smtp_send_message_star(self, *args: Any, **kwargs: Any) -> SendResult:
        """The provider's own."""
        return self.provider.smtp_send_message_star(*args, **kwargs)  # type: ignore[no-any-return]


def _text(data: bytes) -> Union[str, bytes]:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def as_mailer(provider: Any) -> MailProvider:
    """``provider`` with every verb: as it is if it is a :class:`MailProvider`; its
    primitives if it provides :class:`~smtpunit.interfaces.IMailer` otherwise; its
    ``smtp_send_message`` if it provides ``smtp^`` alone."""
    if isinstance(provider, MailProvider):
        return provider
    if IMailer.providedBy(provider) and callable(getattr(provider, "deliver", None)):
        return _Primitives(provider)
    return _RacketOnly(provider)
