"""DKIM signing: what the server received verifies with dkimpy's verifier, whatever
entry point sent it; streamed messages are refused clearly."""

from __future__ import annotations

import asyncio
import base64

import dkim
import pytest
from conftest import HOST
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import smtpunit
import smtpunit.aio
from smtpunit import DKIMSigner, errors
from smtpunit.core.commands import prepare_stream_envelope
from smtpunit.testing import Outbox

HEADER = ("From: Sender <a@example.org>\r\nTo: b@example.org\r\nSubject: signed\r\n"
          "Date: Thu, 02 Jan 2025 10:00:00 +0000\r\nMessage-ID: <signed@example.org>\r\n\r\n")
LINES = ["Hello,", ".a line that starts with a dot", "", "bye"]


@pytest.fixture(scope="module")
def key():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = private.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


@pytest.fixture(scope="module")
def signer(key):
    return DKIMSigner(selector="mail", domain="example.org", private_key=key[0])


def verifies(content: bytes, key) -> bool:
    """dkimpy's verifier, with a test DNS that holds the public key."""
    def dns(name, timeout=5):
        return key[1] if name == b"mail._domainkey.example.org." else None

    return bool(dkim.verify(content, dnsfunc=dns))


def test_what_the_server_received_verifies(start_server, signer, key):
    server = start_server()
    smtpunit.send(HOST, "a@example.org", ["b@example.org"], HEADER, LINES, server.port, signer=signer)
    (delivered,) = server.handler.messages
    assert delivered.content.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple; d=example.org;")
    assert verifies(delivered.content, key)
    tampered = delivered.content.replace(b"bye", b"Bye")
    assert not verifies(tampered, key)


def test_every_entry_point_signs(start_server, signer, key):
    server = start_server()
    message = ("a@example.org", ["b@example.org"], HEADER, LINES)
    smtpunit.send_many(HOST, [message, message], server.port, signer=signer)
    with smtpunit.connect(HOST, server.port, signer=signer) as session:
        session.send(*message)
    with smtpunit.Pool(HOST, server.port, signer=signer) as pool:
        pool.send(*message)
    with smtpunit.Mailer(HOST, server.port, signer=signer) as mailer:
        mailer.send(*message)
        asyncio.run(mailer.send_async(*message))
    asyncio.run(smtpunit.aio.send(HOST, *message, server.port, signer=signer))
    assert len(server.handler.messages) == 7
    assert all(verifies(m.content, key) for m in server.handler.messages)
    assert all(m.content.count(b"DKIM-Signature:") == 1 for m in server.handler.messages)  # signed once


def test_doubles_and_local_providers_record_the_signed_message(signer, key, tmp_path):
    outbox = Outbox()
    smtpunit.Mailer("mail.example.org", 587, provider=outbox, tls_encode=True, signer=signer).send(
        "a@example.org", ["b@example.org"], HEADER, LINES)
    assert verifies(outbox.messages[0].raw, key)
    smtpunit.Mailer.from_url(f"file://{tmp_path}", signer=signer).send("a@example.org", ["b@example.org"], HEADER,
                                                                       LINES)
    (written,) = tmp_path.glob("*.eml")
    assert verifies(written.read_bytes(), key)


def test_the_key_is_never_shown_and_bad_keys_are_refused(signer, tmp_path):
    assert repr(signer) == "DKIMSigner(selector='mail', domain='example.org')"
    with pytest.raises(errors.InvalidArgument, match="cannot read the DKIM private key"):
        DKIMSigner("mail", "example.org", tmp_path / "missing.pem")
    with pytest.raises(errors.InvalidArgument, match="must be PEM"):
        DKIMSigner("mail", "example.org", b"not a key")
    with pytest.raises(errors.InvalidArgument, match="selector"):
        DKIMSigner("", "example.org", b"-----BEGIN PRIVATE KEY-----")
    with pytest.raises(TypeError, match="signer must be an ISigner"):
        smtpunit.send(HOST, "a@example.org", ["b@example.org"], HEADER, LINES, signer=lambda m: b"")


def test_the_command_line_signs(start_server, key, tmp_path, capsys):
    from smtpunit.cli.main import main

    server = start_server()
    (tmp_path / "dkim.pem").write_bytes(key[0])
    arguments = ["send", "--server", HOST, "--port", str(server.port), "--from", "a@example.org",
                 "--to", "b@example.org", "--subject", "from the shell", "--body", "hi"]
    assert main([*arguments, "--dkim-key", str(tmp_path / "dkim.pem"), "--dkim-selector", "mail",
                 "--dkim-domain", "example.org"]) == 0
    assert verifies(server.handler.messages[0].content, key)
    assert main([*arguments, "--dkim-key", str(tmp_path / "dkim.pem")]) == 2
    assert "go together" in capsys.readouterr().err


def test_a_streamed_message_is_refused_clearly_before_a_connection_is_opened(start_server, signer):
    server = start_server()
    envelope = prepare_stream_envelope("a@example.org", ["b@example.org"], HEADER, iter(LINES))
    with pytest.raises(errors.InvalidArgument, match="a streamed message cannot be signed"):
        smtpunit.send_envelope(HOST, envelope, server.port, signer=signer)
    assert server.handler.ehlos == []  # refused before the connection, not after EHLO


def test_a_key_dkimpy_cannot_use_is_refused_when_the_signer_is_made():
    with pytest.raises(errors.InvalidArgument, match="cannot DKIM-sign with this key"):
        DKIMSigner("mail", "example.org", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")


def test_a_signer_registered_in_the_registry_signs_every_send_of_its_smtp_unit(start_server, signer, key):
    server = start_server()
    registry = smtpunit.default_registry()
    registry.registerUtility(signer, smtpunit.interfaces.ISigner)  # in place: no import to declare
    with smtpunit.current_registry.parameterize(registry):
        smtpunit.send(HOST, "a@example.org", ["b@example.org"], HEADER, LINES, server.port)
        with smtpunit.connect(HOST, server.port) as session:
            session.send("a@example.org", ["b@example.org"], HEADER, LINES)
    linked = smtpunit.link(smtpunit.smtp_unit, smtpunit.provide(smtpunit.interfaces.ISigner, signer),
                           bases=(smtpunit.default_registry(),))
    smtpunit.invoke(linked).send(HOST, "a@example.org", ["b@example.org"], HEADER, LINES, server.port)
    smtpunit.send(HOST, "a@example.org", ["b@example.org"], HEADER, LINES, server.port)  # the default: unsigned
    assert [verifies(m.content, key) for m in server.handler.messages] == [True, True, True, False]
