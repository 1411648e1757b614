"""The implementation of :class:`~smtpunit.interfaces.ISMTP` over imported providers.

:class:`SMTPUnit` is what the ``smtp@`` unit makes when it is invoked: it takes its
transport, TLS upgrader and SASL mechanism from the registry it was invoked
through, at each call, so each can be swapped on its own.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Optional, Union

from zope.interface import implementer

from . import parameters
from .commands import Line, check_port, check_server_address, prepare_envelope
from .driver import Driver, Timeouts
from .errors import InvalidArgument, SMTPTimeout, SMTPTransportError
from .interfaces import ISMTP, ISASLMechanism, ITLSUpgrader, ITransport
from .protocol import ConversationOptions, Credentials, SendResult, converse
from .providers.tcp import as_connection
from .providers.tls import CallableTLS, SSLContextTLS
from .registry import Imports

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
        return as_connection(self.procedure(host, port), host)


@dataclass(frozen=True)
class _Plan:
    options: ConversationOptions
    tls: Any
    timeouts: Timeouts


def _check_credential(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"{what} must be a str, not {type(value).__name__}")
    if any(c in value for c in "\r\n\0"):
        raise InvalidArgument(f"{what} holds CR, LF or NUL")  # never echo the value
    return value


@implementer(ISMTP)
class SMTPUnit:
    """Sends mail with the providers it imports.

    :param imports: the :class:`~smtpunit.registry.Imports` view of the registry
        the unit was invoked through.
    """

    smtp_sending_server = parameters.smtp_sending_server
    smtp_sending_end_of_message = parameters.smtp_sending_end_of_message

    def __init__(self, imports: Imports) -> None:
        self._imports = imports

    def smtp_send_message(
        self,
        server_address: str,
        from_: str,
        to: Iterable[str],
        header: Line,
        message: Iterable[Line],
        port_no: int = 25,
        *,
        auth_user: Optional[str] = None,
        auth_passwd: Optional[str] = None,
        tcp_connect: TCPConnect = None,
        tls_encode: TLSEncode = None,
        timeout: Union[Timeouts, float, None] = None,
        allow_insecure_auth: bool = False,
        auth_mechanism: Optional[str] = None,
    ) -> SendResult:
        """Connect to ``server_address``:``port_no`` and send one message.

        See :func:`smtpunit.smtp_send_message`.
        """
        server = check_server_address(server_address)
        port = check_port(port_no)
        envelope = prepare_envelope(from_, to, header, message)
        plan = self._plan(auth_user, auth_passwd, tls_encode, timeout, allow_insecure_auth, auth_mechanism)
        transport = self._transport(tcp_connect)
        try:
            connection = transport.connect(server, port, plan.timeouts.connect)
        except TimeoutError:
            raise SMTPTimeout("connect", plan.timeouts.connect) from None
        except OSError as exc:
            raise SMTPTransportError(f"could not connect to {server}:{port}: {exc}") from exc
        return self._run(connection, envelope, plan)

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
        timeout: Union[Timeouts, float, None] = None,
        allow_insecure_auth: bool = False,
        auth_mechanism: Optional[str] = None,
    ) -> SendResult:
        """Racket's ``smtp-send-message*``: send over an open connection, then close it.

        :param connection: a connected socket or an :class:`~smtpunit.interfaces.IConnection`
            that has not read the greeting yet.
        :param server_hostname: the name TLS verifies; for a socket it defaults to the
            peer's address.
        """
        envelope = prepare_envelope(from_, to, header, message)
        plan = self._plan(auth_user, auth_passwd, tls_encode, timeout, allow_insecure_auth, auth_mechanism)
        if server_hostname is None and isinstance(connection, socket.socket):
            server_hostname = str(connection.getpeername()[0])
        return self._run(as_connection(connection, server_hostname or ""), envelope, plan)

    # -- internals ------------------------------------------------------------------

    def _plan(
        self,
        auth_user: Optional[str],
        auth_passwd: Optional[str],
        tls_encode: TLSEncode,
        timeout: Union[Timeouts, float, None],
        allow_insecure_auth: bool,
        auth_mechanism: Optional[str],
    ) -> _Plan:
        credentials = None
        if auth_user is not None or auth_passwd is not None:
            if auth_user is None or auth_passwd is None:
                raise InvalidArgument("auth_user and auth_passwd go together")
            mechanisms = self._imports.all(ISASLMechanism)
            if auth_mechanism is not None and auth_mechanism not in mechanisms:
                raise InvalidArgument(
                    f"no SASL mechanism {auth_mechanism!r} is linked (there are: {', '.join(sorted(mechanisms))})")
            credentials = Credentials(
                _check_credential(auth_user, "auth_user"),
                _check_credential(auth_passwd, "auth_passwd"),
                mechanisms,
                auth_mechanism,
            )
        tls = self._tls(tls_encode)
        options = ConversationOptions(
            ehlo_name=self.smtp_sending_server(),
            starttls=tls is not None,
            credentials=credentials,
            end_of_message=self.smtp_sending_end_of_message(),
            allow_insecure_auth=allow_insecure_auth,
        )
        return _Plan(options, tls, Timeouts.coerce(timeout))

    def _transport(self, tcp_connect: TCPConnect) -> Any:
        if tcp_connect is None:
            return self._imports(ITransport)
        if ITransport.providedBy(tcp_connect):
            return tcp_connect
        if callable(tcp_connect):
            return _ProcedureTransport(tcp_connect)
        raise InvalidArgument(f"tcp_connect must be a procedure or an ITransport, not {tcp_connect!r}")

    def _tls(self, tls_encode: TLSEncode) -> Any:
        if tls_encode is None or tls_encode is False:
            return None
        if tls_encode is True:
            return self._imports(ITLSUpgrader)
        if ITLSUpgrader.providedBy(tls_encode):
            return tls_encode
        if isinstance(tls_encode, ssl.SSLContext):
            return SSLContextTLS(tls_encode)
        if callable(tls_encode):
            return CallableTLS(tls_encode)
        raise InvalidArgument(
            f"tls_encode must be True, an SSLContext, an ITLSUpgrader or a procedure, not {tls_encode!r}"
        )

    def _run(self, connection: Any, envelope: Any, plan: _Plan) -> SendResult:
        driver = Driver(connection, plan.timeouts, plan.tls)
        try:
            conversation = converse(
                driver.parser,
                envelope,
                plan.options,
                secure=bool(connection.secure),
                loopback=bool(connection.loopback),
            )
            return driver.run(conversation)
        finally:
            driver.close()
