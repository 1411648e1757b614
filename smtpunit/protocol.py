"""The client side of one SMTP conversation, as a sans-IO generator.

:func:`converse` never touches a socket or a clock. It yields what it needs done --
:class:`Send` bytes, :class:`Receive` the next reply, :class:`UpgradeTLS` -- and is
resumed with the result (a :class:`~smtpunit.reply.Reply` for :class:`Receive`).
Failures of the I/O are thrown back into it, so that it alone decides what they
mean: a dropped connection after the final ``.`` becomes
:class:`~smtpunit.errors.SMTPOutcomeUnknown`, a failed QUIT after an accepted
message is ignored. Drivers (:mod:`smtpunit.driver`) are thin loops around it.

The transcript goes to the ``smtpunit.transcript`` logger at DEBUG level, with
credentials and message data redacted.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Optional, Union

from . import commands
from .capabilities import Capabilities
from .commands import Command, Envelope
from .errors import (
    SASLError,
    SMTPAuthenticationError,
    SMTPError,
    SMTPInputError,
    SMTPOutcomeUnknown,
    SMTPProtocolError,
    SMTPReplyError,
    SMTPSecurityError,
    SMTPTimeout,
    SMTPTransportError,
    StartTLSNotOffered,
    StartTLSRefused,
    UnsupportedByServer,
)
from .reply import Reply, ReplyParser, sanitize

__all__ = [
    "Credentials",
    "ConversationOptions",
    "RecipientResult",
    "SendResult",
    "Send",
    "Receive",
    "UpgradeTLS",
    "Action",
    "converse",
]

transcript = logging.getLogger("smtpunit.transcript")

WRITE_CHUNK = 64 * 1024  # message data is handed to the driver in pieces of about this size


DEFAULT_AUTH_PREFERENCE = ("SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN")
"""The order in which mechanisms are tried when the caller names none: mechanisms
that never reveal the password first. XOAUTH2 takes a token, not a password, so it
is used only when named."""


@dataclass(frozen=True)
class Credentials:
    """A user name and password (or token) for AUTH, and the SASL mechanisms to use.

    :ivar mechanisms: the mechanisms the client has, by name.
    :ivar requested: the mechanism the caller named, or ``None`` to choose from the
        server's AUTH list by :attr:`preference`.

    The password never appears in the repr.
    """

    username: str
    password: str
    mechanisms: Mapping[str, Any]  # name -> ISASLMechanism provider
    requested: Optional[str] = None
    preference: tuple[str, ...] = DEFAULT_AUTH_PREFERENCE

    def __repr__(self) -> str:
        return (f"Credentials(username={self.username!r}, password='****', "
                f"mechanisms={sorted(self.mechanisms)!r}, requested={self.requested!r})")

    def choose(self, capabilities: Capabilities) -> Any:
        """The mechanism to use with a server that advertised ``capabilities``.

        A named mechanism is used if the server offers it (or advertises no AUTH at
        all); otherwise the first of :attr:`preference`, then of the others, that
        both sides have. A server without AUTH gets PLAIN, as Racket sends.

        :raises UnsupportedByServer: if the two sides share no mechanism.
        """
        offered = capabilities.auth_mechanisms
        if self.requested is not None:
            if offered and self.requested not in offered:
                raise UnsupportedByServer(
                    f"the server does not offer AUTH {self.requested} (it offers {', '.join(offered)})")
            return self.mechanisms[self.requested]
        if not offered:
            offered = ("PLAIN",)
        ranked = [*self.preference, *sorted(set(self.mechanisms) - set(self.preference))]
        for name in ranked:
            if name in offered and name in self.mechanisms:
                return self.mechanisms[name]
        raise UnsupportedByServer(
            f"no SASL mechanism in common: the server offers {', '.join(offered)}, "
            f"the client has {', '.join(sorted(self.mechanisms))}")


@dataclass(frozen=True)
class ConversationOptions:
    """How to conduct one conversation.

    :ivar ehlo_name: the name sent with EHLO.
    :ivar starttls: require STARTTLS before anything else.
    :ivar credentials: authenticate with these, or not at all if ``None``.
    :ivar end_of_message: called after the data and before the final ``.``.
    :ivar allow_insecure_auth: permit credentials over plaintext to a remote host.
    :ivar max_auth_challenges: 334 challenges answered before AUTH is cancelled.
    """

    ehlo_name: str
    starttls: bool = False
    credentials: Optional[Credentials] = None
    end_of_message: Callable[[], object] = lambda: None
    allow_insecure_auth: bool = False
    max_auth_challenges: int = 10


@dataclass(frozen=True)
class RecipientResult:
    """The server's answer to one ``RCPT TO``."""

    address: str
    reply: Reply


