"""Tables: per-workload details, CPU per message, RSS, and the final summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from measure import ClientResult, RSSResult
from workloads import SMTP_SOURCE, Workload

COMPARED = ("smtplib", "aiosmtplib", SMTP_SOURCE)
RSS_BYTES_TARGET = 1.1  # peak RSS / message size, message given as bytes
RSS_STREAM_TARGET_MB = 50.0  # peak RSS, message streamed from a file


def markdown(headers: list[str], rows: list[list[str]]) -> str:
    """A markdown table, columns padded for reading in a terminal."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(cell).ljust(width) for cell, width in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(headers), "|" + "|".join("-" * (width + 2) for width in widths) + "|",
                      *(line(row) for row in rows)])


def rate_text(rate: Optional[float]) -> str:
    """msgs/s as the tables show it."""
    if rate is None:
        return "failed"
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:,.1f}"


def ratio(numerator: Optional[float], denominator: Optional[float]) -> Optional[float]:
    """``numerator / denominator``, ``None`` if either is missing."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def ratio_text(value: Optional[float]) -> str:
    """A ratio as ``2.35x``."""
    return "n/a" if value is None else f"{value:.2f}x"


def round_trip_text(result: ClientResult) -> str:
    """Marginal round trips per message, and the fixed part per connection."""
    if result.round_trips_per_message is None:
        return "n/a"
    return f"{result.round_trips_per_message:.2f} (+{result.round_trips_per_connection:.1f}/conn)"


def detail_table(workload: Workload, results: dict[str, ClientResult]) -> str:
    """Every client of one workload: best and all rates, CPU, round trips, ratios."""
    headers = ["client", "best msgs/s", "all runs msgs/s", "CPU us/msg", "round trips/msg",
               "sink count ok", *(f"rate / {c}" for c in COMPARED)]
    rows = []
    for client, result in results.items():
        best = result.best
        runs = ", ".join(rate_text(run.rate) for run in result.runs) or result.error or ""
        compared = [ratio_text(ratio(result.rate, results[c].rate)) if c in results and client != c else ""
                    for c in COMPARED]
        rows.append([
            client,
            rate_text(result.rate),
            runs,
            f"{best.cpu_per_message * 1e6:,.0f}" if best else "",
            round_trip_text(result),
            ("yes" if result.all_verified else "NO") if result.runs else "",
            *compared,
        ])
    return markdown(headers, rows)


@dataclass
class SummaryRow:
    """One row of the final table."""

    workload: str
    smtpunit: str
    smtplib: str
    aiosmtplib: str
    smtp_source: str
    versus_target: str
    target: str
    met: str

    def cells(self) -> list[str]:
        """The row's cells, in column order."""
        return [self.workload, self.smtpunit, self.smtplib, self.aiosmtplib, self.smtp_source,
                self.versus_target, self.target, self.met]


SUMMARY_HEADERS = ["workload", "smtpunit msgs/s", "smtplib", "aiosmtplib", "smtp-source",
                   "ratio vs target", "target", "met?"]


def _other_cell(results: dict[str, ClientResult], client: str, smtpunit_rate: Optional[float]) -> str:
    """A comparison client's msgs/s with smtpunit's ratio to it."""
    if client not in results:
        return "-"
    other = results[client].rate
    return f"{rate_text(other)} ({ratio_text(ratio(smtpunit_rate, other))})"


def summary_rows(workload: Workload, results: dict[str, ClientResult]) -> list[SummaryRow]:
    """One row per smtpunit client of ``workload``. The target is judged on the first,
    the API meant for the workload (``send_many`` for many messages on one connection);
    the others (a ``send`` per message, which waits for each message's reply) are
    shown beside it, their verdict in brackets and not counted."""
    rows = []
    target = workload.target
    for position, client in enumerate(workload.smtpunit_rows):
        result = results[client]
        versus = ratio(result.rate, results[target.versus].rate)
        met = versus is not None and versus >= target.factor
        versus_text = f"{ratio_text(versus)} {target.versus}"
        if target.max_round_trips is not None:
            trips = result.round_trips_per_message
            met = met and trips is not None and trips <= target.max_round_trips + 1e-9
            versus_text += f", {'n/a' if trips is None else f'{trips:.2f}'} round trips/msg"
        verdict = "MET" if met else "NOT MET"
        if result.runs and not all(r.verified for r in result.runs):
            verdict += " (sink count mismatch)"
        if position:
            verdict = f"- ({verdict.lower()}, not counted)"
        rows.append(SummaryRow(
            f"({workload.key}) {workload.title}: {client}",
            rate_text(result.rate),
            *(_other_cell(results, c, result.rate) for c in COMPARED),
            versus_text, target.describe(), verdict,
        ))
    return rows


