"""The command line, run as a user runs it: real processes against real servers on 127.0.0.1.

Most tests start ``python -m smtpunit`` (some the ``smtpunit`` console script) in a
subprocess; a few usage checks call :func:`smtpunit.cli.main.main` in-process, which is
much faster and needs no server.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import os
import pty
import shutil
import socket
import subprocess
import sys
from typing import Any

import pytest
from conftest import HOST, PASSWORD, USER, RecordingHandler
from postfix import postfix as postfix_fixture  # noqa: F401

from smtpunit.cli.main import main
from smtpunit.testing.scripted import Close, ExpectData, ScriptedServer, accept_envelope, standard_session

PYTHON = [sys.executable, "-m", "smtpunit"]


def console_script() -> list[str]:
    path = shutil.which("smtpunit")
    if path is None:
        pytest.fail("the smtpunit console script is not installed")
    return [path]


def run(*args: str, command: list[str] = PYTHON, input: str | None = None, env: dict[str, str] | None = None,
        **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=60, input=input,
                          env={**os.environ, **(env or {})}, **kwargs)


def send(port: int, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return run("send", "--server", HOST, "--port", str(port), *args, **kwargs)


def parsed(content: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(content, policy=email.policy.default)  # type: ignore[return-value]


def text(part: email.message.EmailMessage) -> str:
    return str(part.get_content()).replace("\r\n", "\n")


@pytest.fixture
def ca_file(certs, tmp_path):
    path = tmp_path / "ca.pem"
    certs.ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def closed_port():
    """A port on 127.0.0.1 nobody listens on."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


# -- the demo ------------------------------------------------------------------------------


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


# -- send: what arrives ----------------------------------------------------------------------


def test_send_subject_body_recipients_and_bcc_with_the_console_script(start_server):
    server = start_server()
    done = send(server.port, "--from", "Alice <alice@example.org>", "--to", "bob@example.org",
                "--to", "Carol <carol@example.org>", "--bcc", "dave@example.org", "--subject", "Hello there",
                "--body", "first line\n.\nlast line", "--header", "X-Mailer: smtpunit test",
                command=console_script())
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1 and done.stdout.startswith("delivered to bob@example.org (250 OK), ")
    assert "dave@example.org (250 OK); server: 250 2.0.0 queued" in done.stdout
    (message,) = server.handler.messages
    assert message.mail_from == "alice@example.org"
    assert message.rcpt_tos == ["bob@example.org", "carol@example.org", "dave@example.org"]
    assert b"bcc" not in message.content.lower() and b"dave" not in message.content  # blind
    received = parsed(message.content)
    assert received["Subject"] == "Hello there" and received["X-Mailer"] == "smtpunit test"
    assert received["To"] == "bob@example.org, Carol <carol@example.org>"
    assert received["From"] == "Alice <alice@example.org>" and received["Message-ID"] and received["Date"]
    assert text(received) == "first line\n.\nlast line\n"  # the lone "." survives dot-stuffing


def test_send_body_from_stdin(start_server):
    server = start_server()
    done = send(server.port, "--from", "a@example.org", "--to", "b@example.org", "--body-file", "-", "--quiet",
                input="Piped in.\nSecond line: é\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # --quiet
    (message,) = server.handler.messages
    assert text(parsed(message.content)) == "Piped in.\nSecond line: é\n"


def test_send_attachment_arrives_as_a_mime_part(start_server, tmp_path):
    server = start_server()
    attachment = tmp_path / "figures.csv"
    attachment.write_bytes(b"a,b\r\n1,2\r\n")
    image = tmp_path / "dot.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    done = send(server.port, "--from", "a@example.org", "--to", "b@example.org", "--subject", "files",
                "--body", "see attached", "--attach", str(attachment), "--attach", str(image))
    assert done.returncode == 0, done.stderr
    received = parsed(server.handler.messages[0].content)
    assert received.get_content_type() == "multipart/mixed"
    body, csv_part, png_part = received.iter_parts()
    assert text(body) == "see attached\n"
    assert csv_part.get_filename() == "figures.csv" and csv_part.get_content_type() == "text/csv"
    assert csv_part.get_payload(decode=True) == b"a,b\r\n1,2\r\n"
    assert png_part.get_filename() == "dot.png" and png_part.get_content_type() == "image/png"
    assert png_part.get_content() == image.read_bytes()


