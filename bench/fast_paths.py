"""What each fast path saves: instructions per message with it, and with its slow twin.

    python bench/fast_paths.py                 # every fast path, send_many and one-shot
    python bench/fast_paths.py --count 3000 --size 10240 --rcpts 5

Each fast path of smtpunit has a slow twin kept beside it: the careful logic that
names an error, or that the fast path shortcuts. This script runs the workloads of
``bench/cpu_only.py`` (no sockets, replies at once) under valgrind's callgrind, once
as smtpunit is and once with one fast path replaced by its twin, and prints the
instructions per message of each and what the fast path saves. A fast path that
saves little is a candidate for folding into its twin. Needs valgrind.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from cpu_only import InstantTransport
from messages import SENDER, make_message

import smtpunit
from smtpunit.core import commands, content, reply, transactions
from smtpunit.errors import InvalidHeader

# -- the slow twins ---------------------------------------------------------------------


class _Forgetful(dict):
    """A cache that never has what is asked and keeps nothing."""

    def get(self, key: Any, default: Any = None) -> Any:
        return default

    def __setitem__(self, key: Any, value: Any) -> None:
        pass


def _slow_check_body(lines: Any) -> content.CheckedLines:
    """Each line checked on its own (:func:`~smtpunit.core.content.encode_line`)."""
    raws = [content.encode_line(line, number)[:-2] for number, line in enumerate(list(lines), 1)]
    raws = [raw[1:] if raw[:2] == b".." else raw for raw in raws]  # undo the stuffing: data_pieces stuffs
    return content.CheckedLines(raws, False, sum(len(raw) + 2 for raw in raws), all(map(bytes.isascii, raws)))


def _slow_encode_header(header: Any) -> bytes:
    """The header checked line by line, as the error message is found."""
    raw = content.as_bytes(header, "header", InvalidHeader)
    if raw == b"\r\n":
        return raw
    if not raw.endswith(b"\r\n\r\n") or b"\x00" in raw:
        commands._refuse_header(raw)
    for number, line in enumerate(raw[:-4].split(b"\r\n"), 1):
        if b"\r" in line or b"\n" in line or len(line) > commands.MAX_LINE_OCTETS \
                or (line[:1] in (b" ", b"\t") and number == 1) \
                or (line[:1] not in (b" ", b"\t") and not commands._FIELD_NAME.match(line)):
            commands._refuse_header(raw)
    return content.dot_stuffed(raw)


@contextmanager
def _patched(*changes: tuple[Any, str, Any]) -> Iterator[None]:
    with ExitStack() as stack:
        for owner, name, value in changes:
            old = getattr(owner, name)
            setattr(owner, name, value)
            stack.callback(setattr, owner, name, old)
        yield


FAST_PATHS: dict[str, tuple[str, Callable[[], Any]]] = {
    "reply-line-regex": ("a well-formed reply line in one regex match, instead of line by line",
                         lambda: _patched((reply, "_WELL_FORMED", re.compile(b"(?!)")))),
    "reply-cache": ("a reply line seen before, not parsed again",
                    lambda: _patched((reply, "_KNOWN_REPLIES", _Forgetful()))),
    "reply-group-cache": ("a group of pipelined replies seen before, taken whole",
                          lambda: _patched((reply, "_KNOWN_GROUPS", _Forgetful()))),
    "final-write-ahead": ("the next message's data joined while the server answers",
                          lambda: _patched((transactions, "_PREPARED_LIMIT", -1))),
    "options-cache": ("keyword options checked once per set",
                      lambda: _patched((smtpunit.options, "_CHECKED", _Forgetful()))),
    "body-check": ("all body lines checked at once at C speed, instead of each on its own",
                   lambda: _patched((content, "check_body", _slow_check_body),
                                    (commands, "check_body", _slow_check_body))),
    "header-regex": ("the header checked by one regex, instead of line by line",
                     lambda: _patched((commands, "encode_header", _slow_encode_header))),
}


# -- the workloads ----------------------------------------------------------------------


def run(count: int, rcpts: int, size: int, one_shot: bool) -> None:
    """``count`` messages: one ``send_many``, or ``smtp_send_message`` each."""
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


def instructions(variant: str, count: int, args: argparse.Namespace, one_shot: bool) -> int:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("this needs valgrind (apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="smtpunit-fast-paths-") as folder:
        done = subprocess.run(
            [valgrind, "--tool=callgrind", f"--callgrind-out-file={os.path.join(folder, 'out')}",
             sys.executable, __file__, "--once", variant, str(count), "--rcpts", str(args.rcpts),
             "--size", str(args.size), *(["--one-shot"] if one_shot else [])],
            capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output: {done.stderr[-300:]}")
    return int(found.group(1))


def per_message(variant: str, args: argparse.Namespace, one_shot: bool) -> float:
    """Instructions per message: the difference between two run lengths (start-up cancels)."""
    small, large = args.count // 10, args.count // 10 + args.count
    return (instructions(variant, large, args, one_shot) - instructions(variant, small, args, one_shot)) / args.count


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rcpts", type=int, default=1)
    parser.add_argument("--size", type=int, default=1024, help="message octets, header included")
    parser.add_argument("--count", type=int, default=2000, help="messages per measured run")
    parser.add_argument("--only", choices=sorted(FAST_PATHS), action="append", help="these fast paths only")
    parser.add_argument("--once", nargs=2, metavar=("VARIANT", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--one-shot", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.once:
        variant, count = args.once[0], int(args.once[1])
        with FAST_PATHS[variant][1]() if variant != "as-is" else _patched():
            run(count, args.rcpts, args.size, args.one_shot)
        return
    print(f"instructions per message, {args.size} octets, {args.rcpts} recipient(s), no sockets (callgrind)")
    print(f"{'fast path':<20} {'workload':<18} {'with it':>10} {'slow twin':>10} {'saved':>7}")
    for one_shot, workload in ((False, "send_many"), (True, "smtp_send_message")):
        base = per_message("as-is", args, one_shot)
        for name in args.only or FAST_PATHS:
            slow = per_message(name, args, one_shot)
            print(f"{name:<20} {workload:<18} {base:>10,.0f} {slow:>10,.0f} {(slow - base) / slow:>7.1%}",
                  flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
