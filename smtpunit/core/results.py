"""The outcome of a send: per-recipient results (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from ..errors import SMTPError
from .reply import Reply

__all__ = ["RecipientResult", "SendResult", "Outcome", "accepts_recipient"]


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
        return accepts_recipient(self.reply) and (self.data_reply is None or self.data_reply.code == 250)


@dataclass(frozen=True)
class SendResult:
    """The outcome of a delivered message.

    :ivar recipients: every recipient's result, in order, refused ones included
        (there are refused ones only with partial delivery, or LMTP).
    :ivar reply: the reply to the final ``.`` (with LMTP, the last recipient's).
    :ivar reconnected: sent over a new connection that its session opened after a
        message before it in the batch had to close the old one.
    :ivar attempts: the errors of the attempts before this one, when it was retried
        (:class:`~smtpunit.core.retry.Retry`); an error that ends the retries carries
        its own as ``attempts`` too.
    """

    recipients: tuple[RecipientResult, ...]
    reply: Reply
    reconnected: bool = False
    attempts: tuple[SMTPError, ...] = ()

    @property
    def accepted(self) -> tuple[str, ...]:
        """The recipients the message was delivered to."""
        return tuple(r.address for r in self.recipients if r.accepted)

    @property
    def refused(self) -> tuple[RecipientResult, ...]:
        """The results of the recipients the message was not delivered to."""
        return tuple(r for r in self.recipients if not r.accepted)


def accepts_recipient(rcpt_reply: Reply) -> bool:
    """Whether a reply to ``RCPT TO`` accepts the recipient (250 or 251)."""
    return rcpt_reply.code in (250, 251)


Outcome = Union[SendResult, SMTPError]
"""What happened to one message of a batch: its result, or the error that stopped it."""
