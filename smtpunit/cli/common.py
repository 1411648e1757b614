"""What ``smtpunit send`` and ``smtpunit bulk`` share: exit codes, error
classification, the connection options, and reading raw messages."""

from __future__ import annotations

import argparse
import contextlib
import email.policy
import getpass
import logging
import os
import re
import socket
import ssl
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from email.parser import HeaderParser
from typing import Any, Optional, TextIO

from ..core.commands import Envelope, check_address, prepare_raw_envelope
from ..core.dsn import DSN
from ..core.email_message import message_recipients, message_sender
from ..core.retry import Retry
from ..errors import (
    InvalidArgument,
    SASLError,
    SMTPAuthenticationError,
    SMTPOutcomeUnknown,
    SMTPReplyError,
    SMTPSecurityError,
    SMTPTimeout,
    SMTPTLSError,
    SMTPTransportError,
    UnsupportedByServer,
)
from ..providers.sendmail import DEFAULT_SENDMAIL

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CONNECTION = 3
EXIT_TLS = 4
EXIT_AUTH = 5
EXIT_REFUSED = 6
EXIT_TIMEOUT = 7
EXIT_UNKNOWN = 8
EXIT_PARTIAL = 9

EXIT_CODES_HELP = """\
exit codes:
  0  delivered
  1  any other error
  2  usage error or bad input (nothing was sent)
  3  the connection failed
  4  TLS failed (STARTTLS not offered or refused, handshake or certificate failure)
  5  authentication failed (AUTH refused, or credentials would go in plaintext)
  6  refused by the server (a recipient, the sender or the message)
  7  timed out
  8  outcome unknown: the connection broke after the end of the message; the
     server may have accepted it, so sending it again may deliver it twice
  9  partially delivered (some recipients or messages refused, unknown or not sent)
"""


class UsageError(ValueError):
    """Bad options or unreadable input: exit code 2, nothing was sent."""


def classify(error: BaseException) -> tuple[int, str]:
    """The exit code for ``error`` and a short name of what went wrong.

    The order matters: smtpunit's error tree has multiple inheritance
    (``StartTLSRefused`` is a reply error and a TLS error, ``SMTPOutcomeUnknown`` a
    transport error, ``TLSHandshakeError`` a ``ConnectionError``).
    """
    if isinstance(error, SMTPOutcomeUnknown):
        return EXIT_UNKNOWN, "outcome unknown"
    if isinstance(error, SMTPTimeout):
        return EXIT_TIMEOUT, "timed out"
    if isinstance(error, SMTPTLSError):
        return EXIT_TLS, "TLS failed"
    if isinstance(error, (SMTPAuthenticationError, SMTPSecurityError, SASLError)) or (
            isinstance(error, UnsupportedByServer) and error.phase == "auth"):
        return EXIT_AUTH, "authentication failed"
    if isinstance(error, UnsupportedByServer):
        return EXIT_REFUSED, "the server cannot take this message"
    if isinstance(error, SMTPReplyError):
        return EXIT_REFUSED, "refused by the server"
    if isinstance(error, SMTPTransportError):
        return EXIT_CONNECTION, "connection failed"
    if isinstance(error, ValueError):  # UsageError, SMTPInputError
        return EXIT_USAGE, "bad input"
    return EXIT_ERROR, "error"


def describe(error: BaseException) -> str:
    """One line for ``error``: what went wrong, and what it means for the message."""
    code, what = classify(error)
    text = " ".join(str(error).split()) or type(error).__name__
    if code == EXIT_UNKNOWN:
        text += " -- the server may have accepted the message: sending it again may deliver it twice"
    elif code == EXIT_ERROR and not isinstance(error, UsageError):
        text = f"{type(error).__name__}: {text}"
    return f"{what}: {text}"


# -- the connection options, shared by send and bulk -----------------------------------------


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0: {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"not a port number (1-65535): {text!r}")
    return value


