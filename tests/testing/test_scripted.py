"""smtpunit.testing.ScriptedServer: the declarative steps, mismatches, and bounded waits."""

from __future__ import annotations

import socket
import threading
import time

import pytest

import smtpunit
from smtpunit import errors
from smtpunit.testing import (
    ClientClosed,
    Close,
    Drip,
    Expect,
    ExpectClose,
    ExpectData,
    Raw,
    Reply,
    ScriptedServer,
    ScriptMismatch,
    Sleep,
    StartTLS,
    accept_envelope,
    standard_session,
)

HEADER = "Subject: scripted\r\n\r\n"


def send(port: int, **options):
    return smtpunit.smtp_send_message("127.0.0.1", "a@example.org", ["b@example.org"], HEADER,
                                      ["hello", ".dot"], port, **options)


def delivering(extensions=()):
    return [*standard_session(extensions), *accept_envelope(), ExpectData(contains=b"hello\r\n.dot\r\n"),
            Reply(b"250 2.0.0 queued"), Expect(b"QUIT", exact=True), Reply(b"221 2.0.0 bye")]


def client(server: ScriptedServer) -> socket.socket:
    return socket.create_connection(server.address, timeout=5)


def test_a_full_session_is_recorded():
    with ScriptedServer(delivering()) as server:
        result = send(server.port)
    assert result.reply.code == 250
    (peer,) = server.peers
    assert peer.lines[:4] == [b"EHLO localhost", b"MAIL FROM:<a@example.org>", b"RCPT TO:<b@example.org>", b"DATA"]
    assert peer.lines[-1] == b"QUIT"
    assert peer.messages == [b"Subject: scripted\r\n\r\nhello\r\n.dot\r\n"]
    assert peer.received.startswith(b"EHLO localhost\r\n") and b"..dot\r\n" in peer.received
    assert server.errors == []


def test_reply_adds_crlf_and_sends_lines_in_one_write_while_raw_sends_exactly():
    with ScriptedServer([Reply(b"250-a", "250 b\r\n"), Raw(b"bare\n"), Close()]) as server, client(server) as sock:
        data = b""
        while chunk := sock.recv(100):
            data += chunk
    assert data == b"250-a\r\n250 b\r\nbare\n"
    assert repr(Reply(b"250 ok")) == "Reply(b'250 ok')"


def test_plain_bytes_in_a_script_are_replies():
    with ScriptedServer([b"220 hi", Close()]) as server, client(server) as sock:
        assert sock.recv(100) == b"220 hi\r\n"


def test_a_wrong_command_is_a_mismatch_that_close_raises():
    server = ScriptedServer([Reply(b"220 hi"), Expect(b"HELO"), Reply(b"250 ok")])
    with pytest.raises(errors.SMTPConnectionClosed):
        send(server.port)  # the server hangs up on the unexpected EHLO
    with pytest.raises(ScriptMismatch) as caught:
        server.close()
    mismatch = caught.value
    assert (mismatch.connection, mismatch.step_index) == (0, 1)
    assert (mismatch.expected, mismatch.actual) == (b"HELO", b"EHLO localhost")
    assert str(mismatch) == ("connection 0, step 1 Expect(b'HELO'): expected a line starting with b'HELO', "
                             "the client sent b'EHLO localhost'")
    assert isinstance(mismatch, AssertionError)
    server.close(raise_errors=False)  # closing twice is harmless


def test_the_context_manager_raises_the_mismatch_even_over_the_bodys_error():
    with pytest.raises(ScriptMismatch, match="QUIT") as caught:
        with ScriptedServer([*standard_session(), Expect(b"QUIT", exact=True)]) as server:
            send(server.port)
    assert isinstance(caught.value.__context__, errors.SMTPConnectionClosed)


def test_exact_expect_rejects_a_longer_line():
    with pytest.raises(ScriptMismatch, match="expected the line b'QUIT'"):
        with ScriptedServer([Expect(b"QUIT", exact=True)]) as server, client(server) as sock:
            sock.sendall(b"QUITE\r\n")
            sock.recv(10)


def test_a_silent_client_is_a_mismatch_within_the_timeout():
    server = ScriptedServer([Expect(b"EHLO", timeout=1.0)])
    with client(server) as sock:
        sock.sendall(b"EH")
        started = time.monotonic()
        assert sock.recv(10) == b""  # the server gave up and closed
        assert time.monotonic() - started < 3
    with pytest.raises(ScriptMismatch, match=r"no line from the client within 1s \(it sent b'EH' without CRLF\)"):
        server.check()
    with pytest.raises(ScriptMismatch):
        server.close()


def test_a_client_closing_early_is_a_mismatch():
    server = ScriptedServer([Expect(b"EHLO")])
    client(server).close()
    with pytest.raises(ClientClosed, match="closed the connection while the server waited for a line"):
        server.close()


def test_expect_close_fails_when_the_client_talks():
    server = ScriptedServer([ExpectClose()])
    with client(server) as sock:
        sock.sendall(b"NOOP\r\n")
        sock.recv(10)
    with pytest.raises(ScriptMismatch, match="expected the client to close the connection, but it sent b'NOOP"):
        server.close()


def test_expect_data_checks_what_it_must_contain():
    script = [*standard_session(), *accept_envelope(), ExpectData(contains=b"missing"), Reply(b"250 ok")]
    with pytest.raises(ScriptMismatch, match="does not contain b'missing'"):
        with ScriptedServer(script) as server:
            send(server.port)


