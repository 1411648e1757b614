"""smtpunit send's swaks-like options: --server HOST:PORT, short flags, --protocol,
--socket, --sendmail, --quit-after, TLS options and --show-time-lapse."""

from __future__ import annotations

import ssl
import time

import pytest
from conftest import HOST, RecordingHandler, free_port, recording_sendmail

from smtpunit.cli.main import main


def send(*arguments: str) -> int:
    return main(["send", "--from", "a@example.org", "--to", "b@example.org", "--body", "x", *arguments])


def test_server_with_its_port(start_server):
    # Once: --server 127.0.0.1:34981 became 127.0.0.1:34981:25.
    server = start_server()
    assert send("--server", f"{HOST}:{server.port}") == 0
    assert main(["send", "-s", f"{HOST}:{server.port}", "-f", "a@example.org", "-t", "c@example.org",
                 "--body", "x"]) == 0
    assert [m.rcpt_tos for m in server.handler.messages] == [["b@example.org"], ["c@example.org"]]


@pytest.mark.parametrize("server, port, message", [
    ("127.0.0.1:1", "2", "name two ports"),
    ("127.0.0.1:http", None, "not a port number"),
    ("[::1]x", None, "write [IPv6]:PORT"),
    (None, None, "--server is required"),
])
def test_bad_server_arguments_are_usage_errors(capsys, server, port, message):
    arguments = ([] if server is None else ["--server", server]) + ([] if port is None else ["--port", port])
    assert send(*arguments) == 2
    assert message in capsys.readouterr().err


def test_an_ipv6_server_in_brackets(capsys):
    # Nothing listens there: the point is that [::1]:PORT is read as host ::1, port PORT.
    port = free_port()
    assert send("--server", f"[::1]:{port}", "--timeout", "2") == 3
    assert f"could not connect to ::1:{port}" in capsys.readouterr().err


def test_lmtp_protocol(lmtp_server):
    controller, handler = lmtp_server
    assert send("--server", HOST, "--port", str(controller.port), "--protocol", "lmtp") == 0
    assert handler.messages[0].rcpt_tos == ["b@example.org"]


def test_unix_socket(unix_server):
    path, handler = unix_server
    assert send("--socket", str(path)) == 0
    assert handler.messages[0].rcpt_tos == ["b@example.org"]


def test_sendmail(tmp_path):
    program = recording_sendmail(tmp_path)
    assert send("--sendmail", str(program)) == 0
    assert (tmp_path / "argv").read_text() == "-i -f a@example.org -- b@example.org\n"


@pytest.fixture
def tls_server(start_server):
    return start_server(starttls=True, auth=True, handler=RecordingHandler(refuse=frozenset({"nobody@example.org"})))


@pytest.fixture
def ca_file(certs, tmp_path):
    path = tmp_path / "ca.pem"
    certs.ca.cert_pem.write_to_path(str(path))
    return str(path)


def through(server, ca_file, *arguments):
    return send("--server", f"{HOST}:{server.port}", "--tls", "starttls", "--cafile", ca_file, *arguments)


@pytest.mark.parametrize("stage, ehlo", [("connect", []), ("banner", []), ("ehlo", [False]),
                                         ("tls", [False, True]), ("auth", [False, True])])
def test_quit_after_the_opening_stages(tls_server, ca_file, monkeypatch, capsys, stage, ehlo):
    monkeypatch.setenv("PW", "s3cret-pässword")
    assert through(tls_server, ca_file, "--auth-user", "alice", "--auth-password-env", "PW",
                   "--quit-after", stage) == 0
    out = capsys.readouterr().out
    assert out.endswith(f"quit after {stage}\n")
    assert ("220 " in out) is (stage == "banner")
    assert [e.tls for e in tls_server.handler.ehlos] == ehlo and tls_server.handler.mail_commands == []


def test_quit_after_auth_really_authenticates(tls_server, ca_file, monkeypatch):
    monkeypatch.setenv("PW", "wrong")
    assert through(tls_server, ca_file, "--auth-user", "alice", "--auth-password-env", "PW", "-q", "auth") == 5


