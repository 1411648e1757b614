"""smtp_send_message against a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import base64
import socket

import pytest
from conftest import HOST, PASSWORD, USER
from zope.interface import implementer

import smtpunit
from smtpunit import errors
from smtpunit.interfaces import ITransport
from smtpunit.providers import ImplicitTLSTransport, SSLContextTLS, TCPTransport
from smtpunit.testing import Recorder

HEADER = "From: a@example.org\r\nTo: b@example.org\r\nSubject: parity\r\n\r\n"
LINES = ["first line", ".starts with a dot", "", b"bytes line", "."]
BODY = b"first line\r\n.starts with a dot\r\n\r\nbytes line\r\n.\r\n"


def racket_bytes(*, auth: bool = False, ehlo: str = "localhost") -> bytes:
    """What Racket's net/smtp writes for the call in these tests."""
    wire = f"EHLO {ehlo}\r\n".encode()
    if auth:
        wire += b"AUTH PLAIN " + base64.b64encode(f"{USER}\0{USER}\0{PASSWORD}".encode()) + b"\r\n"
    wire += b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n"
    wire += HEADER.encode()
    wire += b"first line\r\n..starts with a dot\r\n\r\nbytes line\r\n..\r\n.\r\nQUIT\r\n"
    return wire


def send(port: int, **options: object) -> smtpunit.SendResult:
    return smtpunit.smtp_send_message(
        HOST, "a@example.org", ["b@example.org", "c@example.org"], HEADER, LINES, port, **options
    )


def test_plain_send_delivers_header_and_dot_stuffed_body(start_server):
    server = start_server()
    result = send(server.port)
    (message,) = server.handler.messages
    assert message.mail_from == "a@example.org"
    assert message.rcpt_tos == ["b@example.org", "c@example.org"]
    assert message.content == HEADER.encode() + BODY
    assert not message.tls and message.authenticated is None
    assert [r.address for r in result.recipients] == ["b@example.org", "c@example.org"]
    assert result.reply.code == 250


def test_wire_bytes_are_rackets(start_server):
    server = start_server()
    recorder = Recorder()
    send(server.port, tcp_connect=recorder.transport(TCPTransport()))
    assert bytes(recorder.sent) == racket_bytes()


def test_port_keyword_and_positional_are_the_same(start_server):
    server = start_server()
    smtpunit.smtp_send_message(HOST, "a@example.org", ["b@example.org"], HEADER, ["x"], port_no=server.port)
    smtpunit.smtp_send_message(HOST, "a@example.org", ["b@example.org"], HEADER, ["y"], server.port)
    assert [m.content.endswith(b"x\r\n") for m in server.handler.messages] == [True, False]
    assert server.handler.messages[1].content.endswith(b"y\r\n")


def test_sending_server_parameter_names_the_ehlo(start_server):
    server = start_server()
    recorder = Recorder()
    with smtpunit.smtp_sending_server.parameterize("client.example.org"):
        send(server.port, tcp_connect=recorder.transport(TCPTransport()))
    assert bytes(recorder.sent) == racket_bytes(ehlo="client.example.org")


def test_starttls_then_auth_plain_with_racket_bytes_inside_tls(start_server, certs):
    server = start_server(starttls=True, require_starttls=True, auth=True)
    recorder = Recorder()
    send(
        server.port,
        tcp_connect=recorder.transport(TCPTransport()),
        tls_encode=recorder.tls(SSLContextTLS(certs.client_context())),
        auth_user=USER,
        auth_passwd=PASSWORD,
    )
    (message,) = server.handler.messages
    assert message.tls and message.authenticated == USER
    sent = bytes(recorder.sent)
    assert sent[: recorder.tls_started_at] == b"EHLO localhost\r\nSTARTTLS\r\n"
    assert sent[recorder.tls_started_at :] == racket_bytes(auth=True)


def test_tls_encode_accepts_an_ssl_context(start_server, certs):
    server = start_server(starttls=True, require_starttls=True)
    send(server.port, tls_encode=certs.client_context())
    assert server.handler.messages[0].tls


