"""The ``smtpunit`` command (also ``python -m smtpunit``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Optional

from . import __version__

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smtpunit", description="An SMTP client built from swappable units.")
    parser.add_argument("--version", action="version", version=f"smtpunit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "demo",
        help="send one message through STARTTLS and AUTH to an SMTP server started on 127.0.0.1",
    )
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; return the exit code."""
    arguments = _parser().parse_args(argv)
    if arguments.command == "demo":
        from .demo import run_demo

        return run_demo(sys.stdout)
    return 2  # pragma: no cover -- argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
