"""The verbs every session shares (``send``, ``send_message``, ``send_envelope``,
``send_many``), written once over its one primitive, ``send_envelopes``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Optional

from .commands import Envelope, Line, prepare_envelope
from .results import Outcome, SendResult

if TYPE_CHECKING:  # pragma: no cover
    from email.message import Message as EmailMessageType

__all__ = ["AsyncSessionVerbs", "MessageTuple", "SessionVerbs", "envelope_of_message", "single"]

MessageTuple = tuple[str, Iterable[str], Line, Iterable[Line]]
"""One message for ``send_many``: ``(from_, to, header, lines)``."""


def envelope_of_message(message: EmailMessageType, from_: Optional[str], to: Optional[Iterable[str]]) -> Envelope:
    from .email_message import envelope_of  # the email package only when used

    return envelope_of(message, from_, to)


class SessionVerbs:
    """The verbs of a session, over its ``send_envelopes`` (which a session provides)."""

    def send_envelopes(self, envelopes: Iterable[Envelope], *,
                       partial_delivery: Optional[bool] = None) -> list[Outcome]:  # pragma: no cover
        raise NotImplementedError

    def send(self, from_: str, to: Iterable[str], header: Line, message: Iterable[Line], *,
             partial_delivery: Optional[bool] = None) -> SendResult:
        """Send one message; arguments as :func:`smtpunit.smtp_send_message`.

        :raises smtpunit.errors.SMTPError: what stopped the message (the session goes
            on unless the connection broke).
        """
        return self.send_envelope(prepare_envelope(from_, to, header, message), partial_delivery=partial_delivery)

    def send_message(self, message: EmailMessageType, *, from_: Optional[str] = None,
                     to: Optional[Iterable[str]] = None, partial_delivery: Optional[bool] = None) -> SendResult:
        """Send an :class:`email.message.EmailMessage`; see :func:`smtpunit.send_message`."""
        return self.send_envelope(envelope_of_message(message, from_, to), partial_delivery=partial_delivery)

    def send_envelope(self, envelope: Envelope, *, partial_delivery: Optional[bool] = None) -> SendResult:
        """Send a checked :class:`~smtpunit.core.commands.Envelope`."""
        return single(self.send_envelopes([envelope], partial_delivery=partial_delivery))

    def send_many(self, messages: Iterable[MessageTuple], *, partial_delivery: Optional[bool] = None
                  ) -> list[Outcome]:
        """Send several messages (pipelined where the session can). Every message is
        checked before anything is sent (bad input raises ``ValueError``, sends nothing).

        :returns: per message, in order, its :class:`~smtpunit.core.results.SendResult` or
            the :class:`~smtpunit.errors.SMTPError` that stopped it.
        """
        return self.send_envelopes([prepare_envelope(*m) for m in messages], partial_delivery=partial_delivery)


class AsyncSessionVerbs:
    """:class:`SessionVerbs` for asyncio sessions."""

    async def send_envelopes(self, envelopes: Iterable[Envelope], *,
                             partial_delivery: Optional[bool] = None) -> list[Outcome]:  # pragma: no cover
        raise NotImplementedError

    async def send(self, from_: str, to: Iterable[str], header: Line, message: Iterable[Line], *,
                   partial_delivery: Optional[bool] = None) -> SendResult:
        """Send one message; see :meth:`SessionVerbs.send`."""
        return await self.send_envelope(prepare_envelope(from_, to, header, message),
                                        partial_delivery=partial_delivery)

    async def send_message(self, message: EmailMessageType, *, from_: Optional[str] = None,
                           to: Optional[Iterable[str]] = None, partial_delivery: Optional[bool] = None
                           ) -> SendResult:
        """Send an :class:`email.message.EmailMessage`; see :func:`smtpunit.send_message`."""
        return await self.send_envelope(envelope_of_message(message, from_, to), partial_delivery=partial_delivery)

    async def send_envelope(self, envelope: Envelope, *, partial_delivery: Optional[bool] = None) -> SendResult:
        """Send a checked :class:`~smtpunit.core.commands.Envelope`."""
        return single(await self.send_envelopes([envelope], partial_delivery=partial_delivery))

    async def send_many(self, messages: Iterable[MessageTuple], *, partial_delivery: Optional[bool] = None
                        ) -> list[Outcome]:
        """Send several messages; see :meth:`SessionVerbs.send_many`."""
        return await self.send_envelopes([prepare_envelope(*m) for m in messages],
                                         partial_delivery=partial_delivery)


def single(outcomes: list[Outcome]) -> SendResult:
    """The result of a one-message batch, or raise its error."""
    (outcome,) = outcomes
    if isinstance(outcome, SendResult):
        return outcome
    raise outcome
