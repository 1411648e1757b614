"""Mistakes a new user makes get an error that says what to do instead.

Each error keeps its class (a :class:`ValueError` from :mod:`smtpunit.errors`); the
tests pin the parts of its message that name the fix.
"""

from __future__ import annotations

import email.header
import email.utils
import socket
from email.message import EmailMessage

import pytest
from conftest import HOST, free_port

import smtpunit
from smtpunit import errors
from smtpunit.core import commands
from smtpunit.core.commands import encode_header, prepare_envelope, prepare_raw_envelope
from smtpunit.head import standard_message_header, validate_header
from smtpunit.testing import MemoryServer, MemoryTransport

HEADER = "Subject: x\r\n\r\n"


def refused(error_class: type[errors.SMTPInputError], **changes: object) -> str:
    """The message of the error ``smtp_send_message`` raises for ``changes`` to a good
    call, checked to be exactly ``error_class`` and raised before any connection."""
    server = MemoryServer()
    arguments = {"server_address": "mail.invalid", "from_": "me@example.org", "to": ["you@example.org"],
                 "header": HEADER, "message": ["hi"], **changes}
    with pytest.raises(error_class) as caught:
        smtpunit.smtp_send_message(tcp_connect=MemoryTransport(server), **arguments)
    assert type(caught.value) is error_class and isinstance(caught.value, ValueError)
    assert server.connections == 0
    return str(caught.value)


# -- a display name in the envelope ---------------------------------------------------


def test_a_display_name_in_the_sender_says_to_give_the_bare_address():
    message = refused(errors.InvalidAddress, from_="Me <me@example.org>")
    assert "display name" in message
    assert "the envelope takes a bare address, such as 'me@example.org'" in message
    assert "From:" in message
    assert "smuggle" not in message


def test_a_quoted_display_name_in_a_recipient_says_to_give_the_bare_address():
    message = refused(errors.InvalidAddress, to=["you@example.org", '"You, Too" <too@example.org>'])
    assert message.startswith("recipient address '\"You, Too\" <too@example.org>' holds a display name")
    assert "such as 'too@example.org'" in message
    assert "To: or Cc:" in message
    assert "smuggle" not in message


def test_angle_brackets_alone_say_to_leave_them_out():
    message = refused(errors.InvalidAddress, from_="<me@example.org>")
    assert "the envelope takes a bare address, such as 'me@example.org'" in message
    assert "brackets are added" in message


def test_the_null_sender_in_brackets_says_to_give_the_empty_string():
    assert "the null sender is the empty string ''" in refused(errors.InvalidAddress, from_="<>")


def test_the_display_name_error_comes_from_every_way_of_making_an_envelope():
    with pytest.raises(errors.InvalidAddress, match="display name"):
        prepare_envelope("Me <me@example.org>", ["you@example.org"], HEADER, ["hi"])
    with pytest.raises(errors.InvalidAddress, match="display name"):
        prepare_raw_envelope("me@example.org", ["You <you@example.org>"], b"Subject: x\r\n\r\nhi\r\n")
    with pytest.raises(errors.InvalidAddress, match="display name"):
        commands.rcpt("You <you@example.org>")


@pytest.mark.parametrize("address, what", [
    ("a b@example.org", "' '"),
    ("me@example.org> SIZE=1", "'>'"),
    ("Me <me@example.org>\r\nRCPT TO:<evil@example.org>", "holds"),
    ("Me <me\r\n@example.org>", "holds"),
    ("Me <a b@example.org>", "' '"),
    ("Me <<me@example.org>>", "holds"),
])
def test_other_bad_characters_still_say_what_is_wrong(address, what):
    message = refused(errors.InvalidAddress, from_=address)
    assert what in message and "smuggle parameters" in message
    assert "display name" not in message


def test_the_envelope_is_checked_before_any_connection():
    # Nothing listens on the port: had it connected first, the error would be a
    # connection error.
    with pytest.raises(errors.InvalidAddress, match="display name"):
        smtpunit.smtp_send_message(HOST, "Me <me@example.org>", ["you@example.org"], HEADER, ["hi"], free_port())
    # Something listens: nobody connects to it.
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(1)
        listener.setblocking(False)
        with pytest.raises(errors.InvalidAddress, match="display name"):
            smtpunit.smtp_send_message(HOST, "Me <me@example.org>", ["you@example.org"], HEADER, ["hi"],
                                       listener.getsockname()[1], timeout=5)
        with pytest.raises(BlockingIOError):
            listener.accept()


