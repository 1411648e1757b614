"""The signatures of smtpunit: what each kind of unit must provide.

Racket's ``smtp^`` signature becomes :class:`ISMTP`. The seams Racket opens with
keyword arguments become signatures of their own, each filled by a provider that
can be swapped independently through a registry (see :mod:`smtpunit.units.linking`):

=====================  ============================  ====================================================
Racket                 signature                     built-in providers
=====================  ============================  ====================================================
``smtp^``              :class:`ISMTP`                :mod:`smtpunit.smtp` (the module), the ``smtp@`` unit
(beyond Racket)        :class:`IMailer`              :class:`~smtpunit.units.smtp_unit.SMTPUnit`: envelopes,
                                                     sessions, asyncio
``#:tcp-connect``      :class:`ITransport`           :class:`~smtpunit.providers.tcp.TCPTransport`,
                                                     ``ImplicitTLSTransport``, ``UnixSocketTransport``
(ports)                :class:`IConnection`          :class:`~smtpunit.providers.tcp.SocketConnection`
(asyncio)              :class:`IAsyncTransport`,     :class:`~smtpunit.providers.async_tcp.AsyncTCPTransport`
                       :class:`IAsyncConnection`
``#:tls-encode``       :class:`ITLSUpgrader`         :class:`~smtpunit.providers.tls.SSLContextTLS`
``#:auth-user``        :class:`ISASLMechanism`,      PLAIN, LOGIN, CRAM-MD5, XOAUTH2, SCRAM-SHA-256
                       :class:`ISASLExchange`        (:mod:`smtpunit.providers.sasl`)
(signing)              :class:`ISigner`              :class:`~smtpunit.providers.dkim.DKIMSigner` (DKIM, ``[dkim]``)
(connection URLs)      :class:`IURLScheme`           ``smtp``, ``smtps``, ``lmtp``, ``smtp+unix``, ``lmtp+unix``,
                                                     ``sendmail``, ``console``, ``file``
                                                     (:mod:`smtpunit.units.schemes`)
=====================  ============================  ====================================================
"""

from __future__ import annotations

from zope.interface import Attribute, Interface, Invalid, invariant

__all__ = [
    "ISMTP",
    "IMailer",
    "ISession",
    "IAsyncSession",
    "ITransport",
    "IConnection",
    "ITLSUpgrader",
    "IAsyncTLSUpgrader",
    "IAsyncConnection",
    "IAsyncTransport",
    "ISASLMechanism",
    "ISASLExchange",
    "IURLScheme",
    "ISigner",
]


class ISMTP(Interface):
    """The ``smtp^`` signature: send one message through an SMTP server.

    Contract:

    * Every argument is checked before the first byte reaches the server; bad input
      raises a subclass of :class:`ValueError`.
    * A call either returns (the server accepted the message) or raises exactly one
      error from :mod:`smtpunit.errors` saying why it did not, or
      :class:`~smtpunit.errors.SMTPOutcomeUnknown` when nobody can know.
    * The wire bytes are those of Racket's ``net/smtp`` for the same call.
    """

    smtp_sending_server = Attribute(
        "Parameter holding the name sent with EHLO; default 'localhost'. Call it to "
        "read the value; use parameterize(value) as a context manager to set it."
    )
    smtp_sending_end_of_message = Attribute(
        "Parameter holding a procedure of no arguments, called after the last "
        "message line is written and before the final '.'. If it raises, the '.' is "
        "never sent and the server delivers nothing. Default: does nothing."
    )

    def smtp_send_message(server_address, from_, to, header, message, port_no=25):  # type: ignore[no-untyped-def]
        """Connect to ``server_address``:``port_no`` and send one message.

        Keyword arguments ``auth_user``, ``auth_passwd``, ``tcp_connect`` and
        ``tls_encode`` match Racket's; ``port_no`` may also be passed positionally,
        after ``message``, as Racket's legacy trailing port.
        """

    def smtp_send_message_star(connection, from_, to, header, message):  # type: ignore[no-untyped-def]
        """Racket's ``smtp-send-message*``: send over an already open connection.

        ``connection`` is an :class:`IConnection` provider or a connected socket that
        has not yet read the server's greeting. It is closed when the call ends.
        """


