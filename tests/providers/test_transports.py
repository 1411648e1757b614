"""Transports and TLS policy against real servers on 127.0.0.1 (aiosmtpd)."""

from __future__ import annotations

import socket
import ssl
from typing import Any

import pytest
from conftest import HOST
from zope.interface.verify import verifyObject

import smtpunit
from smtpunit import ISMTP, errors
from smtpunit.core.policy import TLSPolicy
from smtpunit.interfaces import ITransport
from smtpunit.providers import TCPTransport, UnixSocketTransport, default_context
from smtpunit.testing import Recorder

HEADER = "Subject: providers\r\n\r\n"


def send(port: int, server: str = HOST, **options: Any) -> smtpunit.SendResult:
    return smtpunit.smtp_send_message(server, "a@example.org", ["b@example.org"], HEADER, ["x"], port, **options)


def test_opportunistic_uses_starttls_when_offered(start_server, certs):
    server = start_server(starttls=True)
    send(server.port, tls_encode=certs.client_context(), tls_policy="opportunistic")
    assert server.handler.messages[0].tls


def test_opportunistic_falls_back_to_plaintext_when_not_offered(start_server, certs):
    server = start_server()
    send(server.port, tls_encode=certs.client_context(), tls_policy=TLSPolicy.OPPORTUNISTIC)
    assert not server.handler.messages[0].tls


def test_required_is_the_default_when_tls_is_asked_for(start_server, certs):
    server = start_server()
    with pytest.raises(errors.StartTLSNotOffered):
        send(server.port, tls_encode=certs.client_context())
    assert server.handler.mail_commands == []


def test_implicit_policy_with_a_context(start_server, certs):
    server = start_server(implicit_tls=True)
    send(server.port, tls_encode=certs.client_context(), tls_policy="implicit")
    assert server.handler.messages[0].tls


def test_implicit_policy_verifies_by_default(start_server):
    server = start_server(implicit_tls=True)
    with pytest.raises(errors.TLSHandshakeError, match="CERTIFICATE_VERIFY_FAILED"):
        send(server.port, tls_policy="implicit")


def test_bad_policy_and_contradiction_are_input_errors():
    with pytest.raises(errors.InvalidArgument):
        send(25, tls_policy="sometimes")
    with pytest.raises(errors.InvalidArgument):
        send(25, tls_encode=True, tls_policy="none")


def test_tls_checks_the_configured_name_not_where_tcp_connect_went(start_server, certs, wrong_name_certs):
    good = start_server(starttls=True, require_starttls=True)

    def elsewhere(port: int):
        return lambda host, _port: socket.create_connection((HOST, port))

    # The certificate names "localhost": asking for "localhost" while connecting to 127.0.0.1 works...
    send(good.port, server="localhost", tcp_connect=elsewhere(good.port), tls_encode=certs.client_context())
    assert good.handler.messages[0].tls
    # ...and a certificate for another name fails, though the address is the same.
    bad = start_server(starttls=True, server_context=wrong_name_certs.server_context)
    with pytest.raises(errors.TLSHandshakeError):
        send(bad.port, server="localhost", tcp_connect=elsewhere(bad.port),
             tls_encode=wrong_name_certs.client_context())
    assert bad.handler.mail_commands == []


@pytest.fixture
def client_cert_server(start_server, certs, tmp_path):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certs.ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    context.verify_mode = ssl.CERT_REQUIRED
    certs.ca.configure_trust(context)
    pem = tmp_path / "client.pem"
    certs.ca.issue_cert("client.smtpunit.test").private_key_and_cert_chain_pem.write_to_path(str(pem))
    return start_server(starttls=True, require_starttls=True, server_context=context), pem


def test_client_certificate_is_presented(client_cert_server, certs):
    server, pem = client_cert_server
    context = default_context(certfile=str(pem))
    certs.ca.configure_trust(context)
    send(server.port, tls_encode=context)
    assert server.handler.messages[0].tls


def test_server_requiring_a_client_certificate_refuses_a_client_without(client_cert_server, certs):
    server, _ = client_cert_server
    with pytest.raises(errors.SMTPError):
        send(server.port, tls_encode=certs.client_context())
    assert server.handler.messages == []


def test_unix_socket_transport(unix_server):
    path, handler = unix_server
    transport = UnixSocketTransport(path)
    assert verifyObject(ITransport, transport)
    send(25, server="localhost", tcp_connect=transport)
    assert handler.messages[0].content.endswith(b"x\r\n")


def lmtp(registry=None):
    return smtpunit.invoke(registry or smtpunit.default_registry(), ISMTP, "lmtp")


def test_lmtp_speaks_lhlo_and_reports_each_recipient(lmtp_server):
    controller, handler = lmtp_server
    recorder = Recorder()
    unit = lmtp()
    assert verifyObject(ISMTP, unit)
    result = unit.smtp_send_message(HOST, "a@example.org", ["b@example.org", "c@example.org"], HEADER, ["x"],
                                    controller.port, tcp_connect=recorder.transport(TCPTransport()))
    assert bytes(recorder.sent).startswith(b"LHLO localhost\r\n")
    assert [r.data_reply.text for r in result.recipients] == ["2.1.5 delivered to b@example.org",
                                                              "2.1.5 delivered to c@example.org"]
    assert result.accepted == ("b@example.org", "c@example.org")
    assert len(handler.messages) == 1


def test_lmtp_refusal_after_data_is_reported_per_recipient(lmtp_server):
    controller, handler = lmtp_server
    handler.refuse_after_data = frozenset({"c@example.org"})
    recipients = ["b@example.org", "c@example.org"]
    with pytest.raises(errors.RecipientsRefused) as caught:
        lmtp().smtp_send_message(HOST, "a@example.org", recipients, HEADER, ["x"], controller.port)
    assert (caught.value.code, caught.value.phase) == (452, "data-end")
    assert [r.accepted for r in caught.value.recipients] == [True, False]
    result = lmtp().smtp_send_message(HOST, "a@example.org", recipients, HEADER, ["x"], controller.port,
                                      partial_delivery=True)
    assert result.accepted == ("b@example.org",)
    assert result.refused[0].data_reply.code == 452


def test_partial_delivery_sends_to_the_accepted(start_server):
    server = start_server(refuse=frozenset({"bad@example.org"}))
    result = smtpunit.smtp_send_message(HOST, "a@example.org", ["b@example.org", "bad@example.org", "c@example.org"],
                                        HEADER, ["x"], server.port, partial_delivery=True)
    assert result.accepted == ("b@example.org", "c@example.org")
    assert [r.reply.code for r in result.refused] == [550]
    assert server.handler.messages[0].rcpt_tos == ["b@example.org", "c@example.org"]


def test_all_refused_fails_even_with_partial_delivery(start_server):
    server = start_server(refuse=frozenset({"b@example.org"}))
    with pytest.raises(errors.RecipientsRefused) as caught:
        send(server.port, partial_delivery=True)
    assert caught.value.recipients[0].reply.code == 550
    assert server.handler.messages == []
