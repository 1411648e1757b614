"""Bad input raises a ValueError that names the problem, before anything is sent."""

from __future__ import annotations

import pytest

import smtpunit
from smtpunit import errors
from smtpunit.testing import MemoryServer, MemoryTransport

GOOD = dict(server_address="mail.invalid", from_="a@example.org", to=["b@example.org"],
            header="Subject: x\r\n\r\n", message=["body"])


def attempt(**changes):
    server = MemoryServer()
    arguments = {**GOOD, **changes}
    with pytest.raises(ValueError) as caught:
        smtpunit.smtp_send_message(tcp_connect=MemoryTransport(server), **arguments)
    assert server.connections == 0, "nothing may reach the server"
    assert isinstance(caught.value, errors.SMTPInputError)
    return caught.value


@pytest.mark.parametrize("address", ["a@b.org\r\nRCPT TO:<evil@x.org>", "a@b.org\n", "a\0@b.org", "a@b.org> SIZE=1",
                                     "<a@b.org>", "a b@c.org", "a\t@b.org", "a\u2003@b.org", "a\x1b@b.org"])
def test_bad_sender_or_recipient(address):
    assert isinstance(attempt(from_=address), errors.InvalidAddress)
    assert isinstance(attempt(to=["ok@example.org", address]), errors.InvalidAddress)


def test_empty_recipient_address_and_empty_list():
    assert isinstance(attempt(to=[""]), errors.InvalidAddress)
    assert "no recipients" in str(attempt(to=[]))


def test_a_single_string_is_not_a_recipient_list():
    assert isinstance(attempt(to="b@example.org"), errors.InvalidArgument)


@pytest.mark.parametrize("header", ["Subject: x\r\n", "Subject: x\n\n", "Subject: x\r\nBad\nLine: y\r\n\r\n",
                                    "Subject: x\rY\r\n\r\n", "no colon here\r\n\r\n", " folded first\r\n\r\n",
                                    "Subject: \0\r\n\r\n", "Subject: " + "x" * 1000 + "\r\n\r\n"])
def test_bad_header(header):
    assert isinstance(attempt(header=header), errors.InvalidHeader)


@pytest.mark.parametrize("line", ["a\rb", "a\nb", "a\r\n", "nul\0", b"a\r\nb", b"\n", "x" * 999])
def test_bad_message_line(line):
    assert isinstance(attempt(message=["fine", line]), errors.InvalidMessageLine)


@pytest.mark.parametrize("port", [-1, 65536, "25", 25.0, True])
def test_bad_port(port):
    assert isinstance(attempt(port_no=port), errors.InvalidArgument)


@pytest.mark.parametrize("server", ["", "mail host", "mail\r\n.invalid", None])
def test_bad_server_address(server):
    assert isinstance(attempt(server_address=server), errors.InvalidArgument)


def test_credentials_with_control_characters_are_refused_without_echo():
    error = attempt(auth_user="user", auth_passwd="pa\0ss-secret")
    assert "pa\0ss-secret" not in str(error) and "secret" not in str(error)
    assert isinstance(attempt(auth_user="us\r\ner", auth_passwd="p"), errors.InvalidArgument)


def test_user_without_password():
    assert "together" in str(attempt(auth_user="user"))


def test_bad_tls_encode_and_tcp_connect():
    assert isinstance(attempt(timeout=-1), errors.InvalidArgument)
    server = MemoryServer()
    for bad in ({"tls_encode": "yes"}, {"tcp_connect": 42}, {"allow_insecure_auth": "no"}, {"auth_user": 1}):
        with pytest.raises(TypeError, match=f"^smtp_send_message\\(\\): .*{next(iter(bad))} must be"):
            smtpunit.smtp_send_message(**{**GOOD, "tcp_connect": MemoryTransport(server), **bad})
    assert server.connections == 0, "nothing may reach the server"


def test_a_lazy_bad_line_is_caught_before_the_envelope():
    def lines():
        yield "fine"
        yield "bad\r\n.\r\nMAIL FROM:<x@y>"

    assert isinstance(attempt(message=lines()), errors.InvalidMessageLine)


def test_non_ascii_address_without_smtputf8_fails_before_mail():
    server = MemoryServer(extensions=())
    with pytest.raises(errors.UnsupportedByServer):
        smtpunit.smtp_send_message("mail.invalid", "ä@example.org", ["b@example.org"], "Subject: x\r\n\r\n", ["x"],
                                   tcp_connect=MemoryTransport(server))
    assert b"MAIL" not in server.received and server.received.endswith(b"QUIT\r\n")


def test_good_input_reaches_the_server():
    server = MemoryServer()
    smtpunit.smtp_send_message(tcp_connect=MemoryTransport(server), **GOOD)
    assert server.connections == 1 and len(server.messages) == 1