def add_connection_options(parser: argparse.ArgumentParser, *, partial_delivery: bool) -> None:
    """Add the options that say how to reach, secure and log in to the server.

    :param partial_delivery: the default of ``--partial-delivery``.
    """
    server = parser.add_argument_group("server")
    server.add_argument("-s", "--server", metavar="HOST[:PORT]",
                        help="the server: a host name or address, with :PORT if you like ([::1]:2525 for IPv6); "
                             "required unless --socket or --sendmail")
    server.add_argument("-p", "--port", type=_port, metavar="N",
                        help="the server's port (default 25, 24 for LMTP, 465 with --tls implicit; submission "
                             "is 587)")
    server.add_argument("--protocol", type=str.upper, choices=["SMTP", "ESMTP", "LMTP"], default="ESMTP",
                        help="ESMTP (the default; SMTP is the same: EHLO, extensions used when offered) or LMTP "
                             "(LHLO, a reply per recipient)")
    server.add_argument("--socket", metavar="PATH", help="connect to the Unix socket at PATH instead of TCP")
    server.add_argument("--sendmail", nargs="?", const=DEFAULT_SENDMAIL, metavar="PATH",
                        help=f"hand the message to the local sendmail program (default {DEFAULT_SENDMAIL}) "
                             "instead of speaking SMTP")
    server.add_argument("--ehlo", "--helo", metavar="NAME", help="the name to give in EHLO (default: localhost)")
    server.add_argument("--timeout", type=_positive_float, metavar="SECONDS",
                        help="bound every wait to this many seconds: connecting, each reply, the TLS handshake "
                             "and the reply to the end of the message (a server slower than that there leaves "
                             "the outcome unknown)")
    server.add_argument("--partial-delivery", action=argparse.BooleanOptionalAction, default=partial_delivery,
                        help="when some recipients are refused, send to the others "
                             f"(default: {'on' if partial_delivery else 'off'})")
    tls = parser.add_argument_group("TLS")
    tls.add_argument("--tls", choices=["none", "starttls", "opportunistic", "implicit"], default="none",
                     help="none (default); starttls (required and verified); opportunistic (STARTTLS if "
                          "offered, else plaintext -- open to stripping); implicit (TLS from the first byte)")
    tls.add_argument("--cafile", metavar="PATH", help="trust the CA certificates in this PEM file (not the system's)")
    tls.add_argument("--no-tls-verify", action="store_true",
                     help="do not check the server's certificate and name (encrypted, but to whoever answers)")
    tls.add_argument("--tls-sni", metavar="NAME",
                     help="the name to send in SNI and to verify, when it is not the --server you connect to")
    tls.add_argument("--tls-protocol", choices=["TLSv1.2", "TLSv1.3"],
                     help="the oldest TLS version to accept (default TLSv1.2)")
    tls.add_argument("--client-cert", metavar="PATH", help="present this client certificate (PEM)")
    tls.add_argument("--client-key", metavar="PATH", help="the client certificate's key, if not in --client-cert")
    auth = parser.add_argument_group("authentication")
    auth.add_argument("--auth-user", metavar="USER", help="authenticate as USER; the password comes from "
                      "--auth-password-env, --auth-password-file or a prompt")
    auth.add_argument("--auth-password-env", metavar="VAR", help="read the password from environment variable VAR")
    auth.add_argument("--auth-password-file", metavar="PATH",
                      help="read the password from the first line of this file")
    auth.add_argument("--auth-mechanism", metavar="NAME",
                      help="the SASL mechanism (default: the strongest both sides have)")
    auth.add_argument("--allow-insecure-auth", action="store_true",
                      help="permit credentials in plaintext to a host that is not this machine")
    server.add_argument("--retry", type=int, default=1, metavar="ATTEMPTS",
                        help="try a message that fails in a way that may pass (a 4xx, a connection failing "
                             "before the end of the data) up to ATTEMPTS times in all (default 1: no retry)")
    server.add_argument("--retry-backoff", type=_positive_float, default=1.0, metavar="SECONDS",
                        help="the wait before the second attempt, doubling after (default 1)")
    dsn = parser.add_argument_group("delivery status notifications (RFC 3461)")
    dsn.add_argument("--dsn-notify", metavar="WHEN",
                     help="notify on SUCCESS, FAILURE and/or DELAY (comma-separated), or NEVER")
    dsn.add_argument("--dsn-ret", choices=["FULL", "HDRS"], type=str.upper,
                     help="a failure notification returns the FULL message or its HDRS")
    dsn.add_argument("--dsn-envid", metavar="ID", help="an envelope identifier that notifications carry back")
    dsn.add_argument("--dsn-optional", action="store_true",
                     help="send without notifications to a server that does not offer DSN (default: refuse)")
    dkim = parser.add_argument_group("DKIM signing (needs the dkim extra)")
    dkim.add_argument("--dkim-key", metavar="PATH", help="sign with this private key (PEM)")
    dkim.add_argument("--dkim-selector", metavar="NAME", help="the selector: the key is at NAME._domainkey.DOMAIN")
    dkim.add_argument("--dkim-domain", metavar="DOMAIN", help="the signing domain")
    output = parser.add_argument_group("output")
    output.add_argument("--transcript", action="store_true",
                        help="print the SMTP conversation to stderr (credentials redacted)")
    output.add_argument("--show-time-lapse", action="store_true",
                        help="with --transcript, the seconds since the start before each line; and the time taken")
    output.add_argument("--quiet", action="store_true",
                        help="print nothing on success (errors, refusals and, for bulk, the summary of a run "
                             "with failures are still printed)")


