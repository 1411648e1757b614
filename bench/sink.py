"""Postfix ``smtp-sink`` on 127.0.0.1: start it, read its counters, stop it."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import time
from typing import Optional

import pinning

SMTP_SINK = "/usr/sbin/smtp-sink"
SMTP_SOURCE = "/usr/sbin/smtp-source"
_COUNTERS = re.compile(rb"sess=(\d+) quit=(\d+) mesg=(\d+)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_listening(port: int, timeout: float = 5.0) -> None:
    """Return once something accepts connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0) as probe:
                probe.recv(512)  # the greeting; the sink counts this as a session
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Sink:
    """A running ``smtp-sink -c`` and the message count it reports.

    ``-c`` makes smtp-sink print ``sess=N quit=N mesg=N`` each time a session ends
    or a message's ``.`` arrives; :attr:`messages` follows it, so every run can be
    checked against what the server really received.
    """

    def __init__(self, backlog: int = 1000) -> None:
        self.backlog = backlog
        self.port = 0
        self.process: Optional[subprocess.Popen] = None
        self.messages = 0
        self._reader: Optional[threading.Thread] = None

    def command(self) -> list[str]:
        """The smtp-sink command line (as root it must drop to the postfix user)."""
        user = ["-u", "postfix"] if os.geteuid() == 0 else []
        # -c counters; -m: up to 1000 simultaneous sessions; backlog for bursts of connects.
        return [SMTP_SINK, "-c", *user, "-m", "1000", f"127.0.0.1:{self.port}", str(self.backlog)]

    def start(self) -> Sink:
        """Start on a free port; retried if another process took the port first."""
        for _attempt in range(5):
            self.port = free_port()
            self.process = subprocess.Popen(pinning.sink(self.command()), stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE)
            try:
                wait_listening(self.port)
            except OSError:
                self.stop()
                continue
            self._reader = threading.Thread(target=self._follow, daemon=True)
            self._reader.start()
            return self
        raise RuntimeError(f"smtp-sink did not start: {' '.join(self.command())}")

    def _follow(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        pending = b""
        while chunk := self.process.stdout.read1(4096):
            pending += chunk
            *complete, pending = re.split(rb"[\r\n]", pending)
            for record in complete:
                match = _COUNTERS.search(record)
                if match:
                    self.messages = int(match.group(3))

    def wait_for(self, total: int, timeout: float = 3.0) -> bool:
        """Wait until the sink reports ``total`` messages; whether it did."""
        deadline = time.monotonic() + timeout
        while self.messages < total and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.messages == total

    def stop(self) -> None:
        """Terminate smtp-sink and reap it."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Sink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def postfix_processes() -> list[str]:
    """``pgrep -a`` lines for smtp-sink/smtp-source processes still running (anyone's)."""
    found = subprocess.run(["pgrep", "-a", "-f", r"smtp-(sink|source)"], capture_output=True, text=True)
    return [line for line in found.stdout.splitlines() if "pgrep" not in line]
