"""What a conversation is told (:class:`ConversationOptions`) and the one state of a
conversation (:class:`SessionState`): its :class:`Phase`, with every transition
between phases here and nowhere else. No I/O.

The phases and their transitions (the sans-IO core calls them; a transition not
drawn here raises :class:`~smtpunit.errors.SMTPStateError`)::

    OPENING --opened--> READY --data_begun--> IN_DATA --message_done--> READY
                          |  ^                              |
          refused_before_ |  | reset                        +--message_done(quit)--> QUIT_SENT
                   _data  v  |
                        RESET_DUE

    any phase --broke--> BROKEN          any phase --close--> CLOSED
    IN_DATA --data_abandoned--> BROKEN (resumable)

``secure`` (the connection is encrypted) changes once, from False to True, while
OPENING (STARTTLS); with implicit TLS it is True from the start.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

from ..errors import SMTPStateError
from .actions import Channel
from .auth import Credentials
from .capabilities import Capabilities
from .dsn import DSN
from .policy import TLSPolicy

__all__ = ["ConversationOptions", "Phase", "SessionState"]


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
    :ivar dsn: the delivery status notifications to ask for (:class:`~smtpunit.core.dsn.DSN`).
    :ivar signer: signs each message before it is sent (an :class:`~smtpunit.interfaces.ISigner`).
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
    dsn: Optional[DSN] = None
    signer: Any = None


class Phase(enum.Enum):
    """Where a conversation is: what the client may send next."""

    OPENING = "opening"
    """Greeting, EHLO, STARTTLS and AUTH: the session is not open yet."""
    READY = "ready"
    """Open, with no transaction under way: any command may be sent."""
    RESET_DUE = "reset due"
    """The last transaction failed before its data: RSET comes before the next MAIL."""
    IN_DATA = "in data"
    """The server takes message data (after 354) until the reply to the final ``.``:
    no command may be sent, only the connection closed."""
    QUIT_SENT = "quit sent"
    """QUIT went out with the last message; its reply is still to be read."""
    BROKEN = "broken"
    """The connection can carry no further command; only closing is left."""
    CLOSED = "closed"
    """The connection is closed."""


# The members, read once: reading one off the class costs ten times reading a name.
OPENING, READY, RESET_DUE, IN_DATA, QUIT_SENT, BROKEN, CLOSED = Phase

_NONE_YET = Capabilities()  # before the EHLO reply: frozen, so one for every session

_AWAITS_COMMAND = frozenset((OPENING, READY, RESET_DUE))
_ENDED = frozenset((BROKEN, CLOSED))


@dataclass(slots=True)
class SessionState:
    """The state of one conversation, from the greeting to QUIT, across messages.

    :ivar channel: the connection as the conversation sees it.
    :ivar secure: the connection is encrypted (implicit TLS, or after STARTTLS).
    :ivar quit_after: the conversation ends after the messages it is given: with
        PIPELINING, QUIT may go in the same write as the last message's end.
    :ivar capabilities: what the server advertised (after TLS, only what it said over TLS).
    :ivar phase: the :class:`Phase`; changed only by the transitions below.
    :ivar resumable: broken on purpose, with nothing left unknown: the server waited
        for data of a message that must not be sent (:meth:`data_abandoned`), so the
        messages after it may go over a new connection.
    """

    channel: Channel
    secure: bool = False
    quit_after: bool = False
    capabilities: Capabilities = _NONE_YET
    phase: Phase = OPENING
    resumable: bool = False

    @property
    def broken(self) -> bool:
        """Only closing is left (or the connection is closed)."""
        return self.phase in _ENDED

    @property
    def awaits_command(self) -> bool:
        """The server waits for a command: not in the data, not after QUIT, not broken."""
        return self.phase in _AWAITS_COMMAND

    # -- transitions ----------------------------------------------------------------

    def _move(self, allowed: tuple[Phase, ...], to: Phase, event: str) -> None:
        if self.phase not in allowed:
            raise SMTPStateError(f"{event} while {self.phase.value}")
        self.phase = to

    def tls_established(self) -> None:
        """STARTTLS succeeded: the rest of the conversation is encrypted."""
        if self.phase is not OPENING or self.secure:
            raise SMTPStateError(f"TLS established while {self.phase.value}{' and secure' if self.secure else ''}")
        self.secure = True

    def opened(self, capabilities: Capabilities) -> None:
        """Greeted, encrypted and authenticated as asked: ready for mail."""
        self._move((OPENING,), READY, "opened")
        self.capabilities = capabilities

    def data_begun(self) -> None:
        """The server answered DATA with 354."""
        self._move((READY,), IN_DATA, "data begun")

    def message_done(self, quit_sent: bool = False) -> None:
        """The replies to a message's end came (``quit_sent``: QUIT went with it)."""
        self._move((READY, IN_DATA), QUIT_SENT if quit_sent else READY, "message done")

    def refused_before_data(self) -> None:
        """A transaction failed before its data: the next one starts with RSET."""
        self._move((READY, RESET_DUE), RESET_DUE, "refused before the data")

    def reset(self) -> None:
        """RSET went out: the next transaction starts afresh."""
        self._move((READY, RESET_DUE), READY, "reset")

    def data_abandoned(self) -> None:
        """The server waits for data of a message that must not be sent (a recipient
        was refused after DATA went ahead): only closing the connection stops it, and
        nothing of the message went out."""
        self._move((IN_DATA,), BROKEN, "data abandoned")
        self.resumable = True

    def broke(self) -> None:
        """The connection can carry no further command."""
        if self.phase is not CLOSED:
            self.phase = BROKEN

    def close(self) -> None:
        """The connection is closed."""
        self.phase = CLOSED