def test_tls_encode_accepts_a_racket_style_procedure(start_server, certs):
    server = start_server(starttls=True, require_starttls=True)
    calls = []
    context = certs.client_context()

    def encode(sock: socket.socket, *, server_hostname: str) -> socket.socket:
        calls.append(server_hostname)
        return context.wrap_socket(sock, server_hostname=server_hostname)

    send(server.port, tls_encode=encode)
    assert calls == [HOST]
    assert server.handler.messages[0].tls


def test_tls_encode_true_verifies_against_system_roots_and_fails_closed(start_server):
    server = start_server(starttls=True, require_starttls=True)
    with pytest.raises(errors.TLSHandshakeError) as caught:
        send(server.port, tls_encode=True)
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert server.handler.mail_commands == []


def test_starttls_rejects_wrong_host_name(start_server, wrong_name_certs):
    server = start_server(starttls=True, server_context=wrong_name_certs.server_context)
    with pytest.raises(errors.TLSHandshakeError):
        send(server.port, tls_encode=wrong_name_certs.client_context())
    assert server.handler.messages == [] and server.handler.mail_commands == []


def test_starttls_required_but_not_offered_sends_no_envelope(start_server, certs):
    server = start_server()
    with pytest.raises(errors.StartTLSNotOffered):
        send(server.port, tls_encode=certs.client_context(), auth_user=USER, auth_passwd=PASSWORD)
    assert server.handler.mail_commands == []


def test_implicit_tls_through_tcp_connect(start_server, certs):
    server = start_server(implicit_tls=True)
    send(server.port, tcp_connect=ImplicitTLSTransport(certs.client_context()))
    assert server.handler.messages[0].tls


def test_implicit_tls_through_a_procedure_returning_an_ssl_socket(start_server, certs):
    server = start_server(implicit_tls=True)
    context = certs.client_context()

    def connect(host: str, port: int) -> socket.socket:
        return context.wrap_socket(socket.create_connection((host, port)), server_hostname=host)

    send(server.port, tcp_connect=connect)
    assert server.handler.messages[0].tls


def test_auth_plain_over_loopback_without_tls(start_server):
    server = start_server(auth=True)
    send(server.port, auth_user=USER, auth_passwd=PASSWORD)
    assert server.handler.messages[0].authenticated == USER


def test_wrong_password_is_an_authentication_error_without_the_password(start_server):
    server = start_server(auth=True)
    with pytest.raises(errors.SMTPAuthenticationError) as caught:
        send(server.port, auth_user=USER, auth_passwd="wrong-password")
    assert caught.value.code == 535 and caught.value.phase == "auth"
    assert "wrong-password" not in str(caught.value) and "wrong-password" not in repr(caught.value.command)
    assert server.handler.mail_commands == []


def test_refused_recipient_raises_with_code_and_phase(start_server):
    server = start_server(refuse=frozenset({"c@example.org"}))
    with pytest.raises(errors.SMTPReplyError) as caught:
        send(server.port)
    assert (caught.value.code, caught.value.enhanced_status, caught.value.phase) == (550, "5.1.1", "rcpt")
    assert caught.value.command == "RCPT TO:<c@example.org>"
    assert server.handler.messages == []


def test_end_of_message_runs_after_the_last_line_and_before_the_dot(start_server):
    server = start_server()
    recorder = Recorder()
    seen = []
    with smtpunit.smtp_sending_end_of_message.parameterize(lambda: seen.append(bytes(recorder.sent))):
        send(server.port, tcp_connect=recorder.transport(TCPTransport()))
    (sent_then,) = seen
    # Every command before the data went out; the data is written as Racket writes it, to a
    # buffer, and leaves with the "." after the procedure returned.
    assert sent_then.endswith(b"DATA\r\n") and b".\r\n.\r\n" not in sent_then
    assert bytes(recorder.sent).count(b"bytes line\r\n..\r\n.\r\n") == 1
    assert len(server.handler.messages) == 1


