"""Every error smtpunit raises, in one place.

The tree::

    SMTPError                                 base of every error below
    ├── SMTPInputError (ValueError)           bad input, raised before the first envelope byte
    │   ├── InvalidAddress                    CR/LF/NUL, <, >, whitespace, empty recipient
    │   ├── InvalidHeader                     not CRLF CRLF-terminated, bare CR/LF, malformed field
    │   ├── InvalidMessageLine                CR, LF or NUL in a body line
    │   ├── InvalidArgument                   no recipients, port out of range, bad EHLO name, ...
    │   └── UnsupportedByServer               input the server cannot take (e.g. UTF-8 address without SMTPUTF8)
    ├── SMTPReplyError                        the server answered with an unexpected code
    │   ├── SMTPAuthenticationError           AUTH was refused
    │   ├── RecipientsRefused                 recipients refused; per-recipient results attached
    │   └── StartTLSRefused (SMTPTLSError)    STARTTLS answered with anything but 220
    ├── SMTPProtocolError                     a reply that breaks the grammar or its limits
    ├── SMTPTLSError                          STARTTLS or the TLS layer failed
    │   ├── StartTLSNotOffered                STARTTLS was required but not advertised
    │   ├── StartTLSRefused (SMTPReplyError)
    │   └── TLSHandshakeError (ConnectionError)
    ├── SMTPSecurityError                     the send would expose credentials in plaintext
    ├── SASLError                             a SASL challenge made no sense, or the server failed to prove itself
    ├── SMTPTransportError (ConnectionError)  connecting, reading or writing failed
    │   ├── SMTPConnectionClosed              the server closed the connection mid-conversation
    │   │   └── NotAttempted                  a message of a batch never sent: its connection ended first
    │   ├── RealConnectionRefused             a real connection while test doubles are installed
    │   └── SMTPOutcomeUnknown                dropped after the final "." and before its reply
    ├── SMTPTimeout (TimeoutError)            a bounded wait ran out (the connection is closed)
    └── LinkError                             units could not be linked into a registry
        ├── MissingImport                     a unit imports a signature no unit exports
        ├── ConflictingExports                two units export the same signature
        ├── ImportCycle                       the imports of linked units go round in a cycle
        ├── ContractViolation                 a provider fails verifyObject or an invariant
        └── DiscoveryError                    entry-point providers failed to load (strict mode)

    SMTPStateError (RuntimeError)             a step the conversation's state does not allow: a
                                              bug, never the server's doing, so no SMTPError

Every reply error carries the reply code, the enhanced status code when the server
sent one, the reply text, the command that failed (with credentials redacted) and
the phase of the conversation, so that a caller can decide between retrying later
(4xx) and bouncing (5xx). No error ever holds a password.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # pragma: no cover
    from .core.reply import Reply

__all__ = [
    "SMTPError",
    "SMTPInputError",
    "InvalidAddress",
    "InvalidHeader",
    "InvalidMessageLine",
    "InvalidArgument",
    "UnsupportedByServer",
    "SMTPReplyError",
    "SMTPAuthenticationError",
    "RecipientsRefused",
    "SMTPProtocolError",
    "SMTPTLSError",
    "StartTLSNotOffered",
    "StartTLSRefused",
    "TLSHandshakeError",
    "SMTPSecurityError",
    "SASLError",
    "SMTPTransportError",
    "SMTPConnectionClosed",
    "NotAttempted",
    "SMTPOutcomeUnknown",
    "RealConnectionRefused",
    "SMTPTimeout",
    "SMTPStateError",
    "LinkError",
    "MissingImport",
    "ConflictingExports",
    "ImportCycle",
    "ContractViolation",
    "DiscoveryError",
]


class SMTPError(Exception):
    """Base class of every error raised by smtpunit.

    :ivar attempts: when the send was retried (:class:`~smtpunit.core.retry.Retry`),
        the errors of the attempts before the one that ended with this error.
    """

    attempts: tuple[SMTPError, ...] = ()


# -- bad input ---------------------------------------------------------------


class SMTPInputError(SMTPError, ValueError):
    """Input that cannot be sent safely; raised before any envelope command."""


class InvalidAddress(SMTPInputError):
    """A sender or recipient address that would corrupt or smuggle commands."""


class InvalidHeader(SMTPInputError):
    """A message header that is not a well-formed, CRLF CRLF-terminated header."""


class InvalidMessageLine(SMTPInputError):
    """A message line holding CR, LF or NUL."""


class InvalidArgument(SMTPInputError):
    """Any other bad argument: no recipients, a port out of range, a bad EHLO name."""


class UnsupportedByServer(SMTPInputError):
    """Input the server did not advertise support for, found before it was sent.

    :ivar phase: ``"auth"`` when the two sides share no SASL mechanism, ``"mail"``
        when the message needs an extension (SMTPUTF8, 8BITMIME) or exceeds SIZE.
    """

    def __init__(self, message: str, phase: str = "mail") -> None:
        super().__init__(message)
        self.phase = phase


# -- replies -----------------------------------------------------------------


class SMTPReplyError(SMTPError):
    """The server answered a command with a code the client did not expect.

    :ivar reply: the full :class:`~smtpunit.core.reply.Reply`.
    :ivar code: the three-digit reply code.
    :ivar enhanced_status: the RFC 3463 code such as ``"5.1.1"``, or ``None``.
    :ivar text: the reply text, lines joined with newlines.
    :ivar command: the command that failed, credentials redacted.
    :ivar phase: where in the conversation it failed (``"mail"``, ``"rcpt"``, ...).
    """

    def __init__(self, reply: Reply, command: str, phase: str) -> None:
        self.reply = reply
        self.code = reply.code
        self.enhanced_status = reply.enhanced_status
        self.text = reply.text
        self.command = command
        self.phase = phase
        super().__init__(f"{command!r} failed in phase {phase!r}: {reply.summary()}")

    @property
    def is_transient(self) -> bool:
        """True for 4xx replies: the same send may succeed later."""
        return 400 <= self.code < 500


class SMTPAuthenticationError(SMTPReplyError):
    """AUTH was refused by the server."""


class RecipientsRefused(SMTPReplyError):
    """Recipients were refused, so the message was not sent (or, with LMTP, not to all).

    The reply, code and phase are the first refusal's.

    :ivar recipients: every recipient's :class:`~smtpunit.core.conversation.RecipientResult`
        known when the send stopped; with LMTP, ``accepted`` ones did get the message.
    """

    def __init__(self, reply: Reply, command: str, phase: str, recipients: tuple[Any, ...]) -> None:
        super().__init__(reply, command, phase)
        self.recipients = recipients


class SMTPProtocolError(SMTPError):
    """The server broke the reply grammar or a size limit; the connection is closed."""


class SMTPStateError(RuntimeError):
    """A step the conversation's state does not allow (see :mod:`smtpunit.core.state`),
    such as a command while the server takes message data: a bug in a driver or a
    provider, never the server's doing. Not an :class:`SMTPError`, so that no handler
    of the server's failures takes it for one."""