def test_a_callable_step_is_the_escape_hatch_and_its_errors_are_reported():
    seen = []

    def greet_by_name(peer):
        peer.say(b"220 hi\r\n")
        seen.append(peer.line())
        assert peer.received == b"EHLO localhost\r\n"
        peer.say(b"250 ok\r\n")

    def boom(peer):
        raise RuntimeError("step failed")

    with pytest.raises(RuntimeError, match="step failed"):
        with ScriptedServer([greet_by_name, boom]) as server:
            with pytest.raises(errors.SMTPConnectionClosed):
                send(server.port)
    assert seen == [b"EHLO localhost"]


def test_a_whole_script_may_be_one_callable():
    def script(peer):
        peer.say(b"554 no\r\n")
        assert peer.line() == b"QUIT"

    with ScriptedServer(script) as server:
        with pytest.raises(errors.SMTPReplyError):
            send(server.port)


def test_one_script_per_connection_and_no_more_connections():
    first, second = [Reply(b"220 first"), Close()], [Reply(b"220 second"), Close()]
    server = ScriptedServer(scripts=[first, second])
    for expected in (b"220 first\r\n", b"220 second\r\n"):
        with client(server) as sock:
            assert sock.recv(100) == expected
    with client(server) as sock:
        assert sock.recv(100) == b""
    with pytest.raises(ScriptMismatch, match=r"unexpected connection: the server has scripts for 2 connection\(s\)"):
        server.close()
    assert len(server.peers) == 3


def test_one_script_serves_every_connection():
    with ScriptedServer([Reply(b"220 again"), Close()]) as server:
        for _ in range(3):
            with client(server) as sock:
                assert sock.recv(100) == b"220 again\r\n"
    assert len(server.peers) == 3


def test_drip_and_sleep_pace_the_replies():
    with ScriptedServer([Sleep(0.1), Drip(b"2201", 0.05, chunk=2), Close()]) as server:
        started = time.monotonic()  # before connecting: the server's Sleep cannot have begun yet
        with client(server) as sock:
            first = sock.recv(10)
            assert first in (b"22", b"2201")  # a reader late by 50 ms gets both chunks at once
            assert first + (b"" if first == b"2201" else sock.recv(10)) == b"2201"
            assert time.monotonic() - started >= 0.12  # 0.1 s of sleep and 0.05 s between chunks


def test_close_with_reset_sends_a_tcp_reset():
    with ScriptedServer([Reply(b"220 hi"), Expect(b"EHLO"), Close(reset=True)]) as server:
        with pytest.raises(errors.SMTPTransportError):
            send(server.port)


def test_a_client_that_goes_away_while_the_server_writes_ends_the_script_quietly():
    with ScriptedServer([Drip(b"x" * 200, 0.01)]) as server:
        client(server).close()
    assert server.peers[0].client_gone


def test_starttls_step_with_a_trustme_certificate(certs):
    script = [*standard_session(["STARTTLS"]), Expect(b"STARTTLS", exact=True), Reply(b"220 go ahead"),
              StartTLS(certs.server_context), Expect(b"EHLO"), Reply(b"250 scripted.invalid"),
              *accept_envelope(), ExpectData(), Reply(b"250 queued"), Expect(b"QUIT"), Reply(b"221 bye")]
    with ScriptedServer(script) as server:
        send(server.port, tls_encode=certs.client_context())
    assert server.peers[0].secure
    assert server.peers[0].lines.count(b"EHLO localhost") == 2


def test_a_failed_handshake_is_a_mismatch_unless_allowed(certs, wrong_name_certs):
    for may_fail in (False, True):
        script = [*standard_session(["STARTTLS"]), Expect(b"STARTTLS"), Reply(b"220 go ahead"),
                  StartTLS(wrong_name_certs.server_context, may_fail=may_fail)]
        server = ScriptedServer(script)
        with pytest.raises(errors.TLSHandshakeError):
            send(server.port, tls_encode=certs.client_context())
        if may_fail:
            server.close()
            assert server.peers[0].tls_error is not None
        else:
            with pytest.raises(ScriptMismatch, match="TLS handshake failed"):
                server.close()


def test_close_never_blocks_forever_and_joins_its_threads():
    before = threading.active_count()
    server = ScriptedServer([Sleep(60)], timeout=0.2)
    sock = client(server)
    started = time.monotonic()
    with pytest.raises(ScriptMismatch, match="still running when the server was closed"):
        server.close()
    assert time.monotonic() - started < 3
    sock.close()
    assert threading.active_count() == before


def test_scripts_are_checked_when_the_server_is_made():
    with pytest.raises(TypeError):
        ScriptedServer()
    with pytest.raises(TypeError):
        ScriptedServer([Reply(b"220 hi")], scripts=[[]])
    with pytest.raises(TypeError, match="step 1"):
        ScriptedServer([Reply(b"220 hi"), 42])
    with pytest.raises(TypeError):
        ScriptedServer(b"220 hi")
    with pytest.raises(ValueError):
        Reply()


def test_standard_session_speaks_lmtp_too():
    steps = standard_session(["PIPELINING", b"8BITMIME"], hostname="lmtp.invalid", hello=b"LHLO")
    assert steps[0].data == b"220 lmtp.invalid ESMTP smtpunit.testing.ScriptedServer\r\n"
    assert steps[1].prefix == b"LHLO"
    assert steps[2].data == b"250-lmtp.invalid\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