def test_send_message_file_as_it_is(start_server, tmp_path):
    server = start_server()
    path = tmp_path / "message.eml"
    path.write_bytes(b"From: Ann <ann@example.org>\nTo: bo@example.org\nBcc: hidden@example.org,\n"
                     b" also-hidden@example.org\nSubject:   kept   as is\nX-Odd: \t spaces\n\n"
                     b"Body line\n.dot line\n")
    done = send(server.port, "--message-file", str(path))
    assert done.returncode == 0, done.stderr
    (message,) = server.handler.messages
    assert message.mail_from == "ann@example.org"
    assert message.rcpt_tos == ["bo@example.org", "hidden@example.org", "also-hidden@example.org"]
    assert message.content == (b"From: Ann <ann@example.org>\r\nTo: bo@example.org\r\n"
                               b"Subject:   kept   as is\r\nX-Odd: \t spaces\r\n\r\nBody line\r\n.dot line\r\n")


def test_starttls_auth_with_password_from_the_environment_and_a_redacted_transcript(start_server, ca_file):
    server = start_server(starttls=True, require_starttls=True, auth=True)
    done = send(server.port, "--tls", "starttls", "--cafile", ca_file, "--auth-user", USER,
                "--auth-password-env", "SMTPUNIT_TEST_PASSWORD", "--transcript", "--ehlo", "client.example.org",
                "--from", "a@example.org", "--to", "b@example.org", "--body", "secret stuff",
                env={"SMTPUNIT_TEST_PASSWORD": PASSWORD})
    assert done.returncode == 0, done.stderr
    (message,) = server.handler.messages
    assert message.tls and message.authenticated == USER
    transcript = done.stderr
    assert "C: EHLO client.example.org" in transcript and "C: STARTTLS" in transcript
    assert "-- TLS established --" in transcript
    assert "C: AUTH PLAIN ****" in transcript and "S: 235" in transcript
    everything = done.stdout + done.stderr
    plain = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    assert PASSWORD not in everything and plain not in everything and plain[:12] not in everything
    assert "secret stuff" not in transcript  # message data is not in the transcript either


# -- send: every failure has its exit code ------------------------------------------------------


def test_exit_2_bad_address_sends_nothing(closed_port):
    done = send(closed_port, "--from", "a@example.org", "--to", "bad address@example.org", "--body", "x")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("smtpunit send: bad input: recipient address 'bad address@example.org'")
    assert done.stderr.count("\n") == 1 and done.stdout == ""


def test_exit_3_connection_refused(closed_port):
    done = send(closed_port, "--from", "a@example.org", "--to", "b@example.org")
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith(f"smtpunit send: connection failed: could not connect to {HOST}:{closed_port}")


def test_exit_4_starttls_required_but_not_offered(start_server):
    server = start_server()
    done = send(server.port, "--tls", "starttls", "--from", "a@example.org", "--to", "b@example.org")
    assert done.returncode == 4, done.stderr
    assert "TLS failed: STARTTLS was required but the server does not offer it" in done.stderr
    assert server.handler.mail_commands == [] and server.handler.messages == []


def test_exit_5_wrong_password_from_a_file(start_server, tmp_path):
    server = start_server(auth=True)
    password_file = tmp_path / "password"
    password_file.write_text("not-the-Passw0rd\n")
    done = send(server.port, "--auth-user", USER, "--auth-password-file", str(password_file),
                "--from", "a@example.org", "--to", "b@example.org", "--transcript")
    assert done.returncode == 5, done.stderr
    assert "smtpunit send: authentication failed: 'AUTH PLAIN ****' failed in phase 'auth': 535" in done.stderr
    assert "not-the-Passw0rd" not in done.stderr + done.stdout
    assert server.handler.messages == []


def test_exit_6_refused_recipient(start_server):
    server = start_server(refuse=frozenset({"nobody@example.org"}))
    done = send(server.port, "--from", "a@example.org", "--to", "b@example.org", "--to", "nobody@example.org")
    assert done.returncode == 6, done.stderr
    assert done.stderr == ("smtpunit send: refused by the server: recipient nobody@example.org "
                           "(550 5.1.1 <nobody@example.org>: no such user); nothing was sent\n")
    assert server.handler.messages == []


def test_exit_7_timeout_on_a_silent_server():
    with socket.create_server((HOST, 0)) as silent:  # the kernel accepts; nobody ever speaks
        done = send(silent.getsockname()[1], "--timeout", "0.5", "--from", "a@example.org", "--to", "b@example.org")
    assert done.returncode == 7, done.stderr
    assert "smtpunit send: timed out: timed out after 0.5s waiting in phase 'greeting'" in done.stderr


