""":class:`Outbox`: a whole mail provider (:class:`~smtpunit.interfaces.IMailer`) that
keeps messages instead of sending them, and fails on demand.

The outbox's input is checked as every provider's is (the envelope, and the
:class:`~smtpunit.options.SendOptions` built at the public call); it plays a conversation in
its head, phase by phase -- ``greeting``, ``ehlo``, ``starttls`` (only when TLS was
asked for), ``auth`` (only with credentials), ``mail``, ``rcpt`` (once per
recipient), ``data``, ``data-end`` -- and at each phase applies the faults it was
told to inject:

* :meth:`Outbox.refuse` -- a recipient is refused (550 by default);
* :meth:`Outbox.fail` -- a phase is answered with an error reply;
* :meth:`Outbox.drop` -- the connection drops while the client waits in a phase.
  A drop at ``data-end`` is the case code under test must handle: the server may or
  may not have the message (:class:`~smtpunit.errors.SMTPOutcomeUnknown`), so the
  message goes to :attr:`Outbox.maybe_delivered`, not :attr:`Outbox.messages`.

The errors raised are the real ones, with real :class:`~smtpunit.core.reply.Reply`
objects, so ``code``, ``enhanced_status`` and ``is_transient`` work as in production::

    outbox = Outbox(refuse=["gone@example.org"])
    outbox.fail("mail", 451, "4.3.0 try again later", times=1)
    outbox.drop("data-end")
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Optional, Union

from zope.interface import implementer

from ..core.commands import Envelope, Line, prepare_envelope
from ..core.conversation import RecipientResult, SendResult
from ..core.policy import TLSPolicy, is_loopback_name, refuse_plaintext_credentials
from ..core.reply import Reply
from ..errors import (
    RecipientsRefused,
    SMTPAuthenticationError,
    SMTPConnectionClosed,
    SMTPOutcomeUnknown,
    SMTPReplyError,
    StartTLSRefused,
)
from ..interfaces import IMailer
from ..options import SendOptions
from ..units.contract import MailProvider, OneShotSession, ThreadedAsyncSession

__all__ = ["Outbox", "OutboxMessage", "PHASES", "ReplySpec"]

PHASES = ("greeting", "ehlo", "starttls", "auth", "mail", "rcpt", "data", "data-end")
"""The phases of a conversation at which an :class:`Outbox` can fail or drop, in order."""

ReplySpec = Union[int, tuple[int, str], Reply]
"""How a fault's reply may be given: a code, ``(code, text)`` or a :class:`~smtpunit.core.reply.Reply`."""

_ERRORS: dict[str, type[SMTPReplyError]] = {"starttls": StartTLSRefused, "auth": SMTPAuthenticationError}


def _field(message: EmailMessage, name: str) -> Optional[str]:
    value = message[name]
    return None if value is None else str(value)


def _unstuff(line: bytes) -> bytes:
    """A data line as the sender meant it: without CRLF and the stuffed dot."""
    line = line[:-2] if line.endswith(b"\r\n") else line
    return line[1:] if line.startswith(b".") else line


def _failure_reply(code: int, text: Optional[str], what: str) -> Reply:
    if isinstance(code, bool) or not isinstance(code, int) or not 400 <= code <= 599:
        raise ValueError(f"{what}: a failure needs a 4xx or 5xx code, not {code!r}")
    if text is None:
        text = f"{code // 100}.0.0 {what} injected by smtpunit.testing.Outbox"
    if not isinstance(text, str) or any(c in text for c in "\r\n"):
        raise ValueError(f"{what}: the reply text must be one line of str, not {text!r}")
    return Reply(code, (text,))


def _as_reply(spec: ReplySpec, what: str) -> Reply:
    if isinstance(spec, Reply):
        _failure_reply(spec.code, "", what)
        return spec
    if isinstance(spec, tuple):
        code, text = spec
        return _failure_reply(code, text, what)
    return _failure_reply(spec, None, what)


def _check_phase(phase: str) -> str:
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}; the phases are {', '.join(PHASES)}")
    return phase


def _check_times(times: Optional[int]) -> Optional[int]:
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise ValueError(f"times must be a positive int or None (always), not {times!r}")
    return times


@dataclass
class _Fault:
    """A reply (``None``: a drop) given the next ``times`` times (``None``: always)."""

    reply: Optional[Reply]
    times: Optional[int] = None

    def fire(self) -> bool:
        """Consume one use; False once used up."""
        if self.times is None:
            return True
        if self.times <= 0:
            return False
        self.times -= 1
        return True


