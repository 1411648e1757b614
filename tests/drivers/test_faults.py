"""Faults a real server will not produce on demand, from a scripted server on 127.0.0.1
(smtpunit.testing.ScriptedServer, through the plugin's scripted_smtp_server fixture)."""

from __future__ import annotations

import time

import pytest

import smtpunit
from smtpunit import errors
from smtpunit.testing import (
    Close,
    Drip,
    Expect,
    ExpectClose,
    ExpectData,
    Raw,
    Reply,
    Sleep,
    accept_envelope,
    standard_session,
)

HEADER = "Subject: faults\r\n\r\n"


@pytest.fixture
def scripted(scripted_smtp_server):
    return scripted_smtp_server


def send(port: int, **options):
    return smtpunit.smtp_send_message("127.0.0.1", "a@example.org", ["b@example.org"], HEADER, ["x"], port, **options)


def test_silent_server_times_out_and_closes(scripted):
    server = scripted([ExpectClose()])  # wait for the client to give up and close
    started = time.monotonic()
    with pytest.raises(errors.SMTPTimeout) as caught:
        send(server.port, timeout=smtpunit.Timeouts(connect=5, reply=0.5))
    assert time.monotonic() - started < 3
    assert caught.value.phase == "greeting"
    assert isinstance(caught.value, TimeoutError)


def test_dripping_server_is_held_to_the_reply_deadline(scripted):
    server = scripted([Drip(b"220 " + b"x" * 100, 0.1)])
    started = time.monotonic()
    with pytest.raises(errors.SMTPTimeout):
        send(server.port, timeout=smtpunit.Timeouts(reply=0.6))
    assert time.monotonic() - started < 2


def test_drop_after_the_final_dot_is_outcome_unknown(scripted):
    server = scripted([*standard_session(), *accept_envelope(), ExpectData(), Close()])
    with pytest.raises(errors.SMTPOutcomeUnknown) as caught:
        send(server.port)
    assert isinstance(caught.value, ConnectionError)
    assert isinstance(caught.value.__cause__, errors.SMTPConnectionClosed)


def test_no_reply_after_the_final_dot_is_outcome_unknown_after_data_end_timeout(scripted):
    # hold until the client closes
    server = scripted([*standard_session(), *accept_envelope(), ExpectData(), ExpectClose()])
    with pytest.raises(errors.SMTPOutcomeUnknown) as caught:
        send(server.port, timeout=smtpunit.Timeouts(reply=5, data_end=0.5))
    assert isinstance(caught.value.__cause__, errors.SMTPTimeout)


def test_quit_failure_after_accepted_message_is_ignored(scripted):
    # close instead of answering QUIT
    server = scripted([*standard_session(), *accept_envelope(), ExpectData(), Reply(b"250 queued"), Close()])
    assert send(server.port).reply.code == 250


@pytest.mark.parametrize(
    "greeting",
    [b"2200 four digits\r\n", b"220 bare LF\n", b"22 short\r\n", b"220-a\r\n221 mismatch\r\n", b"220 \xff\xfe\r\n"],
)
def test_malformed_greeting_is_a_protocol_error(scripted, greeting):
    server = scripted([Raw(greeting), ExpectClose()])
    with pytest.raises(errors.SMTPProtocolError):
        send(server.port)


def test_greeting_554_is_a_reply_error_and_the_client_quits(scripted):
    server = scripted([Reply(b"554 5.7.1 go away"), Expect(b"QUIT", exact=True), Reply(b"221 bye")])
    with pytest.raises(errors.SMTPReplyError) as caught:
        send(server.port)
    assert (caught.value.code, caught.value.phase) == (554, "greeting")


def test_421_closes_without_another_command(scripted):
    server = scripted([*standard_session(), Expect(b"MAIL"), Reply(b"421 4.3.2 shutting down"), ExpectClose()])
    with pytest.raises(errors.SMTPReplyError) as caught:
        send(server.port)
    assert caught.value.code == 421 and caught.value.is_transient


def test_plaintext_injected_after_starttls_220_is_refused(scripted):
    server = scripted([*standard_session([b"STARTTLS"]), Expect(b"STARTTLS", exact=True),
                       Raw(b"220 go ahead\r\n250 injected\r\n"), ExpectClose()])
    with pytest.raises(errors.SMTPProtocolError, match="injection"):
        send(server.port, tls_encode=True)
    server.close()
    assert b"MAIL" not in server.peers[0].received


def test_starttls_refused_fails_before_any_envelope(scripted):
    server = scripted([*standard_session([b"starttls"]),  # lower case: still recognised
                       Expect(b"STARTTLS", exact=True), Reply(b"454 4.7.0 TLS not available"),
                       Expect(b"QUIT", exact=True), Reply(b"221 bye")])
    with pytest.raises(errors.StartTLSRefused) as caught:
        send(server.port, tls_encode=True)
    assert caught.value.code == 454
    server.close()
    assert b"MAIL" not in server.peers[0].received


def test_credentials_refused_over_plaintext_to_a_remote_host():
    from smtpunit.testing import MemoryServer, MemoryTransport

    class RemoteMemoryTransport(MemoryTransport):
        def connect(self, host, port, timeout):
            connection = super().connect(host, port, timeout)
            connection.loopback = False
            return connection

    server = MemoryServer()
    with pytest.raises(errors.SMTPSecurityError):
        smtpunit.smtp_send_message("mail.invalid", "a@example.org", ["b@example.org"], HEADER, ["x"],
                                   tcp_connect=RemoteMemoryTransport(server), auth_user="u", auth_passwd="p")
    assert server.received == b""


def test_the_wait_after_the_data_has_its_own_longer_bound(scripted):
    """The reply to the final "." may take longer than a reply's bound (the driver
    waits for it in steps), and no longer than its own."""
    slow = scripted([*standard_session(), *accept_envelope(), ExpectData(), Sleep(0.8), Reply(b"250 2.0.0 queued"),
                     Expect(b"QUIT"), Reply(b"221 bye")])
    result = send(slow.port, timeout=smtpunit.Timeouts(reply=0.3, data_end=2.0))
    assert result.reply.code == 250

    silent = scripted([*standard_session(), *accept_envelope(), ExpectData(), ExpectClose()])
    started = time.monotonic()
    with pytest.raises(errors.SMTPOutcomeUnknown) as caught:
        send(silent.port, timeout=smtpunit.Timeouts(reply=0.3, data_end=1.0))
    assert 1.0 <= time.monotonic() - started < 2.5
    assert isinstance(caught.value.__cause__, errors.SMTPTimeout)


def test_replies_of_a_pipelined_group_that_broke_off_are_in_the_transcript(scripted, caplog):
    server = scripted([*standard_session(["PIPELINING"]), Expect(b"MAIL FROM:<"),
                       Reply(b"421 4.3.2 going down"), Close()])
    with caplog.at_level("DEBUG", logger="smtpunit.transcript"), pytest.raises(errors.SMTPError):
        send(server.port)
    assert "S: 421 4.3.2 going down" in caplog.text
