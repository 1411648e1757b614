"""One timed client run in a fresh process; prints one JSON line.

    python bench/worker.py --client smtplib --port 2525 --count 2000 --size 1024

The run is preceded by an untimed warm-up (imports, caches, first connection) of
``--warmup`` messages per connection. The JSON holds the wall time and the CPU time
(``time.process_time``: this process, all threads) of the timed part.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from clients import CLIENTS, Spec, run_client
from messages import make_message


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", required=True, choices=CLIENTS)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, required=True, help="messages in all, over every connection")
    parser.add_argument("--size", type=int, default=1024, help="message octets, header included")
    parser.add_argument("--rcpts", type=int, default=1)
    parser.add_argument("--conns", type=int, default=1, help="concurrent connections")
    parser.add_argument("--per-message", action="store_true", help="one connection per message")
    parser.add_argument("--warmup", type=int, default=3, help="untimed messages per connection first")
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    """Warm up, run, print the figures as JSON."""
    args = parse_args(argv)
    if args.count % args.conns:
        raise SystemExit("--count must be a multiple of --conns")
    message = make_message(args.size, args.rcpts)
    spec = Spec(args.host, args.port, args.conns, args.per_message)
    if args.warmup:
        run_client(args.client, spec, message, args.warmup)
    wall, cpu = time.perf_counter(), time.process_time()
    run_client(args.client, spec, message, args.count // args.conns)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(json.dumps({
        "client": args.client,
        "count": args.count,
        "warmup": args.warmup * args.conns,
        "wall": wall,
        "cpu": cpu,
    }))


if __name__ == "__main__":
    main(sys.argv[1:])
