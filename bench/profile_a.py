"""Profile smtpunit on workload (a): where its own functions spend time.

    python bench/profile_a.py --port 2525 [--count 2000]

Runs ``python -m cProfile -o FILE bench/worker.py --client smtpunit.send_many ...``
(and ``smtpunit.send``) and prints the top 15 functions of smtpunit itself by
tottime, then the top 15 of everything by cumtime. Needs a running SMTP sink.
"""

from __future__ import annotations

import argparse
import io
import pstats
import subprocess
import sys
import tempfile
from pathlib import Path

import pinning

HERE = Path(__file__).resolve().parent
CLIENTS = ("smtpunit.send_many", "smtpunit.send")


def profile(client: str, port: int, count: int, output: str) -> None:
    """Run the worker for ``client`` under cProfile, writing the stats to ``output``."""
    command = [sys.executable, "-m", "cProfile", "-o", output, str(HERE / "worker.py"), "--client", client,
               "--port", str(port), "--count", str(count), "--size", "1024", "--rcpts", "1"]
    print("+", " ".join(command), flush=True)
    subprocess.run(pinning.client(command), check=True, capture_output=True)


def top(output: str, sort: str, restriction: str, lines: int = 15) -> str:
    """The ``lines`` first rows of the stats sorted by ``sort``, filtered by ``restriction``."""
    text = io.StringIO()
    stats = pstats.Stats(output, stream=text).sort_stats(sort)
    if restriction:
        stats.print_stats(restriction, lines)
    else:
        stats.print_stats(lines)
    body = text.getvalue()
    start = body.find("   ncalls")
    return body[start:].rstrip() if start >= 0 else body


def profile_workload_a(port: int, count: int) -> None:
    """Profile each smtpunit client of workload (a) and print the tables."""
    with tempfile.TemporaryDirectory(prefix="smtpunit-profile-") as folder:
        for client in CLIENTS:
            output = str(Path(folder) / f"{client}.prof")
            profile(client, port, count, output)
            print(f"## cProfile, workload (a), {client}, {count} messages: smtpunit's own functions by tottime")
            print(top(output, "tottime", r"/smtpunit/"))
            print(f"\n## cProfile, workload (a), {client}: top 15 of everything by cumtime")
            print(top(output, "cumulative", ""))
            print(flush=True)


def main(argv: list[str]) -> None:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args(argv)
    profile_workload_a(args.port, args.count)


if __name__ == "__main__":
    main(sys.argv[1:])
