"""SMTP smuggling (CVE-2023-51764 and relatives): no input can end the data early.

Every end-of-data variant from the research is tried through every way a message
can be given. The client either refuses the input before anything is sent, or
sends it so that the server sees one message and no smuggled command.
"""

from __future__ import annotations

import asyncio
import io
from email.message import EmailMessage

import pytest
from conftest import HOST

import smtpunit
import smtpunit.aio
from smtpunit import errors
from smtpunit.core.commands import prepare_file_envelope, prepare_raw_envelope, prepare_stream_envelope
from smtpunit.testing import MemoryServer, MemoryTransport

# End-of-data variants: the real one and those lenient servers were found to accept.
VARIANTS = [b"\r\n.\r\n", b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r", b"\r\n.\r", b"\n.\r", b"\r.\n", b"\r.\r\n",
            b"\r\n\x00.\r\n", b"\n\x00.\n"]
SMUGGLED = b"MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\nforged\r\n"
HEADER = "Subject: smuggling\r\n\r\n"


def payload(variant: bytes) -> bytes:
    return b"before" + variant + SMUGGLED


@pytest.fixture
def server():
    return MemoryServer(extensions=("8BITMIME", "SMTPUTF8", "PIPELINING"))


def assert_refused_before_sending(server: MemoryServer, call) -> None:
    with pytest.raises(ValueError):
        call()
    assert server.connections == 0, "nothing may reach the server"


@pytest.mark.parametrize("variant", VARIANTS)
def test_lines_refuse_every_variant(server, variant):
    for line in (payload(variant), payload(variant).decode("latin-1")):
        assert_refused_before_sending(server, lambda line=line: smtpunit.smtp_send_message(
            "mail.invalid", "a@example.org", ["b@example.org"], HEADER, ["ok", line],
            tcp_connect=MemoryTransport(server)))


@pytest.mark.parametrize("variant", VARIANTS)
def test_header_refuses_every_variant(server, variant):
    header = "Subject: x" + variant.decode("latin-1") + "X-Evil: y\r\n\r\n"
    assert_refused_before_sending(server, lambda: smtpunit.smtp_send_message(
        "mail.invalid", "a@example.org", ["b@example.org"], header, ["ok"], tcp_connect=MemoryTransport(server)))


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v != b"\r\n.\r\n"])
def test_raw_message_refuses_every_bare_variant(variant):
    with pytest.raises(ValueError):
        prepare_raw_envelope("a@example.org", ["b@example.org"], HEADER.encode() + payload(variant) + b"\r\n")


def test_raw_message_dot_stuffs_the_real_end_of_data(server):
    envelope = prepare_raw_envelope("a@example.org", ["b@example.org"], HEADER.encode() + payload(b"\r\n.\r\n"))
    with smtpunit.connect("mail.invalid", tcp_connect=MemoryTransport(server)) as session:
        session.send_envelopes([envelope])
    assert len(server.messages) == 1 and server.messages[0].recipients == ("b@example.org",)
    assert server.messages[0].data == HEADER.encode() + payload(b"\r\n.\r\n")


@pytest.mark.parametrize("variant", VARIANTS)
def test_streamed_lines_abort_on_every_variant(server, variant):
    envelope = prepare_stream_envelope("a@example.org", ["b@example.org"], HEADER, iter(["ok", payload(variant)]))
    with smtpunit.connect("mail.invalid", tcp_connect=MemoryTransport(server)) as session:
        (outcome,) = session.send_envelopes([envelope])
    assert isinstance(outcome, errors.InvalidMessageLine)
    assert server.messages == []
    assert b"evil@attacker" not in server.received


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_file_never_smuggles(server, variant):
    envelope = prepare_file_envelope("a@example.org", ["b@example.org"], io.BytesIO(HEADER.encode() + payload(variant)))
    with smtpunit.connect("mail.invalid", tcp_connect=MemoryTransport(server)) as session:
        (outcome,) = session.send_envelopes([envelope])
    if b"\x00" in variant or b"\r" in variant.replace(b"\r\n", b""):
        # a bare CR or a NUL: refused while streaming, nothing delivered
        assert isinstance(outcome, errors.InvalidMessageLine) and server.messages == []
    else:
        # LF endings are normalised to CRLF: the dot line is stuffed, one message, one recipient
        assert isinstance(outcome, smtpunit.SendResult)
        (message,) = server.messages
        assert message.recipients == ("b@example.org",) and b"evil@attacker.example" in message.data
    assert all(m.sender != "evil@attacker.example" for m in server.messages)


@pytest.mark.parametrize("variant", VARIANTS)
def test_an_email_message_never_smuggles(start_server, variant):
    real = start_server()
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.org", "b@example.org", "smuggling"
    message.set_content(payload(variant).decode("latin-1").replace("\x00", ""))
    try:
        smtpunit.send_message(HOST, message, real.port)
    except ValueError:
        assert real.handler.messages == []
    else:
        (delivered,) = real.handler.messages
        assert delivered.rcpt_tos == ["b@example.org"]
    assert real.handler.mail_commands in ([], ["a@example.org"])


def test_asyncio_refuses_too(server):
    with pytest.raises(ValueError):
        asyncio.run(smtpunit.aio.smtp_send_message("mail.invalid", "a@example.org", ["b@example.org"], HEADER,
                                                   ["ok", payload(b"\n.\n")], 25))