def test_quit_after_mail_and_rcpt_delivers_nothing(tls_server, ca_file, capsys):
    assert through(tls_server, ca_file, "--to", "nobody@example.org", "--quit-after", "rcpt") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("250") and lines[1].startswith("250") and lines[2].startswith("550")
    assert lines[-1] == "quit after rcpt"
    assert through(tls_server, ca_file, "--quit-after", "mail") == 0
    assert tls_server.handler.mail_commands == ["a@example.org", "a@example.org"]
    assert tls_server.handler.messages == []


def test_tls_verification_sni_and_protocol(tls_server, ca_file, capsys):
    plain = ["--server", f"{HOST}:{tls_server.port}", "--tls", "starttls"]
    assert send(*plain) == 4  # the test CA is not trusted: verification fails closed
    assert send(*plain, "--no-tls-verify") == 0  # asked for by name
    assert through(tls_server, ca_file, "--tls-sni", "localhost") == 0  # the certificate names localhost too
    assert through(tls_server, ca_file, "--tls-sni", "mail.other.invalid") == 4
    assert through(tls_server, ca_file, "--tls-protocol", "TLSv1.3") == 0
    assert send("--server", HOST, "--no-tls-verify") == 2  # without --tls
    assert len(tls_server.handler.messages) == 3


def test_tls_protocol_is_the_least_version_taken(start_server, certs, ca_file):
    """``--tls-protocol TLSv1.3`` refuses a server that goes no higher than TLS 1.2
    (exit 4, nothing sent); without it, or with TLSv1.2, the same server is fine."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certs.ca.issue_cert("localhost", HOST).configure_cert(context)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    older = start_server(starttls=True, server_context=context)
    assert through(older, ca_file, "--tls-protocol", "TLSv1.3") == 4
    assert older.handler.messages == []
    assert through(older, ca_file, "--tls-protocol", "TLSv1.2") == 0
    assert through(older, ca_file) == 0
    assert len(older.handler.messages) == 2


def test_show_time_lapse(tls_server, ca_file, capsys):
    assert through(tls_server, ca_file, "--transcript", "--show-time-lapse") == 0
    err = capsys.readouterr().err.splitlines()
    assert all(line.startswith("+") for line in err[:-1]) and err[0].startswith("+0.")
    assert err[-1].startswith("time: ") and err[-1].endswith("s")


def test_quit_after_needs_a_conversation_and_sni_needs_tcp(capsys, tmp_path):
    assert send("--sendmail", "/bin/true", "--quit-after", "ehlo") == 2
    assert "not with --sendmail" in capsys.readouterr().err
    assert send("--socket", str(tmp_path / "s.sock"), "--tls", "starttls", "--tls-sni", "mail.example.org") == 2
    assert "--tls-sni names the server" in capsys.readouterr().err


def test_quit_after_banner_over_implicit_tls(start_server, ca_file, capsys):
    server = start_server(implicit_tls=True)
    assert send("--server", f"{HOST}:{server.port}", "--tls", "implicit", "--cafile", ca_file,
                "--quit-after", "banner") == 0
    out = capsys.readouterr().out
    assert out.startswith("220 ") and out.endswith("quit after banner\n")
    assert send("--server", f"{HOST}:{server.port}", "--tls", "implicit", "--quit-after", "connect") == 4  # verified


@pytest.mark.parametrize("quit_after", [(), ("--quit-after", "connect")], ids=["send", "quit-after-connect"])
def test_a_connect_that_never_completes_is_a_timeout(unanswered_port, capsys, quit_after):
    # --quit-after connect opens its connection as a send does: the same error, exit 7.
    started = time.monotonic()
    assert send("--server", f"{HOST}:{unanswered_port}", "--timeout", "0.5", *quit_after) == 7
    assert time.monotonic() - started < 5
    assert "phase 'connect'" in capsys.readouterr().err


def test_quit_after_connect_to_nobody_is_a_connection_failure(capsys):
    assert send("--server", f"{HOST}:{free_port()}", "--quit-after", "connect") == 3
    assert "could not connect to" in capsys.readouterr().err
