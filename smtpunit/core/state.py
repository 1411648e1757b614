"""What a conversation is told (:class:`ConversationOptions`) and what a session
remembers between messages (:class:`SessionState`). Plain data, no I/O."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

from .actions import Link
from .auth import Credentials
from .capabilities import Capabilities
from .policy import TLSPolicy

__all__ = ["ConversationOptions", "SessionState"]


@dataclass(frozen=True)
class ConversationOptions:
    """How to conduct a conversation.

    :ivar ehlo_name: the name sent with EHLO (or LHLO).
    :ivar starttls: the :class:`~smtpunit.core.policy.TLSPolicy` for STARTTLS.
    :ivar credentials: authenticate with these, or not at all if ``None``.
    :ivar end_of_message: called after the data and before the final ``.``.
    :ivar allow_insecure_auth: permit credentials over plaintext to a remote host.
    :ivar max_auth_challenges: 334 challenges answered before AUTH is cancelled.
    :ivar partial_delivery: send to the accepted recipients when others are refused
        (the refused ones are in the result); by default any refusal fails the send.
    :ivar lmtp: speak LMTP (RFC 2033): LHLO, and one reply per recipient after the data.
    :ivar chunking: send the message with BDAT (RFC 3030) when the server offers
        CHUNKING: no dot-stuffing, binary-safe. Off for the Racket one-shot, whose
        bytes stay those of DATA.
    """

    ehlo_name: str
    starttls: TLSPolicy = TLSPolicy.NONE
    credentials: Optional[Credentials] = None
    end_of_message: Callable[[], object] = lambda: None
    allow_insecure_auth: bool = False
    max_auth_challenges: int = 10
    partial_delivery: bool = False
    lmtp: bool = False
    chunking: bool = False


@dataclass
class SessionState:
    """What an open session knows between messages.

    :ivar link: the connection as the conversation sees it.
    :ivar capabilities: what the server advertised (after TLS, only what it said over TLS).
    :ivar needs_reset: the last transaction failed before its data: RSET comes first.
    :ivar broken: the connection can carry no further command; only closing is left.
    :ivar quit_after: the conversation ends after these messages: with PIPELINING,
        QUIT may go in the same write as the last message's end.
    :ivar quit_sent: QUIT went out that way; its reply is still to be read.
    """

    link: Link
    capabilities: Capabilities = field(default_factory=Capabilities)
    needs_reset: bool = False
    broken: bool = False
    quit_after: bool = False
    quit_sent: bool = False
