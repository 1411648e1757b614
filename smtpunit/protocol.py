"""The client side of SMTP and LMTP conversations, as sans-IO generators.

Nothing here touches a socket or a clock: each function is a generator speaking
the vocabulary of :mod:`smtpunit.exchange`, and drivers (:mod:`smtpunit.driver`)
are thin loops around it. A conversation has three parts, which a session reuses:

* :func:`open_session` -- greeting, EHLO (LHLO), STARTTLS, AUTH;
* :func:`transaction` -- MAIL, RCPT, DATA and the message, as one PIPELINING group
  when the server offers it (same bytes, fewer round trips);
* :func:`close_session` -- QUIT, whose failure never matters.

:func:`converse` is the one-shot: all three, as Racket's ``smtp-send-message``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, Optional

from . import commands
from .authentication import DEFAULT_AUTH_PREFERENCE, Credentials, authenticate
from .capabilities import Capabilities
from .commands import Envelope
from .errors import (
    RecipientsRefused,
    SASLError,
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
from .exchange import Action, Link, Receive, Send, UpgradeTLS, exchange, expect, receive, send_commands, transcript
from .policy import TLSPolicy
from .reply import Reply, ReplyParser

__all__ = [
    "DEFAULT_AUTH_PREFERENCE",
    "Credentials",
    "ConversationOptions",
    "RecipientResult",
    "SendResult",
    "Send",
    "Receive",
    "UpgradeTLS",
    "Action",
    "Conversation",
    "converse",
    "open_session",
    "transaction",
    "close_session",
]

WRITE_CHUNK = 64 * 1024  # message data is handed to the driver in pieces of about this size


@dataclass(frozen=True)
class ConversationOptions:
    """How to conduct a conversation.

    :ivar ehlo_name: the name sent with EHLO (or LHLO).
    :ivar starttls: the :class:`~smtpunit.policy.TLSPolicy` for STARTTLS.
    :ivar credentials: authenticate with these, or not at all if ``None``.
    :ivar end_of_message: called after the data and before the final ``.``.
    :ivar allow_insecure_auth: permit credentials over plaintext to a remote host.
    :ivar max_auth_challenges: 334 challenges answered before AUTH is cancelled.
    :ivar partial_delivery: send to the accepted recipients when others are refused
        (the refused ones are in the result); by default any refusal fails the send.
    :ivar lmtp: speak LMTP (RFC 2033): LHLO, and one reply per recipient after the data.
    """

    ehlo_name: str
    starttls: TLSPolicy = TLSPolicy.NONE
    credentials: Optional[Credentials] = None
    end_of_message: Callable[[], object] = lambda: None
    allow_insecure_auth: bool = False
    max_auth_challenges: int = 10
    partial_delivery: bool = False
    lmtp: bool = False


@dataclass(frozen=True)
class RecipientResult:
    """What the server said about one recipient.

    :ivar reply: the reply to ``RCPT TO``.
    :ivar data_reply: with LMTP, this recipient's reply after the data.
    """

    address: str
    reply: Reply
    data_reply: Optional[Reply] = None

    @property
    def accepted(self) -> bool:
        """True if the server took the message for this recipient."""
        return self.reply.code in (250, 251) and (self.data_reply is None or self.data_reply.code == 250)


@dataclass(frozen=True)
class SendResult:
    """The outcome of a delivered message.

    :ivar recipients: every recipient's result, in order, refused ones included
        (there are refused ones only with partial delivery, or LMTP).
    :ivar reply: the reply to the final ``.`` (with LMTP, the last recipient's).
    """

    recipients: tuple[RecipientResult, ...]
    reply: Reply

    @property
    def accepted(self) -> tuple[str, ...]:
        """The recipients the message was delivered to."""
        return tuple(r.address for r in self.recipients if r.accepted)

    @property
    def refused(self) -> tuple[RecipientResult, ...]:
        """The results of the recipients the message was not delivered to."""
        return tuple(r for r in self.recipients if not r.accepted)


Conversation = Generator[Action, Any, SendResult]


@dataclass
class SessionState:
    """What an open session learnt: the link and the server's capabilities."""

    link: Link
    capabilities: Capabilities = field(default_factory=Capabilities)


# -- the one-shot ------------------------------------------------------------------


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
    state = SessionState(Link(parser, secure, loopback))
    refuse_plaintext_credentials(state.link, options)
    try:
        yield from open_session(state, options)
        result = yield from transaction(state, envelope, options)
    except (SMTPReplyError, SMTPInputError, SMTPSecurityError, StartTLSNotOffered, SASLError) as exc:
        if server_awaits_command(state.link, exc):
            yield from close_session(state)
        raise
    yield from close_session(state)
    return result


def server_awaits_command(link: Link, error: BaseException) -> bool:
    """True if, after ``error``, the server is still waiting for a command: not in the
    middle of the data, and not after it said goodbye (421)."""
    return not link.in_data and getattr(error, "code", None) != 421


# -- opening -----------------------------------------------------------------------


def open_session(state: SessionState, options: ConversationOptions) -> Generator[Action, Any, Capabilities]:
    """Greeting, EHLO, STARTTLS and AUTH as ``options`` ask; returns the capabilities
    that count (after TLS, only those announced over TLS)."""
    link = state.link
    yield from expect(link, None, "greeting", 220)
    state.capabilities = yield from _hello(link, options)
    wants_tls = options.starttls in (TLSPolicy.STARTTLS, TLSPolicy.OPPORTUNISTIC) and not link.secure
    if wants_tls:
        state.capabilities = yield from _starttls(state, options)
    if options.credentials:
        if not (link.secure or link.loopback or options.allow_insecure_auth):
            raise _plaintext_credentials_error()
        yield from authenticate(link, options.credentials, state.capabilities, options.max_auth_challenges)
    return state.capabilities


def refuse_plaintext_credentials(link: Link, options: ConversationOptions) -> None:
    """Raise :class:`SMTPSecurityError`, before any byte, if credentials could only
    travel in plaintext to a host not on this machine."""
    will_be_secure = link.secure or options.starttls is TLSPolicy.STARTTLS
    if options.credentials and not (will_be_secure or link.loopback or options.allow_insecure_auth):
        raise _plaintext_credentials_error()


def _hello(link: Link, options: ConversationOptions) -> Generator[Action, Any, Capabilities]:
    command = commands.lhlo(options.ehlo_name) if options.lmtp else commands.ehlo(options.ehlo_name)
    reply = yield from expect(link, command, "ehlo", 250)
    return Capabilities.from_ehlo_reply(reply)


def _starttls(state: SessionState, options: ConversationOptions) -> Generator[Action, Any, Capabilities]:
    link = state.link
    required = options.starttls is TLSPolicy.STARTTLS
    if not state.capabilities.supports("STARTTLS"):
        if required:
            raise StartTLSNotOffered("STARTTLS was required but the server does not offer it")
        transcript.debug("-- STARTTLS not offered: continuing in plaintext (opportunistic) --")
        return state.capabilities
    command = commands.starttls()
    reply = yield from exchange(link, command, "starttls")
    if reply.code != 220:
        if required or reply.code == 421:
            raise StartTLSRefused(reply, command.display, "starttls")
        transcript.debug("-- STARTTLS refused: continuing in plaintext (opportunistic) --")
        return state.capabilities
    if link.parser.has_pending_input:
        raise SMTPProtocolError("the server sent plaintext after its 220 to STARTTLS (response injection)")
    yield UpgradeTLS()
    link.secure = True
    transcript.debug("-- TLS established --")
    # RFC 3207 section 4.2: forget everything learnt before TLS and greet again.
    return (yield from _hello(link, options))


def _plaintext_credentials_error() -> SMTPSecurityError:
    return SMTPSecurityError(
        "refusing to send credentials over plaintext to a host that is not on this "
        "machine; use TLS, or pass allow_insecure_auth=True"
    )


# -- one message ---------------------------------------------------------------------


def transaction(state: SessionState, envelope: Envelope, options: ConversationOptions) -> Conversation:
    """MAIL, RCPT, DATA and the data of one message, on an open session.

    With PIPELINING, MAIL, every RCPT and DATA go out in one write and their replies
    are read together; without it, one command per round trip, stopping at the
    first failure as Racket does.

    :raises RecipientsRefused: a recipient was refused (or all, with partial delivery).
    :raises SMTPReplyError: MAIL, DATA or the message was refused.
    :raises SMTPOutcomeUnknown: the connection failed after the final ``.``.
    """
    link, capabilities = state.link, state.capabilities
    mail = commands.mail(envelope.sender, _mail_parameters(envelope, capabilities))
    rcpts = [commands.rcpt(r) for r in envelope.recipients]
    if capabilities.supports("PIPELINING"):
        results, data_reply = yield from _pipelined_envelope(link, mail, rcpts, envelope, options)
    else:
        results, data_reply = yield from _stepwise_envelope(link, mail, rcpts, envelope, options)
    if data_reply.code != 354:
        raise SMTPReplyError(data_reply, "DATA", "data")
    link.in_data = True
    accepted = [r for r in results if r.accepted]
    final = yield from _send_data(link, envelope, options.end_of_message, len(accepted) if options.lmtp else 1)
    link.in_data = False
    if options.lmtp:
        by_address = iter(final)
        results = [RecipientResult(r.address, r.reply, next(by_address)) if r.accepted else r for r in results]
        result = SendResult(tuple(results), final[-1])
        if result.refused and not options.partial_delivery:
            first = result.refused[0]
            raise RecipientsRefused(first.data_reply or first.reply, ".", "data-end", result.recipients)
        return result
    if final[0].code != 250:
        raise SMTPReplyError(final[0], ".", "data-end")
    return SendResult(tuple(results), final[0])


def _mail_parameters(envelope: Envelope, capabilities: Capabilities) -> tuple[str, ...]:
    if not envelope.needs_smtputf8:
        return ()
    if not capabilities.supports("SMTPUTF8"):
        raise UnsupportedByServer("an address is not ASCII and the server does not offer SMTPUTF8")
    return ("SMTPUTF8",)


def _judge_recipients(results: list[RecipientResult], options: ConversationOptions, complete: bool) -> None:
    """Raise :class:`RecipientsRefused` unless the message may go to the accepted."""
    refused = [r for r in results if not r.accepted]
    if refused and (not options.partial_delivery or (complete and len(refused) == len(results))):
        first = refused[0]
        raise RecipientsRefused(first.reply, f"RCPT TO:<{first.address}>", "rcpt", tuple(results))


def _stepwise_envelope(link: Link, mail: commands.Command, rcpts: list[commands.Command], envelope: Envelope,
                       options: ConversationOptions) -> Generator[Action, Any, tuple[list[RecipientResult], Reply]]:
    yield from expect(link, mail, "mail", 250)
    results: list[RecipientResult] = []
    for address, rcpt in zip(envelope.recipients, rcpts, strict=True):
        results.append(RecipientResult(address, (yield from exchange(link, rcpt, "rcpt"))))
        _judge_recipients(results, options, complete=False)
    _judge_recipients(results, options, complete=True)
    return results, (yield from exchange(link, commands.data(), "data"))


def _pipelined_envelope(link: Link, mail: commands.Command, rcpts: list[commands.Command], envelope: Envelope,
                        options: ConversationOptions) -> Generator[Action, Any, tuple[list[RecipientResult], Reply]]:
    yield from send_commands(link, [mail, *rcpts, commands.data()])
    mail_reply = yield from receive(link, "mail")
    results = []
    for address in envelope.recipients:
        results.append(RecipientResult(address, (yield from receive(link, "rcpt"))))
    data_reply = yield from receive(link, "data")
    if data_reply.code == 354:
        # The server waits for data now: a failure below can only close the connection.
        link.in_data = True
    if mail_reply.code != 250:
        raise SMTPReplyError(mail_reply, mail.display, "mail")
    _judge_recipients(results, options, complete=True)
    link.in_data = False
    return results, data_reply


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


def _send_data(link: Link, envelope: Envelope, end_of_message: Callable[[], object],
               replies: int) -> Generator[Action, Any, list[Reply]]:
    """Send the data and the final ``.``; return the ``replies`` replies to it."""
    if link.parser.has_pending_input:
        raise SMTPProtocolError("the server sent data nobody asked for after its 354 to DATA")
    transcript.debug("C: <message data: %d octets>", envelope.size)
    for chunk in _data_chunks(envelope):
        yield Send(chunk)
    end_of_message()  # if it raises, the "." is never sent
    transcript.debug("C: .")
    final: list[Reply] = []
    try:
        yield Send(commands.END_OF_DATA)
        while len(final) < replies:
            final.append((yield from receive(link, "data-end", final=True)))
    except (SMTPTransportError, SMTPTimeout, SMTPProtocolError) as exc:
        raise SMTPOutcomeUnknown(
            f"the connection failed after the final '.' and before its reply ({exc}); "
            "the server may or may not have accepted the message"
        ) from exc
    return final


# -- closing ---------------------------------------------------------------------------


def close_session(state: SessionState) -> Generator[Action, Any, None]:
    """QUIT, ignoring whatever goes wrong: the outcome is already decided."""
    try:
        yield from exchange(state.link, commands.quit(), "quit")
    except (SMTPError, OSError) as exc:
        transcript.debug("QUIT failed, ignored: %s", exc)
