"""Where a pipelined session's time goes, message by message, against smtp-sink.

    python bench/critical_path.py                  # 1 KB, 1 recipient, 5000 messages
    python bench/critical_path.py --rcpts 10 --size 102400 --count 300
    python bench/critical_path.py --send           # Session.send per message instead

It starts smtp-sink on 127.0.0.1 (as bench/run.py does), runs one ``send_many``, and
timestamps every write and read of the connection. Between the client's read of a
group's replies and its next write lies the client's own part of each round trip
(``read -> write``); the rest is the write itself, what the client does after it
(``write -> read``: the next message is made then), and the wait for the server.
With ``--send`` each message is a ``Session.send`` of its own (two round trips: the
envelope, then the data), and the client's part is shown for each of the two writes.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from typing import Any

import deps
from messages import SENDER, make_message
from sink import Sink

import smtpunit
from smtpunit.providers import tcp

STEPS = {
    ("got", "write"): "read -> write (the client's part of a round trip)",
    ("got", "write MAIL"): "read -> write of the next envelope (Session.send)",
    ("write MAIL", "wrote"): "write of an envelope",
    ("write", "wrote"): "write (the system call)",
    ("wrote", "read"): "write -> read (the client, while the server works)",
    ("read", "got"): "read (waiting for the server)",
}


def traced(marks: list[tuple[str, float]]) -> None:
    """Make every SocketConnection note when its writes and reads start and end."""
    send, receive = tcp.SocketConnection.send, tcp.SocketConnection.receive
    clock = time.perf_counter

    def traced_send(self: Any, data: bytes, timeout: float) -> None:
        marks.append(("write" if bytes(data[:5]) != b"MAIL " else "write MAIL", clock()))
        send(self, data, timeout)
        marks.append(("wrote", clock()))

    def traced_receive(self: Any, max_bytes: int, timeout: float) -> bytes:
        marks.append(("read", clock()))
        data = receive(self, max_bytes, timeout)
        marks.append(("got", clock()))
        return data

    tcp.SocketConnection.send, tcp.SocketConnection.receive = traced_send, traced_receive  # type: ignore[method-assign]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rcpts", type=int, default=1)
    parser.add_argument("--size", type=int, default=1024, help="message octets, header included")
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--send", action="store_true", help="Session.send per message, not one send_many")
    args = parser.parse_args(argv)
    deps.ensure_all()
    message = make_message(args.size, args.rcpts)
    batch = [(SENDER, message.recipients, message.header, message.lines)]
    marks: list[tuple[str, float]] = []
    traced(marks)
    with Sink() as sink, smtpunit.connect("127.0.0.1", sink.port) as session:
        session.send_many(batch * 3)  # warm-up
        marks.clear()
        started = time.perf_counter()
        if args.send:
            for _ in range(args.count):
                session.send(*batch[0])
        else:
            session.send_many(batch * args.count)
        wall = time.perf_counter() - started
    gaps: dict[tuple[str, str], list[float]] = defaultdict(list)
    for (first, at), (then, later) in zip(marks, marks[1:], strict=False):
        if not args.send:  # a batch's writes all start with data (the first aside)
            first, then = first.split()[0], then.split()[0]
        gaps[(first, then)].append(later - at)
    print(f"{args.count} messages of {args.size} octets, {args.rcpts} recipient(s): "
          f"{args.count / wall:,.0f} msgs/s, {wall / args.count * 1e6:.1f} us a message")
    for step, label in STEPS.items():
        times = sorted(gaps.get(step, []))
        if times:
            print(f"  {label:55s} median {times[len(times) // 2] * 1e6:6.1f} us  "
                  f"mean {sum(times) / len(times) * 1e6:6.1f} us  ({len(times)} times)")


if __name__ == "__main__":
    main(sys.argv[1:])
