"""EHLO reply parsing: Capabilities.from_ehlo_reply."""

from __future__ import annotations

import pytest

from smtpunit.core.capabilities import Capabilities
from smtpunit.core.reply import Reply, ReplyParser


def capabilities(*lines: str) -> Capabilities:
    return Capabilities.from_ehlo_reply(Reply(250, lines))


def test_greeting_is_the_first_line_and_not_a_keyword():
    caps = capabilities("mx.example.org Hello client", "PIPELINING")
    assert caps.greeting == "mx.example.org Hello client"
    assert not caps.supports("MX.EXAMPLE.ORG")
    assert caps.supports("PIPELINING")


def test_reply_of_only_a_greeting_has_no_extensions():
    caps = capabilities("mx.example.org")
    assert caps.extensions == {}
    assert not caps.supports("STARTTLS")


def test_reply_without_lines():
    caps = Capabilities.from_ehlo_reply(Reply(250, ()))
    assert caps.greeting == ""
    assert caps.extensions == {}


def test_parsed_from_wire_bytes():
    parser = ReplyParser()
    parser.feed(b"250-mx.example.org\r\n250-SIZE 35882577\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n250 SMTPUTF8\r\n")
    caps = Capabilities.from_ehlo_reply(parser.next_reply())
    assert caps.extensions == {
        "SIZE": ("35882577",),
        "8BITMIME": (),
        "AUTH": ("PLAIN", "LOGIN"),
        "SMTPUTF8": (),
    }


@pytest.mark.parametrize("advertised", ["starttls", "STARTTLS", "StartTls"])
@pytest.mark.parametrize("asked", ["STARTTLS", "starttls", "StartTLS"])
def test_keywords_are_case_insensitive(advertised, asked):
    assert capabilities("mx", advertised).supports(asked)


def test_unadvertised_keyword_is_not_supported():
    caps = capabilities("mx", "PIPELINING", "8BITMIME")
    assert not caps.supports("STARTTLS")
    assert not caps.supports("SMTPUTF8")
    assert not caps.supports("PIPE")


def test_parameters_of_a_keyword():
    caps = capabilities("mx", "size 1000", "X-FOO a  b\tc")
    assert caps.parameters("SIZE") == ("1000",)
    assert caps.parameters("x-foo") == ("a", "b", "c")


def test_parameters_of_absent_or_bare_keyword_are_empty():
    caps = capabilities("mx", "8BITMIME")
    assert caps.parameters("8BITMIME") == ()
    assert caps.parameters("AUTH") == ()


def test_blank_extension_lines_are_ignored():
    caps = capabilities("mx", "", "   ", "DSN")
    assert caps.extensions == {"DSN": ()}


def test_auth_mechanisms_are_upper_cased():
    caps = capabilities("mx", "auth plain Login CRAM-md5")
    assert caps.auth_mechanisms == ("PLAIN", "LOGIN", "CRAM-MD5")


def test_auth_mechanisms_absent():
    assert capabilities("mx", "PIPELINING").auth_mechanisms == ()


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (("mx", "SIZE 35882577"), 35882577),
        (("mx", "size 1"), 1),
        (("mx",), None),
        (("mx", "SIZE"), None),
        (("mx", "SIZE 0"), None),
        (("mx", "SIZE -5"), None),
        (("mx", "SIZE ten"), None),
        (("mx", "SIZE 10k"), None),
        (("mx", "SIZE 1.5"), None),
        (("mx", "SIZE \u00b2"), None),  # superscript two: isdigit() but not a number
        (("mx", "SIZE \u0663"), None),  # arabic-indic three: not an ASCII number
    ],
)
def test_size_limit(lines, expected):
    assert capabilities(*lines).size_limit == expected


def test_the_same_reply_lines_give_the_same_capabilities_once_parsed():
    first = capabilities("mx.example.org", "PIPELINING", "SIZE 100")
    assert capabilities("mx.example.org", "PIPELINING", "SIZE 100") is first
    other = capabilities("mx.example.org", "PIPELINING")
    assert other is not first and not other.supports("SIZE") and first.size_limit == 100


def test_a_subclass_gets_its_own_kind():
    class Mine(Capabilities):
        pass

    capabilities("mx.example.org", "DSN")
    assert type(Mine.from_ehlo_reply(Reply(250, ("mx.example.org", "DSN")))) is Mine
