"""smtpunit against a real Postfix: smtpd with STARTTLS and Cyrus SASL, and smtp-sink."""

from __future__ import annotations

import pytest
from postfix import HOST, HOSTNAME, PostfixInstance, start_smtp_sink
from postfix import postfix as postfix_fixture  # noqa: F401

import smtpunit
from smtpunit.errors import SMTPAuthenticationError
from smtpunit.providers import TCPTransport
from smtpunit.testing import Recorder
from smtpunit.units.linking import resolve_all

MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256")


def header_for(sender: str, recipient: str, subject: str) -> bytes:
    """A complete header, so Postfix's cleanup adds nothing to it."""
    return (
        f"From: Sender <{sender}>\r\n"
        f"To: <{recipient}>\r\n"
        f"Subject: {subject}\r\n"
        "Date: Thu, 02 Jan 2025 10:00:00 +0000\r\n"
        f"Message-ID: <{subject.replace(' ', '-')}@smtpunit.test>\r\n"
        "\r\n"
    ).encode()


BODY = ["Hello Postfix,", "", ".", ".leading dot", "..two dots", "trailing space ", "tab\there",
        "ünïcødé in UTF-8", "x" * 998, "-- ", "bye"]


def expected(header: bytes, lines: list[str]) -> bytes:
    return header + b"".join(line.encode() + b"\r\n" for line in lines)


def require_mechanism(name: str) -> None:
    if name not in resolve_all(smtpunit.default_registry(), smtpunit.interfaces.ISASLMechanism):
        pytest.fail(f"mechanism not provided: {name} is not linked in smtpunit.default_registry()")


def auth_line(recorder: Recorder) -> bytes:
    """The AUTH command the client sent (its initial response cut off)."""
    for line in bytes(recorder.sent).split(b"\r\n"):
        if line.upper().startswith(b"AUTH "):
            return b" ".join(line.split(b" ")[:2])
    raise AssertionError(f"no AUTH command in {bytes(recorder.sent)!r}")


def test_plain_send_is_delivered_byte_exact(postfix: PostfixInstance) -> None:
    sender, rcpt = "sender@example.org", postfix.address("plain")
    header = header_for(sender, rcpt, "plain send")

    result = smtpunit.smtp_send_message(HOST, sender, [rcpt], header, BODY, postfix.port)

    assert [r.address for r in result.recipients] == [rcpt]
    assert result.reply.code == 250
    [delivery] = postfix.messages(to=rcpt)
    assert delivery.original() == expected(header, BODY)
    assert delivery.sender == sender
    assert delivery.recipient == rcpt == delivery.delivered_to
    assert "with ESMTP id" in delivery.received[0]


def test_every_recipient_and_the_null_sender(postfix: PostfixInstance) -> None:
    first, second = postfix.address("multi"), postfix.address("multi")
    header = header_for("mailer-daemon@example.org", first, "bounce like")

    smtpunit.smtp_send_message(HOST, "", [first, second], header, ["a bounce"], postfix.port)

    for rcpt in (first, second):
        [delivery] = postfix.messages(to=rcpt)
        assert delivery.sender == ""
        assert delivery.body == b"a bounce\r\n"


def test_other_domains_stay_on_this_machine(postfix: PostfixInstance) -> None:
    rcpt = postfix.address("elsewhere", domain="example.com")

    smtpunit.smtp_send_message(HOST, "s@example.org", [rcpt], header_for("s@example.org", rcpt, "other"),
                               ["kept"], postfix.port)

    [delivery] = postfix.messages(to=rcpt)
    assert delivery.body == b"kept\r\n"


def test_postfix_advertises_what_the_tests_rely_on(postfix: PostfixInstance) -> None:
    recorder = Recorder()
    rcpt = postfix.address("ehlo")
    smtpunit.smtp_send_message(HOST, "s@example.org", [rcpt], header_for("s@example.org", rcpt, "ehlo"), ["x"],
                               postfix.port, tcp_connect=recorder.transport(TCPTransport()))
    received = bytes(recorder.received)
    for keyword in (b"PIPELINING", b"CHUNKING", b"STARTTLS", b"8BITMIME", b"SMTPUTF8",
                    b"AUTH PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256"):
        assert keyword in received, keyword
    postfix.messages(to=rcpt)


def test_starttls_is_delivered(postfix: PostfixInstance) -> None:
    sender, rcpt = "tls@example.org", postfix.address("starttls")
    header = header_for(sender, rcpt, "over starttls")

    smtpunit.smtp_send_message("localhost", sender, [rcpt], header, BODY, postfix.port,
                               tls_encode=postfix.client_context())

    [delivery] = postfix.messages(to=rcpt)
    assert delivery.original() == expected(header, BODY)
    assert "with ESMTPS id" in delivery.received[0]
    assert "using TLS" in delivery.received[0]


