"""The implementation of :class:`~smtpunit.interfaces.ISMTP` over imported providers.

:class:`SMTPUnit` is what the ``smtp@`` unit makes when it is invoked: it takes its
transport, TLS upgrader and SASL mechanism from the registry it was linked into,
at each call, so each can be swapped on its own (in place, or by linking ``smtp@``
again with another provider).
"""

from __future__ import annotations

import dataclasses
import socket
import ssl
from collections.abc import Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple, Optional, Union

from zope.interface import implementer

from ..core.actions import Action, Channel, UpgradeTLS
from ..core.commands import Envelope, Line, check_credential, prepare_envelope
from ..core.conversation import ConversationOptions, Credentials, SendResult, converse, open_session
from ..core.dsn import DSN
from ..core.policy import TLSPolicy, is_loopback_name, refuse_plaintext_credentials
from ..core.state import SessionState
from ..drivers.blocking import Driver, Session
from ..drivers.io import TIMEOUT_ERRORS
from ..errors import (
    InvalidArgument,
    SASLError,
    SMTPConnectionClosed,
    SMTPError,
    SMTPTimeout,
    SMTPTransportError,
    TLSHandshakeError,
)
from ..interfaces import (
    IAsyncTLSUpgrader,
    IAsyncTransport,
    IMailer,
    ISASLMechanism,
    ISigner,
    ITLSUpgrader,
    ITransport,
)
from ..options import SendOptions, Timeouts
from ..providers import guard
from ..providers.tcp import TCPTransport, as_connection
from ..providers.tls import CallableTLS, SSLContextTLS, TLSFromTheStart
from .contract import AsyncMailSession, MailProvider, MailSession
from .installation import installed_mailer, installed_registry
from .linking import Imports, unaliased

if TYPE_CHECKING:  # pragma: no cover
    from ..drivers.aio import AsyncDriver, AsyncSession

__all__ = ["SMTPUnit", "TLSEncode", "TCPConnect"]

TLSEncode = Union[None, bool, ssl.SSLContext, Callable[..., socket.socket], Any]
"""What ``tls_encode`` accepts: ``None``/``False`` (no STARTTLS), ``True`` (the
registry's TLS provider), an ``ssl.SSLContext``, an
:class:`~smtpunit.interfaces.ITLSUpgrader`, or a procedure called as
``encode(sock, server_hostname=name)`` that returns the TLS socket."""

TCPConnect = Union[None, Callable[[str, int], Any], Any]
"""What ``tcp_connect`` accepts: ``None`` (the registry's transport), an
:class:`~smtpunit.interfaces.ITransport`, or a procedure ``connect(host, port)``
returning a connected socket or an :class:`~smtpunit.interfaces.IConnection`."""


@implementer(ITransport)
class _ProcedureTransport:
    """A Racket-style ``tcp_connect`` procedure as an :class:`ITransport`."""

    def __init__(self, procedure: Callable[[str, int], Any]) -> None:
        self.procedure = procedure

    def connect(self, host: str, port: int, timeout: float) -> Any:
        guard.check(f"tcp_connect procedure to {host}:{port}")
        return as_connection(self.procedure(host, port), host)


class _Plan(NamedTuple):
    """How one call sends: made at each call (a tuple, the cheapest to make)."""

    options: ConversationOptions
    tls: Any
    timeouts: Timeouts
    server_name: str
    policy: TLSPolicy
    port: Optional[int] = None
    tcp_connect: Any = None


