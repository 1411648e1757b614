"""What the blocking and asyncio sessions share: their state, and the conversations
they run (each with its own driver).

Open a session with :func:`smtpunit.connect` (or :func:`smtpunit.aio.connect`)::

    with smtpunit.connect("mail.example.org", 587, tls_encode=True) as session:
        session.send("a@example.org", ["b@example.org"], header, lines)
        outcomes = session.send_many(messages)   # pipelined across messages

A failed message does not end the session: it is RSET before the next. A
connection that can no longer be trusted (transport failure, 421) is closed, and the
session with it. A refusal while the server waited for data closes the connection
too, but leaves nothing unknown: the rest of the batch goes over a new connection.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from typing import Any, Optional

from ..core import commands, parameters
from ..core.actions import Action, exchange
from ..core.capabilities import Capabilities
from ..core.commands import Envelope
from ..core.conversation import close_session
from ..core.reply import Reply
from ..core.results import Outcome, SendResult
from ..core.state import CLOSED, ConversationOptions, SessionState
from ..core.transactions import probe, reset, transactions
from ..errors import NotAttempted, SMTPConnectionClosed

__all__ = ["SessionCore"]

class SessionCore:
    """What sync and asyncio sessions share: the state, and the conversations they run.

    A subclass runs those conversations with its driver (``_run``).
    """

    def __init__(self, state: SessionState, options: ConversationOptions) -> None:
        self._state = state
        self._options = options

    @property
    def capabilities(self) -> Capabilities:
        """What the server advertised (after TLS, only what it said over TLS)."""
        return self._state.capabilities

    @property
    def closed(self) -> bool:
        """True once the session was closed, or its connection broke."""
        return self._state.phase is CLOSED

    def _check_open(self) -> None:
        if self._state.phase is CLOSED:
            raise SMTPConnectionClosed("the session is closed")

    def _transactions(self, envelopes: list[Envelope], partial_delivery: Optional[bool]
                      ) -> Generator[Action, Any, list[Outcome]]:
        if partial_delivery is not None and not isinstance(partial_delivery, bool):
            raise TypeError(f"partial_delivery must be True, False or None, not {partial_delivery!r}")
        options = dataclasses.replace(
            self._options,
            end_of_message=parameters.smtp_sending_end_of_message(),
            partial_delivery=self._options.partial_delivery if partial_delivery is None else partial_delivery,
        )
        return transactions(self._state, envelopes, options)

    @staticmethod
    def _unsent(outcomes: list[Outcome]) -> list[int]:
        """The indices of the messages of a batch that were never sent."""
        return [index for index, outcome in enumerate(outcomes) if isinstance(outcome, NotAttempted)]

    @staticmethod
    def _merge(outcomes: list[Outcome], indices: list[int], resent: list[Outcome]) -> None:
        """Put the outcomes of messages sent again over a new connection in their places."""
        for index, outcome in zip(indices, resent, strict=True):
            outcomes[index] = dataclasses.replace(outcome, reconnected=True) if isinstance(outcome, SendResult) \
                else outcome

    def _probe(self, envelope: Envelope, recipients: bool) -> Generator[Action, Any, list[Reply]]:
        return probe(self._state, envelope, self._options, recipients)

    def _noop(self) -> Generator[Action, Any, Reply]:
        return exchange(self._state.channel, commands.noop(), "noop", 250)

    def _reset(self) -> Generator[Action, Any, None]:
        return reset(self._state)

    def _goodbye(self) -> Generator[Action, Any, None]:
        if not self._state.broken:
            yield from close_session(self._state)

    def _mark_closed(self) -> None:
        self._state.close()
