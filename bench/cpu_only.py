"""smtpunit's own cost per message, without sockets or a server process.

    python bench/cpu_only.py                   # CPU us/msg, best of 5 (noisy on a shared machine)
    python bench/cpu_only.py --callgrind       # instructions/msg under valgrind (repeatable)
    python bench/cpu_only.py --rcpts 10 --size 102400
    python bench/cpu_only.py --one-shot        # smtp_send_message per message: the per-call set-up

A session runs ``send_many`` over a connection that answers at once with the replies
Postfix's smtp-sink gives, so all that is measured is smtpunit's own work: checking
and encoding the messages, building the commands, parsing the replies, the results.
With ``--callgrind`` the figure is the difference in instructions between two runs
of different lengths, divided by the difference in messages: the same for the same
code whatever else the machine does, which is what comparing two versions needs.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from messages import SENDER, make_message
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


def send(count: int, rcpts: int, size: int, one_shot: bool = False) -> None:
    """One session sending ``count`` messages with ``send_many``; or, ``one_shot``,
    ``count`` calls of Racket's ``smtp_send_message``, a connection each."""
    message = make_message(size, rcpts)
    transport = InstantTransport(rcpts)
    if one_shot:
        for _ in range(count):
            smtpunit.smtp_send_message("localhost", SENDER, message.recipients, message.header, message.lines, 25,
                                       tcp_connect=transport)
        return
    batch = [(SENDER, message.recipients, message.header, message.lines)] * count
    with smtpunit.connect("localhost", 25, tcp_connect=transport) as session:
        outcomes = session.send_many(batch)
    if not all(isinstance(outcome, smtpunit.SendResult) for outcome in outcomes):
        raise RuntimeError(f"not every message was sent: {outcomes[:3]!r}")


def cpu_per_message(count: int, rcpts: int, size: int, one_shot: bool) -> float:
    """Best of 5 runs, in seconds of this process's CPU per message."""
    send(count, rcpts, size, one_shot)  # warm-up
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        send(count, rcpts, size, one_shot)
        best = min(best, time.process_time() - started)
    return best / count


def instructions(count: int, rcpts: int, size: int, one_shot: bool) -> int:
    """Instructions executed by a run of ``count`` messages (valgrind's callgrind)."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("--callgrind needs valgrind (apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="smtpunit-callgrind-") as folder:
        done = subprocess.run(
            [valgrind, "--tool=callgrind", f"--callgrind-out-file={os.path.join(folder, 'out')}",
             sys.executable, __file__, "--once", str(count), "--rcpts", str(rcpts), "--size", str(size),
             *(["--one-shot"] if one_shot else [])],
            capture_output=True, text=True, check=True)
    match = re.search(r"Collected : (\d+)", done.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in valgrind's output: {done.stderr[-300:]}")
    return int(match.group(1))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rcpts", type=int, default=1)
    parser.add_argument("--size", type=int, default=1024, help="message octets, header included")
    parser.add_argument("--count", type=int, default=5000, help="messages per run")
    parser.add_argument("--callgrind", action="store_true", help="count instructions instead of timing")
    parser.add_argument("--one-shot", action="store_true",
                        help="smtp_send_message per message (a connection each) instead of one send_many")
    parser.add_argument("--once", type=int, metavar="N", help=argparse.SUPPRESS)  # one run, for valgrind
    args = parser.parse_args(argv)
    if args.once is not None:
        send(args.once, args.rcpts, args.size, args.one_shot)
        return
    what = f"{'smtp_send_message' if args.one_shot else 'send_many'}, {args.size} octets, {args.rcpts} recipient(s)"
    if args.callgrind:
        small, large = args.count // 10, args.count // 10 + 2000
        per_message = (instructions(large, args.rcpts, args.size, args.one_shot)
                       - instructions(small, args.rcpts, args.size, args.one_shot)) / (large - small)
        print(f"smtpunit {what}: {per_message:,.0f} instructions/msg (callgrind)")
    else:
        cpu = cpu_per_message(args.count, args.rcpts, args.size, args.one_shot)
        print(f"smtpunit {what}: {cpu * 1e6:.1f} us CPU/msg, no sockets")


if __name__ == "__main__":
    main(sys.argv[1:])
