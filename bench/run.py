"""Benchmark smtpunit against smtplib, aiosmtplib and Postfix smtp-source.

    python bench/run.py            # the full run (about 5 minutes on 2 cores)
    python bench/run.py --quick    # a smoke run with tiny counts
    python bench/run.py --only a,c # some workloads (a-f, rss)

Everything talks to a Postfix ``smtp-sink`` started on 127.0.0.1 for the run and
stopped at its end. Each client runs in a fresh process; each figure is the best of
``--rounds`` runs, interleaved across clients. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import deps  # noqa: E402 -- the bench modules are siblings of this script
import pinning  # noqa: E402
from sink import Sink, postfix_processes  # noqa: E402

RSS_MODES = ("smtpunit-bytes", "smtpunit-file", "smtplib", "aiosmtplib")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts: a smoke run")
    parser.add_argument("--only", default="", help="comma-separated workloads: a,b,c,d,e,f,rss (default: all)")
    parser.add_argument("--rounds", type=int, default=None, help="runs per client, best taken (default 3; 1 quick)")
    parser.add_argument("--rss-mb", type=int, default=None, help="big message size in MB (default 200; 20 quick)")
    parser.add_argument("--no-round-trips", action="store_true", help="skip counting round trips")
    parser.add_argument("--profile", action="store_true", help="also profile smtpunit on workload (a)")
    parser.add_argument("--pin", choices=pinning.MODES, default="none",
                        help="CPU pinning of clients and smtp-sink (default none); see bench/pinning.py")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.rss_mb = args.rss_mb or (20 if args.quick else 200)
    return args


def selected(only: str) -> list[str]:
    """The workload keys to run, in order."""
    from workloads import WORKLOADS

    everything = [*WORKLOADS, "rss"]
    if not only:
        return everything
    keys = [key.strip() for key in only.split(",") if key.strip()]
    unknown = [key for key in keys if key not in everything]
    if unknown:
        raise SystemExit(f"unknown workload(s) {unknown}; choose from {everything}")
    return [key for key in everything if key in keys]


def version(name: str) -> str:
    """An installed distribution's version."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (others' work on this machine skews the figures)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def print_environment(args: argparse.Namespace, pinning_text: str) -> None:
    """Date, versions, machine, and how the figures are taken."""
    postfix = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "postfix"], capture_output=True, text=True)
    print("# smtpunit benchmark")
    print()
    print(f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"- Python {platform.python_version()} ({sys.executable}); smtpunit {version('smtpunit')}; "
          f"aiosmtplib {version('aiosmtplib')}; Postfix {postfix.stdout.strip() or '?'} smtp-sink/smtp-source")
    print(f"- machine: {platform.platform()}, {os.cpu_count()} CPUs, load average at start "
          f"{load_average()}")
    print(f"- each figure: best of {args.rounds} run(s) per client (interleaved across clients), each run in a "
          "fresh process after an untimed warm-up of 3 messages per connection; timed runs include connect, "
          "EHLO and QUIT")
    print(f"- CPU pinning: {pinning_text}")
    print("- every run is checked against smtp-sink's own message counter ('sink count ok')")
    print("- round trips/msg: counted by a proxy (0 ms) as client sends that follow server data; marginal "
          "per message from runs of 1 and 21 messages per connection, '+N/conn' = greeting/EHLO/QUIT part")
    if args.quick:
        print("- QUICK run: tiny counts, figures are noisy and not meaningful")
    print(flush=True)


