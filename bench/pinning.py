"""Optional CPU pinning (``--pin``): loopback ping-pong speed depends a lot on whether
client and server share a CPU, and the scheduler decides that differently from run to
run. Pinning makes runs comparable; the default is no pinning, as users run.

* ``none``: the scheduler decides;
* ``same``: client and smtp-sink on CPU 0 (a round trip is a context switch);
* ``split``: client on CPU 0, smtp-sink on CPU 1 (a round trip is a cross-CPU wake-up).
"""

from __future__ import annotations

import os
import shutil

MODES = ("none", "same", "split")
_client: list[str] = []
_sink: list[str] = []


def configure(mode: str) -> str:
    """Set the pinning for the commands made from now on; a description of it."""
    global _client, _sink
    if mode == "none":
        _client, _sink = [], []
        return "none (the scheduler places client and smtp-sink)"
    taskset = shutil.which("taskset")
    if taskset is None:
        raise SystemExit("--pin needs taskset (util-linux)")
    if mode == "split" and (os.cpu_count() or 1) < 2:
        raise SystemExit("--pin split needs 2 CPUs")
    sink_cpu = "0" if mode == "same" else "1"
    _client, _sink = [taskset, "-c", "0"], [taskset, "-c", sink_cpu]
    return f"{mode}: clients on CPU 0, smtp-sink on CPU {sink_cpu}"


def client(command: list[str]) -> list[str]:
    """``command`` pinned as a client."""
    return [*_client, *command]


def sink(command: list[str]) -> list[str]:
    """``command`` pinned as the server."""
    return [*_sink, *command]
