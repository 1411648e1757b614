"""``smtpunit send``: one message, built from options or read whole from a file."""

from __future__ import annotations

import argparse
import mimetypes
import os
import sys
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from ..core.commands import Envelope
from ..core.email_message import envelope_of
from ..core.results import SendResult
from .common import (
    EXIT_CODES_HELP,
    EXIT_OK,
    EXIT_PARTIAL,
    HEADER_FIELD,
    ConnectionSettings,
    UsageError,
    add_connection_options,
    address_argument,
    connection_settings,
    raw_envelope,
    read_input,
    unique,
)


def _attachment(message: EmailMessage, path: str) -> None:
    content = read_input(path, "--attach")
    kind, encoding = mimetypes.guess_type(path)
    if kind is None or encoding is not None or "/" not in kind:
        kind = "application/octet-stream"
    maintype, subtype = kind.split("/", 1)
    message.add_attachment(content, maintype=maintype, subtype=subtype, filename=os.path.basename(path))


def _header_field(text: str) -> tuple[str, str]:
    match = HEADER_FIELD.match(text)
    if not match or not match.group(2).strip():
        raise UsageError(f"--header must be 'Name: value', not {text!r}")
    return match.group(1), match.group(2).strip()


def _message_envelope(args: argparse.Namespace) -> Envelope:
    """The envelope ``send`` is asked to send: built from the options, or read from
    ``--message-file``. Everything is checked; nothing is sent."""
    to = [address_argument(a, "recipient") for a in (*args.to, *args.cc, *args.bcc)]
    sender = address_argument(args.from_, "sender") if args.from_ is not None else None
    if args.message_file is not None:
        built_only = [option for option, value in (
            ("--subject", args.subject), ("--body", args.body), ("--body-file", args.body_file),
            ("--attach", args.attach), ("--header", args.header)) if value]
        if built_only:
            raise UsageError(f"--message-file is sent as it is: it cannot be combined with {', '.join(built_only)}")
        return raw_envelope(read_input(args.message_file, "--message-file"), sender, unique(to))
    if args.body is not None and args.body_file is not None:
        raise UsageError("give one of --body and --body-file")
    if not to:
        raise UsageError("no recipients: give --to, --cc or --bcc")
    headers = [_header_field(text) for text in args.header]
    if sender is None and not any(name.lower() in ("from", "sender") for name, _ in headers):
        raise UsageError("--from is required (or a From header, or --message-file)")
    if args.body_file is not None:
        try:
            body = read_input(args.body_file, "--body-file").decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"--body-file {args.body_file} is not UTF-8 text") from None
    else:
        body = args.body or ""
    message = EmailMessage()
    if sender:  # not for the null sender "<>": give --header "From: ..." then
        message["From"] = args.from_.strip()
    if args.to:
        message["To"] = ", ".join(a.strip() for a in args.to)
    if args.cc:
        message["Cc"] = ", ".join(a.strip() for a in args.cc)
    if args.subject is not None:
        message["Subject"] = args.subject
    message["Date"] = formatdate(localtime=True)
    domain = (sender or "").rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    replaced: set[str] = set()
    for name, value in headers:  # --header replaces a field set above; repeated, it adds
        if name.lower() not in replaced:
            del message[name]
            replaced.add(name.lower())
        message[name] = value
    message.set_content(body)
    for path in args.attach:
        _attachment(message, path)
    return envelope_of(message, sender, unique(to))


def _result_line(result: SendResult) -> str:
    delivered = [f"{r.address} ({r.reply.summary()})" for r in result.recipients if r.accepted]
    refused = [f"{r.address} ({(r.data_reply or r.reply).summary()})" for r in result.refused]
    parts = [f"delivered to {', '.join(delivered)}"]
    if refused:
        parts.append(f"refused {', '.join(refused)}")
    parts.append(f"server: {result.reply.summary()}")
    return "; ".join(parts)


QUIT_AFTER = ("connect", "banner", "ehlo", "tls", "auth", "mail", "rcpt")


