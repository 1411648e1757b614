"""Input validation, message encoding and command building."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtpunit.core import commands
from smtpunit.core.commands import (
    END_OF_DATA,
    MAX_LINE_OCTETS,
    check_address,
    check_ehlo_name,
    check_port,
    check_server_address,
    encode_header,
    encode_lines,
    prepare_envelope,
)
from smtpunit.errors import (
    InvalidAddress,
    InvalidArgument,
    InvalidHeader,
    InvalidMessageLine,
    SMTPInputError,
)

# -- addresses -------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    ["user@example.org", "a@b", "first.last+tag@sub.example.co.uk", "üser@exämple.org", "\"q\"@x.org"],
)
def test_check_address_accepts_ordinary_addresses(address):
    assert check_address(address, "recipient") == address


@pytest.mark.parametrize(
    "address",
    [
        pytest.param("a@b.org\r", id="CR"),
        pytest.param("a@b.org\n", id="LF"),
        pytest.param("a@b\x00.org", id="NUL"),
        pytest.param("a\x01@b.org", id="SOH"),
        pytest.param("a\x1b@b.org", id="ESC"),
        pytest.param("a\x7f@b.org", id="DEL"),
        pytest.param("a\x85@b.org", id="NEL"),
        pytest.param("a\x9b@b.org", id="C1-CSI"),
        pytest.param("<a@b.org", id="less-than"),
        pytest.param("a@b.org>", id="greater-than"),
        pytest.param("a @b.org", id="space"),
        pytest.param("a\t@b.org", id="tab"),
        pytest.param("a\u00a0@b.org", id="no-break-space"),
        pytest.param("a\u2003@b.org", id="em-space"),
        pytest.param("a\u3000@b.org", id="ideographic-space"),
        pytest.param("a\u2028@b.org", id="line-separator"),
        pytest.param("a\ud800@b.org", id="lone-surrogate"),
        pytest.param("a@b.org> SIZE=1", id="parameter-smuggling"),
        pytest.param("a@b.org>\r\nRCPT TO:<c@d.org", id="command-smuggling"),
    ],
)
@pytest.mark.parametrize("role", ["sender", "recipient"])
def test_check_address_rejects_dangerous_characters(address, role):
    with pytest.raises(InvalidAddress) as info:
        check_address(address, role, allow_empty=True)
    assert isinstance(info.value, ValueError)
    assert role in str(info.value)


def test_empty_recipient_rejected():
    with pytest.raises(InvalidAddress):
        check_address("", "recipient")


def test_empty_sender_allowed_with_allow_empty():
    assert check_address("", "sender", allow_empty=True) == ""


def test_empty_sender_rejected_without_allow_empty():
    with pytest.raises(InvalidAddress):
        check_address("", "sender")


@pytest.mark.parametrize("address", [None, b"a@b.org", 42, ["a@b.org"]])
def test_check_address_rejects_non_str(address):
    with pytest.raises(InvalidAddress):
        check_address(address, "recipient")


def test_input_errors_are_value_errors():
    for error in (InvalidAddress, InvalidHeader, InvalidMessageLine, InvalidArgument):
        assert issubclass(error, SMTPInputError)
        assert issubclass(error, ValueError)


# -- header ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "\r\n",
        "Subject: x\r\n\r\n",
        "From: a@b.org\r\nTo: c@d.org\r\nSubject: hello\r\n\r\n",
        "Subject: a long\r\n subject folded\r\n\tand folded again\r\n\r\n",
        "X-Empty:\r\n\r\n",
        "Subject: " + "x" * (MAX_LINE_OCTETS - 9) + "\r\n\r\n",
    ],
)
def test_encode_header_accepts_valid_headers(header):
    assert encode_header(header) == header.encode("utf-8")


def test_encode_header_encodes_str_as_utf8():
    assert encode_header("Subject: Grüße\r\n\r\n") == b"Subject: Gr\xc3\xbc\xc3\x9fe\r\n\r\n"


def test_encode_header_passes_bytes_verbatim():
    raw = b"Subject: caf\xe9\r\n\r\n"  # Latin-1, not UTF-8: still sent as given
    assert encode_header(raw) == raw


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("", id="empty-string"),
        pytest.param("Subject: x", id="no-line-end"),
        pytest.param("Subject: x\r\n", id="no-empty-line"),
        pytest.param("Subject: x\n\n", id="lf-only"),
        pytest.param("Subject: x\nTo: y\r\n\r\n", id="bare-lf"),
        pytest.param("Subject: x\rTo: y\r\n\r\n", id="bare-cr"),
        pytest.param("Subject: x\r\r\n\r\n", id="cr-before-crlf"),
        pytest.param("Subject: x\x00\r\n\r\n", id="nul"),
        pytest.param(" Subject: x\r\n\r\n", id="starts-with-space-continuation"),
        pytest.param("\tSubject: x\r\n\r\n", id="starts-with-tab-continuation"),
        pytest.param("just text\r\n\r\n", id="no-field-name"),
        pytest.param(": no name\r\n\r\n", id="empty-field-name"),
        pytest.param("Subject: x\r\nnot a field\r\n\r\n", id="second-line-no-field"),
        pytest.param("\r\n\r\n", id="two-empty-lines"),
        pytest.param("Subject: x\r\n\r\n\r\n", id="empty-line-inside"),
        pytest.param("Subject: x\r\n\r\nbody\r\n\r\n", id="body-inside"),
        pytest.param("Subject: " + "x" * (MAX_LINE_OCTETS - 8) + "\r\n\r\n", id="line-over-998"),
        pytest.param("Subject: \ud800\r\n\r\n", id="lone-surrogate"),
    ],
)
def test_encode_header_rejects_malformed_headers(header):
    with pytest.raises(InvalidHeader) as info:
        encode_header(header)
    assert isinstance(info.value, ValueError)


def test_encode_header_rejects_malformed_bytes():
    with pytest.raises(InvalidHeader):
        encode_header(b"Subject: x\n\r\n\r\n")


@pytest.mark.parametrize("header", [None, 42, ["Subject: x\r\n\r\n"]])
def test_encode_header_rejects_non_text(header):
    with pytest.raises(InvalidHeader):
        encode_header(header)


# -- message lines ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "encoded"),
    [
        (".x", b"..x\r\n"),
        (".", b"..\r\n"),
        ("..", b"...\r\n"),
        ("", b"\r\n"),
        ("x.y", b"x.y\r\n"),
        ("x.", b"x.\r\n"),
        (" .", b" .\r\n"),
        ("plain", b"plain\r\n"),
        ("ü", b"\xc3\xbc\r\n"),
        (b".bin\xff", b"..bin\xff\r\n"),
        (b"\xfe\xff", b"\xfe\xff\r\n"),
        (bytearray(b".ba"), b"..ba\r\n"),
    ],
)
def test_encode_lines_dot_stuffs_and_terminates(line, encoded):
    assert encode_lines([line]) == (encoded,)


def test_encode_lines_mixes_str_and_bytes():
    assert encode_lines(["a", b"b", ".c", b".d"]) == (b"a\r\n", b"b\r\n", b"..c\r\n", b"..d\r\n")


def test_encode_lines_accepts_a_generator():
    assert encode_lines(f".{n}" for n in range(3)) == (b"..0\r\n", b"..1\r\n", b"..2\r\n")


def test_encode_lines_accepts_an_empty_message():
    assert encode_lines([]) == ()


def test_encode_lines_accepts_longest_line():
    assert encode_lines(["x" * MAX_LINE_OCTETS]) == (b"x" * MAX_LINE_OCTETS + b"\r\n",)


@pytest.mark.parametrize(
    "line",
    [
        pytest.param("a\rb", id="CR"),
        pytest.param("a\nb", id="LF"),
        pytest.param("a\r\nb", id="CRLF"),
        pytest.param("a\x00b", id="NUL"),
        pytest.param(b"a\rb", id="bytes-CR"),
        pytest.param(b"a\nb", id="bytes-LF"),
        pytest.param(b"a\x00b", id="bytes-NUL"),
        pytest.param(".\r\n", id="end-of-data-smuggling"),
        pytest.param("x" * (MAX_LINE_OCTETS + 1), id="999-octets"),
        pytest.param("ü" * 500, id="1000-octets-in-500-chars"),
        pytest.param("\ud800", id="lone-surrogate"),
        pytest.param(42, id="int"),
        pytest.param(None, id="none"),
    ],
)
def test_encode_lines_rejects_bad_lines(line):
    with pytest.raises(InvalidMessageLine) as info:
        encode_lines(["fine", line])
    assert isinstance(info.value, ValueError)
    assert "line 2" in str(info.value)


@pytest.mark.parametrize("message", ["hello\nworld", b"hello", bytearray(b"hello")])
def test_encode_lines_rejects_single_str_or_bytes(message):
    with pytest.raises(InvalidMessageLine):
        encode_lines(message)


safe_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"),
    max_size=200,  # at most 800 octets in UTF-8
)
safe_bytes = st.binary(max_size=MAX_LINE_OCTETS).map(lambda b: bytes(c for c in b if c not in b"\r\n\x00"))
dotty = st.sampled_from(["", ".", "..", ".x", "x.", b".", b"..\xff", "\t."])
message_lines = st.lists(st.one_of(safe_text, safe_bytes, dotty), max_size=20)


def as_bytes(line):
    return line.encode("utf-8") if isinstance(line, str) else line


@settings(max_examples=200, deadline=None)
@given(message_lines)
def test_encoded_data_never_ends_early_and_round_trips(lines):
    encoded = encode_lines(lines)
    data = b"".join(encoded)

    assert len(encoded) == len(lines)
    assert all(line.endswith(b"\r\n") for line in encoded)
    stripped = data.replace(b"\r\n", b"")
    assert b"\r" not in stripped and b"\n" not in stripped
    assert b"\r\n.\r\n" not in data
    assert not data.startswith(b".\r\n")
    # After the header (always ending in CRLF) the end marker must not appear either.
    assert b"\r\n.\r\n" not in b"\r\n" + data

    received = data.split(b"\r\n")
    assert received[-1] == b""
    unstuffed = [line[1:] if line.startswith(b".") else line for line in received[:-1]]
    assert unstuffed == [as_bytes(line) for line in lines]


# -- other checks ----------------------------------------------------------------


@pytest.mark.parametrize("port", [0, 25, 465, 587, 65535])
def test_check_port_accepts_valid_ports(port):
    assert check_port(port) == port


@pytest.mark.parametrize("port", [-1, 65536, 10**6, True, False, 25.0, "25", None])
def test_check_port_rejects_invalid_ports(port):
    with pytest.raises(InvalidArgument):
        check_port(port)


@pytest.mark.parametrize("name", ["localhost", "mail.example.org", "[192.0.2.1]", "[IPv6:::1]"])
def test_check_ehlo_name_accepts(name):
    assert check_ehlo_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "my host", "host\r\nMAIL FROM:<x@y>", "host\t", "host\x00", "host\x7f", "host\x9b", "host\u00a0", "h\ud800",
     None, b"localhost", 1],
)
def test_check_ehlo_name_rejects(name):
    with pytest.raises(InvalidArgument):
        check_ehlo_name(name)


@pytest.mark.parametrize("server", ["localhost", "smtp.example.org", "192.0.2.1", "::1"])
def test_check_server_address_accepts(server):
    assert check_server_address(server) == server


@pytest.mark.parametrize("server", ["", "smtp example.org", "smtp.example.org\n", "a\x00", None, b"localhost", 25])
def test_check_server_address_rejects(server):
    with pytest.raises(InvalidArgument):
        check_server_address(server)


# -- envelopes -------------------------------------------------------------------


def test_prepare_envelope_checks_and_encodes():
    envelope = prepare_envelope("a@x.org", ["b@y.org", "c@z.org"], "Subject: t\r\n\r\n", ["hi", ".dot"])
    assert (envelope.sender, envelope.recipients) == ("a@x.org", ("b@y.org", "c@z.org"))
    assert (envelope.header, envelope.body) == (b"Subject: t\r\n\r\n", (b"hi\r\n", b"..dot\r\n"))
    assert envelope.size == len(b"Subject: t\r\n\r\nhi\r\n.dot\r\n")  # RFC 1870: no transparency dots
    assert not envelope.needs_smtputf8


def test_prepare_envelope_accepts_null_sender():
    assert prepare_envelope("", ["b@y.org"], "\r\n", []).sender == ""


def test_prepare_envelope_accepts_a_generator_of_recipients():
    envelope = prepare_envelope("a@x.org", (r for r in ["b@y.org"]), "\r\n", [])
    assert envelope.recipients == ("b@y.org",)


def test_prepare_envelope_rejects_no_recipients():
    with pytest.raises(InvalidArgument):
        prepare_envelope("a@x.org", [], "\r\n", ["hi"])


@pytest.mark.parametrize("recipients", ["b@y.org", b"b@y.org"])
def test_prepare_envelope_rejects_a_single_string(recipients):
    with pytest.raises(InvalidArgument):
        prepare_envelope("a@x.org", recipients, "\r\n", ["hi"])


def test_prepare_envelope_rejects_bad_recipient_among_good():
    with pytest.raises(InvalidAddress):
        prepare_envelope("a@x.org", ["b@y.org", "c@z.org> NOTIFY=NEVER"], "\r\n", ["hi"])


def test_prepare_envelope_rejects_bad_sender():
    with pytest.raises(InvalidAddress):
        prepare_envelope("a@x.org\r\nRSET", ["b@y.org"], "\r\n", ["hi"])


def test_prepare_envelope_rejects_bad_header_and_lines():
    with pytest.raises(InvalidHeader):
        prepare_envelope("a@x.org", ["b@y.org"], "Subject: t\r\n", ["hi"])
    with pytest.raises(InvalidMessageLine):
        prepare_envelope("a@x.org", ["b@y.org"], "\r\n", ["hi\r\n.\r\nMAIL FROM:<x@y>"])


@pytest.mark.parametrize(
    ("sender", "recipients", "expected"),
    [
        ("a@x.org", ["b@y.org"], False),
        ("", ["b@y.org"], False),
        ("ä@x.org", ["b@y.org"], True),
        ("a@x.org", ["b@y.org", "c@zürich.ch"], True),
    ],
)
def test_envelope_needs_smtputf8(sender, recipients, expected):
    assert prepare_envelope(sender, recipients, "\r\n", []).needs_smtputf8 is expected


def test_non_ascii_header_needs_smtputf8_and_body_needs_8bitmime():
    utf8_header = prepare_envelope("a@x.org", ["b@y.org"], "Subject: ü\r\n\r\n", ["x"])
    assert utf8_header.needs_smtputf8 and not utf8_header.eight_bit  # RFC 6532 headers travel with SMTPUTF8
    utf8_body = prepare_envelope("a@x.org", ["b@y.org"], "Subject: u\r\n\r\n", ["ü"])
    assert utf8_body.eight_bit and not utf8_body.needs_smtputf8


# -- commands --------------------------------------------------------------------


def test_ehlo_command():
    command = commands.ehlo("localhost")
    assert command.wire == b"EHLO localhost\r\n"
    assert command.display == "EHLO localhost"


def test_mail_command():
    assert commands.mail("a@b").wire == b"MAIL FROM:<a@b>\r\n"


def test_mail_command_null_sender():
    assert commands.mail("").wire == b"MAIL FROM:<>\r\n"


def test_mail_command_with_parameters():
    assert commands.mail("ü@b", ["SMTPUTF8"]).wire == "MAIL FROM:<ü@b> SMTPUTF8\r\n".encode()


def test_rcpt_command():
    assert commands.rcpt("c@d").wire == b"RCPT TO:<c@d>\r\n"


def test_simple_commands():
    assert commands.data().wire == b"DATA\r\n"
    assert commands.quit().wire == b"QUIT\r\n"
    assert commands.starttls().wire == b"STARTTLS\r\n"
    assert commands.AUTH_CANCEL.wire == b"*\r\n"
    assert END_OF_DATA == b".\r\n"


def test_auth_plain_is_base64_and_redacted():
    secret = b"u\0u\0p4ssw0rd"
    command = commands.auth("PLAIN", secret)
    encoded = base64.b64encode(secret)
    assert command.wire == b"AUTH PLAIN " + encoded + b"\r\n"
    assert command.display == "AUTH PLAIN ****"
    assert "p4ssw0rd" not in command.display
    assert encoded.decode() not in command.display
    assert "p4ssw0rd" not in repr(command.display)


def test_auth_plain_short_secret():
    command = commands.auth("PLAIN", b"u\0u\0p")
    assert command.wire == b"AUTH PLAIN " + base64.b64encode(b"u\0u\0p") + b"\r\n"
    assert command.display == "AUTH PLAIN ****"


def test_auth_with_empty_initial_response_sends_equals_sign():
    command = commands.auth("PLAIN", b"")
    assert command.wire == b"AUTH PLAIN =\r\n"
    assert command.display == "AUTH PLAIN ****"


def test_auth_without_initial_response():
    command = commands.auth("LOGIN", None)
    assert command.wire == b"AUTH LOGIN\r\n"
    assert command.display == "AUTH LOGIN"


def test_auth_response_is_base64_and_redacted():
    command = commands.auth_response(b"s3cret")
    assert command.wire == base64.b64encode(b"s3cret") + b"\r\n"
    assert command.display == "****"


def test_header_field_starting_with_a_dot_is_dot_stuffed():
    from smtpunit.core.commands import encode_header as encode

    assert encode(".X: y\r\nZ: w\r\n.Y: v\r\n\r\n") == b"..X: y\r\nZ: w\r\n..Y: v\r\n\r\n"
