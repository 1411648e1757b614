"""SASL mechanisms against a real SMTP server (aiosmtpd on 127.0.0.1, AUTH LOGIN PLAIN)."""

from __future__ import annotations

import base64

import pytest
from conftest import HOST, PASSWORD, USER

import smtpunit
from smtpunit import errors
from smtpunit.providers import TCPTransport
from smtpunit.testing import Recorder

HEADER = "From: a@example.org\r\nTo: b@example.org\r\nSubject: sasl\r\n\r\n"


def send(port: int, **options: object) -> smtpunit.SendResult:
    return smtpunit.smtp_send_message(HOST, "a@example.org", ["b@example.org"], HEADER, ["hello"], port, **options)


def auth_lines(recorder: Recorder) -> list[bytes]:
    lines = bytes(recorder.sent).split(b"\r\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(b"AUTH "))
    end = next(i for i, line in enumerate(lines) if line.startswith(b"MAIL ") or line == b"QUIT")
    return lines[start:end]


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
def test_named_mechanism_delivers_as_the_user(start_server, mechanism):
    server = start_server(auth=True)
    recorder = Recorder()
    send(server.port, auth_user=USER, auth_passwd=PASSWORD, auth_mechanism=mechanism,
         tcp_connect=recorder.transport(TCPTransport()))
    (message,) = server.handler.messages
    assert message.authenticated == USER
    assert message.content.endswith(b"hello\r\n")
    sent = auth_lines(recorder)
    if mechanism == "LOGIN":
        assert sent == [b"AUTH LOGIN", base64.b64encode(USER.encode()), base64.b64encode(PASSWORD.encode())]
    else:
        assert sent == [b"AUTH PLAIN " + base64.b64encode(f"{USER}\0{USER}\0{PASSWORD}".encode())]


def test_default_choice_is_plain(start_server):
    server = start_server(auth=True)
    recorder = Recorder()
    send(server.port, auth_user=USER, auth_passwd=PASSWORD, tcp_connect=recorder.transport(TCPTransport()))
    assert b"AUTH LOGIN PLAIN" in bytes(recorder.received)  # what the server offered
    assert auth_lines(recorder) == [b"AUTH PLAIN " + base64.b64encode(f"{USER}\0{USER}\0{PASSWORD}".encode())]
    assert server.handler.messages[0].authenticated == USER


def test_wrong_password_with_login_is_535_without_the_password(start_server):
    server = start_server(auth=True)
    wrong = "not-the-" + PASSWORD
    with pytest.raises(errors.SMTPAuthenticationError) as info:
        send(server.port, auth_user=USER, auth_passwd=wrong, auth_mechanism="LOGIN")
    assert info.value.code == 535
    assert info.value.phase == "auth"
    for text in (str(info.value), repr(info.value), info.value.command):
        assert wrong not in text and PASSWORD not in text
    assert server.handler.messages == [] and server.handler.mail_commands == []


def test_mechanism_the_server_does_not_offer(start_server):
    server = start_server(auth=True)
    recorder = Recorder()
    with pytest.raises(errors.UnsupportedByServer) as info:
        send(server.port, auth_user=USER, auth_passwd=PASSWORD, auth_mechanism="CRAM-MD5",
             tcp_connect=recorder.transport(TCPTransport()))
    assert isinstance(info.value, ValueError)
    assert "CRAM-MD5" in str(info.value) and PASSWORD not in str(info.value)
    assert server.handler.mail_commands == [] and server.handler.messages == []
    assert b"AUTH" not in bytes(recorder.sent) and b"MAIL" not in bytes(recorder.sent)
    assert bytes(recorder.sent).endswith(b"QUIT\r\n")
