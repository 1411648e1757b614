"""What the verbs of every entry point share: the shape of a message for
``send_many``, the envelope of an EmailMessage, and the result of a one-message batch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Optional

from .commands import Envelope, Line
from .results import Outcome, SendResult

if TYPE_CHECKING:  # pragma: no cover
    from email.message import Message as EmailMessageType

__all__ = ["MessageTuple", "envelope_of_message", "single"]

MessageTuple = tuple[str, Iterable[str], Line, Iterable[Line]]
"""One message for ``send_many``: ``(from_, to, header, lines)``."""


def envelope_of_message(message: EmailMessageType, from_: Optional[str], to: Optional[Iterable[str]]) -> Envelope:
    from .email_message import envelope_of  # the email package only when used

    return envelope_of(message, from_, to)


def single(outcomes: list[Outcome]) -> SendResult:
    """The result of a one-message batch, or raise its error."""
    (outcome,) = outcomes
    if isinstance(outcome, SendResult):
        return outcome
    raise outcome