@dataclass(frozen=True)
class OutboxMessage:
    """A message an :class:`Outbox` accepted (or, after a drop at ``data-end``, may have).

    :ivar server: the server address it was meant for (``None`` for an open connection).
    :ivar port: the port it was meant for.
    :ivar envelope: the checked envelope, header and dot-stuffed data.
    :ivar refused: the recipients refused (with partial delivery), who did not get it.
    """

    server: Optional[str]
    port: Optional[int]
    envelope: Envelope
    refused: tuple[str, ...] = ()

    @property
    def sender(self) -> str:
        """The MAIL FROM address."""
        return self.envelope.sender

    @property
    def recipients(self) -> tuple[str, ...]:
        """The RCPT TO addresses, in order."""
        return self.envelope.recipients

    @property
    def delivered_to(self) -> tuple[str, ...]:
        """The recipients that got the message: all but the :attr:`refused`."""
        return tuple(r for r in self.envelope.recipients if r not in self.refused)

    @property
    def header(self) -> bytes:
        """The header, as it would be sent."""
        return self.envelope.header

    @property
    def lines(self) -> tuple[bytes, ...]:
        """The body lines as given (UTF-8 bytes), without dot-stuffing or CRLF."""
        return tuple(_unstuff(line) for line in self.envelope.body)

    @property
    def raw(self) -> bytes:
        """The whole message as its recipients get it: the header, then each body line
        ending in CRLF (no dot-stuffing)."""
        return self.header + b"".join(line + b"\r\n" for line in self.lines)

    @functools.cached_property
    def message(self) -> EmailMessage:
        """The message parsed (``email.policy.default``), to look at its fields and parts;
        its lines end in ``\\n``, as Python's own text does."""
        parsed = email.message_from_bytes(self.raw.replace(b"\r\n", b"\n"), policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def subject(self) -> Optional[str]:
        """The Subject field, decoded; ``None`` without one."""
        return _field(self.message, "Subject")

    @property
    def from_(self) -> Optional[str]:
        """The From field, decoded; ``None`` without one."""
        return _field(self.message, "From")

    @property
    def to(self) -> tuple[str, ...]:
        """The addresses of the To fields (not the envelope's: see :attr:`recipients`)."""
        return tuple(address.addr_spec for field in self.message.get_all("To", [])
                     for address in getattr(field, "addresses", ()))


class _OverOneConnection(MailProvider):
    """An outbox as a session's messages see it: their connection is already counted."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    def deliver(self, server: str, port: int, envelope: Envelope, options: SendOptions) -> SendResult:
        return self._outbox._converse(OutboxMessage(server, port, options.prepared(envelope)),
                                      self._outbox._plan(options))


@dataclass(frozen=True)
class _Plan:
    policy: TLSPolicy
    credentials: bool
    mechanism: str
    ehlo_name: str
    partial_delivery: bool
    end_of_message: Any


@implementer(IMailer)
class Outbox(MailProvider):
    """A mail provider (:class:`~smtpunit.interfaces.IMailer`) that keeps messages
    instead of sending them. Every entry point works with it: the one-shot, sessions
    (each message a conversation of its own), pools and asyncio.

    Input is checked exactly as the real unit checks it, and the end-of-message
    procedure is called, so code under test meets the same errors and hooks.

    :param refuse: recipients to refuse: addresses (refused with 550), or a mapping
        of address to a :data:`ReplySpec`.
    :param fail: phases to fail, as a mapping of phase to a :data:`ReplySpec`.
    :param drop: phases at which the connection drops (one phase or several).

    :ivar messages: every :class:`OutboxMessage` delivered, in order.
    :ivar maybe_delivered: messages whose connection dropped after the final ``.``
        (the caller got :class:`~smtpunit.errors.SMTPOutcomeUnknown`).
    :ivar attempts: every message that passed the input checks, whatever its fate.
    :ivar connections: the connections the code under test opened: one for each
        one-shot send, one for each session however many messages it sent.
    """

    def __init__(
        self,
        refuse: Union[Iterable[str], Mapping[str, ReplySpec]] = (),
        fail: Optional[Mapping[str, ReplySpec]] = None,
        drop: Union[str, Iterable[str], None] = None,
    ) -> None:
        self.messages: list[OutboxMessage] = []
        self.maybe_delivered: list[OutboxMessage] = []
        self.attempts: list[OutboxMessage] = []
        self.connections = 0
        self._refusals: dict[str, _Fault] = {}
        self._failures: dict[str, _Fault] = {}
        self._drops: dict[str, _Fault] = {}
        if isinstance(refuse, Mapping):
            for address, spec in refuse.items():
                self._refusals[address] = _Fault(_as_reply(spec, f"refusal of {address!r}"))
        else:
            if isinstance(refuse, str):
                raise TypeError("refuse must be a list of addresses, not a single string")
            for address in refuse:
                self.refuse(address)
        for phase, spec in (fail or {}).items():
            self._failures[_check_phase(phase)] = _Fault(_as_reply(spec, f"failure at {phase!r}"))
        for phase in [drop] if isinstance(drop, str) else (drop or ()):
            self.drop(phase)

    # -- fault injection -------------------------------------------------------------

    def refuse(self, address: str, code: int = 550, text: Optional[str] = None, *,
               times: Optional[int] = None) -> Outbox:
        """Refuse ``address`` at ``RCPT TO`` with ``code`` (4xx or 5xx) and ``text``.

        :param times: refuse it only the next ``times`` times (``None``: always).
        :returns: the outbox, for chaining.
        """
        if text is None:
            text = f"{code // 100}.1.1 <{address}>: recipient refused by smtpunit.testing.Outbox"
        self._refusals[address] = _Fault(_failure_reply(code, text, f"refusal of {address!r}"),
                                         _check_times(times))
        return self

    def fail(self, phase: str, code: int, text: Optional[str] = None, *, times: Optional[int] = None) -> Outbox:
        """Answer ``phase`` (one of :data:`PHASES`) with ``code`` and ``text``.

        The error is :class:`~smtpunit.errors.SMTPReplyError`, or its subclass
        :class:`~smtpunit.errors.StartTLSRefused` for ``"starttls"``,
        :class:`~smtpunit.errors.SMTPAuthenticationError` for ``"auth"`` and
        :class:`~smtpunit.errors.RecipientsRefused` for ``"rcpt"`` (every recipient
        gets the reply). Start ``text`` with an enhanced status code (``"4.3.0 ..."``)
        to have one in the error.

        :param times: fail only the next ``times`` visits of the phase (``None``: always).
        :returns: the outbox, for chaining.
        """
        _check_phase(phase)
        self._failures[phase] = _Fault(_failure_reply(code, text, f"failure at {phase!r}"), _check_times(times))
        return self

    def drop(self, phase: str, *, times: Optional[int] = None) -> Outbox:
        """Drop the connection while the client waits in ``phase``.

        Raises :class:`~smtpunit.errors.SMTPConnectionClosed`, except at
        ``"data-end"``, after the final ``.``, where the outcome is unknown:
        :class:`~smtpunit.errors.SMTPOutcomeUnknown` is raised and the message is
        kept in :attr:`maybe_delivered`.

        :param times: drop only the next ``times`` visits of the phase (``None``: always).
        :returns: the outbox, for chaining.
        """
        self._drops[_check_phase(phase)] = _Fault(None, _check_times(times))
        return self

    def clear_faults(self) -> None:
        """Forget every refusal, failure and drop: deliver everything from now on."""
        self._refusals.clear()
        self._failures.clear()
        self._drops.clear()

    def clear(self) -> None:
        """Forget every message, attempt and connection (the faults stay: see
        :meth:`clear_faults`)."""
        self.messages.clear()
        self.maybe_delivered.clear()
        self.attempts.clear()
        self.connections = 0

    # -- the mail contract -------------------------------------------------------------

    def deliver(self, server: str, port: int, envelope: Envelope, options: SendOptions) -> SendResult:
        """Play the conversation for ``envelope`` with the injected faults, and keep it."""
        refuse_plaintext_credentials(options.has_credentials, secure=options.policy.promises_tls,
                                     local=is_loopback_name(server), allowed=options.allow_insecure_auth)
        self.connections += 1
        return self._converse(OutboxMessage(server, port, options.prepared(envelope)), self._plan(options))

    def open_session(self, server: str, port: int, options: SendOptions) -> OneShotSession:
        """A session whose every message is one conversation, over one connection;
        credentials are judged when it opens, as the real unit judges them."""
        refuse_plaintext_credentials(options.has_credentials, secure=options.policy.promises_tls,
                                     local=is_loopback_name(server), allowed=options.allow_insecure_auth)
        self.connections += 1
        return OneShotSession(_OverOneConnection(self), server, port, options)

    async def deliver_async(self, server: str, port: int, envelope: Envelope, options: SendOptions) -> SendResult:
        """:meth:`deliver`, on the event loop itself: the outbox never blocks."""
        return self.deliver(server, port, envelope, options)

    async def open_session_async(self, server: str, port: int, options: SendOptions) -> ThreadedAsyncSession:
        """:meth:`open_session` for asyncio, on the event loop itself."""
        return ThreadedAsyncSession(self.open_session(server, port, options), inline=True)

    def smtp_send_message_star(
        self,
        connection: Any,
        from_: str,
        to: Iterable[str],
        header: Line,
        message: Iterable[Line],
        auth_user: Optional[str] = None,
        auth_passwd: Optional[str] = None,
        tls_encode: Any = None,
        *,
        server_hostname: Optional[str] = None,
        **options: Any,
    ) -> SendResult:
        """Check the message and keep it, as :meth:`deliver` does; ``connection`` is
        closed (if it has ``close``) once the checks passed."""
        envelope = prepare_envelope(from_, to, header, message)
        checked = SendOptions.of("smtp_send_message_star", options, auth_user=auth_user,
                                 auth_passwd=auth_passwd, tls_encode=tls_encode)
        self.connections += 1  # the caller's, used for one message
        try:
            return self._converse(OutboxMessage(None, None, envelope), self._plan(checked))
        finally:
            close = getattr(connection, "close", None)
            if close is not None:
                close()

    # -- internals -------------------------------------------------------------------

    def _plan(self, options: SendOptions) -> _Plan:
        return _Plan(options.policy, options.has_credentials, options.auth_mechanism or "PLAIN",
                     self.smtp_sending_server(), options.partial_delivery, self.smtp_sending_end_of_message())

    def _fault(self, faults: dict[str, _Fault], key: str) -> Optional[_Fault]:
        fault = faults.get(key)
        return fault if fault is not None and fault.fire() else None

    def _phase(self, phase: str) -> Optional[Reply]:
        """Visit ``phase``: raise for a drop; return the injected failure, if any."""
        if self._fault(self._drops, phase) is not None:
            raise SMTPConnectionClosed(
                f"the server closed the connection while the client waited in phase {phase!r}"
            )
        fault = self._fault(self._failures, phase)
        return fault.reply if fault is not None else None

    def _step(self, phase: str, command: str) -> None:
        reply = self._phase(phase)
        if reply is not None:
            raise _ERRORS.get(phase, SMTPReplyError)(reply, command, phase)

    def _converse(self, message: OutboxMessage, plan: _Plan) -> SendResult:
        self.attempts.append(message)
        envelope = message.envelope
        self._step("greeting", "(connect)")
        self._step("ehlo", f"EHLO {plan.ehlo_name}")
        if plan.policy in (TLSPolicy.STARTTLS, TLSPolicy.OPPORTUNISTIC):
            reply = self._phase("starttls")
            # As the real client: opportunistic STARTTLS carries on in plaintext unless 421.
            if reply is not None and (plan.policy is TLSPolicy.STARTTLS or reply.code == 421):
                raise StartTLSRefused(reply, "STARTTLS", "starttls")
        if plan.credentials:
            self._step("auth", f"AUTH {plan.mechanism}")
        self._step("mail", f"MAIL FROM:<{envelope.sender}>")
        results = []
        for address in envelope.recipients:
            reply = self._phase("rcpt")
            if reply is None:
                refusal = self._fault(self._refusals, address)
                reply = refusal.reply if refusal is not None else None
            results.append(RecipientResult(address, reply or Reply(250, ("2.1.5 OK",))))
        refused = [r for r in results if not r.accepted]
        if refused and (not plan.partial_delivery or len(refused) == len(results)):
            first = refused[0]
            raise RecipientsRefused(first.reply, f"RCPT TO:<{first.address}>", "rcpt", tuple(results))
        if refused:
            message = dataclasses.replace(message, refused=tuple(r.address for r in refused))
        self._step("data", "DATA")
        plan.end_of_message()  # if it raises, the "." is never sent
        try:
            self._step("data-end", ".")
        except SMTPConnectionClosed as exc:
            self.maybe_delivered.append(message)
            raise SMTPOutcomeUnknown(
                f"the connection failed after the final '.' and before its reply ({exc}); "
                "the server may or may not have accepted the message"
            ) from exc
        self.messages.append(message)
        return SendResult(tuple(results), Reply(250, ("2.0.0 recorded by smtpunit.testing.Outbox",)))