@dataclass(frozen=True)
class SendResult:
    """A delivered message: every recipient's reply and the reply to the final ``.``."""

    recipients: tuple[RecipientResult, ...]
    reply: Reply


# -- what the conversation asks of its driver --------------------------------------


@dataclass(frozen=True)
class Send:
    """Write these bytes."""

    data: bytes


@dataclass(frozen=True)
class Receive:
    """Resume me with the next reply. ``final`` marks the wait after the data."""

    phase: str
    final: bool = False


@dataclass(frozen=True)
class UpgradeTLS:
    """Run the TLS handshake on the connection now; resume me when it is secure."""


Action = Union[Send, Receive, UpgradeTLS]
Conversation = Generator[Action, Any, SendResult]


@dataclass
class _Link:
    """What the conversation knows of the connection it runs over."""

    parser: ReplyParser
    secure: bool
    loopback: bool


def converse(
    parser: ReplyParser,
    envelope: Envelope,
    options: ConversationOptions,
    *,
    secure: bool,
    loopback: bool,
) -> Conversation:
    """Send ``envelope`` from the server's greeting to QUIT.

    :param parser: the reply parser fed by the driver with the server's bytes.
    :param secure: the connection is already TLS (implicit TLS).
    :param loopback: the server is on this machine.
    :returns: the :class:`SendResult` of the delivered message.
    """
    link = _Link(parser, secure, loopback)
    if options.credentials and not _may_send_credentials(link, options, after_starttls=True):
        raise _plaintext_credentials_error()
    try:
        return (yield from _transaction(link, envelope, options))
    except (SMTPReplyError, SMTPInputError, SMTPSecurityError, StartTLSNotOffered, SASLError) as exc:
        # The server waits for a command: say goodbye, unless it already did (421).
        if getattr(exc, "code", None) != 421:
            yield from _quit_quietly(link)
        raise


def _transaction(link: _Link, envelope: Envelope, options: ConversationOptions) -> Conversation:
    yield from _expect(link, None, "greeting", 220)
    capabilities = yield from _ehlo(link, options.ehlo_name)
    if options.starttls:
        capabilities = yield from _starttls(link, capabilities, options.ehlo_name)
    if options.credentials:
        yield from _authenticate(link, options, capabilities)
    yield from _expect(link, commands.mail(envelope.sender, _mail_parameters(envelope, capabilities)), "mail", 250)
    accepted = []
    for recipient in envelope.recipients:
        reply = yield from _expect(link, commands.rcpt(recipient), "rcpt", 250, 251)
        accepted.append(RecipientResult(recipient, reply))
    yield from _expect(link, commands.data(), "data", 354)
    final = yield from _send_data(link, envelope, options.end_of_message)
    yield from _quit_quietly(link)
    return SendResult(tuple(accepted), final)


def _mail_parameters(envelope: Envelope, capabilities: Capabilities) -> tuple[str, ...]:
    if not envelope.needs_smtputf8:
        return ()
    if not capabilities.supports("SMTPUTF8"):
        raise UnsupportedByServer("an address is not ASCII and the server does not offer SMTPUTF8")
    return ("SMTPUTF8",)


def _exchange(
    link: _Link, command: Optional[Command], phase: str, final: bool = False
) -> Generator[Action, Any, Reply]:
    """Send ``command`` (if any) and return the reply to it."""
    if command is not None:
        if link.parser.has_pending_input:
            raise SMTPProtocolError(f"the server sent data nobody asked for before {command.display!r}")
        transcript.debug("C: %s", command.display)
        yield Send(command.wire)
    reply: Reply = yield Receive(phase, final)
    if transcript.isEnabledFor(logging.DEBUG):
        for number, line in enumerate(reply.lines, 1):
            separator = " " if number == len(reply.lines) else "-"
            transcript.debug("S: %d%s%s", reply.code, separator, sanitize(line, limit=1000))
    return reply


def _expect(link: _Link, command: Optional[Command], phase: str, *codes: int) -> Generator[Action, Any, Reply]:
    """Like :func:`_exchange`, raising :class:`SMTPReplyError` for other codes."""
    reply = yield from _exchange(link, command, phase)
    if reply.code not in codes:
        raise SMTPReplyError(reply, command.display if command else "(connect)", phase)
    return reply