def test_exit_8_outcome_unknown_when_the_server_drops_after_the_final_dot():
    with ScriptedServer([*standard_session(), *accept_envelope(), ExpectData(), Close()]) as server:
        done = send(server.port, "--from", "a@example.org", "--to", "b@example.org", "--body", "once")
    assert done.returncode == 8, done.stderr
    assert done.stderr.startswith("smtpunit send: outcome unknown: ")
    assert "sending it again may deliver it twice" in done.stderr and done.stderr.count("\n") == 1


# -- bulk ------------------------------------------------------------------------------------


def _eml(sender: str, *recipients: str, subject: str = "bulk") -> bytes:
    to = ", ".join(recipients)
    return f"From: {sender}\nTo: {to}\nSubject: {subject}\n\nHello {to}.\n".encode()


def test_bulk_directory_over_two_connections_with_a_refused_recipient(start_server, tmp_path):
    handler = RecordingHandler(refuse=frozenset({"nobody@example.org"}))
    server = start_server(handler=handler)
    folder = tmp_path / "outgoing"
    folder.mkdir()
    for n in (1, 2, 4, 5):
        (folder / f"{n}.eml").write_bytes(_eml("bulk@example.org", f"r{n}@example.org", subject=f"number {n}"))
    (folder / "3.eml").write_bytes(_eml("bulk@example.org", "r3@example.org", "nobody@example.org"))
    (folder / "notes.txt").write_text("not a message")
    report = tmp_path / "report.json"
    done = run("bulk", str(folder), "--server", HOST, "--port", str(server.port), "--connections", "2",
               "--report", str(report))
    assert done.returncode == 9, done.stderr
    assert done.stdout == ("recipients: 5 delivered, 1 refused, 0 unknown, 0 not sent "
                           "(5 messages, 4 delivered to every recipient)\n")
    assert "3.eml: partially delivered: nobody@example.org: 550 5.1.1" in done.stderr
    assert "[#" not in done.stderr and "\r" not in done.stderr  # stderr is not a terminal: lines, no bar
    assert "sent 5/5 100% |" in done.stderr
    assert sorted(tuple(m.rcpt_tos) for m in handler.messages) == [
        ("r1@example.org",), ("r2@example.org",), ("r3@example.org",), ("r4@example.org",), ("r5@example.org",)]
    assert 1 <= handler.connections <= 2

    data = json.loads(report.read_text())
    assert data["summary"] == {"messages": 5, "recipients": {"delivered": 5, "refused": 1, "unknown": 0,
                                                              "not_sent": 0}}
    assert [m["source"] for m in data["messages"]] == ["1.eml", "2.eml", "3.eml", "4.eml", "5.eml"]
    third = data["messages"][2]
    assert third["status"] == "partially delivered" and third["sender"] == "bulk@example.org"
    assert third["recipients"] == [
        {"address": "r3@example.org", "status": "delivered", "code": 250, "reply": "250 OK"},
        {"address": "nobody@example.org", "status": "refused", "code": 550,
         "reply": "550 5.1.1 <nobody@example.org>: no such user"},
    ]
    assert all(m["status"] == "delivered" and m["reply"] == "250 2.0.0 queued"
               for i, m in enumerate(data["messages"]) if i != 2)


