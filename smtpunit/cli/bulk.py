"""``smtpunit bulk``: many messages over a pool of connections.

The messages come from a directory of ``.eml`` files (sorted by name), an mbox
file, or single RFC 5322 message files; each is sent as it is (line endings made
CRLF, Bcc fields left out), its envelope taken from its headers unless ``--from``
or ``--to`` is given. They go over a :class:`smtpunit.Pool` of ``--connections``
sessions, one worker thread per connection.

Each recipient ends up in one of four states:

``delivered``
    the server took the message for it;
``refused``
    the server refused it (or the message), or the message's envelope could not be
    built (no sender, no recipient, a malformed header, ...: the reason is given);
``unknown``
    the connection broke after the end of the message: the server may have taken
    it, and sending it again may deliver it twice;
``not sent``
    a connection, TLS, authentication or timeout failure stopped the run before
    the message could be sent.

A failure of the connection itself (it cannot be made, TLS or AUTH fails, a wait
times out) stops the run: the messages not yet sent are ``not sent``. If nothing
was delivered at all, the exit code is that failure's (3, 4, 5, 7); otherwise it
is 0 when every recipient got its message, and 9 when some did not.

At the end a summary line goes to stdout, and with ``--report PATH`` a report per
message and recipient is written: CSV if PATH ends in ``.csv``, JSON otherwise.
Progress goes to stderr (``--progress``): on a terminal a bar redrawn in place at
most ten times a second, elsewhere a line every few seconds, with the messages sent,
the rate, the time left and the recipients per state, counted as the summary counts
them.
"""

from __future__ import annotations

import argparse
import csv
import json
import mailbox
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Optional, TextIO

from ..core.commands import Envelope
from ..core.results import SendResult
from ..errors import RecipientsRefused, SMTPError
from .common import (
    EXIT_CODES_HELP,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_REFUSED,
    EXIT_UNKNOWN,
    EXIT_USAGE,
    UsageError,
    add_connection_options,
    classify,
    connection_settings,
    describe,
    raw_addresses,
    raw_envelope,
)

__all__ = ["DELIVERED", "REFUSED", "UNKNOWN", "NOT_SENT", "add_bulk_parser", "load_messages", "run_bulk"]

DELIVERED, REFUSED, UNKNOWN, NOT_SENT = "delivered", "refused", "unknown", "not sent"
STATES = (DELIVERED, REFUSED, UNKNOWN, NOT_SENT)


# -- reading the messages ------------------------------------------------------------------


def _is_mbox(path: str) -> bool:
    with open(path, "rb") as source:
        return source.read(5) == b"From "


def load_messages(paths: Sequence[str]) -> list[tuple[str, bytes]]:
    """``(name, data)`` for every message in ``paths``: each directory's ``*.eml``
    files in name order, each message of an mbox file (named ``file#n``), or a file
    holding one message.

    :raises UsageError: if a path cannot be read.
    """
    messages: list[tuple[str, bytes]] = []
    for path in paths:
        try:
            if os.path.isdir(path):
                names = sorted(n for n in os.listdir(path) if n.lower().endswith(".eml"))
                for name in names:
                    with open(os.path.join(path, name), "rb") as source:
                        messages.append((name, source.read()))
            elif _is_mbox(path):
                box = mailbox.mbox(path, create=False)
                try:
                    for number, key in enumerate(box.iterkeys(), 1):
                        messages.append((f"{os.path.basename(path)}#{number}", box.get_bytes(key)))
                finally:
                    box.close()
            else:
                with open(path, "rb") as source:
                    messages.append((os.path.basename(path), source.read()))
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    return messages


# -- outcomes ------------------------------------------------------------------------------


@dataclass
class RecipientOutcome:
    address: str
    state: str
    code: Optional[int] = None
    detail: str = ""


@dataclass
class MessageOutcome:
    source: str
    sender: Optional[str]
    recipients: list[RecipientOutcome] = field(default_factory=list)
    reply: Optional[str] = None
    error: Optional[str] = None

    @property
    def state(self) -> str:
        """``delivered``, ``partially delivered``, or the one state of every recipient."""
        states = {r.state for r in self.recipients} or {REFUSED}
        if states == {DELIVERED}:
            return DELIVERED
        if DELIVERED in states:
            return "partially delivered"
        for state in (UNKNOWN, NOT_SENT, REFUSED):
            if state in states:
                return state
        return REFUSED  # pragma: no cover

    def as_json(self) -> dict[str, Any]:
        return {"source": self.source, "sender": self.sender, "status": self.state, "reply": self.reply,
                "error": self.error,
                "recipients": [{"address": r.address, "status": r.state, "code": r.code, "reply": r.detail}
                               for r in self.recipients]}


