"""The client side of SMTP and LMTP conversations, as sans-IO generators.

Nothing here touches a socket or a clock: each function is a generator speaking
the vocabulary of :mod:`smtpunit.core.actions`, and drivers (:mod:`smtpunit.drivers.blocking`)
are thin loops around it. A conversation has three parts, which a session reuses:

* :func:`open_session` -- greeting, EHLO (LHLO), STARTTLS, AUTH;
* :func:`~smtpunit.core.transactions.transactions` -- MAIL, RCPT, DATA (or BDAT) and the
  messages, pipelined when the server offers it (same bytes, fewer round trips);
* :func:`close_session` -- QUIT, whose failure never matters.

:func:`converse` is the one-shot: all three, as Racket's ``smtp-send-message``.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from ..errors import (
    SASLError,
    SMTPError,
    SMTPInputError,
    SMTPProtocolError,
    SMTPReplyError,
    SMTPSecurityError,
    StartTLSNotOffered,
    StartTLSRefused,
)
from . import commands
from .actions import Action, Channel, Receive, Send, UpgradeTLS, exchange, transcript
from .auth import DEFAULT_AUTH_PREFERENCE, Credentials, authenticate
from .capabilities import Capabilities
from .commands import Envelope
from .policy import TLSPolicy, refuse_plaintext_credentials
from .reply import ReplyParser
from .results import RecipientResult, SendResult
from .state import QUIT_SENT, ConversationOptions, SessionState
from .transactions import transactions

__all__ = [
    "DEFAULT_AUTH_PREFERENCE",
    "Credentials",
    "ConversationOptions",
    "SessionState",
    "RecipientResult",
    "SendResult",
    "Send",
    "Receive",
    "UpgradeTLS",
    "Action",
    "OneShot",
    "converse",
    "open_session",
    "close_session",
]

OneShot = Generator[Action, Any, SendResult]
"""The conversation of a one-shot send, from the greeting to QUIT."""


# -- the one-shot ------------------------------------------------------------------


def converse(
    parser: ReplyParser,
    envelope: Envelope,
    options: ConversationOptions,
    *,
    secure: bool,
    loopback: bool,
) -> OneShot:
    """Send ``envelope`` from the server's greeting to QUIT.

    :param parser: the reply parser fed by the driver with the server's bytes.
    :param secure: the connection is already TLS (implicit TLS).
    :param loopback: the server is on this machine.
    :returns: the :class:`SendResult` of the delivered message.
    """
    state = SessionState(Channel(parser, loopback), secure=secure, quit_after=True)
    yield from open_session(state, options)
    (outcome,) = yield from transactions(state, [envelope], options)
    if isinstance(outcome, SendResult):
        yield from close_session(state)
        return outcome
    if not state.broken:
        yield from close_session(state)
    raise outcome


# -- opening -----------------------------------------------------------------------


def open_session(state: SessionState, options: ConversationOptions) -> Generator[Action, Any, Capabilities]:
    """Greeting, EHLO, STARTTLS and AUTH as ``options`` ask; returns the capabilities
    that count (after TLS, only those announced over TLS). If it fails while the server
    still listens, it says QUIT.

    :raises SMTPSecurityError: before any byte, if credentials could only go in plaintext.
    """
    # Before any byte: credentials that could only go in plaintext are refused.
    refuse_plaintext_credentials(bool(options.credentials), secure=state.secure or options.starttls.promises_tls,
                                 local=state.channel.loopback, allowed=options.allow_insecure_auth)
    channel = state.channel
    try:
        yield from exchange(channel, None, "greeting", 220)
        capabilities = yield from _hello(channel, options)
        wants_tls = options.starttls in (TLSPolicy.STARTTLS, TLSPolicy.OPPORTUNISTIC) and not state.secure
        if wants_tls:
            capabilities = yield from _starttls(state, capabilities, options)
        if options.credentials:  # judged again: opportunistic STARTTLS may have left it plaintext
            refuse_plaintext_credentials(True, secure=state.secure, local=channel.loopback,
                                         allowed=options.allow_insecure_auth)
            yield from authenticate(channel, options.credentials, capabilities, options.max_auth_challenges)
    except (SMTPReplyError, SMTPInputError, SMTPSecurityError, StartTLSNotOffered, SASLError) as exc:
        if state.awaits_command and getattr(exc, "code", None) != 421:  # 421: the server said goodbye
            yield from close_session(state)
        raise
    state.opened(capabilities)
    return capabilities


def _hello(channel: Channel, options: ConversationOptions) -> Generator[Action, Any, Capabilities]:
    command = commands.lhlo(options.ehlo_name) if options.lmtp else commands.ehlo(options.ehlo_name)
    reply = yield from exchange(channel, command, "ehlo", 250)
    return Capabilities.from_ehlo_reply(reply)


def _starttls(state: SessionState, capabilities: Capabilities, options: ConversationOptions
              ) -> Generator[Action, Any, Capabilities]:
    channel = state.channel
    required = options.starttls is TLSPolicy.STARTTLS
    if not capabilities.supports("STARTTLS"):
        if required:
            raise StartTLSNotOffered("STARTTLS was required but the server does not offer it")
        transcript.debug("-- STARTTLS not offered: continuing in plaintext (opportunistic) --")
        return capabilities
    command = commands.starttls()
    reply = yield from exchange(channel, command, "starttls")
    if reply.code != 220:
        if required or reply.code == 421:
            raise StartTLSRefused(reply, command.display, "starttls")
        transcript.debug("-- STARTTLS refused: continuing in plaintext (opportunistic) --")
        return capabilities
    if channel.parser.has_pending_input:
        raise SMTPProtocolError("the server sent plaintext after its 220 to STARTTLS (response injection)")
    yield UpgradeTLS()
    state.tls_established()
    transcript.debug("-- TLS established --")
    # RFC 3207 section 4.2: forget everything learnt before TLS and greet again.
    return (yield from _hello(channel, options))


# -- closing ---------------------------------------------------------------------------


def close_session(state: SessionState) -> Generator[Action, Any, None]:
    """QUIT (or, if it was already sent, its reply), ignoring whatever goes wrong:
    the outcome is already decided."""
    try:
        quit_sent = state.phase is QUIT_SENT
        yield from exchange(state.channel, None if quit_sent else commands.quit(), "quit")
    except (SMTPError, OSError) as exc:
        transcript.debug("QUIT failed, ignored: %s", exc)
    finally:
        state.close()