def cpu_rows(results: dict[str, ClientResult]) -> list[list[str]]:
    """Client CPU time per message (best run by CPU) for workload (a)."""
    rows = []
    for client, result in results.items():
        if result.runs:
            cpu = min(run.cpu_per_message for run in result.runs)
            rows.append([client, f"{cpu * 1e6:,.1f}"])
    return rows


def cpu_summary(results: dict[str, ClientResult]) -> Optional[SummaryRow]:
    """CPU per 1 KB message, smtpunit.send_many vs the others (no target)."""
    def cpu(client: str) -> Optional[float]:
        result = results.get(client)
        if result is None or not result.runs:
            return None
        return min(run.cpu_per_message for run in result.runs)

    mine = cpu("smtpunit.send_many")
    if mine is None:
        return None

    def cell(client: str) -> str:
        other = cpu(client)
        return "-" if other is None else f"{other * 1e6:,.1f} us"

    return SummaryRow("client CPU per 1 KB message (a), smtpunit.send_many", f"{mine * 1e6:,.1f} us",
                      cell("smtplib"), cell("aiosmtplib"), cell(SMTP_SOURCE),
                      f"smtpunit uses {ratio_text(ratio(mine, cpu('smtplib')))} smtplib's CPU", "(none)", "-")


def rss_table(results: dict[str, RSSResult]) -> str:
    """Peak RSS of each big-message run."""
    headers = ["mode", "API", "baseline MB", "input built MB", "peak MB", "peak/size", "(peak-input)/size",
               "ru_maxrss MB", "prepare s", "connect+send s", "sink got it"]
    rows = []
    for mode, r in results.items():
        if r.error:
            rows.append([mode, f"ERROR: {r.error}", *[""] * 9])
            continue
        rows.append([mode, r.api, f"{r.baseline_kb * 1024 / 1e6:.1f}", f"{r.input_kb * 1024 / 1e6:.1f}",
                     f"{r.peak_mb:.1f}", f"{r.ratio:.2f}", f"{r.added_ratio:.2f}", f"{r.ru_maxrss_kb * 1024 / 1e6:.1f}",
                     f"{r.prepare_s:.1f}" if r.prepare_s else "-", f"{r.send_s:.1f}", "yes" if r.verified else "NO"])
    return markdown(headers, rows)


def _rss_ratio_text(r: RSSResult) -> str:
    """Peak over size, and the same without the interpreter's own baseline."""
    without = (r.maxrss_kb - r.baseline_kb) * 1024 / r.size
    return (f"{r.ratio:.2f}x message size ({without:.2f}x without the "
            f"{r.baseline_kb * 1024 / 1e6:.0f} MB interpreter+imports baseline)")


def rss_summary(results: dict[str, RSSResult]) -> list[SummaryRow]:
    """The two RSS targets: bytes input and streamed input."""
    def peak(mode: str) -> str:
        r = results.get(mode)
        if r is None:
            return "-"
        return f"ERROR: {r.error}" if r.error else f"{r.peak_mb:.0f} MB ({r.ratio:.2f}x size)"

    rows = []
    raw = results.get("smtpunit-bytes")
    if raw is not None:
        met = raw.error is None and raw.ratio <= RSS_BYTES_TARGET
        size_mb = raw.size / 1e6
        rows.append(SummaryRow(
            f"peak RSS, one {size_mb:.0f} MB message as bytes ({raw.api or 'failed'})", peak("smtpunit-bytes"),
            peak("smtplib"), peak("aiosmtplib"), "-",
            "n/a" if raw.error else _rss_ratio_text(raw),
            f"<= {RSS_BYTES_TARGET}x message size",
            "MET" if met else "NOT MET"))
    streamed = results.get("smtpunit-file")
    if streamed is not None:
        met = streamed.error is None and streamed.peak_mb < RSS_STREAM_TARGET_MB
        rows.append(SummaryRow(
            "peak RSS, same message streamed from a file (prepare_file_envelope)", peak("smtpunit-file"),
            "-", "-", "-", "n/a" if streamed.error else f"{streamed.peak_mb:.1f} MB",
            f"< {RSS_STREAM_TARGET_MB:g} MB", "MET" if met else "NOT MET"))
    return rows
