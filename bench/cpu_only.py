"""smtpunit's own cost per message: without sockets, or over TCP to a local smtp-sink.

    python bench/cpu_only.py                   # CPU us/msg, best of 5 (noisy on a shared machine)
    python bench/cpu_only.py --callgrind       # instructions/msg under valgrind (repeatable)
    python bench/cpu_only.py --rcpts 10 --size 102400
    python bench/cpu_only.py --one-shot        # smtp_send_message per message: the per-call set-up
    python bench/cpu_only.py --one-shot --tcp  # the same over TCP to smtp-sink: the transport counted too
    python bench/cpu_only.py --one-shot --tcp --smtplib   # smtplib's connect/sendmail/quit, for comparison

A session runs ``send_many`` over a connection that answers at once with the replies
Postfix's smtp-sink gives, so all that is measured is smtpunit's own work: checking
and encoding the messages, building the commands, parsing the replies, the results.
With ``--callgrind`` the figure is the difference in instructions between two runs
of different lengths, divided by the difference in messages: the same for the same
code whatever else the machine does, which is what comparing two versions needs.

With ``--tcp`` the client connects with the registry's TCP transport to a Postfix
``smtp-sink`` started for the run on 127.0.0.1 (bench/sink.py), so the transport's
work -- name resolution, the socket's set-up, its checks before each write -- is
counted too; valgrind counts the client's instructions only, not the sink's nor the
kernel's. ``--smtplib`` sends the same messages with :mod:`smtplib` instead.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
from typing import Optional

from messages import SENDER, BenchMessage, make_message
from zope.interface import implementer

import smtpunit
from smtpunit.interfaces import IConnection, ITransport

GREETING = b"220 smtp-sink ESMTP\r\n"
EHLO = b"250-smtp-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 DSN\r\n"


@implementer(IConnection)
class InstantConnection:
    """Answers each write with the replies smtp-sink would give to it, at once."""

    secure = False
    loopback = True
    server_hostname = "localhost"

    def __init__(self, rcpts: int) -> None:
        self.envelope = b"250 2.1.0 Ok\r\n" + b"250 2.1.5 Ok\r\n" * rcpts + b"354 End data with <CR><LF>.<CR><LF>\r\n"
        self.pending = [GREETING]
        self.previous = b""

    def send(self, data: bytes, timeout: float) -> None:
        # The end of the data, the next envelope and QUIT come at the end of a write.
        # The stream's last octets, so that a "." right after an earlier write's CRLF counts.
        head, tail = bytes(data[:4]), self.previous + bytes(data[-4096:])
        self.previous = tail[-4:]
        if head == b"EHLO":
            self.pending.append(EHLO)
            return
        replies = []
        if b"\r\n.\r\n" in tail:
            replies.append(b"250 2.0.0 Ok: queued as 1\r\n")
        if tail.endswith(b"DATA\r\n"):
            replies.append(self.envelope)
        if tail.endswith(b"QUIT\r\n"):
            replies.append(b"221 Bye\r\n")
        if replies:
            self.pending.append(b"".join(replies))

    def receive(self, max_bytes: int, timeout: float) -> bytes:
        return self.pending.pop(0)

    def close(self) -> None:
        pass


@implementer(ITransport)
class InstantTransport:
    def __init__(self, rcpts: int) -> None:
        self.rcpts = rcpts

    def connect(self, host: str, port: int, timeout: float) -> InstantConnection:
        return InstantConnection(self.rcpts)


def send(count: int, rcpts: int, size: int, one_shot: bool = False, port: Optional[int] = None,
         use_smtplib: bool = False) -> None:
    """One session sending ``count`` messages with ``send_many``; or, ``one_shot``,
    ``count`` calls of Racket's ``smtp_send_message``, a connection each. Over the
    instant connection, or with ``port`` over TCP to 127.0.0.1:``port``; with
    ``use_smtplib``, smtplib's ``sendmail`` (on a connection each if ``one_shot``)."""
    message = make_message(size, rcpts)
    if use_smtplib and port is not None:
        send_smtplib(count, message, port, one_shot)
        return
    host, options = ("127.0.0.1", {}) if port else ("localhost", {"tcp_connect": InstantTransport(rcpts)})
    port = port or 25
    if one_shot:
        for _ in range(count):
            smtpunit.smtp_send_message(host, SENDER, message.recipients, message.header, message.lines, port,
                                       **options)
        return
    batch = [(SENDER, message.recipients, message.header, message.lines)] * count
    with smtpunit.connect(host, port, **options) as session:
        outcomes = session.send_many(batch)
    if not all(isinstance(outcome, smtpunit.SendResult) for outcome in outcomes):
        raise RuntimeError(f"not every message was sent: {outcomes[:3]!r}")