@dataclass
class _Item:
    source: str
    sender: Optional[str]
    recipients: list[str]
    envelope: Optional[Envelope] = None
    error: Optional[str] = None


def _item(source: str, data: bytes, from_: Optional[str], to: Sequence[str]) -> _Item:
    try:
        sender, recipients = raw_addresses(data)
    except Exception:  # noqa: BLE001 -- a header the parser chokes on is reported by raw_envelope
        sender, recipients = None, []
    sender = from_ if from_ is not None else sender
    recipients = list(to) if to else recipients
    try:
        return _Item(source, sender, recipients, raw_envelope(data, from_, to))
    except ValueError as exc:
        return _Item(source, sender, recipients, error=f"the envelope cannot be built: {' '.join(str(exc).split())}")


def _delivered(item: _Item, result: SendResult) -> MessageOutcome:
    outcome = MessageOutcome(item.source, item.sender, reply=result.reply.summary())
    for r in result.recipients:
        reply = r.data_reply or r.reply
        outcome.recipients.append(RecipientOutcome(r.address, DELIVERED if r.accepted else REFUSED,
                                                   reply.code, reply.summary()))
    return outcome


def _failed(item: _Item, error: BaseException) -> MessageOutcome:
    code, _ = classify(error)
    text = describe(error)
    outcome = MessageOutcome(item.source, item.sender, error=text)
    state = {EXIT_UNKNOWN: UNKNOWN, EXIT_REFUSED: REFUSED, EXIT_USAGE: REFUSED}.get(code, NOT_SENT)
    known: dict[str, RecipientOutcome] = {}
    if isinstance(error, RecipientsRefused):
        for r in error.recipients:
            reply = r.data_reply or r.reply
            if r.accepted:  # accepted at RCPT, but the message went to nobody
                known[r.address] = RecipientOutcome(r.address, REFUSED, None, "not sent: another recipient was refused")
            else:
                known[r.address] = RecipientOutcome(r.address, REFUSED, reply.code, reply.summary())
    reply_code = getattr(error, "code", None)
    for address in item.recipients:
        outcome.recipients.append(known.get(address) or RecipientOutcome(address, state, reply_code, text))
    return outcome


def _not_sent(item: _Item, cause: BaseException) -> MessageOutcome:
    reason = f"not sent: the run stopped after a failure ({describe(cause)})"
    return MessageOutcome(item.source, item.sender, [RecipientOutcome(a, NOT_SENT, None, reason)
                                                     for a in item.recipients], error=reason)


def _unbuildable(item: _Item) -> MessageOutcome:
    outcome = MessageOutcome(item.source, item.sender, error=item.error)
    outcome.recipients = [RecipientOutcome(a, REFUSED, None, item.error or "") for a in item.recipients]
    return outcome


# -- progress, summary, report ----------------------------------------------------------------


