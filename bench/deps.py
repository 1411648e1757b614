"""Install what the benchmark needs: aiosmtplib, Postfix (smtp-sink, smtp-source), smtpunit."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from sink import SMTP_SINK, SMTP_SOURCE

REPO = Path(__file__).resolve().parent.parent


def _run(command: list[str], **env: str) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, env={**os.environ, **env})


def ensure_python_packages() -> None:
    """``pip install aiosmtplib`` (and smtpunit from this checkout) when missing."""
    if importlib.util.find_spec("aiosmtplib") is None:
        _run([sys.executable, "-m", "pip", "install", "--quiet", "aiosmtplib"])
    if importlib.util.find_spec("smtpunit") is None:
        _run([sys.executable, "-m", "pip", "install", "--quiet", "-e", str(REPO)])


def ensure_postfix() -> None:
    """``apt-get install -y postfix`` when smtp-sink or smtp-source is missing.

    Debconf is told "No configuration", so installing does not start a mail system.
    """
    if os.path.exists(SMTP_SINK) and os.path.exists(SMTP_SOURCE):
        return
    if os.geteuid() != 0:
        raise SystemExit(f"{SMTP_SINK} is missing; install Postfix (apt-get install postfix) as root")
    noninteractive = {"DEBIAN_FRONTEND": "noninteractive"}
    selections = "postfix postfix/main_mailer_type select No configuration\n"
    print("+ debconf-set-selections <<<", selections.strip(), flush=True)
    subprocess.run(["debconf-set-selections"], input=selections, text=True, check=False)
    _run(["apt-get", "update"], **noninteractive)
    _run(["apt-get", "install", "-y", "--no-install-recommends", "postfix"], **noninteractive)


def ensure_all() -> None:
    """Everything, Python packages first."""
    ensure_python_packages()
    ensure_postfix()
