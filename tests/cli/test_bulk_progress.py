"""smtpunit bulk's progress: rate-limited redraws, and counts that match the summary."""

from __future__ import annotations

import io
import re
import subprocess
import sys

from conftest import HOST

from smtpunit.cli.bulk import DELIVERED, REFUSED, MessageOutcome, Progress, RecipientOutcome, summary_line


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def outcome(state: str, recipients: int = 1) -> MessageOutcome:
    return MessageOutcome("m", "a@example.org",
                          [RecipientOutcome(f"r{n}@example.org", state) for n in range(recipients)])


def test_a_bar_redraws_at_most_ten_times_a_second():
    clock, stream = Clock(), io.StringIO()
    progress = Progress(2000, stream, "bar", clock)
    progress.start()
    for _ in range(2000):  # 2,000 messages in half a second: once 2,003 redraws
        clock.now += 0.00025
        progress.update(outcome(DELIVERED))
    progress.finish()
    redraws = stream.getvalue().count("\r")
    assert redraws <= 8, redraws
    assert stream.getvalue().rstrip("\n").split("\r")[-1].startswith("sent 2000/2000 [" + "#" * 30 + "] 100%")


def test_the_counts_match_the_summary():
    clock, stream = Clock(), io.StringIO()
    outcomes = [outcome(DELIVERED) for _ in range(6)] + [outcome(REFUSED) for _ in range(4)]
    progress = Progress(len(outcomes), stream, "bar", clock)
    progress.start()
    for each in outcomes:
        clock.now += 1
        progress.update(each)
    progress.finish()
    final = stream.getvalue().rstrip("\n").split("\r")[-1]
    assert "sent 10/10" in final and "recipients: 6 delivered, 4 refused, 0 unknown, 0 not sent" in final
    assert summary_line(outcomes).startswith("recipients: 6 delivered, 4 refused, 0 unknown, 0 not sent")
    assert "| 1 msg/s | ETA 0:00 |" in final


def test_off_a_terminal_a_line_every_few_seconds_with_rate_and_eta():
    clock, stream = Clock(), io.StringIO()
    progress = Progress(100, stream, "lines", clock)
    progress.start()
    for _ in range(20):
        clock.now += 1  # one message a second: 80 left, 1:20 to go after twenty
        progress.update(outcome(DELIVERED))
    progress.finish()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 5  # at 0, 5, 10, 15 and 20 seconds
    assert lines[-1].startswith("sent 20/100 20% | 1 msg/s | ETA 1:20 |") and "\r" not in stream.getvalue()


def test_none_shows_nothing():
    stream = io.StringIO()
    progress = Progress(3, stream, "none")
    progress.start()
    progress.update(outcome(DELIVERED))
    progress.finish()
    assert stream.getvalue() == ""


def test_bulk_off_a_terminal_reports_lines_that_match_its_summary(start_server, tmp_path):
    server = start_server(refuse=frozenset({"nobody@example.org"}))
    folder = tmp_path / "out"
    folder.mkdir()
    for n in range(10):
        to = "nobody@example.org" if n % 3 == 0 else f"r{n}@example.org"  # 4 refused
        (folder / f"{n}.eml").write_bytes(f"From: a@example.org\nTo: {to}\nSubject: {n}\n\nx\n".encode())
    command = [sys.executable, "-m", "smtpunit", "bulk", str(folder), "--server", HOST, "--port", str(server.port)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 9
    assert done.stdout.startswith("recipients: 6 delivered, 4 refused, 0 unknown, 0 not sent")
    reports = [line for line in done.stderr.splitlines() if line.startswith("sent ")]
    assert re.match(r"sent 10/10 100% \| [\d,]+ msg/s \| ETA 0:00 \| recipients: 6 delivered, 4 refused, "
                    r"0 unknown, 0 not sent$", reports[-1]), reports
    quiet = subprocess.run([*command, "--progress", "none"], capture_output=True, text=True, timeout=60)
    assert not [line for line in quiet.stderr.splitlines() if line.startswith("sent ")]
