"""Delivery status notifications: the DSN object, xtext, and the parameters on the wire."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

import smtpunit
from smtpunit import DSN, errors
from smtpunit.core.dsn import utf8_xtext, xtext
from smtpunit.testing import MemoryServer, MemoryTransport, Recorder

HEADER = "Subject: dsn\r\n\r\n"


def _unxtext(encoded: str) -> str:
    return re.sub(r"\+([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), encoded)


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=100))
def test_xtext_round_trips_and_is_printable_without_plus_or_equals_in_the_clear(text):
    encoded = xtext(text)
    assert _unxtext(encoded) == text
    assert all("!" <= c <= "~" for c in encoded) and "=" not in encoded


@given(st.text(max_size=40))
def test_utf8_xtext_is_printable_ascii(text):
    encoded = utf8_xtext(text)
    assert encoded.isascii() and all("!" <= c <= "~" for c in encoded) and "+" not in encoded


def test_the_parameters():
    dsn = DSN(notify=("success", "FAILURE"), ret="hdrs", envid="order 12+3=4")
    assert dsn.mail_parameters() == ("RET=HDRS", "ENVID=order+2012+2B3+3D4")
    assert dsn.rcpt_parameters("b@example.org") == ("NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;b@example.org")
    assert DSN(notify="NEVER", orcpt=False).rcpt_parameters("b@example.org") == ("NOTIFY=NEVER",)
    assert DSN().rcpt_parameters("zoë@example.org") == ("ORCPT=utf-8;zo\\x{EB}@example.org",)


@pytest.mark.parametrize("arguments, problem", [
    ({"notify": ("SUCCESS", "SOMETIMES")}, "unknown NOTIFY keyword 'SOMETIMES'"),
    ({"notify": ("NEVER", "FAILURE")}, "NEVER cannot be combined"),
    ({"notify": ()}, "notify is a tuple"),
    ({"ret": "BODY"}, "ret is FULL or HDRS"),
    ({"envid": "x" * 101}, "envid is 1 to 100 characters"),
    ({"envid": "caf\u00e9"}, "printable ASCII"),
    ({"envid": "a\r\nRCPT TO:<evil@example.org>"}, "printable ASCII"),
    ({"required": "yes"}, "required is True or False"),
])
def test_bad_values_are_value_errors_before_anything(arguments, problem):
    with pytest.raises(ValueError, match=problem):
        DSN(**arguments)


def dsn_server() -> MemoryServer:
    return MemoryServer(extensions=("PIPELINING", "8BITMIME", "DSN"))


def test_on_the_wire_when_the_server_offers_dsn():
    recorder, server = Recorder(), dsn_server()
    smtpunit.send("mail.invalid", "a@example.org", ["b@example.org", "c@example.org"], HEADER, ["x"],
                  tcp_connect=recorder.transport(MemoryTransport(server)),
                  dsn=DSN(notify=("SUCCESS", "FAILURE"), ret="HDRS", envid="id-1"))
    sent = bytes(recorder.sent)
    assert b"MAIL FROM:<a@example.org> RET=HDRS ENVID=id-1\r\n" in sent
    assert b"RCPT TO:<b@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@example.org\r\n" in sent
    assert b"RCPT TO:<c@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c@example.org\r\n" in sent
    assert server.messages[0].recipients == ("b@example.org", "c@example.org")


def test_without_dsn_at_the_server_the_message_is_refused_before_mail_unless_not_required():
    recorder, server = Recorder(), MemoryServer(extensions=("PIPELINING", "8BITMIME"))
    transport = recorder.transport(MemoryTransport(server))
    with smtpunit.connect("mail.invalid", tcp_connect=transport, dsn=DSN(notify=("FAILURE",))) as session:
        with pytest.raises(errors.UnsupportedByServer, match="does not offer DSN"):
            session.send("a@example.org", ["b@example.org"], HEADER, ["x"])
    assert b"MAIL FROM" not in bytes(recorder.sent) and server.messages == []
    smtpunit.send("mail.invalid", "a@example.org", ["b@example.org"], HEADER, ["x"],
                  tcp_connect=MemoryTransport(server), dsn=DSN(notify=("FAILURE",), required=False))
    assert len(server.messages) == 1


def test_every_entry_point_takes_dsn():
    server = dsn_server()
    transport = MemoryTransport(server)
    dsn = DSN(notify=("DELAY",))
    message = ("a@example.org", ["b@example.org"], HEADER, ["x"])
    smtpunit.smtp_send_message("mail.invalid", *message, tcp_connect=transport, dsn=dsn)
    smtpunit.send_many("mail.invalid", [message], tcp_connect=transport, dsn=dsn)
    with smtpunit.Pool("mail.invalid", tcp_connect=transport, dsn=dsn) as pool:
        pool.send(*message)
    with smtpunit.Mailer("mail.invalid", tcp_connect=transport, dsn=dsn) as mailer:
        mailer.send(*message)
    assert server.received.count(b"NOTIFY=DELAY") == 4
    with pytest.raises(TypeError, match="option dsn must be a smtpunit.DSN or None"):
        smtpunit.send("mail.invalid", *message, dsn={"notify": "SUCCESS"})


def test_an_envelope_carries_its_own_dsn_over_the_sessions():
    recorder, server = Recorder(), dsn_server()
    envelopes = [smtpunit.core.commands.prepare_envelope("a@example.org", [f"r{n}@example.org"], HEADER, ["x"])
                 for n in range(3)]
    with smtpunit.connect("mail.invalid", tcp_connect=recorder.transport(MemoryTransport(server)),
                          dsn=DSN(notify=("FAILURE",))) as session:
        session.send_envelopes([envelopes[0].with_dsn(DSN(envid="first")), envelopes[1],
                                envelopes[2].with_dsn(DSN(notify=("NEVER",), orcpt=False))])
    sent = bytes(recorder.sent)
    assert b"MAIL FROM:<a@example.org> ENVID=first\r\nRCPT TO:<r0@example.org> ORCPT=rfc822;r0@example.org\r\n" in sent
    assert b"RCPT TO:<r1@example.org> NOTIFY=FAILURE ORCPT=rfc822;r1@example.org\r\n" in sent  # the session's
    assert b"RCPT TO:<r2@example.org> NOTIFY=NEVER\r\n" in sent
    with pytest.raises(TypeError, match="dsn must be a smtpunit.DSN"):
        envelopes[0].with_dsn("SUCCESS")