@pytest.mark.parametrize("interruption", [RuntimeError("stop"), KeyboardInterrupt()])
def test_interrupted_end_of_message_delivers_nothing(start_server, interruption):
    server = start_server()
    recorder = Recorder()

    def interrupt() -> None:
        raise interruption

    with smtpunit.smtp_sending_end_of_message.parameterize(interrupt):
        with pytest.raises(type(interruption)):
            send(server.port, tcp_connect=recorder.transport(TCPTransport()))
    assert not bytes(recorder.sent).endswith(b".\r\n.\r\n")
    assert b"QUIT" not in recorder.sent
    send(server.port)  # a later message on a new connection is delivered alone
    assert len(server.handler.messages) == 1
    assert server.handler.messages[0].content.endswith(BODY)


def test_utf8_address_uses_smtputf8_when_offered(start_server):
    server = start_server()
    smtpunit.smtp_send_message(HOST, "ä@example.org", ["b@example.org"], HEADER, ["x"], server.port)
    assert server.handler.messages[0].mail_from == "ä@example.org"


def test_connection_refused_is_a_connection_error():
    port = __import__("conftest").free_port()
    with pytest.raises(errors.SMTPTransportError) as caught:
        smtpunit.smtp_send_message(HOST, "a@example.org", ["b@example.org"], HEADER, ["x"], port)
    assert isinstance(caught.value, ConnectionError)


def test_smtp_send_message_star_over_an_open_socket(start_server):
    server = start_server()
    sock = socket.create_connection((HOST, server.port))
    smtpunit.smtp_send_message_star(sock, "a@example.org", ["b@example.org"], HEADER, ["over a socket"])
    assert server.handler.messages[0].content.endswith(b"over a socket\r\n")
    assert sock.fileno() == -1  # closed


@implementer(ITransport)
class CountingTransport:
    """Plain TCP that counts the connections made."""

    def __init__(self) -> None:
        self.inner, self.count = TCPTransport(), 0

    def connect(self, host, port, timeout):
        self.count += 1
        return self.inner.connect(host, port, timeout)


def test_send_many_sends_every_message_over_one_connection_and_reports_each(start_server):
    server = start_server(refuse=frozenset({"nobody@example.org"}))
    transport = CountingTransport()
    messages = [("a@example.org", ["b@example.org"], "Subject: 1\r\n\r\n", ["one"]),
                ("a@example.org", ["nobody@example.org"], "Subject: 2\r\n\r\n", ["two"]),
                ("a@example.org", ["c@example.org"], "Subject: 3\r\n\r\n", ["three"])]
    outcomes = smtpunit.send_many(HOST, messages, server.port, tcp_connect=transport)
    assert [type(o).__name__ for o in outcomes] == ["SendResult", "RecipientsRefused", "SendResult"]
    assert transport.count == 1
    assert [m.rcpt_tos for m in server.handler.messages] == [["b@example.org"], ["c@example.org"]]
    assert server.handler.messages[1].content.endswith(b"three\r\n")


def test_send_many_checks_every_message_before_connecting(start_server):
    server = start_server()
    transport = CountingTransport()
    with pytest.raises(smtpunit.errors.InvalidAddress):
        smtpunit.send_many(HOST, [("a@example.org", ["b@example.org"], "Subject: ok\r\n\r\n", ["x"]),
                                  ("a@example.org", ["bad\r\nRCPT TO:<x@example.org>"], "\r\n", ["y"])],
                           server.port, tcp_connect=transport)
    assert transport.count == 0 and server.handler.messages == []


def test_send_is_smtp_send_message_under_the_shared_verb(start_server):
    server = start_server()
    result = smtpunit.send(HOST, "a@example.org", ["b@example.org"], "Subject: verb\r\n\r\n", ["hi"], server.port)
    assert result.accepted == ("b@example.org",)
    assert server.handler.messages[0].content.endswith(b"Subject: verb\r\n\r\nhi\r\n")
    with pytest.raises(TypeError, match="send.*tls_encdoe"):
        smtpunit.send(HOST, "a@example.org", ["b@example.org"], "\r\n", ["x"], server.port, tls_encdoe=True)