def _quit_after(stage: str, settings: ConnectionSettings, envelope: Envelope) -> int:
    """Go as far as ``stage`` and stop (QUIT), printing each reply on the way."""
    from ..core import commands
    from ..core.actions import Channel, exchange
    from ..drivers.blocking import Driver
    from ..options import SendOptions
    from ..smtp import connect
    from ..units.contract import as_mailer
    from ..units.lookup import invoke, registry_in_use

    if settings.mailer is not None and not getattr(settings.mailer, "lmtp", False):
        raise UsageError("--quit-after needs an SMTP or LMTP conversation: not with --sendmail")
    options = dict(settings.options)
    if stage in ("connect", "banner", "ehlo", "tls"):  # no AUTH: nor its checks
        for name in ("auth_user", "auth_passwd", "auth_mechanism"):
            options.pop(name, None)
    if stage in ("connect", "banner"):
        checked = SendOptions.of("smtpunit send", options)
        unit = settings.mailer if settings.mailer is not None else invoke(registry_in_use())
        if not hasattr(unit, "open_connection"):
            raise UsageError(f"--quit-after {stage} needs smtpunit's SMTP unit, not {unit!r}")
        connection = unit.open_connection(settings.server, settings.port, checked)
        driver = Driver(connection, checked.timeouts)
        try:
            if stage == "banner":
                channel = Channel(driver.parser, False)

                def banner() -> Any:
                    greeting = yield from exchange(channel, None, "greeting", 220)
                    print(greeting.summary(), flush=True)
                    yield from exchange(channel, commands.quit(), "quit", 221)

                driver.run(banner())
        finally:
            driver.close()
        print(f"quit after {stage}", flush=True)
        return EXIT_OK
    if stage == "ehlo" and options.get("tls_policy") != "implicit":
        for name in ("tls_encode", "tls_policy"):
            options.pop(name, None)
    opened = as_mailer(settings.mailer).connect if settings.mailer is not None else connect
    with opened(settings.server, settings.port, **options) as session:
        if stage in ("mail", "rcpt"):
            if not hasattr(session, "probe"):
                raise UsageError(f"--quit-after {stage} needs an SMTP conversation: not with --sendmail")
            for reply in session.probe(envelope, recipients=stage == "rcpt"):
                print(reply.summary(), flush=True)
    print(f"quit after {stage}", flush=True)
    return EXIT_OK


def run_send(args: argparse.Namespace) -> int:
    """``smtpunit send``."""
    from ..smtp import send_envelope
    from ..units.contract import as_mailer

    envelope = _message_envelope(args)
    settings = connection_settings(args)
    if args.quit_after is not None:
        started = time.monotonic()
        with settings.active():
            code = _quit_after(args.quit_after, settings, envelope)
        if args.show_time_lapse:
            print(f"time: {time.monotonic() - started:.3f}s", file=sys.stderr)
        return code
    started = time.monotonic()
    with settings.active():
        if settings.mailer is None:
            result = send_envelope(settings.server, envelope, settings.port, **settings.options)
        else:
            result = as_mailer(settings.mailer).send_envelope(settings.server, envelope, settings.port,
                                                              **settings.options)
    if not args.quiet or result.refused:  # --quiet: nothing on (complete) success
        print(_result_line(result), flush=True)
    if args.show_time_lapse:
        print(f"time: {time.monotonic() - started:.3f}s", file=sys.stderr)
    return EXIT_PARTIAL if result.refused else EXIT_OK


def add_send_parser(commands: Any) -> None:
    send = commands.add_parser(
        "send",
        help="send one message (swaks-like)",
        description="Send one message, built from the options or read whole from --message-file.\n"
                    "On success, print one line with each recipient's result.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_connection_options(send, partial_delivery=False)
    send.add_argument("-q", "--quit-after", choices=QUIT_AFTER, metavar="STAGE",
                      help="go only as far as STAGE, then QUIT, printing the server's replies: "
                           + ", ".join(QUIT_AFTER) + " (mail and rcpt send MAIL, and the RCPTs, then RSET: "
                           "nothing is delivered)")
    message = send.add_argument_group("message")
    message.add_argument("-f", "--from", dest="from_", metavar="ADDR",
                         help="the sender (From field and envelope); 'Name <addr>' is accepted")
    message.add_argument("-t", "--to", action="append", default=[], metavar="ADDR", help="a recipient (repeatable)")
    message.add_argument("--cc", action="append", default=[], metavar="ADDR", help="a Cc recipient (repeatable)")
    message.add_argument("--bcc", action="append", default=[], metavar="ADDR",
                         help="a blind recipient: in the envelope, never in the header (repeatable)")
    message.add_argument("--subject", metavar="TEXT")
    message.add_argument("--body", metavar="TEXT", help="the body text")
    message.add_argument("--body-file", metavar="PATH", help="read the body (UTF-8) from PATH; '-' for stdin")
    message.add_argument("--attach", action="append", default=[], metavar="PATH",
                         help="attach a file, its MIME type guessed from its name (repeatable)")
    message.add_argument("--header", action="append", default=[], metavar="'Name: value'",
                         help="add a header field, or replace one set by the other options (repeatable)")
    message.add_argument("--message-file", metavar="PATH",
                         help="send this complete RFC 5322 message as it is ('-' for stdin); the envelope comes "
                              "from its Sender/From and To/Cc/Bcc fields unless --from or --to/--cc/--bcc are "
                              "given; Bcc fields are not sent")