class Progress:
    """How far a run is, as it goes, on ``stream``.

    ``bar`` (on a terminal) redraws one line in place, at most ten times a second::

        sent 120/500 [#######.......................] 24% | 310 msg/s | ETA 0:01 |
            recipients: 118 delivered, 2 refused, 0 unknown, 0 not sent

    (on one line)

    ``lines`` prints such a line (without the bar) every few seconds; ``none`` nothing.
    The recipient counts are the final summary's, counted the same way; the last
    state is always shown.
    """

    WIDTH = 30
    INTERVALS = {"bar": 0.1, "lines": 5.0}  # seconds between two reports, at least

    def __init__(self, total: int, stream: TextIO, mode: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.stream = stream
        self.mode = mode if total > 0 else "none"
        self.clock = clock
        self.done = 0
        self.counts = summarize(())
        self.started = clock()
        self.shown_at: Optional[float] = None
        self.shown_done = -1

    def start(self) -> None:
        """Show the run before its first message."""
        self._show(self.clock())

    def update(self, outcome: MessageOutcome) -> None:
        """Count ``outcome``; show the state if the last report is old enough."""
        self.done += 1
        self.counts.update(r.state for r in outcome.recipients)
        now = self.clock()
        if self.mode != "none" and (self.shown_at is None or now - self.shown_at >= self.INTERVALS[self.mode]):
            self._show(now)

    def finish(self) -> None:
        """Show the final state (unless it is on screen already), and end the line."""
        if self.mode == "none":
            return
        if self.shown_at is None or self.shown_done != self.done:
            self._show(self.clock())
        if self.mode == "bar":
            self.stream.write("\n")
            self.stream.flush()

    def line(self, now: float) -> str:
        """The state as one line (with the bar in ``bar`` mode)."""
        elapsed = now - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = self.total - self.done
        eta = "--:--" if rate == 0 and left else _duration(left / rate if left else 0.0)
        filled = self.WIDTH * self.done // self.total
        bar = f" [{'#' * filled}{'.' * (self.WIDTH - filled)}]" if self.mode == "bar" else ""
        return (f"sent {self.done}/{self.total}{bar} {100 * self.done // self.total}% | {rate:,.0f} msg/s | "
                f"ETA {eta} | {recipient_counts(self.counts)}")

    def _show(self, now: float) -> None:
        if self.mode == "none":
            return
        self.stream.write(("\r" + self.line(now) + "\x1b[K") if self.mode == "bar" else self.line(now) + "\n")
        self.stream.flush()
        self.shown_at, self.shown_done = now, self.done


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def summarize(outcomes: Sequence[MessageOutcome]) -> Counter[str]:
    """Recipients per state."""
    counts: Counter[str] = Counter({state: 0 for state in STATES})
    counts.update(r.state for o in outcomes for r in o.recipients)
    return counts


def recipient_counts(counts: Counter[str]) -> str:
    """``recipients: N delivered, N refused, N unknown, N not sent``: the progress's and the summary's."""
    return "recipients: " + ", ".join(f"{counts[state]} {state}" for state in STATES)


def summary_line(outcomes: Sequence[MessageOutcome]) -> str:
    fully = sum(1 for o in outcomes if o.state == DELIVERED)
    return (f"{recipient_counts(summarize(outcomes))} ({len(outcomes)} messages, "
            f"{fully} delivered to every recipient)")


def write_report(path: str, server: str, outcomes: Sequence[MessageOutcome]) -> None:
    """The report per message and recipient: CSV if ``path`` ends in ``.csv``, else JSON."""
    with open(path, "w", encoding="utf-8", newline="") as out:
        if path.lower().endswith(".csv"):
            writer = csv.writer(out)
            writer.writerow(["source", "sender", "message_status", "recipient", "status", "code", "reply", "error"])
            for o in outcomes:
                for r in o.recipients or [RecipientOutcome("", REFUSED)]:
                    writer.writerow([o.source, o.sender or "", o.state, r.address, r.state,
                                     "" if r.code is None else r.code, r.detail, o.error or ""])
            return
        counts = summarize(outcomes)
        report = {
            "server": server,
            "summary": {"messages": len(outcomes),
                        "recipients": {state.replace(" ", "_"): counts[state] for state in STATES}},
            "messages": [o.as_json() for o in outcomes],
        }
        json.dump(report, out, indent=2, ensure_ascii=False)
        out.write("\n")


# -- the command ------------------------------------------------------------------------------


def add_bulk_parser(commands: Any) -> None:
    """Add ``bulk`` to the ``smtpunit`` subcommands."""
    bulk = commands.add_parser(
        "bulk",
        help="send many messages (a directory of .eml files, or an mbox) over pooled connections",
        description="Send every message of each SOURCE (a directory of .eml files, an mbox file, or a\n"
                    "message file) as it is, over a pool of connections; print a summary per recipient:\n"
                    "delivered, refused, unknown (the connection broke after the end of the message), or\n"
                    "not sent (a connection, TLS, AUTH or timeout failure stopped the run).",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bulk.add_argument("sources", nargs="+", metavar="SOURCE",
                      help="a directory (its *.eml files, in name order), an mbox file, or a message file")
    add_connection_options(bulk, partial_delivery=True)
    group = bulk.add_argument_group("bulk")
    group.add_argument("--connections", type=int, default=2, metavar="N",
                       help="connections (and worker threads) to send over (default 2)")
    group.add_argument("-f", "--from", dest="from_", metavar="ADDR",
                       help="the envelope sender of every message (default: its Sender or From)")
    group.add_argument("-t", "--to", action="append", default=[], metavar="ADDR",
                       help="send every message to these recipients instead of its To, Cc and Bcc (repeatable)")
    group.add_argument("--rate", type=float, metavar="PER_SECOND",
                       help="send at most this many messages a second, over all connections together")
    group.add_argument("--progress", choices=["auto", "none", "bar", "lines"], default="auto",
                       help="how to show progress on stderr: a bar redrawn in place, a line every few seconds, "
                            "or none (default auto: a bar on a terminal, lines elsewhere, none with --quiet)")
    group.add_argument("--report", metavar="PATH",
                       help="write a report per message and recipient: CSV if PATH ends in .csv, else JSON")


def _progress_mode(args: argparse.Namespace) -> str:
    """``--progress``, or by default: a bar on a terminal, lines elsewhere, nothing with
    ``--quiet`` (and no bar over ``--transcript``'s lines)."""
    if args.progress != "auto":
        return str(args.progress)
    if args.quiet:
        return "none"
    return "bar" if sys.stderr.isatty() and not args.transcript else "lines"


def run_bulk(args: argparse.Namespace) -> int:
    """``smtpunit bulk``."""
    from ..core.commands import check_address
    from ..options import SendOptions
    from ..pool import Pool, session_opener
    from ..units.contract import as_mailer

    if args.connections < 1:
        raise UsageError("--connections must be at least 1")
    if args.rate is not None and not args.rate > 0:
        raise UsageError("--rate must be above 0")
    from_ = check_address(args.from_, "sender", allow_empty=True) if args.from_ is not None else None
    to = [check_address(a, "recipient") for a in args.to]
    messages = load_messages(args.sources)
    if not messages:
        raise UsageError(f"no messages in {', '.join(args.sources)}")
    items = [_item(name, data, from_, to) for name, data in messages]
    settings = connection_settings(args)
    if args.connections > 1:
        settings.transcript_format = "[%(threadName)s] %(message)s"

    stop = threading.Event()
    stopped_by: list[BaseException] = []
    with settings.active():  # the pool keeps the EHLO name current when it is made
        if settings.mailer is None:
            pool = Pool(settings.server, settings.port, size=args.connections, rate=args.rate, **settings.options)
        else:
            checked = SendOptions.of("bulk", settings.options, chunking=True)
            opener = session_opener(as_mailer(settings.mailer), settings.server, settings.port, checked)
            pool = Pool(settings.server, settings.port, size=args.connections, rate=args.rate, connect=opener,
                        retry=checked.retry)

    def send(item: _Item) -> MessageOutcome:
        if item.envelope is None:
            return _unbuildable(item)
        if stop.is_set():
            return _not_sent(item, stopped_by[0])
        try:
            result = pool.send_envelope(item.envelope)
        except SMTPError as exc:
            code, _ = classify(exc)
            if code not in (EXIT_USAGE, EXIT_REFUSED, EXIT_UNKNOWN):  # the connection failed: stop the run
                stopped_by.append(exc)
                stop.set()
            return _failed(item, exc)
        return _delivered(item, result)

    progress = Progress(len(items), sys.stderr, _progress_mode(args))
    outcomes: list[Optional[MessageOutcome]] = [None] * len(items)
    workers = ThreadPoolExecutor(args.connections, thread_name_prefix="worker")
    try:
        with settings.active():
            futures = {workers.submit(send, item): index for index, item in enumerate(items)}
            progress.start()
            for future in as_completed(futures):
                outcome = outcomes[futures[future]] = future.result()
                progress.update(outcome)
    except BaseException as exc:  # Ctrl-C, or a bug: send nothing more
        stopped_by.append(exc)
        stop.set()
        raise
    finally:
        workers.shutdown(wait=True, cancel_futures=True)
        progress.finish()
        pool.close()
    results = [o for o in outcomes if o is not None]
    everything_delivered = all(o.state == DELIVERED for o in results)

    if args.report:
        try:
            write_report(args.report, f"{settings.server}:{settings.port}", results)
        except OSError as exc:
            print(f"smtpunit bulk: cannot write --report {args.report}: {exc.strerror or exc}", file=sys.stderr)
    if not (args.quiet and everything_delivered):
        for outcome in results:
            if outcome.state != DELIVERED:
                problems = outcome.error or "; ".join(
                    f"{r.address}: {r.detail}" for r in outcome.recipients if r.state != DELIVERED)
                print(f"smtpunit bulk: {outcome.source}: {outcome.state}: {problems}", file=sys.stderr)
        print(summary_line(results), flush=True)

    counts = summarize(results)
    if stopped_by and counts[DELIVERED] == 0:
        code, _ = classify(stopped_by[0])
        print(f"smtpunit bulk: {describe(stopped_by[0])}", file=sys.stderr)
        return code
    if everything_delivered:
        return EXIT_OK
    return EXIT_PARTIAL