def test_starttls_verifies_the_certificate(postfix: PostfixInstance) -> None:
    """The default context does not trust the test CA: nothing is sent after STARTTLS."""
    rcpt = postfix.address("untrusted")
    with pytest.raises(smtpunit.errors.SMTPTLSError):
        smtpunit.smtp_send_message("localhost", "s@example.org", [rcpt], header_for("s@example.org", rcpt, "x"),
                                   ["never"], postfix.port, tls_encode=True)
    postfix.assert_nothing_delivered(rcpt, settle=0.5)


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_auth_with_the_cyrus_user(postfix: PostfixInstance, mechanism: str) -> None:
    require_mechanism(mechanism)
    recorder = Recorder()
    sender, rcpt = "auth@example.org", postfix.address(f"auth-{mechanism.lower()}")
    header = header_for(sender, rcpt, f"auth {mechanism}")

    smtpunit.smtp_send_message(HOST, sender, [rcpt], header, BODY, postfix.port,
                               auth_user=postfix.username, auth_passwd=postfix.password, auth_mechanism=mechanism,
                               tcp_connect=recorder.transport(TCPTransport()))

    assert auth_line(recorder) == b"AUTH " + mechanism.encode()
    [delivery] = postfix.messages(to=rcpt)
    assert delivery.original() == expected(header, BODY)
    assert "with ESMTPA id" in delivery.received[0]


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_auth_after_starttls(postfix: PostfixInstance, mechanism: str) -> None:
    require_mechanism(mechanism)
    rcpt = postfix.address(f"tls-auth-{mechanism.lower()}")

    smtpunit.smtp_send_message("localhost", "s@example.org", [rcpt], header_for("s@example.org", rcpt, "tls auth"),
                               ["secret"], postfix.port, tls_encode=postfix.client_context(),
                               auth_user=postfix.username, auth_passwd=postfix.password, auth_mechanism=mechanism)

    [delivery] = postfix.messages(to=rcpt)
    assert "with ESMTPSA id" in delivery.received[0]


def test_auth_with_the_realm_in_the_user_name(postfix: PostfixInstance) -> None:
    rcpt = postfix.address("realm")
    smtpunit.smtp_send_message(HOST, "s@example.org", [rcpt], header_for("s@example.org", rcpt, "realm"), ["x"],
                               postfix.port, auth_user=f"{postfix.username}@{HOSTNAME}",
                               auth_passwd=postfix.password, auth_mechanism="PLAIN")
    postfix.messages(to=rcpt)


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_wrong_password_is_535(postfix: PostfixInstance, mechanism: str) -> None:
    require_mechanism(mechanism)
    rcpt = postfix.address("wrong")

    with pytest.raises(SMTPAuthenticationError) as caught:
        smtpunit.smtp_send_message(HOST, "s@example.org", [rcpt], header_for("s@example.org", rcpt, "x"), ["x"],
                                   postfix.port, auth_user=postfix.username, auth_passwd="not-the-password",
                                   auth_mechanism=mechanism)

    assert caught.value.code == 535
    assert "not-the-password" not in str(caught.value)
    postfix.assert_nothing_delivered(rcpt, settle=0.3)


def test_default_mechanism_is_scram_sha_256(postfix: PostfixInstance) -> None:
    require_mechanism("SCRAM-SHA-256")
    recorder = Recorder()
    rcpt = postfix.address("default-auth")

    smtpunit.smtp_send_message(HOST, "s@example.org", [rcpt], header_for("s@example.org", rcpt, "default"), ["x"],
                               postfix.port, auth_user=postfix.username, auth_passwd=postfix.password,
                               tcp_connect=recorder.transport(TCPTransport()))

    assert auth_line(recorder) == b"AUTH SCRAM-SHA-256"
    postfix.messages(to=rcpt)


def test_smtp_sink_accepts_a_message() -> None:
    with start_smtp_sink(None, "-c") as sink:
        result = smtpunit.smtp_send_message(HOST, "s@example.org", ["a@smtpunit.test", "b@smtpunit.test"],
                                            "Subject: sink\r\n\r\n", ["to the sink", "."], sink.port)
    assert [r.reply.code for r in result.recipients] == [250, 250]
    assert result.reply.code == 250


def test_delivery_status_notifications_come_back_from_postfix(postfix: PostfixInstance) -> None:
    sender, rcpt = postfix.address("dsn-sender"), postfix.address("dsn")
    recorder = Recorder()
    header = header_for(sender, rcpt, "dsn requested")
    result = smtpunit.send(HOST, sender, [rcpt], header.decode(), ["ask for a report"], postfix.port,
                           tcp_connect=recorder.transport(TCPTransport()),
                           dsn=smtpunit.DSN(notify=("SUCCESS", "FAILURE"), ret="HDRS", envid="order+42"))
    assert result.accepted == (rcpt,)
    assert b"RET=HDRS ENVID=order+2B42\r\n" in bytes(recorder.sent)
    assert f"NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;{rcpt}\r\n".encode() in bytes(recorder.sent)
    postfix.messages(to=rcpt)
    (report,) = postfix.messages(to=sender, timeout=20)  # the success notification, to the sender
    text = report.raw.decode("utf-8", "replace")
    assert "Original-Envelope-Id: order+42" in text  # decoded from xtext: the encoding was right
    assert f"Original-Recipient: rfc822;{rcpt}" in text and "Action: delivered" in text
