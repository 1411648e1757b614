"""Mail transactions on an open session: MAIL, RCPT, DATA or BDAT, the message (sans-IO).

:func:`transactions` sends a batch of messages. With PIPELINING (RFC 2920), each
message's MAIL, RCPTs and DATA go out in one write and their replies are read
together, and a message's data and final ``.`` share a write with the next message's
commands: one round trip per message. Without it, one command per round trip,
stopping at the first failure as Racket does. With CHUNKING (RFC 3030), when asked
for, the message goes in BDAT chunks: no dot-stuffing, binary-safe.

A failure ends only its own message: the session RSETs before the next one, unless
the connection itself can no longer be trusted -- after a transport or protocol
error, a 421, or a refusal that arrived while the server already waited for data --
in which case the remaining messages are reported as not sent
(:class:`~smtpunit.errors.NotAttempted`). After the last of these, nothing is left
unknown (the state is ``resumable``): a session goes on over a new connection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, Optional, Union

from ..errors import (
    NotAttempted,
    RecipientsRefused,
    SMTPConnectionClosed,
    SMTPInputError,
    SMTPOutcomeUnknown,
    SMTPProtocolError,
    SMTPReplyError,
    SMTPTimeout,
    SMTPTransportError,
    UnsupportedByServer,
)
from . import commands
from .actions import (
    Action,
    Channel,
    Send,
    exchange,
    log_commands,
    receive,
    receive_all,
    send_action,
    transcript,
)
from .capabilities import Capabilities
from .commands import Command, Envelope
from .content import BDAT_CHUNK, DATA_CHUNK, LinesContent, RawContent, gather
from .dsn import DSN
from .reply import Reply
from .results import Outcome, RecipientResult, SendResult, accepts_recipient
from .signing import signed
from .state import IN_DATA, RESET_DUE, ConversationOptions, SessionState

__all__ = ["transactions", "mail_parameters", "probe", "reset"]


_CONNECTION_FAILURES = (SMTPTransportError, SMTPTimeout, SMTPProtocolError)
_RSET, _DATA, _QUIT = commands.rset(), commands.data(), commands.quit()
_PREPARED_LIMIT = 1024 * 1024  # the largest message whose final write is made ahead, in one piece
_SPLIT_FINAL_WRITE = 256 * 1024  # a larger final write goes in two, the message's last octet in the second
# Commands and their bytes. The commands are made only if iterated (to log them), and
# can be iterated once: what was sent is told by the bytes.
_Commands = tuple[Iterator[Command], bytes]


def mail_parameters(envelope: Envelope, capabilities: Capabilities, dsn: Optional[DSN] = None
                    ) -> tuple[str, ...]:
    """The ESMTP parameters MAIL needs for ``envelope`` (and the notifications ``dsn``
    asks for), only those it needs.

    :raises UnsupportedByServer: the message needs an extension the server lacks,
        or exceeds its SIZE limit.
    """
    limit, size = capabilities.size_limit, envelope.size
    if limit is not None and size is not None and size > limit:
        raise UnsupportedByServer(f"the message has {size} octets; the server takes at most {limit}")
    parameters = []
    if envelope.needs_smtputf8:
        if not capabilities.supports("SMTPUTF8"):
            raise UnsupportedByServer(commands.smtputf8_refusal(envelope))
        parameters.append("SMTPUTF8")
    eight_bit = envelope.eight_bit
    if eight_bit or (eight_bit is None and capabilities.supports("8BITMIME")):  # None: streamed, not yet known
        if not capabilities.supports("8BITMIME"):
            raise UnsupportedByServer("the message has 8-bit data and the server does not offer 8BITMIME")
        parameters.append("BODY=8BITMIME")
    if dsn is not None:
        if capabilities.supports("DSN"):
            parameters.extend(dsn.mail_parameters())
        elif dsn.required:
            raise UnsupportedByServer("delivery status notifications were asked for and the server does not "
                                      "offer DSN; DSN(required=False) sends without them")
    return tuple(parameters)


@dataclass(slots=True)
class _Transaction:
    """One message of a batch.

    :ivar dsn: the notifications its RCPTs ask for (the server offers DSN).
    :ivar opening_wire: the bytes of MAIL, the RCPTs and (unless BDAT) DATA, once
        made (:meth:`_Batch.opening`).
    :ivar following: the next message of a pipelined batch, whose commands go in
        the same write as this one's end.
    :ivar final_write: the whole dot-stuffed data, ``.`` and what goes ahead, made
        while the server works (on the previous message, or on this one's envelope)
        -- for small contents that can be read twice; else ``None``. Dropped once the
        message is done.
    """

    index: int
    envelope: Envelope
    mail: Command
    dsn: Optional[DSN] = None
    opening_wire: Optional[bytes] = None
    following: Optional[_Transaction] = None
    final_write: Optional[bytes] = None


def transactions(
    state: SessionState, envelopes: Sequence[Envelope], options: ConversationOptions
) -> Generator[Action, Any, list[Outcome]]:
    """Send each of ``envelopes`` on the open session ``state``.

    :returns: one outcome per envelope, in order: its :class:`SendResult`, or the
        :class:`~smtpunit.errors.SMTPError` that stopped it. Only an exception from the
        end-of-message procedure escapes, and the connection must then be closed.
    """
    batch = _Batch(state, options)
    outcomes: list[Optional[Outcome]] = [None] * len(envelopes)
    messages = []
    for index, envelope in enumerate(envelopes):
        try:
            messages.append(_Transaction(index, *_opening(state, envelope, options)))
        except SMTPInputError as exc:
            outcomes[index] = exc
    if batch.pipelined:
        for message, following in zip(messages, messages[1:], strict=False):
            message.following = following
    for message in messages:
        if state.broken:
            message.final_write = None  # made while the last message was answered; never sent
            break
        try:
            outcomes[message.index] = yield from batch.send(message)
        except SMTPReplyError as exc:
            outcomes[message.index] = exc
            batch.failed(exc)
        except SMTPInputError as exc:
            # A streamed line found bad in the middle of the data: the data cannot be
            # ended, so the connection is closed and the server delivers nothing.
            outcomes[message.index] = exc
            state.broke()
        except _CONNECTION_FAILURES as exc:  # SMTPOutcomeUnknown included
            outcomes[message.index] = exc
            state.broke()
        finally:
            message.final_write = None  # sent or refused, it is not kept for the batch
    return [
        outcome if outcome is not None
        else NotAttempted("not sent: the connection failed or was closed before this message")
        for outcome in outcomes
    ]


def _opening(state: SessionState, envelope: Envelope, options: ConversationOptions
             ) -> tuple[Envelope, Command, Optional[DSN]]:
    """``envelope`` as it goes out (signed, if the options say so), its ``MAIL``
    command, and the notifications its RCPTs ask for (only if the server offers DSN).

    :raises SMTPInputError: it cannot go to this server (or be signed).
    """
    if options.signer is not None:
        envelope = signed(envelope, options.signer)
    dsn = envelope.dsn_over(options.dsn)
    mail = envelope.mail_command(mail_parameters(envelope, state.capabilities, dsn))
    return envelope, mail, dsn if dsn is not None and state.capabilities.supports("DSN") else None


class _Batch:
    """The state of one batch: what was sent ahead, and how to send."""

    def __init__(self, state: SessionState, options: ConversationOptions) -> None:
        self.state = state
        self.channel = state.channel
        self.options = options
        capabilities = state.capabilities
        self.pipelined = capabilities.supports("PIPELINING")
        self.chunking = options.chunking and capabilities.supports("CHUNKING")
        self.allow_8bit = capabilities.supports("8BITMIME")
        self.sent_ahead = False  # the next message's commands went out with the last data
        self.ended = False  # the message under way was written to its end

    def failed(self, error: SMTPReplyError) -> None:
        """Decide what a refused message leaves behind."""
        if self.state.broken:
            return  # only closing is left already (a refused RSET)
        if self.state.phase is IN_DATA:
            self.state.data_abandoned()  # only closing is left; the messages after it were not sent
        elif error.code == 421:
            self.state.broke()  # only closing is left
        elif not self.ended:
            # Refused before its end: nothing went ahead, and the transaction is reset.
            # (Refused at or after its end: what went ahead with the end stands.)
            self.sent_ahead = False
            self.state.refused_before_data()

    def opening(self, message: _Transaction) -> _Commands:
        """MAIL, the RCPTs and (unless BDAT) DATA for ``message``, and their bytes.

        The bytes are made when first needed, which for a pipelined batch is while
        the server works; the commands, only if someone iterates them (to log them).
        """
        if message.opening_wire is None:
            message.opening_wire = b"".join((message.mail.wire, self._rcpt_wire(message),
                                             b"" if self.chunking else _DATA.wire))
        return self._opening_commands(message), message.opening_wire

    def _opening_commands(self, message: _Transaction) -> Iterator[Command]:
        yield message.mail
        yield from self._rcpt_commands(message)
        if not self.chunking:
            yield _DATA

    def _rcpt_commands(self, message: _Transaction) -> tuple[Command, ...]:
        """``message``'s RCPTs, with the notifications asked for."""
        return message.envelope.rcpt_commands_for(message.dsn)

    def _rcpt_wire(self, message: _Transaction) -> bytes:
        """The bytes of :meth:`_rcpt_commands`."""
        if message.dsn is None:
            return message.envelope.rcpt_wire
        return b"".join(command.wire for command in self._rcpt_commands(message))

    def group(self, message: _Transaction) -> _Commands:
        """The commands that open ``message``'s transaction, RSET first if needed, and
        their bytes."""
        opening, wire = self.opening(message)
        return (chain((_RSET,), opening), _RSET.wire + wire) if self.state.phase is RESET_DUE else (opening, wire)

    def send(self, message: _Transaction) -> Generator[Action, Any, SendResult]:
        envelope = message.envelope
        self.ended = False
        if self.pipelined:
            rcpt_replies = yield from self._pipelined_envelope(message)
        else:
            rcpt_replies = yield from self._stepwise_envelope(message)
        replies = sum(map(accepts_recipient, rcpt_replies)) if self.options.lmtp else 1
        ahead = self._ahead(message)
        ahead_wire = ahead[1]
        results: list[RecipientResult] = []

        def while_waiting() -> None:  # for the reply to the end: work that need not delay the data
            self._prepare(message.following)
            results[:] = _recipient_results(envelope, rcpt_replies)

        quit_sent = bool(ahead_wire) and message.following is None
        if self.chunking:
            try:
                finals = yield from _send_bdat(self.channel, envelope, self.options.end_of_message, replies, ahead,
                                               self.pipelined, self.allow_8bit, while_waiting)
            except SMTPReplyError:
                if self.pipelined:  # a chunk refused, read after the last write and what went with it
                    self._ended(ahead_wire, quit_sent)
                raise
        else:
            finals = yield from _send_data(self.channel, message, self.options.end_of_message, replies, ahead,
                                           self.allow_8bit, while_waiting)
        self._ended(ahead_wire, quit_sent)
        if len(results) != len(rcpt_replies):  # made while waiting, unless that was skipped
            results = _recipient_results(envelope, rcpt_replies)
        return _result(results, finals, self.options)

    def _ended(self, ahead_wire: bytes, quit_sent: bool) -> None:
        """The message was written to its end, with ``ahead_wire``, and its replies read."""
        self.ended = True
        self.state.message_done(quit_sent)
        self.sent_ahead = bool(ahead_wire) and not quit_sent

    def _ahead(self, message: _Transaction) -> _Commands:
        """What goes in the write that ends ``message``, and its wire bytes: the next
        message's commands (its envelope passed, so no RSET before them), or QUIT
        if the conversation ends here (RFC 2920: QUIT may end the last group)."""
        if message.following is not None:
            return self.opening(message.following)
        if self.state.quit_after and self.pipelined:
            return iter((_QUIT,)), _QUIT.wire
        return iter(()), b""

    def _prepare(self, message: Optional[_Transaction]) -> None:
        """Make ``message``'s final write now, while the server works -- on its
        envelope, or on the message before it -- if its content is small and can be
        read twice (not a stream): then its data goes out as soon as it may."""
        if message is None or message.final_write is not None or self.chunking:
            return
        content = message.envelope.content
        # Only contents whose pieces are made without checks or side effects: any
        # content's failure must come when its data is sent, not here.
        if isinstance(content, (LinesContent, RawContent)) and content.size <= _PREPARED_LIMIT:
            pieces = content.data_pieces(self.allow_8bit)
            message.final_write = b"".join([*pieces, commands.END_OF_DATA, self._ahead(message)[1]])

    def _reset_reply(self) -> Generator[Action, Any, None]:
        self.state.reset()
        reply = yield from receive(self.channel, "rset")
        if reply.code != 250:
            self.state.broke()
            raise SMTPReplyError(reply, "RSET", "rset")

    def _pipelined_envelope(self, message: _Transaction) -> Generator[Action, Any, list[Reply]]:
        """Send the group (unless it went ahead), read and judge its replies, and
        return the replies to the RCPTs (their results are made after the data is
        written, unless a refusal needs them now)."""
        if not self.sent_ahead:
            yield send_action(self.channel, *self.group(message))
            self._prepare(message)  # while the server answers (else it was made with the last data)
        self.sent_ahead = False
        if self.state.phase is RESET_DUE:
            yield from self._reset_reply()
        envelope = message.envelope
        count = len(envelope.recipients)
        replies = yield from receive_all(self.channel, _phases(count, self.chunking))
        mail_reply = replies[0]
        rcpt_replies = replies[1 : count + 1]
        data_reply = None if self.chunking else replies[-1]
        if data_reply is not None and data_reply.code == 354:
            # The server waits for data: a failure below can only close the connection.
            self.state.data_begun()
        if mail_reply.code != 250:
            raise SMTPReplyError(mail_reply, message.mail.display, "mail")
        _judge_replies(envelope, rcpt_replies, self.options, complete=True)
        if data_reply is not None and data_reply.code != 354:
            raise SMTPReplyError(data_reply, "DATA", "data")
        return rcpt_replies

    def _stepwise_envelope(self, message: _Transaction) -> Generator[Action, Any, list[Reply]]:
        """RSET if needed, MAIL, each RCPT and DATA, each awaiting its reply; return
        the replies to the RCPTs."""
        if self.state.phase is RESET_DUE:
            self.state.reset()
            yield from exchange(self.channel, _RSET, "rset", 250)
        yield from exchange(self.channel, message.mail, "mail", 250)
        envelope = message.envelope
        rcpt_replies: list[Reply] = []
        for rcpt in self._rcpt_commands(message):
            rcpt_replies.append((yield from exchange(self.channel, rcpt, "rcpt")))
            if not accepts_recipient(rcpt_replies[-1]):  # the earlier ones were judged already
                _judge_recipients(_recipient_results(envelope, rcpt_replies), self.options, complete=False)
        _judge_replies(envelope, rcpt_replies, self.options, complete=True)
        if not self.chunking:
            yield from exchange(self.channel, _DATA, "data", 354)
            self.state.data_begun()
        return rcpt_replies


def _phases(recipients: int, chunking: bool) -> tuple[str, ...]:
    """The phase of each reply to a pipelined MAIL, RCPTs (and DATA)."""
    return ("mail", *("rcpt",) * recipients, *(() if chunking else ("data",)))


def _recipient_results(envelope: Envelope, rcpt_replies: Sequence[Reply]) -> list[RecipientResult]:
    """The result for each recipient that has a reply so far."""
    return list(map(RecipientResult, envelope.recipients[: len(rcpt_replies)], rcpt_replies))


def _judge_replies(envelope: Envelope, rcpt_replies: Sequence[Reply], options: ConversationOptions,
                   complete: bool) -> None:
    """:func:`_judge_recipients` on the replies so far, if any refuses its recipient."""
    if not all(map(accepts_recipient, rcpt_replies)):
        _judge_recipients(_recipient_results(envelope, rcpt_replies), options, complete)


def _judge_recipients(results: list[RecipientResult], options: ConversationOptions, complete: bool) -> None:
    """Raise :class:`RecipientsRefused` unless the message may go to the accepted."""
    refused = [r for r in results if not r.accepted]
    if refused and (not options.partial_delivery or (complete and len(refused) == len(results))):
        first = refused[0]
        raise RecipientsRefused(first.reply, f"RCPT TO:<{first.address}>", "rcpt", tuple(results))


def _result(results: list[RecipientResult], finals: list[Reply], options: ConversationOptions) -> SendResult:
    if options.lmtp:
        data_replies = iter(finals)
        results = [RecipientResult(r.address, r.reply, next(data_replies)) if r.accepted else r for r in results]
        result = SendResult(tuple(results), finals[-1])
        if result.refused and (not options.partial_delivery or not result.accepted):  # none took it: not sent
            first = result.refused[0]
            raise RecipientsRefused(first.data_reply or first.reply, ".", "data-end", result.recipients)
        return result
    if finals[0].code != 250:
        raise SMTPReplyError(finals[0], ".", "data-end")
    return SendResult(tuple(results), finals[0])


def _final_replies(channel: Channel, final_write: Union[bytes, memoryview], after_end: int, unanswered: int,
                   replies: int, while_waiting: Callable[[], None]) -> Generator[Action, Any, list[Reply]]:
    """Write ``final_write`` (which completes the message, then holds ``after_end``
    octets of commands sent ahead), run ``while_waiting``, and read the replies:
    ``unanswered`` to earlier BDAT chunks, then ``replies`` to the end. Any failure of
    the connection from here on leaves the outcome unknown, unless the connection
    says that nothing of the final write went out.

    A large final write goes in two: all but the message's last octet, then the rest.
    A server that stops reading fails the first, and then cannot have the message.
    """
    if len(final_write) > _SPLIT_FINAL_WRITE:
        cut = len(final_write) - after_end - 1
        whole = memoryview(final_write)
        yield Send(whole[:cut])  # a failure here is the connection's, before the end
        final_write = whole[cut:]
    try:
        yield Send(final_write)
    except SMTPConnectionClosed as exc:  # the connection's word: nothing of the write went out
        raise SMTPConnectionClosed(f"{exc}; the end of the message was not sent: not delivered") from exc
    except _CONNECTION_FAILURES as exc:
        raise _outcome_unknown(exc) from exc
    try:
        while_waiting()
        chunk_replies = (yield from receive_all(channel, ("bdat",) * unanswered, final=True)) if unanswered else []
        finals = yield from receive_all(channel, ("data-end",) * replies, final=True)
    except _CONNECTION_FAILURES as exc:
        raise _outcome_unknown(exc) from exc
    for reply in chunk_replies:
        _check_bdat(reply)
    return finals


def _outcome_unknown(error: Exception) -> SMTPOutcomeUnknown:
    return SMTPOutcomeUnknown(
        f"the connection failed after the end of the message and before its reply ({error}); "
        "the server may or may not have accepted it"
    )


def _send_data(channel: Channel, message: _Transaction, end_of_message: Callable[[], object], replies: int,
               ahead: _Commands, allow_8bit: bool, while_waiting: Callable[[], None]
               ) -> Generator[Action, Any, list[Reply]]:
    """The dot-stuffed data and ``.`` (with the commands ``ahead`` in the same write);
    the replies."""
    if channel.parser.has_pending_input:
        raise SMTPProtocolError("the server sent data nobody asked for after its 354 to DATA")
    logged = transcript.isEnabledFor(logging.DEBUG)
    if logged:
        transcript.debug("C: <message data>")
    final_write = message.final_write
    if final_write is None:
        chunks = gather(message.envelope.content.data_pieces(allow_8bit), DATA_CHUNK)
        last = next(chunks)
        for chunk in chunks:
            yield Send(last)
            last = chunk
        final_write = b"".join((last, commands.END_OF_DATA, ahead[1]))
    # As Racket writes the lines to its buffered port: the last chunk is written, the
    # procedure runs, and the "." goes in the same write as that chunk.
    end_of_message()  # if it raises, the "." is never sent
    if logged:
        transcript.debug("C: .")
        log_commands(ahead[0])
    return (yield from _final_replies(channel, final_write, len(ahead[1]), 0, replies, while_waiting))


def _send_bdat(channel: Channel, envelope: Envelope, end_of_message: Callable[[], object], replies: int,
               ahead: _Commands, pipelined: bool, allow_8bit: bool, while_waiting: Callable[[], None]
               ) -> Generator[Action, Any, list[Reply]]:
    """The message in BDAT chunks, the last with the commands ``ahead``; the replies to LAST.

    Without PIPELINING each chunk's reply is awaited; with it, the replies to all
    chunks are read after LAST, and the first refusal among them decides.
    """
    transcript.debug("C: <message data in BDAT chunks>")
    chunks = gather(envelope.content.bdat_pieces(allow_8bit), BDAT_CHUNK)
    chunk = next(chunks)
    unanswered = 0
    for following in chunks:
        transcript.debug("C: BDAT %d", len(chunk))
        yield Send(b"BDAT %d\r\n" % len(chunk) + chunk)
        unanswered += 1
        if not pipelined:
            _check_bdat((yield from receive(channel, "bdat")))
            unanswered = 0
        chunk = following
    end_of_message()  # if it raises, LAST is never sent
    transcript.debug("C: BDAT %d LAST", len(chunk))
    log_commands(ahead[0])
    last = b"BDAT %d LAST\r\n" % len(chunk) + chunk + ahead[1]
    return (yield from _final_replies(channel, last, len(ahead[1]), unanswered, replies, while_waiting))


def _check_bdat(reply: Reply) -> None:
    if reply.code != 250:
        raise SMTPReplyError(reply, "BDAT", "bdat")


# -- without a message ------------------------------------------------------------------


def probe(state: SessionState, envelope: Envelope, options: ConversationOptions, recipients: bool = True
          ) -> Generator[Action, Any, list[Reply]]:
    """``MAIL FROM`` and (if ``recipients``) each ``RCPT TO`` of ``envelope``, with the
    parameters a send would give them (so that the server judges the same commands),
    then ``RSET``: the replies to MAIL and to each RCPT, with no message sent.

    :raises SMTPReplyError: MAIL or RSET was refused.
    """
    if state.phase is RESET_DUE:
        yield from reset(state)
    envelope, mail, dsn = _opening(state, envelope, options)  # signed: its SIZE is the signed message's
    replies = [(yield from exchange(state.channel, mail, "mail", 250))]
    for rcpt in envelope.rcpt_commands_for(dsn) if recipients else ():
        replies.append((yield from exchange(state.channel, rcpt, "rcpt")))
    yield from reset(state)
    return replies


def reset(state: SessionState) -> Generator[Action, Any, None]:
    """``RSET``: abandon any transaction in progress.

    :raises SMTPReplyError: it was refused.
    """
    yield from exchange(state.channel, _RSET, "rset", 250)
    state.reset()