@dataclass
class ConnectionSettings:
    """Where and how to connect: the keyword arguments of :func:`smtpunit.connect`."""

    server: str
    port: int
    options: dict[str, Any] = field(default_factory=dict)
    ehlo: Optional[str] = None
    transcript: bool = False
    transcript_format: str = "%(message)s"
    mailer: Any = None
    """The mail provider to send through (``None``: the registry's ``smtp@``)."""
    time_lapse: bool = False
    """The transcript's lines start with the seconds since the start."""

    @contextlib.contextmanager
    def active(self, stream: Optional[TextIO] = None) -> Iterator[None]:
        """The EHLO name and the transcript, for the calls made in the block (and in
        worker threads started with a copy of its context)."""
        with contextlib.ExitStack() as stack:
            if self.ehlo is not None:
                from ..core.parameters import smtp_sending_server

                stack.enter_context(smtp_sending_server.parameterize(self.ehlo))
            if self.transcript:
                fmt = ("+%(lapse).3fs " if self.time_lapse else "") + self.transcript_format
                stack.enter_context(_transcript_to(stream or sys.stderr, fmt))
            yield


class _LapseFormatter(logging.Formatter):
    """Gives each record ``lapse``: the seconds since the formatter was made."""

    def __init__(self, fmt: str) -> None:
        super().__init__(fmt)
        self.started = time.time()

    def format(self, record: logging.LogRecord) -> str:
        record.lapse = record.created - self.started
        return super().format(record)


@contextlib.contextmanager
def _transcript_to(stream: TextIO, fmt: str) -> Iterator[None]:
    logger = logging.getLogger("smtpunit.transcript")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_LapseFormatter(fmt))
    handler.setLevel(logging.DEBUG)
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def _tls_context(args: argparse.Namespace) -> Optional[ssl.SSLContext]:
    if args.tls == "none" and (args.no_tls_verify or args.tls_protocol or args.tls_sni):
        raise UsageError("--no-tls-verify, --tls-protocol and --tls-sni need --tls")
    if not (args.cafile or args.client_cert or args.client_key or args.no_tls_verify or args.tls_protocol):
        return None
    if args.client_key is not None and args.client_cert is None:
        raise UsageError("--client-key needs --client-cert")
    from ..providers.tls import default_context

    try:
        context = default_context(cafile=args.cafile, certfile=args.client_cert, keyfile=args.client_key)
        if args.tls_protocol == "TLSv1.3":
            context.minimum_version = ssl.TLSVersion.TLSv1_3
        if args.no_tls_verify:  # asked for by name: the connection is encrypted, the server unknown
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context
    except (OSError, ssl.SSLError, ValueError) as exc:  # ssl.SSLError is an OSError
        names = ", ".join(f"{option} {path}" for option, path in (
            ("--cafile", args.cafile), ("--client-cert", args.client_cert), ("--client-key", args.client_key))
            if path is not None)
        raise UsageError(f"cannot load {names}: {exc}") from None


def _password(args: argparse.Namespace) -> Optional[str]:
    sources = [s for s in (args.auth_password_env, args.auth_password_file) if s is not None]
    if args.auth_user is None:
        if sources:
            raise UsageError("--auth-password-env and --auth-password-file need --auth-user")
        return None
    if len(sources) > 1:
        raise UsageError("give one of --auth-password-env and --auth-password-file")
    if args.auth_password_env is not None:
        value = os.environ.get(args.auth_password_env)
        if value is None:
            raise UsageError(f"the environment variable {args.auth_password_env} (--auth-password-env) is not set")
        return value
    if args.auth_password_file is not None:
        try:
            with open(args.auth_password_file, encoding="utf-8") as source:
                first = source.readline()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read --auth-password-file {args.auth_password_file}: "
                             f"{getattr(exc, 'strerror', None) or type(exc).__name__}") from None
        return first.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise UsageError("--auth-user needs a password: use --auth-password-env or --auth-password-file "
                         "(there is no terminal to prompt on)")
    try:
        return getpass.getpass(f"Password for {args.auth_user} at {args.server or 'the server'}: ")
    except EOFError:
        raise UsageError("no password given") from None