# -- TLS and security ----------------------------------------------------------


class SMTPTLSError(SMTPError):
    """STARTTLS or the TLS layer failed; nothing else was sent."""


class StartTLSNotOffered(SMTPTLSError):
    """STARTTLS was required but the server did not advertise it."""


class StartTLSRefused(SMTPTLSError, SMTPReplyError):
    """The server answered STARTTLS with something other than 220."""


class TLSHandshakeError(SMTPTLSError, ConnectionError):
    """The TLS handshake failed (bad certificate, wrong host name, protocol error)."""


class SMTPSecurityError(SMTPError):
    """The send would expose credentials in plaintext to a non-loopback host."""


class SASLError(SMTPError):
    """A SASL exchange failed on the client's side: a challenge the mechanism cannot
    answer, or a server that did not prove it knows the credentials (SCRAM)."""


# -- transport -----------------------------------------------------------------


class SMTPTransportError(SMTPError, ConnectionError):
    """Connecting to, reading from or writing to the server failed."""


class SMTPConnectionClosed(SMTPTransportError):
    """The server closed the connection in the middle of the conversation.

    Raised by a connection's ``send``, it means that nothing of the data was written:
    when that data held the final ``.``, the message was certainly not delivered.

    :ivar phase: what the client waited for when the server closed, if it waited.
    """

    def __init__(self, message: str, phase: Optional[str] = None) -> None:
        super().__init__(message)
        self.phase = phase


class NotAttempted(SMTPConnectionClosed):
    """A message of a batch was never sent: the connection failed or was closed
    before its turn, so none of it reached the server. Sending it again cannot
    deliver it twice."""


class RealConnectionRefused(SMTPTransportError):
    """A real SMTP connection (or a run of sendmail) was refused: test doubles are
    installed (:mod:`smtpunit.providers.guard`), so nothing may leave the process."""


class SMTPOutcomeUnknown(SMTPTransportError):
    """The connection failed after the final ``.`` and before its reply.

    The server may or may not have accepted the message: retrying may deliver it
    twice, not retrying may lose it. The caller has to decide.
    """


class SMTPTimeout(SMTPError, TimeoutError):
    """A bounded wait ran out; the connection has been closed.

    :ivar phase: what was being waited for (``"connect"``, ``"rcpt"``, ...).
    """

    def __init__(self, phase: str, seconds: float) -> None:
        self.phase = phase
        self.seconds = seconds
        super().__init__(f"timed out after {seconds:g}s waiting in phase {phase!r}")


# -- linking -------------------------------------------------------------------


class LinkError(SMTPError):
    """Units could not be linked into a registry."""


class MissingImport(LinkError):
    """A unit imports a signature that no linked unit (nor any base registry) exports."""


class ConflictingExports(LinkError):
    """Two units in one link export the same signature under the same name."""


class ImportCycle(LinkError):
    """The imports of linked units go round in a cycle (named unit by unit)."""


class ContractViolation(LinkError):
    """A provider does not implement its signature or breaks one of its invariants."""


class DiscoveryError(LinkError):
    """Providers declared through entry points failed to load (raised in strict mode).

    :ivar problems: each :class:`~smtpunit.units.discovery.Problem`, naming the provider
        and the reason.
    """

    def __init__(self, message: str, problems: tuple[Any, ...]) -> None:
        super().__init__(message)
        self.problems = problems