class IMailer(ISMTP):
    """The one mail contract: ``smtp^`` and what smtpunit adds to it.

    A provider implements the primitives below, each given a checked server, port and
    :class:`~smtpunit.options.SendOptions`; the verbs of the public API (the
    module functions, :class:`~smtpunit.pool.Pool`, sessions, :mod:`smtpunit.aio`) are
    built on them. :class:`~smtpunit.units.contract.MailProvider` implements all but
    :meth:`deliver` generically (a session of one-shot deliveries; asyncio in a
    thread) and the verbs, so a provider subclassing it need only deliver.
    """

    def deliver(server, port, envelope, options):  # type: ignore[no-untyped-def]
        """Send a checked :class:`~smtpunit.core.commands.Envelope`; return its
        :class:`~smtpunit.core.results.SendResult` or raise the error that stopped it."""

    def open_session(server, port, options):  # type: ignore[no-untyped-def]
        """Return an open :class:`ISession` to send many messages."""

    def deliver_async(server, port, envelope, options):  # type: ignore[no-untyped-def]
        """Coroutine: :meth:`deliver` for asyncio."""

    def open_session_async(server, port, options):  # type: ignore[no-untyped-def]
        """Coroutine: an open :class:`IAsyncSession`."""


class ISession(Interface):
    """An open session: many messages, one after the other (pipelined where it can).

    Its verbs (``send``, ``send_message``, ``send_envelope``, ``send_many``) are
    :class:`~smtpunit.drivers.blocking.SessionVerbs` over :meth:`send_envelopes`.
    """

    capabilities = Attribute("What the server advertised (a Capabilities; empty without a connection).")
    closed = Attribute("True once the session was closed, or its connection broke.")

    def send_envelopes(envelopes, *, partial_delivery=None):  # type: ignore[no-untyped-def]
        """Send checked envelopes; per envelope, its result or the error that stopped it."""

    def noop():  # type: ignore[no-untyped-def]
        """``NOOP``: a health check; returns the reply."""

    def reset():  # type: ignore[no-untyped-def]
        """``RSET``: abandon any transaction under way."""

    def close():  # type: ignore[no-untyped-def]
        """End the session (``QUIT``). Idempotent."""


class IAsyncSession(Interface):
    """:class:`ISession` for asyncio: the same methods, as coroutines."""

    capabilities = Attribute("What the server advertised.")
    closed = Attribute("True once the session was closed, or its connection broke.")

    def send_envelopes(envelopes, *, partial_delivery=None):  # type: ignore[no-untyped-def]
        """Coroutine: see :meth:`ISession.send_envelopes`."""

    def noop():  # type: ignore[no-untyped-def]
        """Coroutine: ``NOOP``."""

    def reset():  # type: ignore[no-untyped-def]
        """Coroutine: ``RSET``."""

    def close():  # type: ignore[no-untyped-def]
        """Coroutine: end the session. Idempotent."""


class IConnection(Interface):
    """An open, bidirectional byte stream to an SMTP server.

    Every blocking call takes a timeout in seconds and raises :class:`TimeoutError`
    when it runs out, or :class:`OSError` when the stream fails.
    """

    server_hostname = Attribute("The host name the connection was made for (str).")
    secure = Attribute("True when the stream is encrypted and authenticated (TLS).")
    loopback = Attribute("True when the peer is on this machine (127.0.0.0/8, ::1, unix).")

    def send(data, timeout):  # type: ignore[no-untyped-def]
        """Write all of ``data`` (bytes).

        Raise :class:`~smtpunit.errors.SMTPConnectionClosed` only when nothing of
        ``data`` was written because the server had closed the connection: a message
        whose final ``.`` was in ``data`` is then known not to be delivered (any
        other failure of that write leaves its outcome unknown).
        """

    def receive(max_bytes, timeout):  # type: ignore[no-untyped-def]
        """Return up to ``max_bytes`` bytes as soon as some arrive; ``b''`` at EOF."""

    def close():  # type: ignore[no-untyped-def]
        """Close the stream. Closing twice is harmless."""


class ITransport(Interface):
    """Racket's ``#:tcp-connect``: how a connection to the server is made."""

    def connect(host, port, timeout):  # type: ignore[no-untyped-def]
        """Return an :class:`IConnection` to ``host``:``port``.

        Raise :class:`OSError` (or :class:`TimeoutError`) if it cannot be made
        within ``timeout`` seconds.
        """


class IAsyncConnection(Interface):
    """An open byte stream to an SMTP server, for asyncio.

    Coroutines take a timeout in seconds and raise :class:`TimeoutError` (or
    :class:`asyncio.TimeoutError`) when it runs out, :class:`OSError` on failure.
    """

    server_hostname = Attribute("The host name the connection was made for (str).")
    secure = Attribute("True when the stream is encrypted and authenticated (TLS).")
    loopback = Attribute("True when the peer is on this machine.")

    async def send(data, timeout):  # type: ignore[no-untyped-def]
        """Write all of ``data`` (bytes), waiting while the peer is slow to read.

        A write to a connection the server has closed must fail, never be dropped;
        :class:`~smtpunit.errors.SMTPConnectionClosed` says that nothing of ``data``
        was written, as for :meth:`IConnection.send`.
        """

    async def receive(max_bytes, timeout):  # type: ignore[no-untyped-def]
        """Return up to ``max_bytes`` bytes as soon as some arrive; ``b''`` at EOF."""

    async def start_tls(context, server_hostname, timeout):  # type: ignore[no-untyped-def]
        """Upgrade to TLS with ``context`` (an ``ssl.SSLContext``), verifying
        ``server_hostname``. Refuse if unread plaintext is buffered."""

    def close():  # type: ignore[no-untyped-def]
        """Close the stream. Closing twice is harmless."""


