"""smtpunit.testing.Outbox: the ISMTP double, its input checks and its failure injection."""

from __future__ import annotations

import pytest
from zope.interface.verify import verifyObject

import smtpunit
from smtpunit import ISMTP, errors, invoke, link, provide
from smtpunit.core.conversation import RecipientResult
from smtpunit.core.reply import Reply as ParsedReply
from smtpunit.testing import PHASES, MemoryServer, MemoryTransport, Outbox
from smtpunit.testing.conformance import BAD_INPUTS

HEADER = "Subject: outbox\r\n\r\n"


def send(outbox: Outbox, to=("b@example.org",), server="mail.invalid", **options):
    return outbox.smtp_send_message(server, "a@example.org", list(to), HEADER, ["hello", ".dot"], **options)


def test_outbox_verifies_with_and_without_faults():
    assert verifyObject(ISMTP, Outbox())
    assert verifyObject(ISMTP, Outbox(refuse=["x@example.org"], fail={"mail": 451}, drop="data-end"))
    ISMTP.validateInvariants(Outbox())


def test_outbox_keeps_the_message_as_the_real_unit_would_send_it():
    outbox = Outbox()
    result = send(outbox, port_no=587)
    (message,) = outbox.messages
    assert (message.server, message.port, message.sender) == ("mail.invalid", 587, "a@example.org")
    assert message.recipients == message.delivered_to == ("b@example.org",)
    assert message.lines == (b"hello", b".dot") and message.envelope.body[1] == b"..dot\r\n"
    assert result.accepted == ("b@example.org",) and result.reply.code == 250
    assert outbox.attempts == outbox.messages and outbox.maybe_delivered == []


@pytest.mark.parametrize("what, changes", BAD_INPUTS, ids=[what for what, _ in BAD_INPUTS])
def test_input_errors_are_exactly_the_real_units(what, changes):
    """Same error class and message as the real client (which sends nothing either)."""
    arguments = {"server_address": "mail.invalid", "from_": "a@example.org", "to": ["b@example.org"],
                 "header": HEADER, "message": ["x"], **changes}
    server = MemoryServer()
    with pytest.raises(ValueError) as real:
        smtpunit.smtp_send_message(tcp_connect=MemoryTransport(server), **arguments)
    outbox = Outbox()
    with pytest.raises(ValueError) as double:
        outbox.smtp_send_message(**arguments)
    assert (type(double.value), str(double.value)) == (type(real.value), str(real.value))
    assert outbox.attempts == [] and server.received == b""


@pytest.mark.parametrize("options, error", [
    ({"tls_policy": "sometimes"}, errors.InvalidArgument),
    ({"tls_policy": "none", "tls_encode": True}, errors.InvalidArgument),
    ({"tls_encode": 42}, TypeError),
    ({"timeout": -1}, errors.InvalidArgument),
    ({"tcp_connect": 42}, TypeError),
])
def test_option_errors_are_the_real_units(options, error):
    with pytest.raises(error) as real:
        smtpunit.smtp_send_message("mail.invalid", "a@example.org", ["b@example.org"], HEADER, ["x"],
                                   **{"tcp_connect": MemoryTransport(), **options})
    with pytest.raises(error) as double:
        send(Outbox(), **options)
    assert str(double.value) == str(real.value)


def test_credentials_in_plaintext_to_a_remote_host_are_refused_as_by_the_real_unit():
    outbox = Outbox()
    with pytest.raises(errors.SMTPSecurityError):
        send(outbox, auth_user="u", auth_passwd="p")
    assert outbox.attempts == []
    send(outbox, server="127.0.0.1", auth_user="u", auth_passwd="p")
    send(outbox, auth_user="u", auth_passwd="p", tls_encode=True)
    send(outbox, auth_user="u", auth_passwd="p", allow_insecure_auth=True)
    assert len(outbox.messages) == 3


def test_refused_recipient_raises_with_per_recipient_results():
    outbox = Outbox(refuse=("bad@example.org",))
    with pytest.raises(errors.RecipientsRefused) as caught:
        send(outbox, to=["b@example.org", "bad@example.org", "c@example.org"])
    error = caught.value
    assert (error.code, error.enhanced_status, error.phase) == (550, "5.1.1", "rcpt")
    assert error.command == "RCPT TO:<bad@example.org>" and not error.is_transient
    assert all(isinstance(r, RecipientResult) for r in error.recipients)
    assert [(r.address, r.accepted) for r in error.recipients] == [
        ("b@example.org", True), ("bad@example.org", False), ("c@example.org", True)]
    assert outbox.messages == [] and len(outbox.attempts) == 1