def send_smtplib(count: int, message: BenchMessage, port: int, one_shot: bool) -> None:
    """``count`` messages with smtplib, as bench/clients.py sends them."""
    if one_shot:
        for _ in range(count):
            with smtplib.SMTP("127.0.0.1", port) as client:
                client.sendmail(SENDER, message.recipients, message.raw)
        return
    with smtplib.SMTP("127.0.0.1", port) as client:
        for _ in range(count):
            client.sendmail(SENDER, message.recipients, message.raw)


def cpu_per_message(count: int, rcpts: int, size: int, one_shot: bool, port: Optional[int],
                    use_smtplib: bool) -> float:
    """Best of 5 runs, in seconds of this process's CPU per message."""
    send(count, rcpts, size, one_shot, port, use_smtplib)  # warm-up
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        send(count, rcpts, size, one_shot, port, use_smtplib)
        best = min(best, time.process_time() - started)
    return best / count


def instructions(count: int, rcpts: int, size: int, one_shot: bool, port: Optional[int], use_smtplib: bool) -> int:
    """Instructions executed by a run of ``count`` messages (valgrind's callgrind)."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("--callgrind needs valgrind (apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="smtpunit-callgrind-") as folder:
        done = subprocess.run(
            [valgrind, "--tool=callgrind", f"--callgrind-out-file={os.path.join(folder, 'out')}",
             sys.executable, __file__, "--once", str(count), "--rcpts", str(rcpts), "--size", str(size),
             *(["--one-shot"] if one_shot else []), *(["--port", str(port)] if port else []),
             *(["--smtplib"] if use_smtplib else [])],
            capture_output=True, text=True, check=True)
    match = re.search(r"Collected : (\d+)", done.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in valgrind's output: {done.stderr[-300:]}")
    return int(match.group(1))


def report(args: argparse.Namespace, port: Optional[int]) -> None:
    """Measure and print one figure."""
    client = "smtplib" if args.smtplib else "smtpunit"
    verb = ("connect/sendmail/quit" if args.smtplib else "smtp_send_message") if args.one_shot else (
        "sendmail" if args.smtplib else "send_many")
    where = "TCP to smtp-sink" if port else "no sockets"
    what = f"{verb}, {args.size} octets, {args.rcpts} recipient(s), {where}"
    if args.callgrind:
        small, large = args.count // 10, args.count // 10 + 2000
        per_message = (instructions(large, args.rcpts, args.size, args.one_shot, port, args.smtplib)
                       - instructions(small, args.rcpts, args.size, args.one_shot, port, args.smtplib)
                       ) / (large - small)
        print(f"{client} {what}: {per_message:,.0f} instructions/msg (callgrind)")
    else:
        cpu = cpu_per_message(args.count, args.rcpts, args.size, args.one_shot, port, args.smtplib)
        print(f"{client} {what}: {cpu * 1e6:.1f} us CPU/msg")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rcpts", type=int, default=1)
    parser.add_argument("--size", type=int, default=1024, help="message octets, header included")
    parser.add_argument("--count", type=int, default=5000, help="messages per run")
    parser.add_argument("--callgrind", action="store_true", help="count instructions instead of timing")
    parser.add_argument("--one-shot", action="store_true",
                        help="smtp_send_message per message (a connection each) instead of one send_many")
    parser.add_argument("--tcp", action="store_true",
                        help="over TCP to a Postfix smtp-sink started on 127.0.0.1 (the transport counted too)")
    parser.add_argument("--smtplib", action="store_true", help="send with smtplib instead (needs --tcp)")
    parser.add_argument("--once", type=int, metavar="N", help=argparse.SUPPRESS)  # one run, for valgrind
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)  # the sink's, for --once
    args = parser.parse_args(argv)
    if args.once is not None:
        send(args.once, args.rcpts, args.size, args.one_shot, args.port, args.smtplib)
        return
    if args.smtplib and not args.tcp:
        raise SystemExit("--smtplib needs --tcp")
    if args.tcp:
        from sink import Sink

        with Sink() as sink:
            report(args, sink.port)
    else:
        report(args, None)


if __name__ == "__main__":
    main(sys.argv[1:])