def _conversation_options(ehlo_name: str, starttls: TLSPolicy, end_of_message: Callable[[], object],
                          allow_insecure_auth: bool, partial_delivery: bool, lmtp: bool, chunking: bool,
                          dsn: Optional[DSN], signer: Any) -> ConversationOptions:
    """The :class:`ConversationOptions` without credentials for these settings, made
    once and shared: they are frozen, and a loop of sends asks for the same ones.
    ``end_of_message`` and ``signer`` are keyed by identity, kept alive by the entry."""
    key = (ehlo_name, starttls, id(end_of_message), allow_insecure_auth, partial_delivery, lmtp, chunking, dsn,
           id(signer))
    shared = _SHARED_OPTIONS.get(key)
    if shared is None:
        if len(_SHARED_OPTIONS) >= _SHARED_LIMIT:
            _SHARED_OPTIONS.clear()
        shared = _SHARED_OPTIONS[key] = ConversationOptions(
            ehlo_name, starttls, end_of_message=end_of_message, allow_insecure_auth=allow_insecure_auth,
            partial_delivery=partial_delivery, lmtp=lmtp, chunking=chunking, dsn=dsn, signer=signer)
    return shared


_SHARED_OPTIONS: dict[tuple[Any, ...], ConversationOptions] = {}
_SHARED_LIMIT = 64  # then emptied: few distinct settings recur in a process


def _server_is_local(driver: Any) -> bool:
    """True if the server is on this machine: the connection goes to it *and* its
    name says so (a tunnel's near end is local, the server behind it is not)."""
    return bool(driver.connection.loopback) and is_loopback_name(driver.server_hostname)


def _peer_name(connection: Any) -> str:
    """The name TLS verifies for a connection given without one: a socket's peer
    address (``localhost`` for a Unix socket), else the connection's own name."""
    if not isinstance(connection, socket.socket):
        return str(getattr(connection, "server_hostname", ""))
    if getattr(socket, "AF_UNIX", None) is not None and connection.family == socket.AF_UNIX:
        return "localhost"
    return str(connection.getpeername()[0])


def _opening_state(driver: Any) -> SessionState:
    """The state of a session about to be opened over ``driver``'s connection."""
    return SessionState(Channel(driver.parser, _server_is_local(driver)), secure=bool(driver.connection.secure))


# The two context managers below are classes, not @contextmanager generators: every
# send enters both, and a generator's set-up costs more than the rest of either.


class _ConnectErrors:
    """Turn a failure to connect to ``server``:``port`` into smtpunit's errors."""

    def __init__(self, server: str, port: int, timeout: float) -> None:
        self.server, self.port, self.timeout = server, port, timeout

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Optional[type[BaseException]], exc: Optional[BaseException], traceback: Any) -> None:
        if isinstance(exc, SMTPError):  # the transport's own word (a real connection refused in a test)
            return
        if isinstance(exc, TIMEOUT_ERRORS):
            raise SMTPTimeout("connect", self.timeout) from None
        if isinstance(exc, ssl.SSLError):
            raise TLSHandshakeError(f"TLS handshake with {self.server}:{self.port} failed: {exc}") from exc
        if isinstance(exc, OSError):
            raise SMTPTransportError(f"could not connect to {self.server}:{self.port}: {exc}") from exc


class _ImplicitTLSHint:
    """Say what to do when a server on the SMTPS port stays silent or hangs up instead
    of greeting: it waits for TLS from the first byte."""

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Optional[type[BaseException]], exc: Optional[BaseException], traceback: Any) -> None:
        if (isinstance(exc, (SMTPTimeout, SMTPConnectionClosed)) and exc.phase == "greeting"
                and self.plan.port == 465 and self.plan.policy is not TLSPolicy.IMPLICIT):
            exc.args = (f"{exc}; port 465 takes TLS from the first byte (SMTPS): use tls_policy='implicit'",)


def _ssl_context_of(tls: Any) -> ssl.SSLContext:
    context = getattr(tls, "context", None)
    if not isinstance(context, ssl.SSLContext):  # pragma: no cover -- refused by _async_tls before
        raise InvalidArgument(f"with asyncio, implicit TLS needs an SSLContext or an IAsyncTLSUpgrader, not {tls!r}")
    return context


def _handshake() -> Generator[Action, Any, None]:
    """The TLS handshake alone, as a conversation: implicit TLS by the provider."""
    yield UpgradeTLS()