def _ehlo(link: _Link, name: str) -> Generator[Action, Any, Capabilities]:
    reply = yield from _expect(link, commands.ehlo(name), "ehlo", 250)
    return Capabilities.from_ehlo_reply(reply)


def _starttls(link: _Link, capabilities: Capabilities, ehlo_name: str) -> Generator[Action, Any, Capabilities]:
    if not capabilities.supports("STARTTLS"):
        raise StartTLSNotOffered("STARTTLS was required but the server does not offer it")
    command = commands.starttls()
    reply = yield from _exchange(link, command, "starttls")
    if reply.code != 220:
        raise StartTLSRefused(reply, command.display, "starttls")
    if link.parser.has_pending_input:
        raise SMTPProtocolError(
            "the server sent plaintext after its 220 to STARTTLS (response injection)"
        )
    yield UpgradeTLS()
    link.secure = True
    transcript.debug("-- TLS established --")
    # RFC 3207 section 4.2: forget everything learnt before TLS and greet again.
    return (yield from _ehlo(link, ehlo_name))


def _may_send_credentials(link: _Link, options: ConversationOptions, after_starttls: bool = False) -> bool:
    secure = link.secure or (after_starttls and options.starttls)
    return secure or link.loopback or options.allow_insecure_auth


def _plaintext_credentials_error() -> SMTPSecurityError:
    return SMTPSecurityError(
        "refusing to send credentials over plaintext to a host that is not on this "
        "machine; use TLS, or pass allow_insecure_auth=True"
    )


def _authenticate(
    link: _Link, options: ConversationOptions, capabilities: Capabilities
) -> Generator[Action, Any, None]:
    credentials = options.credentials
    assert credentials is not None
    if not _may_send_credentials(link, options):
        raise _plaintext_credentials_error()
    mechanism = credentials.choose(capabilities)
    exchange = mechanism.start(credentials.username, credentials.password)
    command = commands.auth(mechanism.name, exchange.initial_response())
    reply = yield from _exchange(link, command, "auth")
    challenges = 0
    while reply.code == 334:
        challenges += 1
        try:
            if challenges > options.max_auth_challenges:
                raise SMTPProtocolError(f"more than {options.max_auth_challenges} AUTH challenges")
            challenge = base64.b64decode(reply.text.encode("ascii"), validate=True)
            answer = exchange.respond(challenge)
        except (SMTPProtocolError, SASLError, binascii.Error, UnicodeEncodeError, ValueError) as exc:
            yield from _exchange(link, commands.AUTH_CANCEL, "auth")
            if isinstance(exc, (SMTPProtocolError, SASLError)):
                raise
            raise SMTPProtocolError(f"the server sent an AUTH challenge that cannot be answered: {exc}") from exc
        reply = yield from _exchange(link, commands.auth_response(answer), "auth")
    if reply.code != 235:
        raise SMTPAuthenticationError(reply, command.display, "auth")
    exchange.finish()


def _data_chunks(envelope: Envelope) -> Iterator[bytes]:
    pending = [envelope.header]
    size = len(envelope.header)
    for line in envelope.body:
        pending.append(line)
        size += len(line)
        if size >= WRITE_CHUNK:
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)


def _send_data(link: _Link, envelope: Envelope, end_of_message: Callable[[], object]) -> Generator[Action, Any, Reply]:
    if link.parser.has_pending_input:
        raise SMTPProtocolError("the server sent data nobody asked for after its 354 to DATA")
    transcript.debug("C: <message data: %d octets>", envelope.size)
    for chunk in _data_chunks(envelope):
        yield Send(chunk)
    end_of_message()  # if it raises, the "." is never sent
    transcript.debug("C: .")
    try:
        yield Send(commands.END_OF_DATA)
        reply = yield from _exchange(link, None, "data-end", final=True)
    except (SMTPTransportError, SMTPTimeout, SMTPProtocolError) as exc:
        raise SMTPOutcomeUnknown(
            f"the connection failed after the final '.' and before its reply ({exc}); "
            "the server may or may not have accepted the message"
        ) from exc
    if reply.code != 250:
        raise SMTPReplyError(reply, ".", "data-end")
    return reply


def _quit_quietly(link: _Link) -> Generator[Action, Any, None]:
    """QUIT, ignoring whatever goes wrong: the outcome is already decided."""
    try:
        yield from _exchange(link, commands.quit(), "quit")
    except (SMTPError, OSError) as exc:
        transcript.debug("QUIT failed, ignored: %s", exc)
