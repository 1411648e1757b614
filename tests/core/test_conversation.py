"""The sans-IO conversation (smtpunit.core.conversation.converse), run without any socket."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import pytest

from smtpunit.core.commands import prepare_envelope
from smtpunit.core.conversation import (
    ConversationOptions,
    Credentials,
    Receive,
    RecipientResult,
    Send,
    SendResult,
    UpgradeTLS,
    converse,
)
from smtpunit.core.policy import TLSPolicy
from smtpunit.core.reply import Reply, ReplyParser
from smtpunit.errors import (
    SMTPAuthenticationError,
    SMTPConnectionClosed,
    SMTPOutcomeUnknown,
    SMTPProtocolError,
    SMTPReplyError,
    SMTPSecurityError,
    SMTPTLSError,
    StartTLSNotOffered,
    StartTLSRefused,
    UnsupportedByServer,
)
from smtpunit.providers.sasl import PlainMechanism

GREETING = b"220 mx.example.org ESMTP\r\n"
EHLO_PLAIN = b"250-mx.example.org\r\n250 8BITMIME\r\n"
EHLO_TLS = b"250-mx.example.org\r\n250 STARTTLS\r\n"
EHLO_AUTH = b"250-mx.example.org\r\n250 AUTH PLAIN\r\n"
OK = b"250 2.0.0 ok\r\n"
GO_AHEAD = b"354 go ahead\r\n"
QUEUED = b"250 2.0.0 queued as 1234\r\n"
BYE = b"221 2.0.0 bye\r\n"

PLAIN_SECRET = base64.b64encode(b"user\0user\0pass")
AUTH_LINE = b"AUTH PLAIN " + PLAIN_SECRET + b"\r\n"

Script = list[Union[bytes, BaseException]]


@dataclass
class Run:
    """Runs one conversation against scripted server replies.

    Each ``Receive`` takes the next script item: bytes are fed to the parser given
    to ``converse`` and the parsed reply is sent back; an exception is thrown into
    the conversation, as a driver does with I/O errors.
    """

    script: Script
    sent: list[bytes] = field(default_factory=list)
    actions: list[Any] = field(default_factory=list)
    parser: ReplyParser = field(default_factory=ReplyParser)
    result: Optional[SendResult] = None

    @property
    def wire(self) -> bytes:
        return b"".join(self.sent)

    def __call__(self, envelope, options, *, secure: bool = False, loopback: bool = True) -> SendResult:
        conversation = converse(self.parser, envelope, options, secure=secure, loopback=loopback)
        value: Any = None
        error: Optional[BaseException] = None
        while True:
            try:
                action = conversation.throw(error) if error is not None else conversation.send(value)
            except StopIteration as stop:
                self.result = stop.value
                return stop.value
            value, error = None, None
            self.actions.append(action)
            if isinstance(action, Send):
                assert isinstance(action.data, (bytes, memoryview))
                self.sent.append(bytes(action.data))
            elif isinstance(action, Receive):
                assert self.script, f"the client waits for a reply ({action.phase}) the script does not have"
                item = self.script.pop(0)
                if isinstance(item, BaseException):
                    error = item
                    continue
                try:
                    self.parser.feed(item)
                    value = self.parser.next_reply()
                except SMTPProtocolError as exc:
                    error = exc
                    continue
                assert value is not None, f"script item {item!r} is not a complete reply"
            elif isinstance(action, UpgradeTLS):
                pass
            else:  # pragma: no cover
                raise AssertionError(f"unknown action {action!r}")

    def receives(self) -> list[Receive]:
        return [a for a in self.actions if isinstance(a, Receive)]

    def upgraded(self) -> bool:
        return any(isinstance(a, UpgradeTLS) for a in self.actions)


def envelope(sender="a@x.org", recipients=("b@y.org", "c@z.org"), header="Subject: t\r\n\r\n", lines=("hi", ".dot")):
    return prepare_envelope(sender, list(recipients), header, list(lines))


def options(**kwargs) -> ConversationOptions:
    kwargs.setdefault("ehlo_name", "localhost")
    return ConversationOptions(**kwargs)


def credentials(password: str = "pass") -> Credentials:
    return Credentials("user", password, {"PLAIN": PlainMechanism()})


def happy_script(ehlo: bytes = EHLO_PLAIN, recipients: int = 2) -> Script:
    return [GREETING, ehlo, OK, *([OK] * recipients), GO_AHEAD, QUEUED, BYE]


RACKET_WIRE = (
    b"EHLO localhost\r\n"
    b"MAIL FROM:<a@x.org>\r\n"
    b"RCPT TO:<b@y.org>\r\n"
    b"RCPT TO:<c@z.org>\r\n"
    b"DATA\r\n"
    b"Subject: t\r\n\r\n"
    b"hi\r\n"
    b"..dot\r\n"
    b".\r\n"
    b"QUIT\r\n"
)


# -- the plain conversation ------------------------------------------------------


def test_wire_matches_racket():
    run = Run(happy_script())
    result = run(envelope(), options(), loopback=False)
    assert run.wire == RACKET_WIRE
    assert run.script == []
    assert result == SendResult(
        (
            RecipientResult("b@y.org", Reply(250, ("2.0.0 ok",))),
            RecipientResult("c@z.org", Reply(250, ("2.0.0 ok",))),
        ),
        Reply(250, ("2.0.0 queued as 1234",)),
    )


def test_receive_phases_and_final_flag():
    run = Run(happy_script())
    run(envelope(), options())
    phases = [(r.phase, r.final) for r in run.receives()]
    assert phases == [
        ("greeting", False),
        ("ehlo", False),
        ("mail", False),
        ("rcpt", False),
        ("rcpt", False),
        ("data", False),
        ("data-end", True),
        ("quit", False),
    ]


def test_null_sender_and_empty_header():
    run = Run(happy_script(recipients=1))
    run(envelope(sender="", recipients=["b@y.org"], header="\r\n", lines=[]), options())
    assert run.wire == (
        b"EHLO localhost\r\nMAIL FROM:<>\r\nRCPT TO:<b@y.org>\r\nDATA\r\n\r\n.\r\nQUIT\r\n"
    )


def test_large_message_is_sent_whole_and_in_order():
    lines = [f"line {n:06d} " + "x" * 80 for n in range(5000)]  # about 450 KB
    run = Run(happy_script(recipients=1))
    run(envelope(recipients=["b@y.org"], lines=lines), options())
    body = b"".join(line.encode() + b"\r\n" for line in lines)
    assert run.wire.endswith(b"DATA\r\nSubject: t\r\n\r\n" + body + b".\r\nQUIT\r\n")
    assert len([s for s in run.sent if s not in (b".\r\n",)]) > 5  # handed over in pieces


def test_greeting_other_than_220_raises_and_quits():
    run = Run([b"554 5.3.2 go away\r\n", BYE])
    with pytest.raises(SMTPReplyError) as info:
        run(envelope(), options())
    assert info.value.code == 554
    assert info.value.phase == "greeting"
    assert run.wire == b"QUIT\r\n"


def test_ehlo_refused_raises():
    run = Run([GREETING, b"502 5.5.1 no EHLO here\r\n", BYE])
    with pytest.raises(SMTPReplyError) as info:
        run(envelope(), options())
    assert info.value.code == 502
    assert info.value.command == "EHLO localhost"
    assert run.wire == b"EHLO localhost\r\nQUIT\r\n"


# -- recipients ------------------------------------------------------------------


def test_251_accepted_for_rcpt():
    script = [GREETING, EHLO_PLAIN, OK, b"251 2.1.5 will forward\r\n", OK, GO_AHEAD, QUEUED, BYE]
    run = Run(script)
    result = run(envelope(), options())
    assert [(r.address, r.reply.code) for r in result.recipients] == [("b@y.org", 251), ("c@z.org", 250)]
    assert run.wire == RACKET_WIRE


def test_rcpt_refused_raises_with_details_and_quits():
    script = [GREETING, EHLO_PLAIN, OK, b"550 5.1.1 nope\r\n", BYE]
    run = Run(script)
    with pytest.raises(SMTPReplyError) as info:
        run(envelope(), options())
    error = info.value
    assert error.code == 550
    assert error.phase == "rcpt"
    assert error.command == "RCPT TO:<b@y.org>"
    assert error.enhanced_status == "5.1.1"
    assert error.text == "5.1.1 nope"
    assert not error.is_transient
    assert run.wire == b"EHLO localhost\r\nMAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\nQUIT\r\n"
    assert run.script == []


def test_second_rcpt_refused_stops_before_data():
    script = [GREETING, EHLO_PLAIN, OK, OK, b"450 4.2.0 mailbox busy\r\n", BYE]
    run = Run(script)
    with pytest.raises(SMTPReplyError) as info:
        run(envelope(), options())
    assert info.value.command == "RCPT TO:<c@z.org>"
    assert info.value.is_transient
    assert b"DATA" not in run.wire
    assert run.wire.endswith(b"RCPT TO:<c@z.org>\r\nQUIT\r\n")


def test_421_at_mail_sends_no_further_command():
    run = Run([GREETING, EHLO_PLAIN, b"421 4.3.2 shutting down\r\n"])
    with pytest.raises(SMTPReplyError) as info:
        run(envelope(), options())
    assert info.value.code == 421
    assert info.value.phase == "mail"
    assert run.wire == b"EHLO localhost\r\nMAIL FROM:<a@x.org>\r\n"
    assert isinstance(run.actions[-1], Receive)


def test_data_refused_raises_and_quits():
    run = Run([GREETING, EHLO_PLAIN, OK, OK, OK, b"554 5.5.1 no valid recipients\r\n", BYE])
    with pytest.raises(SMTPReplyError) as info:
        run(envelope(), options())
    assert info.value.phase == "data"
    assert run.wire.endswith(b"DATA\r\nQUIT\r\n")


def test_message_refused_after_final_dot_raises_and_quits():
    run = Run([GREETING, EHLO_PLAIN, OK, OK, OK, GO_AHEAD, b"552 5.3.4 too big\r\n", BYE])
    with pytest.raises(SMTPReplyError) as info:
        run(envelope(), options())
    assert info.value.phase == "data-end"
    assert info.value.code == 552
    assert run.wire.endswith(b"..dot\r\n.\r\nQUIT\r\n")


# -- end_of_message --------------------------------------------------------------


def test_end_of_message_called_after_data_before_final_dot():
    seen = []
    run = Run(happy_script())

    def end_of_message():
        seen.append(run.wire)

    run(envelope(), options(end_of_message=end_of_message))
    # The data is written as Racket writes it, to a buffer: it leaves with the ".".
    assert seen == [RACKET_WIRE[: -len(b"Subject: t\r\n\r\nhi\r\n..dot\r\n.\r\nQUIT\r\n")]]
    assert run.wire == RACKET_WIRE


def test_end_of_message_error_propagates_and_final_dot_never_sent():
    class Abort(Exception):
        pass

    def end_of_message():
        raise Abort("stop")

    run = Run(happy_script())
    with pytest.raises(Abort):
        run(envelope(), options(end_of_message=end_of_message))
    assert run.wire.endswith(b"DATA\r\n") and b".\r\n" not in run.wire.split(b"DATA\r\n", 1)[1]
    assert not any(r.final for r in run.receives())


# -- transport errors ------------------------------------------------------------


def test_connection_lost_after_final_dot_is_outcome_unknown():
    script = [GREETING, EHLO_PLAIN, OK, OK, OK, GO_AHEAD, SMTPConnectionClosed("gone")]
    run = Run(script)
    with pytest.raises(SMTPOutcomeUnknown) as info:
        run(envelope(), options())
    assert isinstance(info.value.__cause__, SMTPConnectionClosed)
    assert run.receives()[-1].final
    assert run.wire.endswith(b"..dot\r\n.\r\n")  # and no QUIT after it


def test_garbage_after_final_dot_is_outcome_unknown():
    script = [GREETING, EHLO_PLAIN, OK, OK, OK, GO_AHEAD, b"2500 what\r\n"]
    run = Run(script)
    with pytest.raises(SMTPOutcomeUnknown):
        run(envelope(), options())


def test_connection_lost_at_rcpt_is_connection_closed_not_unknown():
    script = [GREETING, EHLO_PLAIN, OK, SMTPConnectionClosed("gone")]
    run = Run(script)
    with pytest.raises(SMTPConnectionClosed) as info:
        run(envelope(), options())
    assert not isinstance(info.value, SMTPOutcomeUnknown)
    assert run.wire.endswith(b"RCPT TO:<b@y.org>\r\n")


def test_protocol_error_in_a_reply_ends_conversation_without_quit():
    run = Run([GREETING, b"250-mx\r\n251 mixed codes\r\n"])
    with pytest.raises(SMTPProtocolError):
        run(envelope(), options())
    assert run.wire == b"EHLO localhost\r\n"


def test_unrequested_reply_before_a_command_is_a_protocol_error():
    run = Run([GREETING, EHLO_PLAIN + b"250 extra\r\n"])
    with pytest.raises(SMTPProtocolError):
        run(envelope(), options())
    assert b"MAIL" not in run.wire


@pytest.mark.parametrize(
    "quit_reply",
    [b"500 5.5.2 what?\r\n", SMTPConnectionClosed("closed during QUIT"), b"garbage\r\n"],
    ids=["500", "closed", "malformed"],
)
def test_failed_quit_after_accepted_message_still_returns_result(quit_reply):
    script = happy_script()
    script[-1] = quit_reply
    run = Run(script)
    result = run(envelope(), options())
    assert isinstance(result, SendResult)
    assert result.reply == Reply(250, ("2.0.0 queued as 1234",))
    assert run.wire == RACKET_WIRE


# -- authentication --------------------------------------------------------------


def test_auth_plain_sent_right_after_ehlo():
    script = [GREETING, EHLO_AUTH, b"235 2.7.0 authenticated\r\n", OK, OK, OK, GO_AHEAD, QUEUED, BYE]
    run = Run(script)
    run(envelope(), options(credentials=credentials()), loopback=True)
    assert run.wire == b"EHLO localhost\r\n" + AUTH_LINE + RACKET_WIRE[len(b"EHLO localhost\r\n") :]
    assert run.sent[1] == AUTH_LINE


def test_auth_refused_raises_without_leaking_the_password():
    run = Run([GREETING, EHLO_AUTH, b"535 5.7.8 authentication credentials invalid\r\n", BYE])
    with pytest.raises(SMTPAuthenticationError) as info:
        run(envelope(), options(credentials=credentials("pass")), secure=True)
    error = info.value
    assert isinstance(error, SMTPReplyError)
    assert error.code == 535
    assert error.phase == "auth"
    assert error.command == "AUTH PLAIN ****"
    for text in (str(error), repr(error), error.text, error.command, repr(error.args)):
        assert "pass" not in text
        assert PLAIN_SECRET.decode() not in text
    assert run.wire == b"EHLO localhost\r\n" + AUTH_LINE + b"QUIT\r\n"


def test_empty_334_challenge_is_answered_with_the_same_response():
    script = [GREETING, EHLO_AUTH, b"334 \r\n", b"235 2.7.0 ok\r\n", OK, OK, OK, GO_AHEAD, QUEUED, BYE]
    run = Run(script)
    run(envelope(), options(credentials=credentials()))
    assert run.sent[1] == AUTH_LINE
    assert run.sent[2] == PLAIN_SECRET + b"\r\n"
    assert run.sent[3] == b"MAIL FROM:<a@x.org>\r\n"


def test_too_many_334_challenges_cancel_auth():
    script = [GREETING, EHLO_AUTH, b"334 \r\n", b"334 \r\n", b"334 \r\n", b"501 5.7.0 cancelled\r\n"]
    run = Run(script)
    with pytest.raises(SMTPProtocolError):
        run(envelope(), options(credentials=credentials(), max_auth_challenges=2))
    assert run.sent == [
        b"EHLO localhost\r\n",
        AUTH_LINE,
        PLAIN_SECRET + b"\r\n",
        PLAIN_SECRET + b"\r\n",
        b"*\r\n",
    ]
    assert run.script == []


def test_credentials_over_plaintext_to_remote_host_refused_before_any_byte():
    run = Run(happy_script())
    with pytest.raises(SMTPSecurityError):
        run(envelope(), options(credentials=credentials()), secure=False, loopback=False)
    assert run.actions == []
    assert run.sent == []


def test_allow_insecure_auth_lets_credentials_through():
    script = [GREETING, EHLO_AUTH, b"235 2.7.0 ok\r\n", OK, OK, OK, GO_AHEAD, QUEUED, BYE]
    run = Run(script)
    run(envelope(), options(credentials=credentials(), allow_insecure_auth=True), secure=False, loopback=False)
    assert run.sent[1] == AUTH_LINE


def test_credentials_allowed_over_implicit_tls():
    script = [GREETING, EHLO_AUTH, b"235 2.7.0 ok\r\n", OK, OK, OK, GO_AHEAD, QUEUED, BYE]
    run = Run(script)
    run(envelope(), options(credentials=credentials()), secure=True, loopback=False)
    assert run.sent[1] == AUTH_LINE


# -- STARTTLS --------------------------------------------------------------------


def test_starttls_then_ehlo_again():
    script = [GREETING, EHLO_TLS, b"220 2.0.0 go\r\n", EHLO_PLAIN, OK, OK, OK, GO_AHEAD, QUEUED, BYE]
    run = Run(script)
    run(envelope(), options(starttls=TLSPolicy.STARTTLS), loopback=False)
    assert run.wire == b"EHLO localhost\r\nSTARTTLS\r\n" + RACKET_WIRE
    upgrade_at = next(i for i, a in enumerate(run.actions) if isinstance(a, UpgradeTLS))
    assert run.actions[upgrade_at + 1] == Send(b"EHLO localhost\r\n")
    assert b"".join(a.data for a in run.actions[:upgrade_at] if isinstance(a, Send)) == (
        b"EHLO localhost\r\nSTARTTLS\r\n"
    )


def test_starttls_advertised_lower_case_is_used():
    script = [GREETING, b"250-mx\r\n250 starttls\r\n", b"220 go\r\n", EHLO_PLAIN, OK, OK, OK, GO_AHEAD, QUEUED, BYE]
    run = Run(script)
    run(envelope(), options(starttls=TLSPolicy.STARTTLS))
    assert run.upgraded()


def test_starttls_not_offered():
    run = Run([GREETING, EHLO_PLAIN, BYE])
    with pytest.raises(StartTLSNotOffered) as info:
        run(envelope(), options(starttls=TLSPolicy.STARTTLS, credentials=credentials()), loopback=False)
    assert isinstance(info.value, SMTPTLSError)
    assert run.wire == b"EHLO localhost\r\nQUIT\r\n"
    assert not run.upgraded()


def test_starttls_refused():
    run = Run([GREETING, EHLO_TLS, b"454 4.7.0 TLS not available\r\n", BYE])
    with pytest.raises(StartTLSRefused) as info:
        run(envelope(), options(starttls=TLSPolicy.STARTTLS, credentials=credentials()), loopback=False)
    error = info.value
    assert isinstance(error, SMTPReplyError)
    assert isinstance(error, SMTPTLSError)
    assert error.code == 454
    assert error.enhanced_status == "4.7.0"
    assert error.phase == "starttls"
    assert not run.upgraded()
    assert run.wire == b"EHLO localhost\r\nSTARTTLS\r\nQUIT\r\n"


def test_plaintext_injected_after_starttls_220_is_rejected():
    run = Run([GREETING, EHLO_TLS, b"220 go\r\n250 injected\r\n"])
    with pytest.raises(SMTPProtocolError):
        run(envelope(), options(starttls=TLSPolicy.STARTTLS), loopback=False)
    assert not run.upgraded()
    assert run.wire == b"EHLO localhost\r\nSTARTTLS\r\n"


def test_partial_line_injected_after_starttls_220_is_rejected():
    run = Run([GREETING, EHLO_TLS, b"220 go\r\n25"])
    with pytest.raises(SMTPProtocolError):
        run(envelope(), options(starttls=TLSPolicy.STARTTLS), loopback=False)
    assert not run.upgraded()


def test_only_post_tls_capabilities_count():
    pre_tls = b"250-mx\r\n250-SMTPUTF8\r\n250 STARTTLS\r\n"
    post_tls = b"250-mx\r\n250 8BITMIME\r\n"
    run = Run([GREETING, pre_tls, b"220 go\r\n", post_tls, BYE])
    with pytest.raises(UnsupportedByServer):
        run(envelope(sender="ä@x.org"), options(starttls=TLSPolicy.STARTTLS), loopback=False)
    assert run.upgraded()
    assert b"MAIL" not in run.wire
    assert run.wire.endswith(b"STARTTLS\r\nEHLO localhost\r\nQUIT\r\n")


def test_post_tls_auth_with_credentials():
    script = [GREETING, EHLO_TLS, b"220 go\r\n", EHLO_AUTH, b"235 ok\r\n", OK, OK, OK, GO_AHEAD, QUEUED, BYE]
    run = Run(script)
    run(envelope(), options(starttls=TLSPolicy.STARTTLS, credentials=credentials()), secure=False, loopback=False)
    upgrade_at = next(i for i, a in enumerate(run.actions) if isinstance(a, UpgradeTLS))
    before = b"".join(a.data for a in run.actions[:upgrade_at] if isinstance(a, Send))
    after = b"".join(a.data for a in run.actions[upgrade_at:] if isinstance(a, Send))
    assert PLAIN_SECRET not in before
    assert after.startswith(b"EHLO localhost\r\n" + AUTH_LINE + b"MAIL FROM:<a@x.org>\r\n")


# -- SMTPUTF8 ------------------------------------------------------------------------


def test_non_ascii_address_without_smtputf8_fails_before_mail():
    run = Run([GREETING, EHLO_PLAIN, BYE])
    with pytest.raises(UnsupportedByServer) as info:
        run(envelope(recipients=["ü@y.org"]), options())
    assert isinstance(info.value, ValueError)
    assert run.wire == b"EHLO localhost\r\nQUIT\r\n"


def test_non_ascii_address_with_smtputf8():
    script = [GREETING, b"250-mx\r\n250 SMTPUTF8\r\n", OK, OK, GO_AHEAD, QUEUED, BYE]
    run = Run(script)
    run(envelope(sender="ä@x.org", recipients=["ü@y.org"]), options())
    assert run.sent[1] == "MAIL FROM:<ä@x.org> SMTPUTF8\r\n".encode()
    assert run.sent[2] == "RCPT TO:<ü@y.org>\r\n".encode()


def test_ascii_address_sends_no_smtputf8_even_if_offered():
    script = [GREETING, b"250-mx\r\n250 SMTPUTF8\r\n", OK, OK, OK, GO_AHEAD, QUEUED, BYE]
    run = Run(script)
    run(envelope(), options())
    assert run.wire == RACKET_WIRE


@pytest.mark.parametrize("challenge", [b"334 not base64!\r\n", "334 caf\u00e9\r\n".encode()])
def test_unanswerable_challenge_cancels_and_raises_a_protocol_error(challenge):
    run = Run([GREETING, EHLO_AUTH, challenge, b"501 5.7.0 cancelled\r\n"])
    with pytest.raises(SMTPProtocolError, match="challenge"):
        run(envelope(), options(credentials=credentials()))
    assert run.sent[-1] == b"*\r\n"


def test_early_reply_after_354_is_refused_before_any_data():
    run = Run([GREETING, EHLO_PLAIN, OK, OK, OK, GO_AHEAD + b"250 2.0.0 fake accept\r\n"])
    with pytest.raises(SMTPProtocolError, match="354"):
        run(envelope(), options())
    assert not any(chunk.startswith(b"Subject") for chunk in run.sent)


# -- PIPELINING ------------------------------------------------------------------------

EHLO_PIPELINING = b"250-mx.example.org\r\n250 PIPELINING\r\n"
REFUSED = b"550 5.1.1 no such user\r\n"


def test_pipelining_sends_the_envelope_in_one_write_with_the_same_bytes():
    run = Run(happy_script(EHLO_PIPELINING))
    run(envelope(), options())
    assert run.wire == RACKET_WIRE
    assert run.sent[1] == b"MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\nRCPT TO:<c@z.org>\r\nDATA\r\n"


def test_pipelined_refusal_in_the_middle_sends_no_data_and_no_command():
    from smtpunit.errors import RecipientsRefused

    run = Run([GREETING, EHLO_PIPELINING, OK, OK, REFUSED, OK, GO_AHEAD])
    with pytest.raises(RecipientsRefused) as caught:
        run(envelope(recipients=("b@y.org", "bad@y.org", "c@z.org")), options())
    assert [r.reply.code for r in caught.value.recipients] == [250, 550, 250]
    assert caught.value.command == "RCPT TO:<bad@y.org>"
    assert len(run.sent) == 2, "after a 354 nothing may be sent: the connection is only closed"


def test_pipelined_all_refused_gets_554_for_data_and_quits():
    from smtpunit.errors import RecipientsRefused

    run = Run([GREETING, EHLO_PIPELINING, OK, REFUSED, REFUSED, b"554 5.5.1 no valid recipients\r\n", BYE])
    with pytest.raises(RecipientsRefused):
        run(envelope(), options(partial_delivery=True))
    assert run.sent[-1] == b"QUIT\r\n"


def test_pipelined_partial_delivery_reports_the_refused():
    run = Run([GREETING, EHLO_PIPELINING, OK, OK, REFUSED, GO_AHEAD, QUEUED, BYE])
    result = run(envelope(), options(partial_delivery=True))
    assert result.accepted == ("b@y.org",)
    assert [r.address for r in result.refused] == ["c@z.org"]


def test_pipelined_mail_refusal_is_reported_as_mail():
    no = b"503 5.5.1 no\r\n"
    run = Run([GREETING, EHLO_PIPELINING, b"553 5.1.8 bad sender\r\n", no, no, no, BYE])
    with pytest.raises(SMTPReplyError) as caught:
        run(envelope(), options())
    assert (caught.value.code, caught.value.phase) == (553, "mail")
    assert run.sent[-1] == b"QUIT\r\n"


def test_stepwise_refusal_stops_at_the_first_refused_recipient():
    from smtpunit.errors import RecipientsRefused

    run = Run([GREETING, EHLO_PLAIN, OK, OK, REFUSED, BYE])
    with pytest.raises(RecipientsRefused):
        run(envelope(recipients=("b@y.org", "bad@y.org", "c@z.org")), options())
    assert b"RCPT TO:<c@z.org>" not in run.wire and run.sent[-1] == b"QUIT\r\n"


# -- CHUNKING ----------------------------------------------------------------------------

EHLO_CHUNKING = b"250-mx.example.org\r\n250-PIPELINING\r\n250 CHUNKING\r\n"


def test_bdat_sends_the_data_unstuffed_after_the_envelope():
    run = Run([GREETING, EHLO_CHUNKING, OK, OK, OK, QUEUED, BYE])
    result = run(envelope(), options(chunking=True))
    data = b"Subject: t\r\n\r\nhi\r\n.dot\r\n"
    assert run.sent[1] == b"MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\nRCPT TO:<c@z.org>\r\n"
    # with PIPELINING the one-shot's QUIT shares the last write (RFC 2920)
    assert run.sent[2] == b"BDAT %d LAST\r\n" % len(data) + data + b"QUIT\r\n"
    assert result.reply == Reply(250, ("2.0.0 queued as 1234",))


def test_bdat_chunks_are_pipelined_and_their_replies_read_after_last(monkeypatch):
    from smtpunit.core import transactions as transaction

    monkeypatch.setattr(transaction, "BDAT_CHUNK", 8)
    data = b"Subject: t\r\n\r\n0123456789\r\nabcdefghij\r\n"
    chunks = 2 + 3  # the 14-octet header and the 24-octet body, each cut into chunks of at most 8
    run = Run([GREETING, EHLO_CHUNKING, OK, OK, OK, *([OK] * (chunks - 1)), QUEUED, BYE])
    run(envelope(lines=["0123456789", "abcdefghij"]), options(chunking=True))
    assert run.sent[-1].endswith(b"QUIT\r\n")  # pipelined with LAST
    commands = [chunk.split(b"\r\n", 1) for chunk in run.sent[2:]]
    commands[-1][1] = commands[-1][1].removesuffix(b"QUIT\r\n")
    sizes = [int(line.split()[1]) for line, _ in commands]
    assert all(size <= 8 for size in sizes) and commands[-1][0].endswith(b" LAST")
    assert b"".join(body for _, body in commands) == data and len(commands) == chunks
    assert run.script == []
    # all were written before any of their replies was read
    sends = [i for i, a in enumerate(run.actions) if isinstance(a, Send)]
    receives = [i for i, a in enumerate(run.actions) if isinstance(a, Receive) and a.phase == "bdat"]
    assert max(sends) < min(receives)


def test_a_refused_bdat_chunk_fails_the_message():
    from smtpunit.core import transactions as transaction

    run = Run([GREETING, b"250-mx\r\n250 CHUNKING\r\n", OK, OK, OK, b"552 5.3.4 too big\r\n", OK, BYE])
    transaction.BDAT_CHUNK, saved = 8, transaction.BDAT_CHUNK
    try:
        with pytest.raises(SMTPReplyError) as caught:
            run(envelope(lines=["0123456789"]), options(chunking=True))
    finally:
        transaction.BDAT_CHUNK = saved
    assert (caught.value.code, caught.value.phase) == (552, "bdat")
    assert not any(b"LAST" in chunk for chunk in run.sent), "without PIPELINING, LAST waits for the chunks' replies"