def test_bulk_mbox_shows_a_progress_bar_on_a_terminal_and_writes_a_csv_report(start_server, tmp_path):
    handler = RecordingHandler()
    server = start_server(handler=handler)
    mbox = tmp_path / "outgoing.mbox"
    mbox.write_bytes(b"".join(b"From bulk@example.org Mon Jan  1 00:00:00 2024\n" + message + b"\n" for message in (
        _eml("bulk@example.org", "x@example.org"),
        b"From: bulk@example.org\nSubject: nobody to send to\n\nlost\n",  # no recipients: refused, with the reason
        _eml("bulk@example.org", "y@example.org", "z@example.org"),
    )))
    report = tmp_path / "report.csv"
    controller, terminal = pty.openpty()
    try:
        done = subprocess.run([*PYTHON, "bulk", str(mbox), "--server", HOST, "--port", str(server.port),
                               "--ehlo", "bulk.example.org", "--report", str(report)],
                              stdout=subprocess.PIPE, stderr=terminal, text=True, timeout=60)
        os.close(terminal)
        terminal = -1
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the terminal's other end is closed
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)
    assert done.returncode == 9, shown
    screen = shown.decode()
    assert "\rsent 0/3 [" in screen and "\rsent 3/3 [" + "#" * 30 + "] 100%" in screen
    assert "outgoing.mbox#2: refused: the envelope cannot be built: no recipients" in screen
    assert done.stdout == ("recipients: 3 delivered, 0 refused, 0 unknown, 0 not sent "
                           "(3 messages, 2 delivered to every recipient)\n")
    assert sorted(tuple(m.rcpt_tos) for m in handler.messages) == [
        ("x@example.org",), ("y@example.org", "z@example.org")]
    assert {ehlo.name for ehlo in handler.ehlos} == {"bulk.example.org"}  # the worker threads see --ehlo
    rows = report.read_text().splitlines()
    assert rows[0] == "source,sender,message_status,recipient,status,code,reply,error"
    assert rows[1] == "outgoing.mbox#1,bulk@example.org,delivered,x@example.org,delivered,250,250 OK,"
    assert rows[2].startswith("outgoing.mbox#2,bulk@example.org,refused,,refused,,,the envelope cannot be built")
    assert len(rows) == 5


# -- in-process: usage errors, and what needs no separate process ------------------------------------


def test_a_password_is_never_an_argument(capsys):
    assert main(["send", "--server", HOST, "--from", "a@example.org", "--to", "b@example.org",
                 "--auth-user", USER, "--password", "hunter2"]) == 2
    assert "unrecognized arguments: --password hunter2" in capsys.readouterr().err


@pytest.mark.parametrize("arguments, message", [
    (["--to", "b@example.org"], "--from is required"),
    (["--from", "a@example.org"], "no recipients"),
    (["--from", "a@example.org", "--to", "b@example.org", "--cafile", "ca.pem"], "need --tls"),
    (["--from", "a@example.org", "--to", "b@example.org", "--body", "x", "--body-file", "-"], "one of --body"),
    (["--message-file", "m.eml", "--subject", "x"], "cannot be combined with --subject"),
    (["--from", "a@example.org", "--to", "b@example.org", "--auth-user", USER, "--auth-password-env",
      "SMTPUNIT_UNSET_VARIABLE"], "SMTPUNIT_UNSET_VARIABLE (--auth-password-env) is not set"),
    (["--from", "a@example.org", "--to", "b@example.org", "--attach", "/nonexistent/file"],
     "cannot read --attach /nonexistent/file"),
    (["--from", "a@example.org", "--to", "b@example.org", "--header", "no colon"], "--header must be"),
    (["--from", "a@example.org", "--to", "b@example.org", "--port", "0"], "not a port number"),
    (["--from", "a@example.org", "--to", "b@example.org", "--dsn-notify", "NEVER,SUCCESS"], "NEVER cannot be"),
    (["--from", "a@example.org", "--to", "b@example.org", "--dsn-envid", "x" * 101], "envid is 1 to 100"),
    (["--from", "a@example.org", "--to", "b@example.org", "--dsn-optional"], "--dsn-optional needs"),
])
def test_usage_errors_exit_2_before_connecting(capsys, arguments, message):
    assert main(["send", "--server", HOST, "--port", "1", *arguments]) == 2
    assert message in capsys.readouterr().err


def test_partial_delivery_exits_9_and_names_the_refused(start_server, capsys):
    server = start_server(refuse=frozenset({"nobody@example.org"}))
    code = main(["send", "--server", HOST, "--port", str(server.port), "--from", "a@example.org",
                 "--to", "b@example.org", "--to", "nobody@example.org", "--partial-delivery"])
    assert code == 9
    out = capsys.readouterr().out
    assert out.startswith("delivered to b@example.org (250 OK); refused nobody@example.org (550 5.1.1 ")
    assert server.handler.messages[0].rcpt_tos == ["b@example.org"]


def test_implicit_tls_with_cafile(start_server, ca_file, capsys):
    server = start_server(implicit_tls=True)
    assert main(["send", "--server", HOST, "--port", str(server.port), "--tls", "implicit", "--cafile", ca_file,
                 "--from", "a@example.org", "--to", "b@example.org"]) == 0, capsys.readouterr().err
    assert server.handler.messages[0].tls