def test_partial_delivery_lists_the_refused_and_delivers_to_the_rest():
    outbox = Outbox().refuse("bad@example.org", 450, "4.2.1 mailbox busy")
    result = send(outbox, to=["b@example.org", "bad@example.org"], partial_delivery=True)
    assert result.accepted == ("b@example.org",)
    (refused,) = result.refused
    assert (refused.address, refused.reply.code, refused.reply.enhanced_status) == ("bad@example.org", 450, "4.2.1")
    (message,) = outbox.messages
    assert message.delivered_to == ("b@example.org",) and message.refused == ("bad@example.org",)


def test_partial_delivery_with_every_recipient_refused_still_fails():
    outbox = Outbox(refuse={"b@example.org": (550, "5.7.1 no"), "c@example.org": 551})
    with pytest.raises(errors.RecipientsRefused) as caught:
        send(outbox, to=["b@example.org", "c@example.org"], partial_delivery=True)
    assert [r.reply.code for r in caught.value.recipients] == [550, 551]
    assert outbox.messages == []


FAILING_OPTIONS = {"starttls": {"tls_encode": True}, "auth": {"server": "127.0.0.1", "auth_user": "u",
                                                               "auth_passwd": "p"}}
COMMANDS = {"greeting": "(connect)", "ehlo": "EHLO localhost", "starttls": "STARTTLS", "auth": "AUTH PLAIN",
            "mail": "MAIL FROM:<a@example.org>", "rcpt": "RCPT TO:<b@example.org>", "data": "DATA",
            "data-end": "."}
ERRORS = {"starttls": errors.StartTLSRefused, "auth": errors.SMTPAuthenticationError,
          "rcpt": errors.RecipientsRefused}


@pytest.mark.parametrize("phase", PHASES)
def test_fail_raises_the_real_error_with_a_real_reply(phase):
    outbox = Outbox()
    outbox.fail(phase, 451, "4.3.0 try again later")
    with pytest.raises(errors.SMTPReplyError) as caught:
        send(outbox, **FAILING_OPTIONS.get(phase, {}))
    error = caught.value
    assert type(error) is ERRORS.get(phase, errors.SMTPReplyError)
    assert error.reply == ParsedReply(451, ("4.3.0 try again later",))
    assert (error.code, error.enhanced_status, error.is_transient) == (451, "4.3.0", True)
    assert (error.phase, error.command) == (phase, COMMANDS[phase])
    assert outbox.messages == [] and outbox.maybe_delivered == []


@pytest.mark.parametrize("phase", PHASES)
def test_drop_closes_the_connection_and_after_the_dot_the_outcome_is_unknown(phase):
    outbox = Outbox(drop=[phase])
    with pytest.raises(errors.SMTPConnectionClosed if phase != "data-end" else errors.SMTPOutcomeUnknown) as caught:
        send(outbox, **FAILING_OPTIONS.get(phase, {}))
    assert phase in str(caught.value)
    assert outbox.messages == []
    if phase == "data-end":
        assert not isinstance(caught.value, errors.SMTPConnectionClosed)
        assert isinstance(caught.value.__cause__, errors.SMTPConnectionClosed)
        assert [m.recipients for m in outbox.maybe_delivered] == [("b@example.org",)]
    else:
        assert outbox.maybe_delivered == []


def test_faults_in_phases_the_conversation_does_not_visit_do_nothing():
    outbox = Outbox(fail={"starttls": 454, "auth": 535})
    send(outbox)  # neither TLS nor credentials asked for
    assert len(outbox.messages) == 1


def test_opportunistic_tls_carries_on_when_starttls_fails_as_the_real_client():
    outbox = Outbox().fail("starttls", 454, "4.7.0 TLS not available")
    send(outbox, tls_encode=True, tls_policy="opportunistic")
    assert len(outbox.messages) == 1
    outbox.fail("starttls", 421, "4.3.2 bye")
    with pytest.raises(errors.StartTLSRefused):
        send(outbox, tls_encode=True, tls_policy="opportunistic")


def test_a_fault_can_fire_a_limited_number_of_times_for_retry_logic():
    outbox = Outbox().fail("mail", 451, "4.3.0 later", times=2)

    def send_with_retries(attempts: int) -> int:
        for attempt in range(1, attempts + 1):
            try:
                send(outbox)
                return attempt
            except errors.SMTPReplyError as exc:
                if not exc.is_transient:
                    raise
        raise AssertionError("gave up")

    assert send_with_retries(5) == 3
    assert len(outbox.attempts) == 3 and len(outbox.messages) == 1
    outbox.drop("data-end", times=1)
    with pytest.raises(errors.SMTPOutcomeUnknown):
        send(outbox)
    send(outbox)
    assert len(outbox.maybe_delivered) == 1 and len(outbox.messages) == 2


def test_refusal_times_and_clear_faults():
    outbox = Outbox().refuse("b@example.org", times=1).fail("data", 554)
    with pytest.raises(errors.RecipientsRefused):
        send(outbox)
    with pytest.raises(errors.SMTPReplyError) as caught:
        send(outbox)
    assert caught.value.phase == "data" and caught.value.enhanced_status == "5.0.0"
    outbox.clear_faults()
    send(outbox)
    assert len(outbox.messages) == 1