def connection_settings(args: argparse.Namespace) -> ConnectionSettings:
    """The :class:`ConnectionSettings` the connection options ask for (reads the
    password: call it last, once the rest of the input is known to be good).

    :raises UsageError: for contradictory options or unreadable files.
    """
    if args.tls == "none" and (args.cafile or args.client_cert or args.client_key):
        raise UsageError("--cafile, --client-cert and --client-key need --tls (starttls, opportunistic or implicit)")
    host, given_port = _server_and_port(args)
    context = _tls_context(args)
    default_port = 465 if args.tls == "implicit" else 24 if args.protocol == "LMTP" else 25
    port = given_port if given_port is not None else default_port
    options: dict[str, Any] = {"partial_delivery": args.partial_delivery}
    if args.socket is not None and args.tls_sni is not None:
        raise UsageError("--tls-sni names the server to verify over TCP: with --socket, give the name as --server")
    if args.socket is not None:
        from ..providers.unix import UnixSocketTransport

        options["tcp_connect"] = UnixSocketTransport(args.socket)
    elif args.tls_sni is not None:  # connect to the server given, verify the name given
        address = (host, port)
        options["tcp_connect"] = lambda _host, _port: socket.create_connection(address, timeout=args.timeout or 30)
        host = args.tls_sni
    if args.tls != "none":
        options.update(tls_policy=args.tls, tls_encode=context if context is not None else True)
    if args.timeout is not None:
        options["timeout"] = args.timeout
    if args.auth_mechanism is not None and args.auth_user is None:
        raise UsageError("--auth-mechanism needs --auth-user")
    if args.allow_insecure_auth:
        options["allow_insecure_auth"] = True
    if args.retry < 1:
        raise UsageError("--retry is the number of attempts in all: at least 1")
    if args.retry > 1:
        options["retry"] = Retry(attempts=args.retry, backoff=args.retry_backoff)
    dkim = (args.dkim_key, args.dkim_selector, args.dkim_domain)
    if any(dkim):
        if not all(dkim):
            raise UsageError("--dkim-key, --dkim-selector and --dkim-domain go together")
        from ..providers.dkim import DKIMSigner

        try:
            options["signer"] = DKIMSigner(args.dkim_selector, args.dkim_domain, args.dkim_key)
        except InvalidArgument as exc:
            raise UsageError(str(exc)) from None
    dsn = _dsn(args)
    if dsn is not None:
        options["dsn"] = dsn
    password = _password(args)
    if password is not None:
        options.update(auth_user=args.auth_user, auth_passwd=password)
        if args.auth_mechanism is not None:
            options["auth_mechanism"] = args.auth_mechanism.upper()
    return ConnectionSettings(host, port, options, args.ehlo, args.transcript, mailer=_mailer(args),
                              time_lapse=args.show_time_lapse)


def _server_and_port(args: argparse.Namespace) -> tuple[str, Optional[int]]:
    """The host and the port of ``--server HOST[:PORT]`` and ``--port``.

    :raises UsageError: no server where one is needed, a bad port, or two ports.
    """
    text = args.server
    if text is None:
        if args.socket is None and args.sendmail is None:
            raise UsageError("--server is required (or --socket, or --sendmail)")
        return "localhost", args.port
    host, port = text, None
    if text.startswith("["):  # [IPv6] or [IPv6]:PORT
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
        if rest and port is None:
            raise UsageError(f"--server {text!r}: write [IPv6]:PORT")
    elif text.count(":") == 1:  # HOST:PORT (a bare IPv6 address has several colons)
        host, port = text.split(":")
    if port is not None:
        try:
            number = _port(port)
        except argparse.ArgumentTypeError as exc:
            raise UsageError(f"--server {text!r}: {exc}") from None
        if args.port is not None and args.port != number:
            raise UsageError(f"--server {text!r} and --port {args.port} name two ports")
        return host, number
    return host, args.port


def _mailer(args: argparse.Namespace) -> Any:
    """The mail provider ``--protocol`` and ``--sendmail`` ask for (``None``: the default)."""
    if args.sendmail is not None:
        from ..providers.sendmail import SendmailSMTP

        return SendmailSMTP(args.sendmail)
    if args.protocol == "LMTP":
        from ..interfaces import IMailer
        from ..units.lookup import invoke, registry_in_use

        return invoke(registry_in_use(), IMailer, "lmtp")
    return None