class IAsyncTransport(Interface):
    """How an asyncio connection to the server is made."""

    async def connect(host, port, timeout, ssl_context=None):  # type: ignore[no-untyped-def]
        """Return an :class:`IAsyncConnection` to ``host``:``port``; with
        ``ssl_context``, TLS from the first byte (implicit TLS), verifying ``host``."""


class ITLSUpgrader(Interface):
    """Racket's ``#:tls-encode``: turns an open plaintext connection into TLS.

    Providers must verify the server's certificate and host name unless the
    caller configured them otherwise.
    """

    def wrap(connection, server_hostname, timeout):  # type: ignore[no-untyped-def]
        """Perform the TLS handshake over ``connection`` and return the secure
        :class:`IConnection` that replaces it (its ``secure`` is True).

        Raise :class:`ssl.SSLError` or :class:`OSError` if the handshake fails.
        """


class IAsyncTLSUpgrader(Interface):
    """:class:`ITLSUpgrader` for asyncio: STARTTLS over an :class:`IAsyncConnection`.

    A TLS provider that also provides this works under both drivers. (A provider
    with only ``wrap`` but an ``ssl.SSLContext`` as its ``context`` attribute works
    under asyncio too: the connection's ``start_tls`` is given that context.)
    """

    async def wrap_async(connection, server_hostname, timeout):  # type: ignore[no-untyped-def]
        """Perform the TLS handshake over ``connection`` and return the secure
        :class:`IAsyncConnection` that replaces it (its ``secure`` is True; it may be
        ``connection`` itself, upgraded in place).

        Raise :class:`ssl.SSLError` or :class:`OSError` if the handshake fails.
        """


class ISASLExchange(Interface):
    """One run of a SASL mechanism, for one AUTH command."""

    def initial_response():  # type: ignore[no-untyped-def]
        """The bytes sent with AUTH itself, or ``None`` to wait for a challenge."""

    def respond(challenge):  # type: ignore[no-untyped-def]
        """Answer a decoded 334 challenge (bytes) with the bytes to send back.

        Raise :class:`~smtpunit.errors.SASLError` for a challenge that is wrong
        for the mechanism; the client then cancels the exchange with ``*``.
        """

    def finish():  # type: ignore[no-untyped-def]
        """Called once the server answered 235. Raise
        :class:`~smtpunit.errors.SASLError` if the mechanism expected the server to
        prove itself (as SCRAM does) and it has not."""


def _mechanism_name_is_valid(obj: object) -> None:
    name = getattr(obj, "name", None)
    if not (isinstance(name, str) and name and name == name.upper() and name.isascii()
            and all(c.isalnum() or c in "-_" for c in name)):
        raise Invalid(f"SASL mechanism name must be upper-case ASCII, not {name!r}")


class ISASLMechanism(Interface):
    """A SASL mechanism (RFC 4422) for ``AUTH``, such as PLAIN."""

    name = Attribute("The mechanism's name as servers advertise it, upper-case ('PLAIN').")

    invariant(_mechanism_name_is_valid)

    def start(username, password):  # type: ignore[no-untyped-def]
        """Begin an exchange with these credentials; return an :class:`ISASLExchange`."""


class IURLScheme(Interface):
    """A scheme of connection URLs (``smtp://user@host``), registered under its name
    (``"smtp"``): what :meth:`smtpunit.Mailer.from_url` makes of a URL of it."""

    def endpoint(url, registry):  # type: ignore[no-untyped-def]
        """Return the :class:`~smtpunit.units.urls.Endpoint` (mail provider, server, port,
        keyword options) that ``url``, a :class:`~smtpunit.units.urls.MailURL` of this
        scheme, names; a provider the scheme does not make itself comes from
        ``registry``. Raise :class:`~smtpunit.errors.InvalidArgument` for a URL the
        scheme cannot use, never showing its password."""


class ISigner(Interface):
    """Signs a message before it is sent (DKIM, ...): given as ``signer=`` to a send,
    a session, a Pool or a Mailer."""

    def sign(message):  # type: ignore[no-untyped-def]
        """Return the header field(s) to put before ``message`` -- the whole message as
        its recipients get it (header and body, CRLF line ends, no dot-stuffing) -- as
        bytes ending in CRLF, such as ``b"DKIM-Signature: ...\\r\\n"``."""
