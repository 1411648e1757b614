"""The ``smtpunit`` command (also ``python -m smtpunit``).

Subcommands:

``smtpunit send``
    Send one message, in the manner of swaks: built from options (``--from``,
    ``--to``, ``--subject``, ``--body``, ``--attach``, ...) or read whole from a
    file (``--message-file``).
``smtpunit bulk``
    Send many messages (a directory of ``.eml`` files, or an mbox file) over a pool
    of connections, with a per-recipient summary and report (:mod:`smtpunit.cli.bulk`).
``smtpunit demo``
    Send one message through STARTTLS and AUTH to a server started on 127.0.0.1.

``send`` and ``bulk`` share their connection options (server, port, TLS, AUTH,
EHLO name, timeout, transcript). A password is never an argument (it would show
in ``ps``): it comes from an environment variable, a file, or a prompt.

Exit codes (``send`` and ``bulk``)::

    0  delivered (to every recipient)
    1  any other error
    2  usage error or bad input (bad address, unreadable file, ...; nothing was sent)
    3  the connection failed (could not connect, or it broke before the end of the message)
    4  TLS failed (STARTTLS not offered or refused, handshake or certificate failure)
    5  authentication failed (AUTH refused, or credentials would go in plaintext)
    6  refused by the server (a recipient, the sender or the message)
    7  timed out
    8  outcome unknown: the connection broke after the end of the message, so the
       server may have accepted it -- sending it again may deliver it twice
    9  partially delivered: some recipients (or, for bulk, some messages) were
       refused, have an unknown outcome or were not sent

No message, error or transcript ever shows a password: the transcript
(``--transcript``, on stderr) redacts credentials, and so do smtpunit's errors.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Optional

from .. import __version__
from .common import EXIT_CODES_HELP, EXIT_REFUSED, EXIT_USAGE, classify, describe, refusal_text
from .send import add_send_parser, run_send

__all__ = ["main"]


# -- the command line ------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    from .bulk import add_bulk_parser

    parser = argparse.ArgumentParser(prog="smtpunit", description="An SMTP client built from swappable units.",
                                     epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"smtpunit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    add_send_parser(commands)
    add_bulk_parser(commands)
    commands.add_parser(
        "demo",
        help="send one message through STARTTLS and AUTH to an SMTP server started on 127.0.0.1",
    )
    return parser


def fail(command: str, error: BaseException) -> int:
    """Print ``error`` as one line on stderr; return its exit code."""
    code, _ = classify(error)
    text = refusal_text(error) if code == EXIT_REFUSED else None
    print(f"smtpunit {command}: {text or describe(error)}", file=sys.stderr, flush=True)
    return code


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; return the exit code."""
    try:
        arguments = _parser().parse_args(argv)
    except SystemExit as exit_:  # argparse: --help, --version, or a usage error (2)
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    if arguments.command == "demo":
        from .demo import run_demo

        return run_demo(sys.stdout)
    try:
        if arguments.command == "send":
            return run_send(arguments)
        from .bulk import run_bulk

        return run_bulk(arguments)
    except KeyboardInterrupt:
        print(f"smtpunit {arguments.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 -- every failure becomes one line and an exit code
        return fail(arguments.command, exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