def _dsn(args: argparse.Namespace) -> Optional[DSN]:
    """The :class:`~smtpunit.core.dsn.DSN` the ``--dsn-*`` options ask for, if any."""
    if args.dsn_notify is None and args.dsn_ret is None and args.dsn_envid is None:
        if args.dsn_optional:
            raise UsageError("--dsn-optional needs --dsn-notify, --dsn-ret or --dsn-envid")
        return None
    notify = None if args.dsn_notify is None else tuple(w.strip() for w in args.dsn_notify.split(","))
    try:
        return DSN(notify=notify, ret=args.dsn_ret, envid=args.dsn_envid, required=not args.dsn_optional)
    except InvalidArgument as exc:
        raise UsageError(f"--dsn-*: {exc}") from None


# -- messages ------------------------------------------------------------------------------

_NAMED_ADDRESS = re.compile(r"^(?P<name>.*?)\s*<(?P<address>[^<>]*)>\s*$", re.DOTALL)
HEADER_FIELD = re.compile(r"^([\x21-\x39\x3b-\x7e]+):\s?(.*)$", re.DOTALL)
_BCC_FIELD = re.compile(rb"^bcc[ \t]*:", re.IGNORECASE)


def address_argument(value: str, role: str) -> str:
    """The address in ``value`` (``addr`` or ``Name <addr>``; ``<>``, the null sender), checked."""
    match = _NAMED_ADDRESS.match(value.strip())
    address = match.group("address") if match else value.strip()
    return check_address(address, role, allow_empty=role == "sender")


def read_input(path: str, option: str) -> bytes:
    try:
        if path == "-":
            return sys.stdin.buffer.read()
        with open(path, "rb") as source:
            return source.read()
    except OSError as exc:
        raise UsageError(f"cannot read {option} {path}: {exc.strerror or exc}") from None


def unique(addresses: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(addresses))


def _split_header(data: bytes) -> tuple[bytes, bytes]:
    """``data`` with CRLF line endings, split after the empty line that ends the header."""
    data = re.sub(rb"\r?\n", b"\r\n", data)
    if data and not data.endswith(b"\r\n"):
        data += b"\r\n"
    if data.startswith(b"\r\n"):
        return b"\r\n", data[2:]
    end = data.find(b"\r\n\r\n")
    if end < 0:  # a header and no body
        return data + b"\r\n", b""
    return data[: end + 4], data[end + 4:]


def _without_bcc(header: bytes) -> bytes:
    """``header`` without its Bcc fields (continuation lines included)."""
    kept: list[bytes] = []
    dropping = False
    for line in header.split(b"\r\n")[:-2]:
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        dropping = bool(_BCC_FIELD.match(line))
        if not dropping:
            kept.append(line)
    return b"".join(line + b"\r\n" for line in kept) + b"\r\n"


def raw_addresses(data: bytes) -> tuple[Optional[str], list[str]]:
    """The envelope a complete message's headers name: the sender (``Sender``, else
    ``From``; ``None`` if neither) and the ``To``, ``Cc`` and ``Bcc`` recipients."""
    header, _ = _split_header(data)
    parsed = HeaderParser(policy=email.policy.default).parsestr(header.decode("utf-8", "replace"))
    try:
        sender: Optional[str] = message_sender(parsed)
    except ValueError:
        sender = None
    return sender, message_recipients(parsed)


def raw_envelope(data: bytes, from_: Optional[str] = None, to: Optional[Sequence[str]] = None) -> Envelope:
    """A checked envelope for a complete RFC 5322 message, sent as it is except that
    line endings become CRLF and Bcc fields are left out.

    :param from_: the envelope sender; by default the header's ``Sender`` or ``From``.
    :param to: the recipients; by default the header's ``To``, ``Cc`` and ``Bcc``.
    :raises ValueError: if the envelope cannot be made (no sender, no recipient, a
        malformed header, a line over 998 octets, ...).
    """
    header_sender, header_recipients = raw_addresses(data)
    sender = from_ if from_ is not None else header_sender
    recipients = list(to) if to else header_recipients
    if sender is None:
        raise UsageError("the message has no Sender or From field: give --from")
    header, body = _split_header(data)
    return prepare_raw_envelope(sender, recipients, _without_bcc(header) + body)



def refusal_text(error: BaseException) -> Optional[str]:
    recipients = getattr(error, "recipients", None)
    if not recipients:
        return None
    refused = [f"{r.address} ({(r.data_reply or r.reply).summary()})" for r in recipients if not r.accepted]
    return f"refused by the server: recipient{'s' if len(refused) > 1 else ''} {', '.join(refused)}; nothing was sent"