def run_workload(sink: Sink, workload, args: argparse.Namespace) -> dict:
    """Timed runs (best of ``args.rounds``) and round-trip counts for every client."""
    from measure import ClientFailed, ClientResult, measure_rtt, round_trip_profile, timed_run
    from proxy import Proxy
    from report import detail_table

    count = workload.messages(args.quick)
    started = time.monotonic()
    print(f"## ({workload.key}) {workload.title}: {count} messages of {workload.size} octets per run", flush=True)
    results = {client: ClientResult(client) for client in workload.clients}
    proxy = Proxy(sink.port, workload.delay).start() if workload.delay else None
    try:
        port = proxy.port if proxy else sink.port
        if proxy:
            print(f"proxy adds {workload.delay * 1000:g} ms each way; measured NOOP round trip "
                  f"{measure_rtt(proxy.port) * 1000:.1f} ms", flush=True)
        for _round in range(args.rounds):
            for client, result in results.items():
                if result.error:
                    continue
                try:
                    result.runs.append(timed_run(sink, client, workload, port, count))
                except (ClientFailed, OSError, subprocess.TimeoutExpired) as exc:
                    result.error = str(exc)
                    print(f"ERROR {client}: {exc}", flush=True)
    finally:
        if proxy:
            proxy.stop()
    if not args.no_round_trips:
        with Proxy(sink.port, 0.0) as counter:
            for client, result in results.items():
                if result.error:
                    continue
                try:
                    result.round_trips_per_message, result.round_trips_per_connection = round_trip_profile(
                        sink, counter, client, workload)
                except (ClientFailed, OSError, subprocess.TimeoutExpired) as exc:
                    print(f"ERROR counting round trips of {client}: {exc}", flush=True)
    print(detail_table(workload, results))
    print(f"({time.monotonic() - started:.0f} s; load average now {load_average()})\n", flush=True)
    return results


def run_rss(sink: Sink, size_mb: int) -> dict:
    """Peak RSS for one big message, each mode in a fresh process."""
    from measure import rss_run
    from messages import write_big_message
    from report import rss_table

    print(f"## peak RSS sending ONE {size_mb} MB message, each in a fresh child process doing only that send",
          flush=True)
    print("peak = VmHWM of the child (/proc/self/status). ru_maxrss is shown too but is not used: Linux carries "
          "the parent's RSS at fork into the child's ru_maxrss across exec.", flush=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="smtpunit-bench-") as folder:
        path = os.path.join(folder, "message.eml")
        size = write_big_message(path, size_mb * 1_000_000)
        for mode in RSS_MODES:
            results[mode] = rss_run(sink, mode, path, size)
            if results[mode].error:
                print(f"ERROR {mode}: {results[mode].error}", flush=True)
    print(rss_table(results))
    if results["smtpunit-bytes"].api.startswith("Session.send("):
        print("NOTE: smtpunit.core.commands.prepare_raw_envelope does not exist yet; the bytes case used "
              "Session.send(from, to, header, lines) with a list of lines read from the file.")
    print(flush=True)
    return results


def print_summary(all_results: dict, rss_results: dict) -> None:
    """The final table."""
    from report import SUMMARY_HEADERS, cpu_rows, cpu_summary, markdown, rss_summary, summary_rows
    from workloads import WORKLOADS

    rows = []
    for key, results in all_results.items():
        rows += summary_rows(WORKLOADS[key], results)
    if "a" in all_results:
        print("## client CPU time per 1 KB message, workload (a) (time.process_time in the client process)")
        print(markdown(["client", "CPU us/msg"], cpu_rows(all_results["a"])))
        print()
        cpu = cpu_summary(all_results["a"])
        if cpu:
            rows.append(cpu)
    rows += rss_summary(rss_results)
    print("## summary (other clients' cells: their msgs/s and smtpunit's ratio to them)")
    print(markdown(SUMMARY_HEADERS, [row.cells() for row in rows]))
    met = sum(row.met.startswith("MET") for row in rows)
    judged = sum(not row.met.startswith("-") for row in rows)
    print(f"\ntargets met: {met} of {judged} (a workload's target is judged on its first smtpunit row)")


def main(argv: list[str]) -> int:
    """Install, start smtp-sink, run the selected workloads, stop, print the tables."""
    args = parse_args(argv)
    keys = selected(args.only)
    deps.ensure_all()
    started = time.monotonic()
    print_environment(args, pinning.configure(args.pin))
    from workloads import WORKLOADS

    all_results, rss_results = {}, {}
    sink = Sink()
    try:
        sink.start()
        print(f"smtp-sink: {' '.join(sink.command())} (pid {sink.process.pid})\n", flush=True)
        for key in keys:
            if key == "rss":
                rss_results = run_rss(sink, args.rss_mb)
            else:
                all_results[key] = run_workload(sink, WORKLOADS[key], args)
        if args.profile:
            from profile_a import profile_workload_a

            profile_workload_a(sink.port, 50 if args.quick else 2000)
    finally:
        sink.stop()
    print_summary(all_results, rss_results)
    print(f"\nsmtp-sink pid {sink.process.pid} exit status {sink.process.returncode}; "
          f"smtp-sink/smtp-source processes left: {postfix_processes() or 'none'}")
    print(f"load average at end {load_average()}; "
          f"total time {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