def test_end_of_message_runs_only_when_the_data_was_sent():
    calls = []
    outbox = Outbox().fail("data", 554, "5.3.4 too big")
    with smtpunit.smtp_sending_end_of_message.parameterize(lambda: calls.append("eom")):
        with pytest.raises(errors.SMTPReplyError):
            send(outbox)
        assert calls == []
        outbox.clear_faults()
        outbox.drop("data-end")
        with pytest.raises(errors.SMTPOutcomeUnknown):
            send(outbox)
        assert calls == ["eom"]


def test_a_raising_end_of_message_keeps_the_message_out():
    def refuse() -> None:
        raise RuntimeError("abort")

    outbox = Outbox()
    with smtpunit.smtp_sending_end_of_message.parameterize(refuse), pytest.raises(RuntimeError):
        send(outbox)
    assert outbox.messages == [] and outbox.maybe_delivered == []


@pytest.mark.parametrize("bad", [
    lambda o: o.fail("connect", 451), lambda o: o.fail("mail", 250), lambda o: o.fail("mail", 600),
    lambda o: o.fail("mail", 451, "two\r\nlines"), lambda o: o.drop("quit"), lambda o: o.refuse("x@example.org", 354),
    lambda o: o.fail("mail", 451, times=0), lambda o: Outbox(fail={"mail": ParsedReply(250, ("ok",))}),
])
def test_bad_fault_specifications_are_refused(bad):
    with pytest.raises(ValueError):
        bad(Outbox())


def test_star_variant_checks_fails_and_closes_the_connection():
    connection = MemoryServer().open("mail.invalid")
    outbox = Outbox(fail={"rcpt": (550, "5.1.1 nobody")})
    with pytest.raises(errors.RecipientsRefused):
        outbox.smtp_send_message_star(connection, "a@example.org", ["b@example.org"], HEADER, ["x"])
    assert connection.closed
    outbox.clear_faults()
    outbox.smtp_send_message_star(MemoryServer().open("mail.invalid"), "a@example.org", ["b@example.org"],
                                  HEADER, ["x"])
    assert outbox.messages[0].server is None


def test_code_under_test_routed_to_a_failing_outbox_sees_an_unknown_outcome():
    outbox = Outbox(drop="data-end")
    with smtpunit.current_registry.parameterize(link(provide(ISMTP, outbox))):
        assert invoke(smtpunit.current_registry()) is outbox
        with pytest.raises(errors.SMTPOutcomeUnknown):
            smtpunit.smtp_send_message("mail.invalid", "a@example.org", ["b@example.org"], HEADER, ["x"])
    assert len(outbox.maybe_delivered) == 1


def test_a_caught_message_gives_its_envelope_its_bytes_and_its_parsed_fields(smtp_outbox):
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"] = "Zoë <zoe@example.org>"
    message["To"] = "Bob <bob@example.org>, carol@example.org"
    message["Bcc"] = "hidden@example.org"
    message["Subject"] = "Grüße aus Köln"
    message.set_content("Hallo.\n.a line with a dot\n")
    smtpunit.send_message("mail.example.org", message)
    (caught,) = smtp_outbox.messages
    assert caught.sender == "zoe@example.org"
    assert caught.recipients == ("bob@example.org", "carol@example.org", "hidden@example.org")
    assert caught.subject == "Grüße aus Köln" and caught.from_ == "Zoë <zoe@example.org>"
    assert caught.to == ("bob@example.org", "carol@example.org")
    assert caught.message["Bcc"] is None  # never sent
    assert caught.message.get_content() == "Hallo.\n.a line with a dot\n"
    assert caught.raw.endswith(b"\r\n.a line with a dot\r\n") and b"\r\n..a line" not in caught.raw


def test_the_outbox_counts_connections_and_clears(smtp_outbox):
    header = "Subject: n\r\n\r\n"
    smtpunit.smtp_send_message("mail.example.org", "a@example.org", ["b@example.org"], header, ["1"])
    smtpunit.send_many("mail.example.org", [("a@example.org", ["b@example.org"], header, [str(n)])
                                            for n in range(3)])
    with smtpunit.connect("mail.example.org") as session:
        session.send("a@example.org", ["b@example.org"], header, ["5"])
        session.send("a@example.org", ["b@example.org"], header, ["6"])
    assert len(smtp_outbox.messages) == 6 and smtp_outbox.connections == 3
    assert smtp_outbox.messages[0].subject == "n" and smtp_outbox.messages[0].to == ()
    smtp_outbox.clear()
    assert smtp_outbox.messages == [] and smtp_outbox.attempts == [] and smtp_outbox.connections == 0
