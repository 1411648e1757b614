"""Connection URLs: parsing, percent-decoding, and a password never shown."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from smtpunit import errors
from smtpunit.units.urls import HIDDEN, MailURL, redact


def test_a_url_is_split_and_decoded():
    url = MailURL.parse("SMTP://me%40example.org:p%40ss%3Aw%2Frd@Mail.Example.org:2525?tls=none&timeout=5")
    assert (url.scheme, url.host, url.port) == ("smtp", "mail.example.org", 2525)
    assert (url.user, url.password) == ("me@example.org", "p@ss:w/rd")
    assert dict(url.query) == {"tls": "none", "timeout": "5"}
    assert url.seconds("timeout") == 5.0 and url.seconds("other") is None


def test_an_ipv6_host_loses_its_brackets_and_a_path_is_decoded():
    assert MailURL.parse("smtp://[::1]:25").host == "::1"
    assert MailURL.parse("smtp+unix:///run/my%20mta/smtp.sock").path == "/run/my mta/smtp.sock"


@pytest.mark.parametrize("url, problem", [
    ("mail.example.org", "is not a connection URL"),
    ("smtp:mail.example.org", "is not a connection URL"),
    ("smtp://host:99999", "Port out of range"),
    ("smtp://host:port", "is not a usable connection URL"),
    ("smtp://host?tls=none&tls=starttls", "given twice"),
    ("smtp://host#part", "no #fragment"),
    ("smtp://me:pa/ss@host", "percent-encode"),
])
def test_a_bad_url_is_refused_clearly(url, problem):
    with pytest.raises(errors.InvalidArgument, match=problem):
        MailURL.parse(url)


def test_a_non_string_is_refused():
    with pytest.raises(errors.InvalidArgument, match="is a str, not bytes"):
        MailURL.parse(b"smtp://host")  # type: ignore[arg-type]


def test_an_unknown_query_parameter_names_the_known_ones():
    url = MailURL.parse("smtp://me:secret@host?tsl=none")
    with pytest.raises(errors.InvalidArgument, match="unknown query parameter 'tsl' .* tls, timeout") as caught:
        url.check_query(("tls", "timeout"))
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf", "nan"])
def test_a_bad_timeout_is_refused(value):
    with pytest.raises(errors.InvalidArgument, match="timeout must be a number of seconds"):
        MailURL.parse(f"smtp://host?timeout={value}").seconds("timeout")


# Passwords are marked so that no other part of a URL can hold them by chance.
passwords = st.text(min_size=1, max_size=30).map(lambda text: "PW" + text + "PW")
users = st.text(alphabet=st.characters(blacklist_characters="PW", blacklist_categories=("Cs",)), max_size=20)


@given(users, passwords)
def test_the_password_survives_parsing_and_is_never_shown(user, password):
    url = f"smtp://{quote(user, safe='')}:{quote(password, safe='')}@mail.example.org:587?tls=none"
    parsed = MailURL.parse(url)
    assert (parsed.user, parsed.password) == (user, password)
    for shown in (str(parsed), repr(parsed), parsed.redacted(), redact(url), str(parsed.fail("x"))):
        assert quote(password, safe="") not in shown and "PW" not in shown
    assert parsed.redacted() == f"smtp://{quote(user, safe='')}:***@mail.example.org:587?tls=none"


@given(passwords)
@example(password="PW][PW")  # urlsplit quoted the piece between the brackets
def test_a_refused_url_never_shows_its_password(password):
    for url in (f"smtp://me:{password}@host:99999", f"smtp://me:{password}@host#x",
                f"smtp://me:{password}@host?a=1&a=2", f"smtp://me:{password}/x@host",
                f"smtp:me:{password}@host", f"smtp:/me:{password}@host", f"me:{password}@host"):
        try:
            MailURL.parse(url)
        except errors.InvalidArgument as exc:
            assert "PW" not in str(exc)
        else:
            # only a password that happens to parse gets here; it is never shown either
            assert "PW" not in str(MailURL.parse(url))


def test_redact_leaves_text_without_credentials_alone():
    for text in ("smtp://mail.example.org:25", "console://", "file:///tmp/a:b", "not a url"):
        assert redact(text) == text
    assert redact("smtp://me:secret@host") == "smtp://me:***@host"
    assert redact("smtp:me:secret@host") == HIDDEN  # a typo for smtp://: not shown at all
