"""The command line, run as a user runs it."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest


@pytest.mark.parametrize("command", [[sys.executable, "-m", "smtpunit", "demo"], ["smtpunit", "demo"]])
def test_demo_sends_through_starttls_and_auth_and_redacts(command):
    if command[0] == "smtpunit" and shutil.which("smtpunit") is None:
        pytest.fail("the smtpunit console script is not installed")
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "C: STARTTLS" in out and "-- TLS established --" in out
    assert "C: AUTH PLAIN ****" in out and "S: 235" in out
    assert "demo-password" not in out and "ZGVtbw" not in out  # neither the password nor its base64
    assert "Subject: Hello from smtpunit" in out and "\n.\nBye." in out
    assert "Delivered: 250" in out


def test_version():
    done = subprocess.run([sys.executable, "-m", "smtpunit", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("smtpunit ")