# -- header line endings ----------------------------------------------------------------

CRLF_ADVICE = "use '\\r\\n' line endings"


@pytest.mark.parametrize("header, line", [
    ("Subject: x\n\n", 1),
    ("From: me@example.org\nSubject: x\n\n", 1),
    ("Subject: x\r\nTo: you@example.org\n\r\n", 2),
    ("Subject: x\r\n\n", 2),
])
def test_a_bare_lf_in_the_header_says_to_use_crlf(header, line):
    message = refused(errors.InvalidHeader, header=header)
    assert message.startswith(f"header line {line} has a bare '\\n' (LF without CR)")
    assert CRLF_ADVICE in message
    assert "each line of the header must end in CRLF" in message
    assert "the header must end in an empty line (CRLF CRLF)" in message


def test_a_bare_cr_in_the_header_says_to_use_crlf():
    message = refused(errors.InvalidHeader, header="Subject: x\rY\r\n\r\n")
    assert message.startswith("header line 1 has a bare '\\r' (CR without LF)") and CRLF_ADVICE in message


@pytest.mark.parametrize("header, fix", [
    ("Subject: x\r\n", "add '\\r\\n' after its last line"),
    ("Subject: x", "end it in '\\r\\n\\r\\n'"),
    ("", "end it in '\\r\\n\\r\\n'"),
])
def test_a_header_without_its_empty_line_says_how_to_end_it(header, fix):
    message = refused(errors.InvalidHeader, header=header)
    assert message.startswith("header must end in an empty line (CRLF CRLF)")
    assert fix in message and "'Subject: Hi\\r\\n\\r\\n'" in message
    assert "the empty header is '\\r\\n' alone" in message


def test_the_header_messages_come_from_encode_header_too():
    with pytest.raises(errors.InvalidHeader, match="line endings"):
        encode_header(b"Subject: x\n\n")


def test_other_header_errors_are_unchanged():
    assert "not a 'Name: value' field" in refused(errors.InvalidHeader, header="no colon\r\n\r\n")
    assert "NUL" in refused(errors.InvalidHeader, header="Subject: \0\r\n\r\n")


def test_a_raw_message_with_lf_line_endings_says_to_use_crlf():
    with pytest.raises(errors.InvalidHeader) as caught:
        prepare_raw_envelope("me@example.org", ["you@example.org"], b"Subject: x\n\nhi\n")
    assert type(caught.value) is errors.InvalidHeader
    assert CRLF_ADVICE in str(caught.value) and "CRLF CRLF" in str(caught.value)


def test_a_raw_message_without_an_empty_line_says_to_add_one():
    with pytest.raises(errors.InvalidHeader) as caught:
        prepare_raw_envelope("me@example.org", ["you@example.org"], b"Subject: x\r\nhi\r\n")
    assert "add an empty line ('\\r\\n') after the header's last line" in str(caught.value)


def test_a_raw_message_with_a_bare_lf_in_the_body_says_to_use_crlf():
    with pytest.raises(errors.InvalidMessageLine) as caught:
        prepare_raw_envelope("me@example.org", ["you@example.org"], b"Subject: x\r\n\r\nhi\nthere\r\n")
    assert type(caught.value) is errors.InvalidMessageLine and CRLF_ADVICE in str(caught.value)


@pytest.mark.parametrize("header", ["Subject: x\n\n", b"Subject: x\n\n", "From: a\r\nMissingReturn: och\n\r\n"])
def test_validate_header_says_to_use_crlf(header):
    with pytest.raises(errors.InvalidHeader) as caught:
        validate_header(header)
    message = str(caught.value)
    assert message.startswith("validate_header: missing ending CRLF")  # Racket's words first
    assert CRLF_ADVICE in message


@pytest.mark.parametrize("header", ["Subject: x\r\n", ""])
def test_validate_header_says_to_add_the_empty_line(header):
    with pytest.raises(errors.InvalidHeader) as caught:
        validate_header(header)
    assert str(caught.value).startswith("validate_header: missing ending CRLF")
    assert "add '\\r\\n' after its last line" in str(caught.value)