def _async_tls(tls: Any) -> Any:
    """The TLS provider as the asyncio driver takes it (an ``IAsyncTLSUpgrader``)."""
    if tls is None or IAsyncTLSUpgrader.providedBy(tls):
        return tls
    if isinstance(getattr(tls, "context", None), ssl.SSLContext):
        return SSLContextTLS(tls.context)
    raise InvalidArgument("with asyncio, tls_encode must be True, an ssl.SSLContext, an IAsyncTLSUpgrader "
                          f"(with wrap_async) or a provider with an SSLContext .context, not {tls!r}")


@implementer(IMailer)
class SMTPUnit(MailProvider):
    """Sends mail with the providers it imports: the ``smtp@`` unit (and ``lmtp@``).

    :param imports: the :class:`~smtpunit.units.linking.Imports` view of the registry
        the unit was linked into.
    :param lmtp: speak LMTP (RFC 2033) instead of SMTP, as the ``lmtp@`` unit does.
    """

    def __init__(self, imports: Imports, *, lmtp: bool = False) -> None:
        self._imports = imports
        self.lmtp = lmtp

    def deliver(self, server: str, port: int, envelope: Envelope, options: SendOptions) -> SendResult:
        """Connect, greet, STARTTLS and AUTH as asked, send ``envelope``, QUIT."""
        plan = self._plan(server, port, options)
        return self._run(self._connect(server, port, plan), envelope, plan)

    def open_session(self, server: str, port: int, options: SendOptions) -> Session:
        """A :class:`~smtpunit.drivers.blocking.Session`: connected, greeted, encrypted and
        authenticated as asked, ready to send many messages."""
        plan = self._plan(server, port, options)

        def opened() -> tuple[Driver, SessionState]:
            driver = Driver(self._connect(server, port, plan), plan.timeouts, plan.tls, plan.server_name, port)
            state = _opening_state(driver)
            try:
                with _ImplicitTLSHint(plan):
                    driver.run(open_session(state, plan.options))
            except BaseException:
                driver.close()
                raise
            return driver, state

        under = installed_registry()

        def stand_in() -> Optional[MailSession]:
            double = installed_mailer(unless=under)
            return None if double is None else double.open_session(server, port, options)

        return Session(*opened(), plan.options, reopen=opened, stand_in=stand_in)

    def open_connection(self, server: str, port: int, options: SendOptions) -> Any:
        """Connect as a send would -- the transport ``options`` and the registry give,
        implicit TLS if asked for, the same errors -- and return the connection before
        the server's greeting (what ``smtpunit send --quit-after connect|banner`` opens)."""
        return self._connect(server, port, self._plan(server, port, options))

    def smtp_send_message_star(
        self,
        connection: Any,
        from_: str,
        to: Iterable[str],
        header: Line,
        message: Iterable[Line],
        auth_user: Optional[str] = None,
        auth_passwd: Optional[str] = None,
        tls_encode: TLSEncode = None,
        *,
        server_hostname: Optional[str] = None,
        **options: Any,
    ) -> SendResult:
        """Racket's ``smtp-send-message*``: send over an open connection, then close it.

        :param connection: a connected socket or an :class:`~smtpunit.interfaces.IConnection`
            that has not read the greeting yet.
        :param server_hostname: the name TLS verifies; for a socket it defaults to the
            peer's address.
        """
        try:
            checked = SendOptions.of("smtp_send_message_star", options, auth_user=auth_user,
                                     auth_passwd=auth_passwd, tls_encode=tls_encode)
            envelope = prepare_envelope(from_, to, header, message)
            if server_hostname is None:
                server_hostname = _peer_name(connection)
            guard.check(f"a connection to {server_hostname} given to smtp_send_message_star")
            plan = self._plan(server_hostname, None, checked)
            opened = as_connection(connection, server_hostname)
        except BaseException:
            connection.close()  # the connection is the caller's, but the call owns closing it
            raise
        return self._run(opened, envelope, plan)

    # -- asyncio ----------------------------------------------------------------------

    async def deliver_async(self, server: str, port: int, envelope: Envelope, options: SendOptions) -> SendResult:
        """:meth:`deliver` on the running asyncio event loop."""
        plan = self._plan(server, port, options, asyncio=True)
        driver = await self._async_driver(server, port, plan)
        try:
            with _ImplicitTLSHint(plan):
                return await driver.run(converse(driver.parser, envelope, plan.options,
                                                 secure=bool(driver.connection.secure),
                                                 loopback=_server_is_local(driver)))
        finally:
            driver.close()

    async def open_session_async(self, server: str, port: int, options: SendOptions) -> AsyncSession:
        """:meth:`open_session` on the running asyncio event loop: an open
        :class:`~smtpunit.drivers.aio.AsyncSession`."""
        plan = self._plan(server, port, options, asyncio=True)
        from ..drivers.aio import AsyncSession

        async def opened() -> tuple[AsyncDriver, SessionState]:
            driver = await self._async_driver(server, port, plan)
            state = _opening_state(driver)
            try:
                with _ImplicitTLSHint(plan):
                    await driver.run(open_session(state, plan.options))
            except BaseException:
                driver.close()
                raise
            return driver, state

        under = installed_registry()

        async def stand_in() -> Optional[AsyncMailSession]:
            double = installed_mailer(unless=under)
            return None if double is None else await double.open_session_async(server, port, options)

        return AsyncSession(*await opened(), plan.options, reopen=opened, stand_in=stand_in)

    async def _async_driver(self, server: str, port: int, plan: _Plan) -> AsyncDriver:
        from ..drivers.aio import AsyncDriver

        tls = _async_tls(plan.tls)
        # Implicit TLS: the transport's own for a plain SSLContext provider (or one with
        # a context and no handshake of its own), else the provider's handshake before
        # the greeting, so that its own checks run.
        implicit = None
        if plan.policy is TLSPolicy.IMPLICIT and (type(plan.tls) is SSLContextTLS
                                                  or not IAsyncTLSUpgrader.providedBy(plan.tls)):
            implicit = _ssl_context_of(plan.tls)
        tcp_connect = plan.tcp_connect
        if tcp_connect is None:
            transport = self._imports(IAsyncTransport)
        elif IAsyncTransport.providedBy(tcp_connect):
            transport = tcp_connect
        else:
            raise InvalidArgument(f"with asyncio, tcp_connect must be an IAsyncTransport, not {tcp_connect!r}")
        with _ConnectErrors(server, port, plan.timeouts.connect):
            connection = await transport.connect(server, port, plan.timeouts.connect, implicit)
        driver = AsyncDriver(connection, plan.timeouts, tls, plan.server_name, port)
        if plan.policy is TLSPolicy.IMPLICIT and implicit is None:
            try:
                await driver.run(_handshake())
            except BaseException:
                driver.close()
                raise
        return driver

    # -- internals ------------------------------------------------------------------

    def _plan(self, server_name: str, port: Optional[int], options: SendOptions, asyncio: bool = False) -> _Plan:
        if options.has_credentials and options.tcp_connect is None and port is not None:
            # Known before connecting when the registry's transport is plain TCP: a server
            # not named as this machine gets no plaintext credentials.
            if asyncio:
                from ..providers.async_tcp import AsyncTCPTransport

                plain = isinstance(self._imports(IAsyncTransport), AsyncTCPTransport)
            else:
                plain = isinstance(self._imports(ITransport), TCPTransport)
            if plain:
                refuse_plaintext_credentials(True, secure=options.policy.promises_tls,
                                             local=is_loopback_name(server_name), allowed=options.allow_insecure_auth)
        policy = options.policy
        tls = self._tls(True if options.tls_encode is None else options.tls_encode) \
            if policy is not TLSPolicy.NONE else None
        conversation = _conversation_options(
            self.smtp_sending_server(), policy, self.smtp_sending_end_of_message(), options.allow_insecure_auth,
            options.partial_delivery, self.lmtp, bool(options.chunking), options.dsn, self._signer(options))
        credentials = self._credentials(options.auth_user, options.auth_passwd, options.auth_mechanism)
        if credentials is not None:  # options of its own: a password is not kept beyond its call
            conversation = dataclasses.replace(conversation, credentials=credentials)
        return _Plan(conversation, tls, options.timeouts, server_name, policy, port, options.tcp_connect)

    def _signer(self, options: SendOptions) -> Any:
        """The send's own signer, else one registered in the registry the unit was linked
        into (``registry.registerUtility(signer, ISigner)``, or ``provide(ISigner, signer)``
        linked with it), if any: an optional provider, not an import."""
        if options.signer is not None:
            return options.signer
        return self._imports.registry.queryUtility(ISigner)

    def _connect(self, server: str, port: int, plan: _Plan) -> Any:
        transport = self._transport(plan.tcp_connect, plan)
        with _ConnectErrors(server, port, plan.timeouts.connect):
            return transport.connect(server, port, plan.timeouts.connect)

    def _credentials(
        self, auth_user: Optional[str], auth_passwd: Optional[str], auth_mechanism: Optional[str]
    ) -> Optional[Credentials]:
        if auth_user is None and auth_passwd is None:
            return None
        if auth_user is None or auth_passwd is None:
            raise InvalidArgument("auth_user and auth_passwd go together")
        mechanisms = self._imports.all(ISASLMechanism)
        if auth_mechanism is not None and auth_mechanism not in mechanisms:
            raise InvalidArgument(
                f"no SASL mechanism {auth_mechanism!r} is linked (there are: {', '.join(sorted(mechanisms))})")
        credentials = Credentials(
            check_credential(auth_user, "auth_user"),
            check_credential(auth_passwd, "auth_passwd"),
            mechanisms,
            auth_mechanism,
        )
        if auth_mechanism is not None:
            # A named mechanism checks the credentials now, before the first byte
            # (XOAUTH2's separators, SCRAM's SASLprep); its errors never hold them.
            try:
                mechanisms[auth_mechanism].start(credentials.username, credentials.password)
            except SASLError as exc:
                raise InvalidArgument(f"the credentials do not suit {auth_mechanism}: {exc}") from None
        return credentials

    def _transport(self, tcp_connect: TCPConnect, plan: _Plan) -> Any:
        if tcp_connect is None:
            transport = self._imports(ITransport)
        elif ITransport.providedBy(tcp_connect):
            transport = tcp_connect
        elif callable(tcp_connect):
            transport = _ProcedureTransport(tcp_connect)
        else:
            raise InvalidArgument(f"tcp_connect must be a procedure or an ITransport, not {tcp_connect!r}")
        if plan.policy is TLSPolicy.IMPLICIT:
            return TLSFromTheStart(transport, plan.tls)
        return transport

    def _tls(self, tls_encode: TLSEncode) -> Any:
        if tls_encode is None or tls_encode is False:
            return None
        if tls_encode is True:
            return self._imports(ITLSUpgrader)
        if ITLSUpgrader.providedBy(tls_encode):
            return unaliased(tls_encode)  # a registry's unnamed slot, given as it is: what it stands for
        if isinstance(tls_encode, ssl.SSLContext):
            return SSLContextTLS(tls_encode)
        if callable(tls_encode):
            return CallableTLS(tls_encode)
        raise InvalidArgument(
            f"tls_encode must be True, an SSLContext, an ITLSUpgrader or a procedure, not {tls_encode!r}"
        )

    def _run(self, connection: Any, envelope: Any, plan: _Plan) -> SendResult:
        driver = Driver(connection, plan.timeouts, plan.tls, plan.server_name, plan.port)
        try:
            conversation = converse(
                driver.parser,
                envelope,
                plan.options,
                secure=bool(connection.secure),
                loopback=_server_is_local(driver),
            )
            with _ImplicitTLSHint(plan):
                return driver.run(conversation)
        finally:
            driver.close()

