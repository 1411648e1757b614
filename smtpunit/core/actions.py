"""The vocabulary between the sans-IO conversation and its drivers.

A conversation is a generator. It yields an :data:`Action` -- :class:`Send` these
bytes, :class:`Receive` the next reply, :class:`UpgradeTLS` now -- and the driver
resumes it with the result (a :class:`~smtpunit.core.reply.Reply` for
:class:`Receive`), or throws the I/O's failure into it. :func:`exchange` is the
step everything else is built of: send a command, read its reply, log both.

The transcript goes to the ``smtpunit.transcript`` logger at DEBUG level, with
credentials and message data redacted.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Optional, Union

from ..errors import SMTPProtocolError, SMTPReplyError
from .commands import Command
from .reply import Reply, ReplyParser, sanitize

__all__ = ["Send", "Receive", "UpgradeTLS", "Action", "Channel", "encode_commands", "log_commands", "exchange",
           "send_action", "receive", "receive_all", "transcript"]

transcript = logging.getLogger("smtpunit.transcript")


class Send(NamedTuple):
    """Write these bytes (``bytes``, or a ``memoryview`` of a large message)."""

    data: Union[bytes, memoryview]


class Receive(NamedTuple):
    """Resume me with the next reply (the conversations here ask only when the parser
    holds no complete reply: the driver reads until it does). ``final`` marks the wait
    after the data."""

    phase: str
    final: bool = False


_receive_action = functools.lru_cache(maxsize=256)(Receive)  # immutable: one for each phase, made once


@dataclass(frozen=True)
class UpgradeTLS:
    """Run the TLS handshake on the connection now; resume me when it is secure."""


Action = Union[Send, Receive, UpgradeTLS]


@dataclass(slots=True)
class Channel:
    """What a conversation knows of the connection it runs over.

    :ivar parser: the reply parser the driver feeds.
    :ivar loopback: the server is on this machine.
    :ivar secrets: what the client sent in AUTH (and the password): a server that
        echoes them gets them redacted from every reply taken from then on, and so
        from the transcript, errors and results. AUTH challenges reach the mechanism
        as they came, and are redacted only in the transcript.
    """

    parser: ReplyParser
    loopback: bool
    secrets: tuple[str, ...] = ()

    def hide(self, *secrets: str) -> None:
        """Redact ``secrets`` from the replies from now on (see :func:`~smtpunit.core.reply.redact`),
        and from the server text the parser quotes in its errors."""
        self.secrets = self.parser.secrets = tuple({*self.secrets, *filter(None, secrets)})


def encode_commands(commands: Iterable[Command]) -> bytes:
    """The wire bytes of ``commands``, logged (redacted) as they will be sent."""
    commands = list(commands)
    log_commands(commands)
    return b"".join([command.wire for command in commands])


def log_commands(commands: Iterable[Command]) -> None:
    """Log (redacted) ``commands`` about to be sent."""
    if transcript.isEnabledFor(logging.DEBUG):
        for command in commands:
            transcript.debug("C: %s", command.display)


def send_action(channel: Channel, commands: Iterable[Command], wire: Optional[bytes] = None) -> Send:
    """The action that writes ``commands`` in one piece (a PIPELINING group, or a single
    command), logged; ``wire``, if given, is their bytes, already joined.

    :raises SMTPProtocolError: the server sent something before it was asked.
    """
    if channel.parser.has_pending_input:
        raise SMTPProtocolError("the server sent data nobody asked for")
    if wire is None:
        return Send(encode_commands(commands))
    log_commands(commands)
    return Send(wire)


def receive(channel: Channel, phase: str, final: bool = False) -> Generator[Action, Any, Reply]:
    """The next reply -- one already received (pipelined replies come together), or
    one the driver waits for -- logged."""
    (reply,) = yield from receive_all(channel, (phase,), final)
    return reply


def receive_all(channel: Channel, phases: Sequence[str], final: bool = False) -> Generator[Action, Any, list[Reply]]:
    """The replies to a PIPELINING group, one per phase in ``phases``, logged."""
    count = len(phases)
    parser = channel.parser
    replies: list[Reply] = []
    try:
        if parser.has_pending_input:  # pipelined replies come together
            replies += parser.next_replies(count)
        while len(replies) < count:
            replies.append((yield _receive_action(phases[len(replies)], final)))
            if len(replies) < count and parser.has_pending_input:
                replies += parser.next_replies(count - len(replies))
    finally:  # what came is logged even if the rest never does
        if channel.secrets or transcript.isEnabledFor(logging.DEBUG):
            replies[:] = [_taken(channel, reply, phase) for reply, phase in zip(replies, phases, strict=False)]
    return replies


def _taken(channel: Channel, reply: Reply, phase: str) -> Reply:
    """``reply`` as the conversation keeps it, logged: redacted if the client sent
    secrets (unless it is an AUTH challenge, which is data for the mechanism)."""
    if channel.secrets:
        reply = _redacted(reply, phase, channel.secrets)
    if transcript.isEnabledFor(logging.DEBUG):
        _log_reply(reply.redacted(channel.secrets) if channel.secrets else reply)
    return reply


def _redacted(reply: Reply, phase: str, secrets: tuple[str, ...]) -> Reply:
    """``reply`` redacted, unless it is an AUTH challenge, which is data for the mechanism."""
    return reply if reply.code == 334 and phase == "auth" else reply.redacted(secrets)


def _log_reply(reply: Reply) -> None:
    for number, line in enumerate(reply.lines, 1):
        separator = " " if number == len(reply.lines) else "-"
        transcript.debug("S: %d%s%s", reply.code, separator, sanitize(line, limit=1000))


def exchange(channel: Channel, command: Optional[Command], phase: str, *codes: int
             ) -> Generator[Action, Any, Reply]:
    """Send ``command`` (if any) and return the reply to it; given ``codes``, a reply
    with another code raises :class:`~smtpunit.errors.SMTPReplyError`.

    The one step most of a conversation is made of, so it reads its reply itself
    rather than through :func:`receive_all`: a generator fewer at each step.
    """
    if command is not None:
        yield send_action(channel, (command,), command.wire)
    parser = channel.parser
    reply = parser.next_reply() if parser.has_pending_input else None
    if reply is None:
        reply = yield _receive_action(phase)
    if channel.secrets or transcript.isEnabledFor(logging.DEBUG):
        reply = _taken(channel, reply, phase)
    if codes and reply.code not in codes:
        raise SMTPReplyError(reply, command.display if command else "(connect)", phase)
    return reply
