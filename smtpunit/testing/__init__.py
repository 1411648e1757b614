"""Test doubles and test servers for code that sends mail with smtpunit.

Each double provides one of smtpunit's signatures and is checked against it with
``verifyObject`` in smtpunit's own tests, so it can be linked in place of the real
provider:

* :class:`Outbox` -- a whole :class:`~smtpunit.interfaces.ISMTP` that records each
  message instead of sending it (after the same input checks as the real one), and
  refuses recipients, fails phases or drops the connection on demand
  (:mod:`smtpunit.testing.outbox`).
* :class:`MemoryTransport` -- an :class:`~smtpunit.interfaces.ITransport` whose
  connections reach a :class:`MemoryServer`, an SMTP server living in memory: the
  real client runs its real conversation, and no socket is ever opened
  (:mod:`smtpunit.testing.memory`).
* :class:`Recorder` -- wraps any transport and TLS upgrader and records every byte
  sent and received, TLS or not, as a :class:`Conversation` that can be saved
  (:mod:`smtpunit.testing.recording`).

And real servers on 127.0.0.1, for the real client over real sockets:

* :class:`ScriptedServer` -- plays a script of steps (:class:`Reply`, :class:`Expect`,
  :class:`ExpectData`, :class:`Drip`, :class:`Raw`, ...) for faults, attacks and
  malformed replies (:mod:`smtpunit.testing.scripted`).
* :class:`ReplayServer` -- plays back a recorded :class:`Conversation` and checks the
  client sends the same bytes (:mod:`smtpunit.testing.replay`).

Also: pytest fixtures in :mod:`smtpunit.testing.pytest_plugin` (loaded automatically
once smtpunit is installed), and a conformance kit for third-party providers in
:mod:`smtpunit.testing.conformance`.

Note that :class:`Reply` here is a script step; the parsed reply of the client is
:class:`smtpunit.core.reply.Reply`.
"""

from .memory import (
    AsyncMemoryConnection,
    AsyncMemoryTransport,
    MemoryConnection,
    MemoryServer,
    MemoryTransport,
    ReceivedMessage,
)
from .outbox import PHASES, Outbox, OutboxMessage
from .recording import CLIENT, SERVER, STARTTLS, Conversation, ConversationEvent, Recorder
from .replay import MISMATCH_REPLY, ReplayMismatch, ReplayServer
from .scripted import (
    DEFAULT_TIMEOUT,
    ClientClosed,
    ClientGone,
    Close,
    Drip,
    Expect,
    ExpectClose,
    ExpectData,
    Peer,
    Raw,
    Reply,
    ScriptedServer,
    ScriptMismatch,
    Sleep,
    StartTLS,
    accept_envelope,
    standard_session,
)

__all__ = [
    "AsyncMemoryConnection",
    "AsyncMemoryTransport",
    "CLIENT",
    "DEFAULT_TIMEOUT",
    "MISMATCH_REPLY",
    "PHASES",
    "SERVER",
    "STARTTLS",
    "ClientClosed",
    "ClientGone",
    "Close",
    "Conversation",
    "ConversationEvent",
    "Drip",
    "Expect",
    "ExpectClose",
    "ExpectData",
    "MemoryConnection",
    "MemoryServer",
    "MemoryTransport",
    "Outbox",
    "OutboxMessage",
    "Peer",
    "Raw",
    "ReceivedMessage",
    "Recorder",
    "ReplayMismatch",
    "ReplayServer",
    "Reply",
    "ScriptMismatch",
    "ScriptedServer",
    "Sleep",
    "StartTLS",
    "accept_envelope",
    "standard_session",
]
