"""Running the clients: timed runs, round-trip counts, big-message RSS."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pinning
from messages import SENDER, make_message, recipients
from proxy import Proxy
from sink import SMTP_SOURCE, Sink
from workloads import SMTP_SOURCE as SOURCE_CLIENT
from workloads import Workload

HERE = Path(__file__).resolve().parent
WORKER_TIMEOUT = 600


class ClientFailed(RuntimeError):
    """A client run exited with an error; the message is its last lines of output."""


@dataclass
class Run:
    """One timed run of one client."""

    client: str
    count: int
    wall: float
    cpu: float
    verified: bool
    round_trips: Optional[int] = None

    @property
    def rate(self) -> float:
        """Messages per second."""
        return self.count / self.wall

    @property
    def cpu_per_message(self) -> float:
        """Client CPU seconds per message."""
        return self.cpu / self.count


@dataclass
class ClientResult:
    """Every run of one client on one workload, and its round-trip profile."""

    client: str
    runs: list[Run] = field(default_factory=list)
    error: Optional[str] = None
    round_trips_per_message: Optional[float] = None  # marginal: each further message
    round_trips_per_connection: Optional[float] = None  # fixed: greeting, EHLO, QUIT

    @property
    def best(self) -> Optional[Run]:
        """The fastest run."""
        return min(self.runs, key=lambda run: run.wall) if self.runs else None

    @property
    def rate(self) -> Optional[float]:
        """The best msgs/s, ``None`` if no run succeeded."""
        best = self.best
        return best.rate if best else None

    @property
    def all_verified(self) -> bool:
        """The sink counted exactly the messages of every run."""
        return all(run.verified for run in self.runs)


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(text.strip().splitlines()[-lines:]) or "(no output)"


def run_worker(client: str, workload: Workload, port: int, count: int, warmup: int) -> dict:
    """Run ``bench/worker.py`` in a fresh process; its JSON report."""
    command = [
        sys.executable, str(HERE / "worker.py"), "--client", client, "--port", str(port),
        "--count", str(count), "--size", str(workload.size), "--rcpts", str(workload.rcpts),
        "--conns", str(workload.conns), "--warmup", str(warmup),
    ]
    if workload.per_message:
        command.append("--per-message")
    done = subprocess.run(pinning.client(command), capture_output=True, text=True, timeout=WORKER_TIMEOUT)
    if done.returncode != 0:
        raise ClientFailed(f"{client} exited with {done.returncode}: {_tail(done.stderr)}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def smtp_source_command(workload: Workload, port: int, count: int) -> list[str]:
    """``smtp-source`` for the workload: -s sessions, -m messages, -l body octets,
    -r recipients, and -d (stay connected) unless a connection per message is wanted."""
    body = make_message(workload.size, workload.rcpts).body_octets
    command = [SMTP_SOURCE, "-s", str(workload.conns), "-m", str(count), "-l", str(body),
               "-r", str(workload.rcpts), "-f", SENDER, "-t", recipients(1)[0], "-M", "localhost"]
    if not workload.per_message:
        command.append("-d")
    return [*command, f"127.0.0.1:{port}"]


def run_smtp_source(workload: Workload, port: int, count: int) -> dict:
    """Run ``smtp-source``; wall time, and its CPU time from getrusage(RUSAGE_CHILDREN)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    done = subprocess.run(pinning.client(smtp_source_command(workload, port, count)), capture_output=True, text=True,
                          timeout=WORKER_TIMEOUT)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise ClientFailed(f"smtp-source exited with {done.returncode}: {_tail(done.stderr + done.stdout)}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"wall": wall, "cpu": cpu, "warmup": 0}


def timed_run(sink: Sink, client: str, workload: Workload, port: int, count: int, warmup: int = 3) -> Run:
    """One timed run of ``client`` against ``port``; checked against the sink's count."""
    before = sink.messages
    if client == SOURCE_CLIENT:
        report = run_smtp_source(workload, port, count)
    else:
        report = run_worker(client, workload, port, count, warmup)
    verified = sink.wait_for(before + report["warmup"] + count)
    return Run(client, count, report["wall"], report["cpu"], verified)


def round_trip_profile(sink: Sink, proxy: Proxy, client: str, workload: Workload) -> tuple[float, float]:
    """Round trips per message (marginal) and per connection (fixed), through the
    counting proxy with no delay: runs of 1 and 21 messages per connection, no warm-up.

    For a connection per message, the fixed part is 0 and the marginal part is the
    whole conversation.
    """
    small, large = workload.conns, 21 * workload.conns
    counts = []
    for count in (small, large):
        proxy.reset()
        timed_run(sink, client, workload, proxy.port, count, warmup=0)
        _connections, round_trips = proxy.round_trips()
        counts.append(round_trips)
    per_message = (counts[1] - counts[0]) / (large - small)
    per_connection = 0.0 if workload.per_message else (counts[0] - per_message * small) / workload.conns
    return per_message, per_connection


def measure_rtt(port: int, samples: int = 10) -> float:
    """Median seconds for a NOOP round trip to the SMTP server on ``port``."""
    import socket

    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.recv(4096)
        times = []
        for _ in range(samples):
            start = time.perf_counter()
            sock.sendall(b"NOOP\r\n")
            sock.recv(4096)
            times.append(time.perf_counter() - start)
        sock.sendall(b"QUIT\r\n")
        sock.recv(4096)
    return sorted(times)[len(times) // 2]


# -- peak RSS for one big message -------------------------------------------------------


@dataclass
class RSSResult:
    """The figures of one big-message run, in KiB (VmHWM; ``ru_maxrss_kb`` for comparison)."""

    mode: str
    size: int
    api: str = ""
    baseline_kb: int = 0
    input_kb: int = 0
    maxrss_kb: int = 0
    ru_maxrss_kb: int = 0
    prepare_s: float = 0.0
    send_s: float = 0.0
    verified: bool = False
    error: Optional[str] = None

    @property
    def peak_mb(self) -> float:
        """Peak RSS in MB (10^6 octets)."""
        return self.maxrss_kb * 1024 / 1e6

    @property
    def ratio(self) -> float:
        """Peak RSS over the message size."""
        return self.maxrss_kb * 1024 / self.size

    @property
    def added_ratio(self) -> float:
        """(Peak RSS - RSS once the input was built) over the message size: the send's own cost."""
        return (self.maxrss_kb - self.input_kb) * 1024 / self.size


def rss_run(sink: Sink, mode: str, path: str, size: int) -> RSSResult:
    """Send the message at ``path`` in a fresh ``bench/rss_child.py`` process."""
    before = sink.messages
    command = [sys.executable, str(HERE / "rss_child.py"), "--mode", mode, "--path", path, "--port", str(sink.port)]
    done = subprocess.run(pinning.client(command), capture_output=True, text=True, timeout=WORKER_TIMEOUT)
    if done.returncode != 0:
        return RSSResult(mode, size, error=f"exit {done.returncode}: {_tail(done.stderr + done.stdout)}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return RSSResult(mode, size, report.get("api", ""), report["baseline_kb"], report.get("input_kb", 0),
                     report["maxrss_kb"], report["ru_maxrss_kb"], report.get("prepare_s", 0.0),
                     report.get("send_s", 0.0), sink.wait_for(before + 1, timeout=10))