def test_an_untrusted_certificate_exits_4(start_server, capsys):
    server = start_server(starttls=True)
    assert main(["send", "--server", HOST, "--port", str(server.port), "--tls", "starttls",
                 "--from", "a@example.org", "--to", "b@example.org"]) == 4
    assert f"TLS failed: TLS handshake (STARTTLS) with {HOST}:{server.port} failed" in capsys.readouterr().err
    assert server.handler.messages == []


def test_bulk_stops_and_exits_3_when_no_connection_can_be_made(closed_port, tmp_path, capsys):
    for n in range(3):
        (tmp_path / f"{n}.eml").write_bytes(_eml("a@example.org", f"r{n}@example.org"))
    report = tmp_path / "report.json"
    assert main(["bulk", str(tmp_path), "--server", HOST, "--port", str(closed_port), "--report", str(report)]) == 3
    captured = capsys.readouterr()
    assert captured.out == "recipients: 0 delivered, 0 refused, 0 unknown, 3 not sent (3 messages, 0 delivered " \
                           "to every recipient)\n"
    assert captured.err.rstrip().splitlines()[-1].startswith("smtpunit bulk: connection failed: could not connect")
    assert {m["status"] for m in json.loads(report.read_text())["messages"]} == {"not sent"}


def test_bulk_with_nothing_to_send_is_a_usage_error(tmp_path, capsys):
    assert main(["bulk", str(tmp_path), "--server", HOST]) == 2
    assert "no messages in" in capsys.readouterr().err


def test_bulk_all_or_nothing_refuses_the_whole_message(start_server, tmp_path, capsys):
    server = start_server(refuse=frozenset({"nobody@example.org"}))
    (tmp_path / "1.eml").write_bytes(_eml("a@example.org", "ok@example.org", "nobody@example.org"))
    (tmp_path / "2.eml").write_bytes(_eml("a@example.org", "ok@example.org"))
    report = tmp_path / "report.json"
    assert main(["bulk", str(tmp_path), "--server", HOST, "--port", str(server.port), "--no-partial-delivery",
                 "--report", str(report)]) == 9
    assert capsys.readouterr().out.startswith("recipients: 1 delivered, 2 refused, 0 unknown, 0 not sent")
    first = json.loads(report.read_text())["messages"][0]
    assert first["status"] == "refused" and first["recipients"] == [
        {"address": "ok@example.org", "status": "refused", "code": None,
         "reply": "not sent: another recipient was refused"},
        {"address": "nobody@example.org", "status": "refused", "code": 550,
         "reply": "550 5.1.1 <nobody@example.org>: no such user"},
    ]
    assert [m.rcpt_tos for m in server.handler.messages] == [["ok@example.org"]]


def test_bulk_counts_an_unknown_outcome(tmp_path, capsys):
    (tmp_path / "only.eml").write_bytes(_eml("a@example.org", "b@example.org"))
    with ScriptedServer([*standard_session(), *accept_envelope(), ExpectData(), Close()]) as server:
        code = main(["bulk", str(tmp_path), "--server", HOST, "--port", str(server.port), "--connections", "1"])
    assert code == 9
    captured = capsys.readouterr()
    assert captured.out.startswith("recipients: 0 delivered, 0 refused, 1 unknown, 0 not sent")
    assert "only.eml: unknown: outcome unknown: " in captured.err and "may deliver it twice" in captured.err


def test_dsn_options_refuse_a_server_without_dsn_unless_optional(start_server, capsys):
    server = start_server()  # aiosmtpd offers no DSN
    arguments = ["send", "--server", HOST, "--port", str(server.port), "--from", "a@example.org",
                 "--to", "b@example.org", "--body", "x", "--dsn-notify", "FAILURE,DELAY"]
    assert main(arguments) == 6 and "does not offer DSN" in capsys.readouterr().err  # the server cannot take it
    assert server.handler.mail_commands == []
    assert main([*arguments, "--dsn-optional"]) == 0
    assert len(server.handler.messages) == 1


def test_dsn_options_against_postfix(postfix, capsys):
    sender, rcpt = postfix.address("cli-dsn-sender"), postfix.address("cli-dsn")
    assert main(["send", "--server", HOST, "--port", str(postfix.port), "--from", sender, "--to", rcpt,
                 "--body", "x", "--dsn-notify", "success", "--dsn-ret", "hdrs", "--dsn-envid", "cli 1"]) == 0
    (report,) = postfix.messages(to=sender, timeout=20)
    assert b"Original-Envelope-Id: cli 1" in report.raw and b"Action: delivered" in report.raw