# -- a non-ASCII header to a server without SMTPUTF8 ------------------------------------------


def grusse_header(**changes: str) -> str:
    arguments = {"from_": "me@example.org", "subject": "Grüße", **changes}
    return standard_message_header(arguments["from_"], ["you@example.org"], [], [], arguments["subject"])


def test_standard_message_header_keeps_a_non_ascii_subject_as_racket_does():
    header = grusse_header()
    assert "\r\nSubject: Grüße\r\n" in header
    assert "\r\nSubject: Hi\r\n" in grusse_header(subject="Hi")


def test_the_smtputf8_refusal_for_a_subject_points_to_rfc_2047():
    envelope = prepare_envelope("me@example.org", ["you@example.org"], grusse_header(), ["hi"])
    message = commands.smtputf8_refusal(envelope)
    assert message.startswith("the header's Subject field is not ASCII and the server does not offer SMTPUTF8")
    assert "RFC 2047" in message and "email.header.Header(value, 'utf-8').encode()" in message
    assert "email.message.EmailMessage with send_message" in message


def test_the_smtputf8_refusal_for_a_display_name_points_to_formataddr():
    envelope = prepare_envelope("me@example.org", ["you@example.org"],
                                grusse_header(from_="Jürgen <me@example.org>", subject="Hi"), ["hi"])
    message = commands.smtputf8_refusal(envelope)
    assert message.startswith("the header's From field is not ASCII") and "email.utils.formataddr" in message


def test_the_smtputf8_refusal_for_an_address_says_to_give_an_ascii_one():
    envelope = prepare_envelope("me@example.org", ["you@example.org", "jürgen@example.org"], grusse_header(), ["hi"])
    message = commands.smtputf8_refusal(envelope)
    assert message.startswith("the recipient address 'jürgen@example.org' is not ASCII")
    assert "give an ASCII address" in message


def test_a_non_ascii_subject_to_a_server_without_smtputf8_names_the_fix():
    server = MemoryServer(extensions=("8BITMIME",))
    with pytest.raises(errors.UnsupportedByServer) as caught:
        smtpunit.smtp_send_message("mail.invalid", "me@example.org", ["you@example.org"], grusse_header(), ["hi"],
                                   tcp_connect=MemoryTransport(server))
    assert type(caught.value) is errors.UnsupportedByServer and caught.value.phase == "mail"
    assert "Subject" in str(caught.value) and "RFC 2047" in str(caught.value)
    assert b"MAIL" not in server.received and not server.messages


def test_the_fixes_the_message_names_work():
    server = MemoryServer(extensions=("8BITMIME",))
    transport = MemoryTransport(server)
    encoded = email.header.Header("Grüße", "utf-8").encode()
    smtpunit.smtp_send_message("mail.invalid", "me@example.org", ["you@example.org"],
                               grusse_header(subject=encoded), ["hi"], tcp_connect=transport)
    named = email.utils.formataddr(("Jürgen", "me@example.org"))
    smtpunit.smtp_send_message("mail.invalid", "me@example.org", ["you@example.org"],
                               grusse_header(from_=named, subject="Hi"), ["hi"], tcp_connect=transport)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "me@example.org", "you@example.org", "Grüße"
    message.set_content("hi")
    smtpunit.send_message("mail.invalid", message, tcp_connect=transport)
    assert len(server.messages) == 3
    assert b"SMTPUTF8" not in server.received


def test_an_ascii_header_needs_no_smtputf8():
    server = MemoryServer(extensions=())
    smtpunit.smtp_send_message("mail.invalid", "me@example.org", ["you@example.org"], grusse_header(subject="Hi"),
                               ["hi"], tcp_connect=MemoryTransport(server))
    assert len(server.messages) == 1 and b"SMTPUTF8" not in server.received


def test_a_password_of_the_wrong_type_is_named_by_its_type_not_shown():
    # A password read from the environment as a number once came back in the error.
    with pytest.raises(TypeError, match="option auth_passwd must be a str or None, not int$") as caught:
        smtpunit.send("mail.example.org", "a@example.org", ["b@example.org"], "Subject: x\r\n\r\n", ["x"],
                      auth_user="me", auth_passwd=73519246)
    assert "73519246" not in str(caught.value)
