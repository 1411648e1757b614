"""Send ONE big message in a fresh process and print its peak RSS as JSON.

    python bench/rss_child.py --mode smtpunit-bytes --path /tmp/msg.eml --port 2525

Modes:

* ``smtpunit-bytes``: the message read into one ``bytes``, sent with
  ``commands.prepare_raw_envelope`` + ``session.send_envelopes`` -- or, where that API
  does not exist yet, split into a header and a list of body lines for
  ``session.send`` (the JSON says which API ran);
* ``smtpunit-file``: streamed from the open file with ``commands.prepare_file_envelope``;
* ``smtplib`` / ``aiosmtplib``: the message read into one ``bytes`` and sent with
  ``sendmail``.

``baseline_kb`` is the peak RSS after the imports, ``input_kb`` after the input was
built (before the send), ``maxrss_kb`` at the end, all in KiB from ``VmHWM`` (see
:func:`maxrss_kb`); ``ru_maxrss_kb`` is getrusage's figure for comparison.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

from messages import SENDER, recipients


def maxrss_kb() -> int:
    """This process's peak resident set size so far, in KiB: ``VmHWM`` of
    /proc/self/status, the peak of this program's own memory.

    ``ru_maxrss`` is not used for this: Linux carries the parent's peak RSS at the
    fork into the child's ru_maxrss across exec, so a child of a big parent would
    report the parent's size. :func:`ru_maxrss_kb` gives it for comparison.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return ru_maxrss_kb()


def ru_maxrss_kb() -> int:
    """``getrusage(RUSAGE_SELF).ru_maxrss`` in KiB (Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def read_message(path: str) -> bytes:
    """The whole file as one ``bytes`` (a single allocation of the file's size)."""
    with open(path, "rb") as source:
        return source.read()


def smtpunit_bytes(path: str, port: int, report: dict) -> None:
    """The message as bytes, through the raw-envelope API if it exists. The envelope
    is prepared (checked) before connecting, and the two steps are timed apart."""
    import smtpunit
    from smtpunit.core import commands

    prepare_raw = getattr(commands, "prepare_raw_envelope", None)
    if prepare_raw is not None:
        data = read_message(path)
        report["api"] = "commands.prepare_raw_envelope + Session.send_envelopes"
        report["input_kb"] = maxrss_kb()
        started = time.perf_counter()
        envelope = prepare_raw(SENDER, recipients(1), data)
        report["prepare_s"] = time.perf_counter() - started
        send_envelope(port, envelope, report)
        return
    report["api"] = "Session.send(from, to, header, lines) (prepare_raw_envelope does not exist)"
    header, lines = read_lines(path)
    report["input_kb"] = maxrss_kb()
    started = time.perf_counter()
    with smtpunit.connect("127.0.0.1", port) as session:
        session.send(SENDER, recipients(1), header, lines)
    report["send_s"] = time.perf_counter() - started


def send_envelope(port: int, envelope: object, report: dict) -> None:
    """Connect, send the one prepared envelope, check it was accepted; time it."""
    import smtpunit

    started = time.perf_counter()
    with smtpunit.connect("127.0.0.1", port) as session:
        check(session.send_envelopes([envelope]))
    report["send_s"] = time.perf_counter() - started


def read_lines(path: str) -> tuple[bytes, list[bytes]]:
    """The message as a header and a list of body lines (no CRLF), read line by line."""
    with open(path, "rb") as source:
        header = b""
        for line in source:
            header += line
            if line == b"\r\n":
                break
        return header, [line[:-2] for line in source]


def smtpunit_file(path: str, port: int, report: dict) -> None:
    """The message streamed from the open file with ``prepare_file_envelope``."""
    from smtpunit.core import commands

    prepare_file = getattr(commands, "prepare_file_envelope", None)
    if prepare_file is None:
        raise SystemExit("smtpunit.core.commands.prepare_file_envelope does not exist")
    report["api"] = "commands.prepare_file_envelope + Session.send_envelopes"
    report["input_kb"] = maxrss_kb()
    with open(path, "rb") as source:
        started = time.perf_counter()
        envelope = prepare_file(SENDER, recipients(1), source)
        report["prepare_s"] = time.perf_counter() - started
        send_envelope(port, envelope, report)


def smtplib_bytes(path: str, port: int, report: dict) -> None:
    """``smtplib.SMTP.sendmail`` with the message as bytes."""
    import smtplib

    data = read_message(path)
    report["api"] = "smtplib.SMTP.sendmail(bytes)"
    report["input_kb"] = maxrss_kb()
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as client:
        refused = client.sendmail(SENDER, recipients(1), data)
    report["send_s"] = time.perf_counter() - started
    if refused:
        raise SystemExit(f"refused: {refused}")


def aiosmtplib_bytes(path: str, port: int, report: dict) -> None:
    """``aiosmtplib.SMTP.sendmail`` with the message as bytes."""
    import asyncio

    import aiosmtplib

    data = read_message(path)
    report["api"] = "aiosmtplib.SMTP.sendmail(bytes)"
    report["input_kb"] = maxrss_kb()

    async def send() -> None:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=600) as client:
            errors, _reply = await client.sendmail(SENDER, recipients(1), data)
        if errors:
            raise SystemExit(f"refused: {errors}")

    started = time.perf_counter()
    asyncio.run(send())
    report["send_s"] = time.perf_counter() - started


def check(outcomes: list) -> None:
    """Fail unless the one outcome is a SendResult."""
    import smtpunit

    if len(outcomes) != 1 or not isinstance(outcomes[0], smtpunit.SendResult):
        raise SystemExit(f"not sent: {outcomes!r}")


MODES = {
    "smtpunit-bytes": smtpunit_bytes,
    "smtpunit-file": smtpunit_file,
    "smtplib": smtplib_bytes,
    "aiosmtplib": aiosmtplib_bytes,
}


def main(argv: list[str]) -> None:
    """Import what the mode needs, send, print the RSS figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", required=True, choices=MODES)
    parser.add_argument("--path", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    if args.mode.startswith("smtpunit"):
        import smtpunit  # noqa: F401 -- count the library's imports in the baseline
    else:
        import smtplib  # noqa: F401

        if args.mode == "aiosmtplib":
            import aiosmtplib  # noqa: F401
    report: dict = {"mode": args.mode, "baseline_kb": maxrss_kb()}
    MODES[args.mode](args.path, args.port, report)
    report["maxrss_kb"] = maxrss_kb()
    report["ru_maxrss_kb"] = ru_maxrss_kb()
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1:])
