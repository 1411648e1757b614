"""Sending email.message.EmailMessage objects: envelope from headers, Bcc, SMTPUTF8."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage

import pytest
from conftest import HOST

import smtpunit
import smtpunit.aio
from smtpunit import errors
from smtpunit.core.email_message import envelope_of, message_recipients, message_sender
from smtpunit.testing import MemoryServer, MemoryTransport


def make(**headers: str) -> EmailMessage:
    message = EmailMessage()
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("Hello.\n.a line with a dot\n")
    return message


def test_envelope_from_headers_with_bcc_stripped_from_the_data():
    message = make(From="Alice <alice@example.org>", To="bob@example.org, Carol <carol@example.org>",
                   Cc="dave@example.org", Bcc="eve@example.org, bob@example.org", Subject="hi")
    envelope = envelope_of(message)
    assert envelope.sender == "alice@example.org"
    assert envelope.recipients == ("bob@example.org", "carol@example.org", "dave@example.org", "eve@example.org")
    data = b"".join(bytes(p) for p in envelope.content.bdat_pieces())
    assert b"Bcc" not in data and b"eve@example.org" not in data
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    assert "Bcc" in message  # the caller's message is unchanged


def test_sender_header_wins_and_explicit_envelope_wins():
    message = make(From="alice@example.org", Sender="list@example.org", To="bob@example.org")
    assert message_sender(message) == "list@example.org"
    envelope = envelope_of(message, from_="bounce@example.org", to=["x@example.org"])
    assert (envelope.sender, envelope.recipients) == ("bounce@example.org", ("x@example.org",))


def test_a_message_without_addresses_is_refused():
    with pytest.raises(errors.InvalidArgument):
        envelope_of(make(Subject="nobody"))
    with pytest.raises(errors.InvalidArgument, match="no recipients"):
        envelope_of(make(From="alice@example.org"))
    assert message_recipients(make(From="a@example.org")) == []


def test_smtputf8_only_when_an_address_needs_it():
    ascii_only = envelope_of(make(From="alice@example.org", To="bob@example.org", Subject="Grüße"))
    assert not ascii_only.needs_smtputf8  # the subject travels as an RFC 2047 encoded word
    assert b"=?utf-8?" in ascii_only.header
    utf8 = envelope_of(make(From="alice@example.org", To="jörg@example.org", Subject="Grüße"))
    assert utf8.needs_smtputf8 and "jörg@example.org".encode() in utf8.header


def test_send_message_against_a_real_server(start_server):
    server = start_server()
    message = make(From="alice@example.org", To="bob@example.org", Bcc="eve@example.org", Subject="real")
    result = smtpunit.send_message(HOST, message, server.port)
    assert result.accepted == ("bob@example.org", "eve@example.org")
    delivered = server.handler.messages[0]
    assert delivered.rcpt_tos == ["bob@example.org", "eve@example.org"]
    assert b"Bcc" not in delivered.content and b"\r\n..a line with a dot" not in delivered.content
    assert b"\r\n.a line with a dot\r\n" in delivered.content


def test_send_message_with_utf8_address_uses_smtputf8(start_server):
    server = start_server()
    smtpunit.send_message(HOST, make(From="alice@example.org", To="jörg@example.org", Subject="ü"), server.port)
    assert server.handler.messages[0].rcpt_tos == ["jörg@example.org"]


def test_send_message_in_a_session_an_async_session_and_a_pool(start_server):
    server = start_server()
    message = make(From="alice@example.org", To="bob@example.org", Subject="everywhere")
    with smtpunit.connect(HOST, server.port) as session:
        session.send_message(message)

    async def main():
        await smtpunit.aio.send_message(HOST, message, server.port)
        async with await smtpunit.aio.connect(HOST, server.port) as session:
            await session.send_message(message)

    asyncio.run(main())
    with smtpunit.Pool(HOST, server.port) as pool:
        pool.send_message(message)
    assert len(server.handler.messages) == 4


def test_send_message_without_smtputf8_server_refuses_before_mail():
    server = MemoryServer(extensions=())
    with pytest.raises(errors.UnsupportedByServer):
        smtpunit.send_message("mail.invalid", make(From="a@example.org", To="jörg@example.org"),
                              tcp_connect=MemoryTransport(server))
    assert b"MAIL" not in server.received


def test_a_compat32_field_value_that_breaks_lines_is_refused_before_the_envelope():
    from email.message import Message

    for value in ("x\r\nBcc: evil@example.org", "x\nBcc: evil@example.org", "x\rBcc: e", "x\r\n", "x\r\n\r\nbody"):
        message = Message()
        message["From"], message["To"], message["Subject"] = "a@example.org", "b@example.org", value
        with pytest.raises(smtpunit.errors.InvalidHeader, match="Subject field holds a line break"):
            envelope_of(message)
    message = Message()
    message["From"], message["To"] = "a@example.org", "b@example.org\r\nBcc: evil@example.org"
    with pytest.raises(smtpunit.errors.InvalidHeader, match="To field"):  # no address read from a forged field
        envelope_of(message)


def test_folded_values_and_clean_parts_pass_but_a_forged_part_field_does_not():
    from email.message import Message

    message = Message()
    message["From"], message["To"] = "a@example.org", "b@example.org"
    message["Subject"] = "a long\r\n subject, folded"
    assert envelope_of(message).recipients == ("b@example.org",)
    outer = EmailMessage()
    outer["From"], outer["To"], outer["Subject"] = "a@example.org", "b@example.org", "parts"
    outer.set_content("text")
    outer.add_attachment(b"data", maintype="application", subtype="octet-stream", filename="a.bin")
    envelope_of(outer)
    part = outer.get_payload()[1]
    part._headers.append(("X-Note", "x\r\nContent-Type: text/html"))
    with pytest.raises(smtpunit.errors.InvalidHeader, match="X-Note"):
        envelope_of(outer)
    bad_name = Message()
    bad_name["From"], bad_name["To"], bad_name["Bad Name"] = "a@example.org", "b@example.org", "x"
    with pytest.raises(smtpunit.errors.InvalidHeader, match="field name"):
        envelope_of(bad_name)


def test_a_message_class_whose_as_bytes_takes_no_policy_is_serialised_all_the_same():
    # Django's SafeMIMEMessage: as_bytes(unixfrom=False, linesep="\n"), once a TypeError here.
    from email.mime.text import MIMEText

    class OwnAsBytes(MIMEText):
        def as_bytes(self, unixfrom=False, linesep="\n"):
            raise AssertionError("not called")

    message = OwnAsBytes("hello\n")
    message["From"], message["To"], message["Subject"] = "a@example.org", "b@example.org", "own as_bytes"
    envelope = envelope_of(message)
    assert envelope.header.startswith(b"Content-Type: text/plain") and b"Subject: own as_bytes\r\n" in envelope.header
    assert envelope.recipients == ("b@example.org",)
