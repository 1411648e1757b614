"""The SASL mechanisms (LOGIN, CRAM-MD5, XOAUTH2, SCRAM-SHA-256), without any socket."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from typing import Any, Optional

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from zope.interface.verify import verifyObject

from smtpunit.core.commands import prepare_envelope
from smtpunit.core.conversation import ConversationOptions, Credentials, Receive, Send, SendResult, UpgradeTLS, converse
from smtpunit.core.reply import ReplyParser
from smtpunit.errors import SASLError, SMTPAuthenticationError
from smtpunit.interfaces import ISASLExchange, ISASLMechanism
from smtpunit.providers import (
    CramMD5Mechanism,
    LoginMechanism,
    PlainMechanism,
    ScramSHA256Mechanism,
    XOAuth2Mechanism,
)
from smtpunit.providers.sasl import _escape_saslname, _unescape_saslname, saslprep
from smtpunit.units.builtin import default_registry
from smtpunit.units.linking import resolve_all

# RFC 7677 section 3
SCRAM_USER, SCRAM_PASSWORD = "user", "pencil"
CLIENT_NONCE = "rOprNGfwEbeRWgbNEkqO"
CLIENT_FIRST = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
SERVER_NONCE = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
SERVER_FIRST = f"r={SERVER_NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".encode()
CLIENT_FINAL = f"c=biws,r={SERVER_NONCE},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=".encode()
SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
WRONG_SERVER_FINAL = b"v=" + base64.b64encode(b"\0" * 32)

ALL_MECHANISMS = (PlainMechanism, LoginMechanism, CramMD5Mechanism, XOAuth2Mechanism, ScramSHA256Mechanism)


def scram(nonce: str = CLIENT_NONCE) -> ScramSHA256Mechanism:
    return ScramSHA256Mechanism(nonce_factory=lambda: nonce)


def scram_after_first(server_first: bytes) -> Any:
    exchange = scram().start(SCRAM_USER, SCRAM_PASSWORD)
    exchange.initial_response()
    return exchange, lambda: exchange.respond(server_first)


# -- contracts -----------------------------------------------------------------------


@pytest.mark.parametrize("factory", ALL_MECHANISMS)
def test_mechanisms_and_exchanges_honour_their_interfaces(factory):
    mechanism = factory()
    assert verifyObject(ISASLMechanism, mechanism)
    ISASLMechanism.validateInvariants(mechanism)
    exchange = mechanism.start("user", "pass")
    assert verifyObject(ISASLExchange, exchange)
    assert "pass" not in repr(exchange)


def test_default_units_export_every_mechanism_under_its_name():
    mechanisms = resolve_all(default_registry(), ISASLMechanism)
    assert sorted(mechanisms) == ["CRAM-MD5", "LOGIN", "PLAIN", "SCRAM-SHA-256", "XOAUTH2"]
    for name, mechanism in mechanisms.items():
        assert mechanism.name == name


# -- LOGIN ---------------------------------------------------------------------------


def test_login_answers_by_position_not_by_challenge_text():
    exchange = LoginMechanism().start("user", "pässword")
    assert exchange.initial_response() is None
    assert exchange.respond(b"Password:") == b"user"  # the text is deliberately misleading
    assert exchange.respond(b"") == "pässword".encode()
    with pytest.raises(SASLError) as info:
        exchange.respond(b"Username:")
    assert "pässword" not in str(info.value)
    exchange.finish()


# -- CRAM-MD5 ------------------------------------------------------------------------


def test_cram_md5_rfc_2195_example():
    exchange = CramMD5Mechanism().start("tim", "tanstaaftanstaaf")
    assert exchange.initial_response() is None
    assert exchange.respond(b"<1896.697170952@postoffice.reston.mci.net>") == b"tim b913a602c7eda7a495b4e6e7334d3890"
    exchange.finish()


def test_cram_md5_refuses_a_second_challenge():
    exchange = CramMD5Mechanism().start("tim", "tanstaaftanstaaf")
    exchange.respond(b"<1@x>")
    with pytest.raises(SASLError) as info:
        exchange.respond(b"<2@x>")
    assert "tanstaaf" not in str(info.value)


# -- XOAUTH2 -------------------------------------------------------------------------


def test_xoauth2_initial_response():
    exchange = XOAuth2Mechanism().start("someone@example.com", "ya29.token")
    assert exchange.initial_response() == b"user=someone@example.com\x01auth=Bearer ya29.token\x01\x01"
    exchange.finish()


def test_xoauth2_answers_the_json_error_with_an_empty_line_once():
    exchange = XOAuth2Mechanism().start("u", "tok")
    error = base64.b64decode(base64.b64encode(b'{"status":"401","schemes":"bearer","scope":"https://mail"}'))
    assert exchange.respond(error) == b""
    with pytest.raises(SASLError):
        exchange.respond(error)


def test_xoauth2_resends_on_an_empty_first_challenge():
    exchange = XOAuth2Mechanism().start("u", "tok")
    assert exchange.respond(b"") == b"user=u\x01auth=Bearer tok\x01\x01"
    assert exchange.respond(b'{"status":"400"}') == b""


def test_xoauth2_refuses_a_separator_in_the_token_without_showing_it():
    with pytest.raises(SASLError) as info:
        XOAuth2Mechanism().start("u", "secret\x01token")
    assert "secret" not in str(info.value)


# -- SCRAM-SHA-256 ---------------------------------------------------------------------


def test_scram_rfc_7677_test_vector():
    exchange = scram().start(SCRAM_USER, SCRAM_PASSWORD)
    assert exchange.initial_response() == CLIENT_FIRST
    assert exchange.respond(SERVER_FIRST) == CLIENT_FINAL
    assert exchange.respond(SERVER_FINAL) == b""
    exchange.finish()


def test_scram_wrong_server_signature():
    exchange, first = scram_after_first(SERVER_FIRST)
    assert first() == CLIENT_FINAL
    with pytest.raises(SASLError, match="signature"):
        exchange.respond(WRONG_SERVER_FINAL)
    with pytest.raises(SASLError):
        exchange.finish()


def test_scram_finish_without_server_final():
    exchange, first = scram_after_first(SERVER_FIRST)
    first()
    with pytest.raises(SASLError) as info:
        exchange.finish()
    assert SCRAM_PASSWORD not in str(info.value)


def test_scram_server_error_in_server_final():
    exchange, first = scram_after_first(SERVER_FIRST)
    first()
    with pytest.raises(SASLError, match="invalid-proof"):
        exchange.respond(b"e=invalid-proof")


def test_scram_refuses_a_challenge_after_server_final():
    exchange, first = scram_after_first(SERVER_FIRST)
    first()
    exchange.respond(SERVER_FINAL)
    with pytest.raises(SASLError):
        exchange.respond(SERVER_FINAL)


def test_scram_resends_client_first_on_an_empty_first_challenge():
    exchange = scram().start(SCRAM_USER, SCRAM_PASSWORD)
    assert exchange.respond(b"") == CLIENT_FIRST
    assert exchange.respond(SERVER_FIRST) == CLIENT_FINAL


@pytest.mark.parametrize(
    "server_first",
    [
        pytest.param(b"r=XrOprNGfwEbeRWgbNEkqO123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", id="nonce-not-prefixed"),
        pytest.param(b"r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", id="nonce-not-longer"),
        pytest.param(b"r=rOprNGfwEbeRWgbNEkqO1\x7f,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", id="nonce-unprintable"),
        pytest.param(f"r={SERVER_NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1000".encode(), id="i-below-4096"),
        pytest.param(f"r={SERVER_NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1000001".encode(), id="i-above-bound"),
        pytest.param(f"r={SERVER_NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=+4096".encode(), id="i-signed"),
        pytest.param(f"r={SERVER_NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4_096".encode(), id="i-underscore"),
        pytest.param(f"r={SERVER_NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=".encode(), id="i-empty"),
        pytest.param(f"r={SERVER_NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096".encode(), id="salt-bad-padding"),
        pytest.param(f"r={SERVER_NONCE},s=W22Z*J0SNY7soEsUEjb6gQ==,i=4096".encode(), id="salt-bad-char"),
        pytest.param(f"r={SERVER_NONCE},s=,i=4096".encode(), id="salt-empty"),
        pytest.param(f"s=W22ZaJ0SNY7soEsUEjb6gQ==,r={SERVER_NONCE},i=4096".encode(), id="out-of-order"),
        pytest.param(f"r={SERVER_NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==".encode(), id="no-i"),
        pytest.param(b"garbage", id="garbage"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
    ],
)
def test_scram_refuses_a_bad_server_first(server_first):
    _, first = scram_after_first(server_first)
    with pytest.raises(SASLError) as info:
        first()
    assert SCRAM_PASSWORD not in str(info.value)


def test_scram_refuses_a_mandatory_extension():
    _, first = scram_after_first(f"m=ext,r={SERVER_NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".encode())
    with pytest.raises(SASLError, match="extension"):
        first()


def test_scram_server_error_in_server_first():
    _, first = scram_after_first(b"e=unknown-user")
    with pytest.raises(SASLError, match="unknown-user"):
        first()


def test_scram_accepts_extensions_after_the_iteration_count():
    exchange, first = scram_after_first(SERVER_FIRST + b",x=future")
    final = first()
    assert final.startswith(f"c=biws,r={SERVER_NONCE},p=".encode())
    assert final != CLIENT_FINAL  # the extension is part of the AuthMessage


def test_scram_default_nonce_is_random_printable_without_comma():
    mechanism = ScramSHA256Mechanism()
    nonces = set()
    for _ in range(20):
        first = mechanism.start("u", "p").initial_response().decode()
        match = re.fullmatch(r"n,,n=u,r=([\x21-\x2b\x2d-\x7e]+)", first)
        assert match and len(match.group(1)) >= 24
        nonces.add(match.group(1))
    assert len(nonces) == 20


def test_scram_refuses_an_empty_user_name():
    with pytest.raises(SASLError):
        scram().start("\u00ad", "p")


def test_scram_exchange_stays_failed_after_a_bad_server_first():
    exchange, first = scram_after_first(b"r=other,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
    with pytest.raises(SASLError):
        first()
    with pytest.raises(SASLError):
        exchange.respond(SERVER_FINAL)
    with pytest.raises(SASLError):
        exchange.finish()


def test_scram_refuses_an_injected_nonce_with_a_comma():
    with pytest.raises(SASLError):
        scram("abc,def").start("u", "p")


def test_scram_escapes_the_user_name():
    first = scram("nonce").start("a,b=c", "p").initial_response()
    assert first == b"n,,n=a=2Cb=3Dc,r=nonce"


def test_scram_saslpreps_the_password():
    def final(password: str) -> bytes:
        exchange = scram().start(SCRAM_USER, password)
        return exchange.respond(SERVER_FIRST)

    assert final("pen\u00a0cil") == final("pen cil") != final("pencil")
    assert final("pen\u00adcil") == CLIENT_FINAL  # soft hyphen maps to nothing
    assert final("\uff50encil") == CLIENT_FINAL  # fullwidth p, NFKC


def test_scram_prohibited_password_character_is_refused_without_showing_it():
    with pytest.raises(SASLError) as info:
        scram().start("user", "hunter2\u0007")
    assert "hunter2" not in str(info.value)
    assert "password" in str(info.value)


# -- SASLprep (RFC 4013 section 3) -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "prepared"),
    [("I\u00adX", "IX"), ("user", "user"), ("USER", "USER"), ("\u00aa", "a"), ("\u2168", "IX"),
     ("a\u2003b", "a b"), ("a\u1680b", "a b"), ("\u0627\u0628", "\u0627\u0628"), ("\u200bx", "x")],
)
def test_saslprep_examples(text, prepared):
    assert saslprep(text) == prepared


@pytest.mark.parametrize(
    "text",
    ["\u0007", "\u0627\u0031", "\u0031\u0627", "\u0627a\u0628", "a\u0000", "\ue000", "\ufffe", "\u2ff0",
     "\u202e", "\U000e0001"],
)
def test_saslprep_refuses(text):
    with pytest.raises(SASLError):
        saslprep(text)


def test_saslprep_unassigned_code_points():
    unassigned = "\u0221"  # unassigned in Unicode 3.2
    assert saslprep(unassigned) == unassigned
    with pytest.raises(SASLError):
        saslprep(unassigned, allow_unassigned=False)


# -- saslname escaping (hypothesis) ----------------------------------------------------


@given(st.text())
def test_saslname_escaping_round_trips(name):
    escaped = _escape_saslname(name)
    assert "," not in escaped
    assert re.fullmatch(r"(?:[^=,]|=2C|=3D)*", escaped)
    assert _unescape_saslname(escaped) == name


@given(st.text(alphabet=st.sampled_from(",=2C3Dab\u00e9 \u00ad"), max_size=12) | st.text(max_size=12))
def test_client_first_never_holds_an_unescaped_comma_in_the_name(username):
    try:
        prepared = saslprep(username)
    except SASLError:
        assume(False)
    assume(prepared)
    first = scram("nonce").start(username, "p").initial_response().decode()
    gs2, authzid, name, nonce = first.split(",")
    assert (gs2, authzid, nonce) == ("n", "", "r=nonce")
    assert name.startswith("n=")
    assert _unescape_saslname(name[2:]) == prepared


# -- through the conversation ----------------------------------------------------------

GREETING = b"220 mx.example.org ESMTP\r\n"
OK = b"250 2.0.0 ok\r\n"
BYE = b"221 2.0.0 bye\r\n"
DELIVERY = [OK, OK, b"354 go ahead\r\n", b"250 2.0.0 queued\r\n", BYE]
AUTHENTICATED = b"235 2.7.0 authenticated\r\n"


def ehlo(auth: str) -> bytes:
    return f"250-mx.example.org\r\n250 AUTH {auth}\r\n".encode()


def challenge(data: bytes) -> bytes:
    return b"334 " + base64.b64encode(data) + b"\r\n"


def line(data: bytes) -> bytes:
    return base64.b64encode(data) + b"\r\n"


@dataclass
class Run:
    """Drives one conversation against scripted server replies, one per Receive."""

    script: list[bytes]
    sent: list[bytes] = field(default_factory=list)
    parser: ReplyParser = field(default_factory=ReplyParser)

    def __call__(self, credentials: Credentials) -> Optional[SendResult]:
        envelope = prepare_envelope("a@x.org", ["b@y.org"], "Subject: t\r\n\r\n", ["hi"])
        options = ConversationOptions(ehlo_name="localhost", credentials=credentials)
        conversation = converse(self.parser, envelope, options, secure=False, loopback=True)
        value: Any = None
        while True:
            try:
                action = conversation.send(value)
            except StopIteration as stop:
                return stop.value
            value = None
            if isinstance(action, Send):
                self.sent.append(action.data)
            elif isinstance(action, Receive):
                assert self.script, f"the client waits for a reply ({action.phase}) the script does not have"
                self.parser.feed(self.script.pop(0))
                value = self.parser.next_reply()
                assert value is not None
            else:  # pragma: no cover
                assert isinstance(action, UpgradeTLS)
                raise AssertionError("no TLS in these tests")

    @property
    def mail_sent(self) -> bool:
        return any(data.startswith(b"MAIL FROM") for data in self.sent)


def every_mechanism(username: str = SCRAM_USER, password: str = SCRAM_PASSWORD, requested=None) -> Credentials:
    mechanisms = {m.name: m for m in (PlainMechanism(), LoginMechanism(), CramMD5Mechanism(),
                                      XOAuth2Mechanism(), scram())}
    return Credentials(username, password, mechanisms, requested)


def test_cram_md5_preferred_when_scram_is_not_offered():
    run = Run([GREETING, ehlo("LOGIN PLAIN CRAM-MD5"), challenge(b"<1@mx>"), AUTHENTICATED, *DELIVERY])
    run(every_mechanism("tim", "tanstaaftanstaaf"))
    digest = hmac.new(b"tanstaaftanstaaf", b"<1@mx>", hashlib.md5).hexdigest().encode()
    assert run.sent[1:3] == [b"AUTH CRAM-MD5\r\n", line(b"tim " + digest)]
    assert run.mail_sent and not run.script


def test_plain_preferred_over_login():
    run = Run([GREETING, ehlo("PLAIN LOGIN"), AUTHENTICATED, *DELIVERY])
    run(every_mechanism("u", "p"))
    assert run.sent[1] == b"AUTH PLAIN " + base64.b64encode(b"u\0u\0p") + b"\r\n"


def test_named_mechanism_wins_over_preference():
    run = Run([GREETING, ehlo("SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN"), challenge(b"Username:"), challenge(b"Password:"),
               AUTHENTICATED, *DELIVERY])
    run(every_mechanism("u", "p", requested="LOGIN"))
    assert run.sent[1:4] == [b"AUTH LOGIN\r\n", line(b"u"), line(b"p")]
    assert run.mail_sent


def test_scram_preferred_and_verified_through_the_conversation():
    run = Run([GREETING, ehlo("LOGIN PLAIN CRAM-MD5 SCRAM-SHA-256"), challenge(SERVER_FIRST), challenge(SERVER_FINAL),
               AUTHENTICATED, *DELIVERY])
    result = run(every_mechanism())
    assert run.sent[1:4] == [b"AUTH SCRAM-SHA-256 " + base64.b64encode(CLIENT_FIRST) + b"\r\n",
                             line(CLIENT_FINAL), b"\r\n"]
    assert result is not None and run.mail_sent


def test_scram_wrong_server_signature_cancels_and_raises():
    run = Run([GREETING, ehlo("SCRAM-SHA-256 PLAIN"), challenge(SERVER_FIRST), challenge(WRONG_SERVER_FINAL),
               b"501 5.7.0 authentication cancelled\r\n", BYE])
    with pytest.raises(SASLError):
        run(every_mechanism())
    assert run.sent[3:] == [b"*\r\n", b"QUIT\r\n"]
    assert not run.mail_sent and not run.script


def test_scram_235_without_server_final_raises_before_mail():
    run = Run([GREETING, ehlo("SCRAM-SHA-256"), challenge(SERVER_FIRST), AUTHENTICATED, BYE])
    with pytest.raises(SASLError):
        run(every_mechanism())
    assert run.sent[-1] == b"QUIT\r\n"
    assert not run.mail_sent and not run.script


def test_xoauth2_error_challenge_answered_then_refusal_raised():
    token = "ya29.secret-token"
    run = Run([GREETING, ehlo("XOAUTH2 PLAIN"), challenge(b'{"status":"401"}'),
               b"535 5.7.8 Username and Password not accepted\r\n", BYE])
    with pytest.raises(SMTPAuthenticationError) as info:
        run(every_mechanism("u", token, requested="XOAUTH2"))
    assert run.sent[1:3] == [b"AUTH XOAUTH2 " + base64.b64encode(f"user=u\x01auth=Bearer {token}\x01\x01".encode())
                             + b"\r\n", b"\r\n"]
    assert token not in str(info.value) and token not in repr(info.value.command)
    assert not run.mail_sent
