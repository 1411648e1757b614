"""The module functions: this module provides :class:`~smtpunit.interfaces.ISMTP`.

As Racket's ``net/smtp`` module gives ``smtp@``'s procedures, this module gives
``smtp^``'s functions (``verifyObject(ISMTP, smtpunit.smtp)`` holds), each delegating
to the ``ISMTP`` provider of the registry in use (:func:`~smtpunit.units.lookup.current_unit`:
:data:`current_registry` if set, else a registry installed for the process, else a
default registry, :func:`smtpunit.units.builtin.default_registry`, made once). To change
a provider, link your own registry and :func:`~smtpunit.units.lookup.invoke` it, or
parameterize :data:`current_registry` with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Optional, Union

from zope.interface import moduleProvides

from .core.commands import Envelope, Line
from .core.dsn import DSN
from .core.parameters import smtp_sending_end_of_message, smtp_sending_server
from .core.policy import TLSPolicy
from .core.results import Outcome, SendResult
from .core.verbs import MessageTuple
from .interfaces import ISMTP
from .options import Timeouts
from .units.contract import MailSession
from .units.lookup import current_mailer, current_registry, current_unit
from .units.smtp_unit import TCPConnect, TLSEncode

if TYPE_CHECKING:  # pragma: no cover
    from email.message import Message

    from typing_extensions import Unpack

    from .options import SendKeywords

moduleProvides(ISMTP)

__all__ = [
    "send",
    "send_many",
    "send_envelope",
    "send_message",
    "connect",
    "current_registry",
    "current_mailer",
    "smtp_send_message",
    "smtp_send_message_star",
    "smtp_sending_server",
    "smtp_sending_end_of_message",
]


def smtp_send_message(
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
    tls_policy: Union[TLSPolicy, str, None] = None,
    timeout: Union[Timeouts, float, None] = None,
    allow_insecure_auth: bool = False,
    auth_mechanism: Optional[str] = None,
    partial_delivery: bool = False,
    dsn: Optional[DSN] = None,
) -> SendResult:
    """Connect to ``server_address``:``port_no`` and send one message (Racket's
    ``smtp-send-message``).

    :param server_address: host name or address of the SMTP server.
    :param from_: the sender's address (``""`` for the null sender of bounces).
    :param to: every recipient, To, Cc and Bcc alike, in order.
    :param header: the complete header, ending in an empty line, sent verbatim.
    :param message: the body, one ``str`` or ``bytes`` per line, without CR or LF.
    :param port_no: the server's port; may be passed positionally (Racket's legacy
        trailing port) or by keyword.
    :param auth_user: authenticate as this user...
    :param auth_passwd: ...with this password (or token, for XOAUTH2).
    :param auth_mechanism: the SASL mechanism to use; by default the strongest that
        both sides have (see :data:`~smtpunit.core.auth.DEFAULT_AUTH_PREFERENCE`), and
        ``PLAIN``, as Racket, when the server advertises none.
    :param tcp_connect: how to connect instead of plain TCP, e.g. implicit TLS: an
        :class:`~smtpunit.interfaces.ITransport` or ``connect(host, port)`` returning
        a connected socket or an :class:`~smtpunit.interfaces.IConnection`.
    :param tls_encode: require STARTTLS: ``True`` for the verified default, an
        ``ssl.SSLContext``, an :class:`~smtpunit.interfaces.ITLSUpgrader`, or
        ``encode(sock, server_hostname=name)`` returning the TLS socket.
    :param tls_policy: a :class:`~smtpunit.core.policy.TLSPolicy` (or its value):
        ``"starttls"`` (required; the default when ``tls_encode`` is given),
        ``"opportunistic"`` (opt-in, open to stripping), ``"implicit"`` (TLS from
        the first byte, with ``tls_encode``'s context or the default), ``"none"``.
        TLS always verifies the name ``server_address``, wherever ``tcp_connect``
        connected.
    :param timeout: a :class:`~smtpunit.options.Timeouts`, or seconds for every wait.
    :param allow_insecure_auth: permit credentials over plaintext to a host that is
        not on this machine.
    :param partial_delivery: when some recipients are refused, send to the others
        (the refused are in the result) instead of failing with
        :class:`~smtpunit.errors.RecipientsRefused`.
    :param dsn: delivery status notifications to ask for (RFC 3461), a
        :class:`~smtpunit.core.dsn.DSN`: only from a server that offers DSN.
    :returns: the :class:`~smtpunit.core.results.SendResult` (Racket returns nothing).
    :raises ValueError: (:class:`~smtpunit.errors.SMTPInputError`) for bad input,
        before anything is sent.
    :raises smtpunit.errors.SMTPError: for every failure; see :mod:`smtpunit.errors`.
    """
    options = dict(auth_user=auth_user, auth_passwd=auth_passwd, tcp_connect=tcp_connect, tls_encode=tls_encode,
                   tls_policy=tls_policy, timeout=timeout, allow_insecure_auth=allow_insecure_auth,
                   auth_mechanism=auth_mechanism, partial_delivery=partial_delivery, dsn=dsn)
    # Only the options given: a provider of smtp^ alone may take no more than Racket's.
    return current_unit().smtp_send_message(  # type: ignore[no-any-return]
        server_address, from_, to, header, message, port_no,
        **{name: value for name, value in options.items() if value is not None and value is not False})


def smtp_send_message_star(
    connection: Any,
    from_: str,
    to: Iterable[str],
    header: Line,
    message: Iterable[Line],
    auth_user: Optional[str] = None,
    auth_passwd: Optional[str] = None,
    tls_encode: TLSEncode = None,
    **options: Any,
) -> SendResult:
    """Racket's ``smtp-send-message*``: send over an already open ``connection``.

    Takes the keyword options of :meth:`smtpunit.units.smtp_unit.SMTPUnit.smtp_send_message_star`.
    """
    return current_unit().smtp_send_message_star(  # type: ignore[no-any-return]
        connection, from_, to, header, message, auth_user, auth_passwd, tls_encode, **options
    )


def send(server_address: str, from_: str, to: Iterable[str], header: Line, message: Iterable[Line],
         port_no: int = 25, **options: Unpack[SendKeywords]) -> SendResult:
    """Send one message in one connection: :func:`smtp_send_message` under the verb that
    sessions, :class:`~smtpunit.pool.Pool` and :mod:`smtpunit.aio` share, with the same
    arguments and keyword options."""
    return current_mailer().send(server_address, from_, to, header, message, port_no, **options)


def send_many(server_address: str, messages: Iterable[MessageTuple], port_no: int = 25,
              **options: Unpack[SendKeywords]) -> list[Outcome]:
    """Send several ``(from_, to, header, lines)`` messages over one connection,
    pipelined, then close it. Every message is checked before the connection opens;
    one refused message does not stop the others.

    Takes the keyword options of :func:`connect`.

    :returns: per message, in order, its :class:`~smtpunit.core.results.SendResult` or
        the :class:`~smtpunit.errors.SMTPError` that stopped it.
    """
    return current_mailer().send_many(server_address, messages, port_no, **options)


def connect(server_address: str, port_no: int = 25, **options: Unpack[SendKeywords]) -> MailSession:
    """Open a session (a :class:`~smtpunit.drivers.blocking.Session` with the SMTP unit) to send
    many messages over one connection.

    Takes the keyword arguments of :func:`smtp_send_message` (``auth_user``,
    ``tls_encode``, ``tcp_connect``, ``timeout``, ...) and ``chunking`` (use BDAT when
    offered; default on). Use it as a context manager::

        with smtpunit.connect("mail.example.org", 587, tls_encode=True) as session:
            session.send(from_, to, header, lines)
    """
    return current_mailer().connect(server_address, port_no, **options)


def send_envelope(server_address: str, envelope: Envelope, port_no: int = 25,
                  **options: Unpack[SendKeywords]) -> SendResult:
    """Send a checked :class:`~smtpunit.core.commands.Envelope` (from
    :func:`~smtpunit.core.commands.prepare_raw_envelope`,
    :func:`~smtpunit.core.commands.prepare_file_envelope`, ...) in one connection.

    Takes the keyword arguments of :func:`smtp_send_message`.
    """
    return current_mailer().send_envelope(server_address, envelope, port_no, **options)


def send_message(server_address: str, message: Message, port_no: int = 25, *, from_: Optional[str] = None,
                 to: Optional[Iterable[str]] = None, **options: Unpack[SendKeywords]) -> SendResult:
    """Send an :class:`email.message.EmailMessage` in one connection.

    The envelope comes from its headers unless ``from_`` or ``to`` is given; Bcc
    recipients get the message but the Bcc field is not sent. Takes the keyword
    arguments of :func:`smtp_send_message`.
    """
    return current_mailer().send_message(
        server_address, message, port_no, from_=from_, to=to, **options)
