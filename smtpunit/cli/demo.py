"""``smtpunit demo``: one message through the whole stack, with no outside server.

It starts a real SMTP server (aiosmtpd) on 127.0.0.1 that offers STARTTLS with a
throwaway certificate authority (trustme) and requires AUTH over TLS, sends one
message with :func:`smtpunit.smtp_send_message` (STARTTLS verified against that
authority, AUTH PLAIN), and prints the SMTP transcript -- credentials redacted --
and the message as the server received it.
"""

from __future__ import annotations

import logging
import socket
import ssl
import sys
from typing import Any, TextIO

from ..providers.tls import default_context
from ..smtp import smtp_send_message

__all__ = ["run_demo"]

DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password"  # a throwaway credential for the in-process server


class _Transcript(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_demo(out: TextIO = sys.stdout) -> int:
    """Run the demo, printing to ``out``; return the process exit code."""
    try:
        import trustme
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword
    except ImportError as exc:
        print(f"the demo needs the 'demo' extra: pip install 'smtpunit[demo]' ({exc})", file=out)
        return 2

    received: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope)
            return "250 2.0.0 Ok: queued"

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            DEMO_USER.encode(), DEMO_PASSWORD.encode())
        return AuthResult(success=ok)

    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    client_context = default_context()
    authority.configure_trust(client_context)

    port = _free_port()
    controller = Controller(
        Handler(), hostname="127.0.0.1", port=port, tls_context=server_context,
        require_starttls=True, authenticator=authenticate, auth_require_tls=True,
    )
    transcript = _Transcript()
    logger = logging.getLogger("smtpunit.transcript")
    previous_level = logger.level
    logger.addHandler(transcript)
    logger.setLevel(logging.DEBUG)
    aiosmtpd_log = logging.getLogger("mail.log")
    previous_server_level = aiosmtpd_log.level
    aiosmtpd_log.setLevel(logging.ERROR)  # aiosmtpd's own deprecation chatter
    controller.start()
    try:
        result = smtp_send_message(
            "127.0.0.1",
            "demo@smtpunit.invalid",
            ["you@smtpunit.invalid"],
            "From: demo@smtpunit.invalid\r\nTo: you@smtpunit.invalid\r\nSubject: Hello from smtpunit\r\n\r\n",
            ["This message went through STARTTLS and AUTH PLAIN", "to a server on 127.0.0.1.", ".", "Bye."],
            port,
            auth_user=DEMO_USER,
            auth_passwd=DEMO_PASSWORD,
            tls_encode=client_context,
        )
    finally:
        controller.stop()
        logger.removeHandler(transcript)
        logger.setLevel(previous_level)
        aiosmtpd_log.setLevel(previous_server_level)

    print(f"== SMTP transcript (server on 127.0.0.1:{port}, credentials redacted) ==", file=out)
    for line in transcript.lines:
        print(line, file=out)
    print("\n== The message as the server received it ==", file=out)
    (envelope,) = received
    print(f"MAIL FROM: {envelope.mail_from}", file=out)
    print(f"RCPT TO:   {', '.join(envelope.rcpt_tos)}", file=out)
    print(envelope.original_content.decode("utf-8", "replace").replace("\r\n", "\n"), file=out, end="")
    print(f"\n== Delivered: {result.reply.summary()} ==", file=out)
    return 0
