"""Hardening: asyncio faults, bounded buffers, checked Timeouts, the credentials guard
judged by the server's name, credentials redacted from server text, the pool's retry."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import socket
import threading
import time

import pytest
from conftest import HOST
from zope.interface import implementer

import smtpunit
import smtpunit.aio
from smtpunit import errors
from smtpunit.providers import async_tcp
from smtpunit.providers.async_tcp import AsyncTCPTransport
from smtpunit.testing.scripted import (
    Close,
    Expect,
    ExpectClose,
    ExpectData,
    Reply,
    ScriptedServer,
    accept_envelope,
    standard_session,
)

HEADER = "Subject: hardening\r\n\r\n"
BIG = ["x" * 990] * (16 * 1024 * 1024 // 992)  # 16 MB of lines


def run(coroutine):
    return asyncio.run(coroutine)


# -- 1. a connection lost during the data: not delivered, not "maybe sent" ------------------


def _drop_during_data(reset: bool, read_first: int):
    def script(peer):
        for step in (*standard_session(), *accept_envelope()):
            step(peer)
        received = 0
        while received < read_first:
            received += len(peer.receive(64 * 1024))
        Close(reset=reset)(peer)

    return script


@pytest.mark.parametrize("reset, read_first", [(False, 0), (True, 256 * 1024)],
                         ids=["354-then-close", "reset-after-256KB"])
def test_asyncio_connection_lost_in_the_data_is_a_transport_error_without_log_flood(caplog, reset, read_first):
    caplog.set_level(logging.WARNING, logger="asyncio")
    with ScriptedServer(_drop_during_data(reset, read_first)) as server:
        with pytest.raises(errors.SMTPTransportError) as caught:
            run(smtpunit.aio.smtp_send_message(server.host, "a@example.org", ["b@example.org"], HEADER, BIG,
                                               server.port, timeout=5))
    assert not isinstance(caught.value, errors.SMTPOutcomeUnknown), caught.value
    flood = [r for r in caplog.records if "socket.send() raised exception" in r.getMessage()]
    assert len(flood) < 5


@pytest.mark.parametrize("reset, read_first", [(False, 0), (True, 256 * 1024)],
                         ids=["354-then-close", "reset-after-256KB"])
def test_blocking_connection_lost_in_the_data_is_a_transport_error(reset, read_first):
    with ScriptedServer(_drop_during_data(reset, read_first)) as server:
        with pytest.raises(errors.SMTPTransportError) as caught:
            smtpunit.smtp_send_message(server.host, "a@example.org", ["b@example.org"], HEADER, BIG,
                                       server.port, timeout=5)
    assert not isinstance(caught.value, errors.SMTPOutcomeUnknown), caught.value


def test_a_reset_before_the_final_write_of_a_small_message_is_not_an_unknown_outcome():
    # The server resets as soon as it has said 354: the one write holding the data and
    # the "." fails at once, so nothing of it left and the message was not delivered.
    arrived = threading.Event()

    def script(peer):
        for step in (*standard_session(), *accept_envelope()):
            step(peer)
        Close(reset=True)(peer)
        arrived.set()

    for send in (_blocking_send, _asyncio_send):
        with ScriptedServer(script) as server:
            with pytest.raises(errors.SMTPTransportError) as caught:
                send(server, end_of_message=lambda: arrived.wait(5) and time.sleep(0.05))
        assert not isinstance(caught.value, errors.SMTPOutcomeUnknown), (send, caught.value)


def _blocking_send(server, end_of_message):
    with smtpunit.smtp_sending_end_of_message.parameterize(end_of_message):
        smtpunit.smtp_send_message(server.host, "a@example.org", ["b@example.org"], HEADER, ["hi"],
                                   server.port, timeout=5)


def _asyncio_send(server, end_of_message):
    async def send():
        with smtpunit.smtp_sending_end_of_message.parameterize(end_of_message):
            await smtpunit.aio.smtp_send_message(server.host, "a@example.org", ["b@example.org"], HEADER,
                                                 ["hi"], server.port, timeout=5)

    run(send())


def test_a_failure_after_the_final_write_is_still_an_unknown_outcome():
    # The control: the "." was written, then the server vanished without a reply.
    def script(peer):
        for step in (*standard_session(), *accept_envelope(), ExpectData()):
            step(peer)
        Close(reset=True)(peer)

    for send in (_blocking_send, _asyncio_send):
        with ScriptedServer(script) as server:
            with pytest.raises(errors.SMTPOutcomeUnknown):
                send(server, end_of_message=lambda: None)


# -- 2. asyncio buffers a bounded amount, whatever the server sends ------------------------


def test_asyncio_buffers_a_bounded_amount_from_a_server_that_talks_unasked():
    sent = [0]

    def script(peer):
        for step in standard_session():
            step(peer)
        chunk = b"x" * (1024 * 1024)
        deadline = time.monotonic() + 1.5
        try:
            while time.monotonic() < deadline and sent[0] < 200 * 1024 * 1024:
                peer.sock.settimeout(0.2)
                try:
                    sent[0] += peer.sock.send(chunk)
                except TimeoutError:
                    pass
        except OSError:
            pass

    async def idle_then_send():
        session = await smtpunit.aio.connect(HOST, server.port, timeout=5)
        try:
            await asyncio.sleep(1.8)
            buffered = len(session._driver.connection.protocol.buffer)
            with pytest.raises(errors.SMTPProtocolError):
                await session.send("a@example.org", ["b@example.org"], HEADER, ["hi"])
            return buffered
        finally:
            await session.close()

    with ScriptedServer(script) as server:
        buffered = run(idle_then_send())
    # What the server got in is what the socket buffers hold plus the protocol's bound.
    assert buffered <= async_tcp.BUFFER_LIMIT + 256 * 1024
    assert sent[0] < 64 * 1024 * 1024


def test_asyncio_resumes_reading_once_the_buffer_is_taken():
    # Replies larger than the bound, read in the normal way: nothing stalls.
    long_reply = [f"250-{'x' * 500}".encode() for _ in range(300)] + [b"250 OK"]
    script = [*standard_session(), Expect(b"NOOP"), Reply(*long_reply), Expect(b"QUIT"), Reply(b"221 bye")]

    async def noop():
        session = await smtpunit.aio.connect(HOST, server.port, timeout=5)
        async with session:
            return await session.noop()

    with ScriptedServer(script) as server:
        reply = run(noop())
    assert reply.code == 250 and len(reply.lines) == 301


# -- 3. every field of a Timeouts is checked, before the first byte --------------------------


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(smtpunit.Timeouts)])
@pytest.mark.parametrize("value", [0, -5, float("nan"), float("inf"), -1, 1e10, True, "3", None])
def test_every_timeouts_field_is_checked_as_a_number_is(field, value):
    with pytest.raises(errors.InvalidArgument, match=f"Timeouts.{field}"):
        smtpunit.Timeouts(**{field: value})
    with pytest.raises(errors.InvalidArgument):
        dataclasses.replace(smtpunit.Timeouts(), **{field: value})


def test_a_bad_number_for_every_wait_is_refused_too():
    for value in (0, -1, float("nan"), float("inf"), 1e10):
        with pytest.raises(errors.InvalidArgument, match="timeout must be"):
            smtpunit.Timeouts.coerce(value)


def test_a_refused_timeouts_sends_nothing():
    with socket.create_server((HOST, 0)) as listener:
        listener.settimeout(0.2)
        with pytest.raises(errors.InvalidArgument):
            smtpunit.smtp_send_message(HOST, "a@example.org", ["b@example.org"], HEADER, ["hi"],
                                       listener.getsockname()[1], timeout=smtpunit.Timeouts(data_end=0))
        with pytest.raises(TimeoutError):
            listener.accept()


# -- 4. the plaintext-credentials guard trusts the server's name, not the tunnel's end -----


AUTH_SCRIPT = [*standard_session(["AUTH PLAIN"]), Expect(b"AUTH PLAIN "), Reply(b"235 2.7.0 OK"),
               *accept_envelope(), ExpectData(), Reply(b"250 OK"), Expect(b"QUIT"), Reply(b"221 bye")]


def _forwarder(port):
    """A ``tcp_connect`` that reaches the local server whatever host it is asked for."""
    return lambda host, _port: socket.create_connection((HOST, port), timeout=5)


@implementer(smtpunit.interfaces.IAsyncTransport)
class _AsyncForwarder:
    def __init__(self, port):
        self.port = port
        self.inner = AsyncTCPTransport()

    async def connect(self, host, port, timeout, ssl_context=None):
        connection = await self.inner.connect(HOST, self.port, timeout, ssl_context)
        connection.server_hostname = host
        return connection



def _send_through(entry, port, server_address, **options):
    credentials = dict(auth_user="user", auth_passwd="s3cret-pass", **options)
    args = ("a@example.org", ["b@example.org"], HEADER, ["hi"])
    if entry == "one-shot":
        return smtpunit.smtp_send_message(server_address, *args, 25, tcp_connect=_forwarder(port), **credentials)
    if entry == "session":
        with smtpunit.connect(server_address, 25, tcp_connect=_forwarder(port), **credentials) as session:
            return session.send(*args)
    if entry == "pool":
        with smtpunit.Pool(server_address, 25, tcp_connect=_forwarder(port), **credentials) as pool:
            return pool.send(*args)
    return run(smtpunit.aio.smtp_send_message(server_address, *args, 25, tcp_connect=_AsyncForwarder(port),
                                              **credentials))


ENTRIES = ["one-shot", "session", "pool", "asyncio"]


@pytest.mark.parametrize("entry", ENTRIES)
def test_credentials_are_not_sent_in_plaintext_through_a_local_forwarder(entry):
    # The client may connect (through the forwarder), but says nothing at all.
    with ScriptedServer([Reply(b"220 forwarded ESMTP"), ExpectClose()]) as server:
        with pytest.raises(errors.SMTPSecurityError):
            _send_through(entry, server.port, "mail.example.com")
    assert all(peer.received == b"" for peer in server.peers)


@pytest.mark.parametrize("entry", ENTRIES)
def test_allow_insecure_auth_is_the_way_through_a_forwarder(entry):
    with ScriptedServer(AUTH_SCRIPT) as server:
        result = _send_through(entry, server.port, "mail.example.com", allow_insecure_auth=True)
    assert result.reply.code == 250


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "127.8.9.10"])
def test_a_server_named_as_this_machine_may_take_plaintext_credentials(entry, name):
    with ScriptedServer(AUTH_SCRIPT) as server:
        result = _send_through(entry, server.port, name)
    assert result.reply.code == 250


@pytest.mark.parametrize("name, local", [("localhost", True), ("LOCALHOST.", True), ("127.0.0.1", True),
                                         ("::1", True), ("[::1]", True), ("127.200.0.1", True),
                                         ("mail.example.com", False), ("128.0.0.1", False),
                                         ("localhost.example.com", False), ("::2", False), ("", False)])
def test_which_names_are_this_machine(name, local):
    assert smtpunit.core.policy.is_loopback_name(name) is local


# -- redaction of credentials a server echoes -----------------------------------------------


PASSWORD = "s3cret-pass"
BLOB = base64.b64encode(b"\0user\0" + PASSWORD.encode()).decode()


def _echoing(where):
    def script(peer):
        for step in standard_session(["AUTH PLAIN"]):
            step(peer)
        line = peer.line()
        echo = line.split()[-1] + b" " + PASSWORD.encode()
        if where == "auth":
            peer.say(b"535 5.7.8 no: " + echo + b"\r\n")
            return
        peer.say(b"235 2.7.0 OK\r\n")
        peer.line()
        if where == "malformed":  # quoted in the protocol error; no QUIT follows
            peer.say(b"25x " + echo + b"\r\n")
            return
        peer.say(b"550 5.1.0 unknown " + echo + b"\r\n")
        Expect(b"QUIT")(peer)
        Reply(b"221 bye")(peer)

    return script


@pytest.mark.parametrize("where", ["auth", "mail", "malformed"])
@pytest.mark.parametrize("entry", ["one-shot", "asyncio"])
def test_credentials_a_server_echoes_are_redacted_from_errors_and_transcript(caplog, where, entry):
    caplog.set_level(logging.DEBUG)
    with ScriptedServer(_echoing(where)) as server:
        with pytest.raises(errors.SMTPError) as caught:
            if entry == "one-shot":
                smtpunit.smtp_send_message(HOST, "a@example.org", ["b@example.org"], HEADER, ["hi"], server.port,
                                           auth_user="user", auth_passwd=PASSWORD, timeout=5)
            else:
                run(smtpunit.aio.smtp_send_message(HOST, "a@example.org", ["b@example.org"], HEADER, ["hi"],
                                                   server.port, auth_user="user", auth_passwd=PASSWORD, timeout=5))
    chained = [caught.value.__context__, caught.value.__cause__]
    shown = [str(caught.value), repr(caught.value), *map(repr, chained), *(r.getMessage() for r in caplog.records)]
    if isinstance(caught.value, errors.SMTPReplyError):
        shown += [caught.value.text, repr(caught.value.reply)]
    assert "****" in str(caught.value)
    for text in shown:
        assert PASSWORD not in text and BLOB not in text, text


# -- the pool's retry cannot wait for a slot that idle sessions hold -----------------------


def test_a_pool_retry_takes_the_slot_of_an_idle_session(start_server, monkeypatch):
    server = start_server()
    pool = smtpunit.Pool(HOST, server.port, size=1, timeout=5)
    pool.send("a@example.org", ["b@example.org"], HEADER, ["first"])
    (dead, _), = pool._idle
    dead.connection.socket.shutdown(socket.SHUT_RDWR)  # it fails when reused...
    monkeypatch.setattr(smtpunit.pool, "_server_went_away", lambda session: False)  # ...not before

    real_release = pool._release
    other = threading.Thread(target=pool.send, args=("a@example.org", ["b@example.org"], HEADER, ["other"]))

    def release_then_let_another_sender_in(session):
        real_release(session)
        if session is dead:  # the retry's slot is free: another thread takes it, and leaves it idle
            other.start()
            other.join(10)

    pool._release = release_then_let_another_sender_in
    retrying = threading.Thread(target=pool.send, args=("a@example.org", ["b@example.org"], HEADER, ["retried"]))
    retrying.start()
    retrying.join(10)
    stuck = retrying.is_alive()
    pool.close()  # wakes a stuck thread
    retrying.join(10)
    assert not stuck, "the retry waited forever for a slot held by an idle session"
    bodies = sorted(m.content.rsplit(b"\r\n\r\n", 1)[1] for m in server.handler.messages)
    assert bodies == [b"first\r\n", b"other\r\n", b"retried\r\n"]


# -- errors that say what to do ----------------------------------------------------------


MISSPELLED = [
    ("connect", lambda: smtpunit.connect(HOST, 25, tls_encdoe=True)),
    ("smtp_send_message", lambda: smtpunit.smtp_send_message(HOST, "a@example.org", ["b@example.org"], HEADER,
                                                             ["hi"], 25, tls_encdoe=True)),
    ("send_message", lambda: smtpunit.send_message(HOST, _email(), 25, tls_encdoe=True)),
    ("send_envelope", lambda: smtpunit.send_envelope(HOST, _envelope(), 25, tls_encdoe=True)),
    ("Pool", lambda: smtpunit.Pool(HOST, 25, tls_encdoe=True)),
    ("aio.connect", lambda: run(smtpunit.aio.connect(HOST, 25, tls_encdoe=True))),
    ("aio.smtp_send_message", lambda: run(smtpunit.aio.smtp_send_message(
        HOST, "a@example.org", ["b@example.org"], HEADER, ["hi"], 25, tls_encdoe=True))),
    ("aio.send_message", lambda: run(smtpunit.aio.send_message(HOST, _email(), 25, tls_encdoe=True))),
    ("smtp_send_message", lambda: smtpunit.invoke(smtpunit.default_registry()).smtp_send_message(
        HOST, "a@example.org", ["b@example.org"], HEADER, ["hi"], 25, tls_encdoe=True)),
]


def _email():
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.org", "b@example.org", "hi"
    return message


def _envelope():
    return smtpunit.core.commands.prepare_envelope("a@example.org", ["b@example.org"], HEADER, ["hi"])


@pytest.mark.parametrize("public, call", MISSPELLED, ids=[f"{name}-{n}" for n, (name, _) in enumerate(MISSPELLED)])
def test_a_misspelled_option_names_the_public_function_and_the_fix(public, call):
    with pytest.raises(TypeError) as caught:
        call()
    message = str(caught.value)
    assert message.startswith(f"{public}() got an unexpected keyword argument 'tls_encdoe'"), message
    assert "_plan" not in message


def test_a_close_match_is_suggested():
    with pytest.raises(TypeError, match="did you mean 'tls_encode'"):
        smtpunit.connect(HOST, 25, tls_encdoe=True)


@pytest.mark.parametrize("timeout, error, script", [
    (5, errors.SMTPConnectionClosed, [lambda peer: time.sleep(0.3)]),  # it hangs up first
    (0.1, errors.SMTPTimeout, [ExpectClose(timeout=5)]),  # it outwaits the client, however late
], ids=["hangs-up", "client-times-out"])
def test_starttls_asked_of_the_smtps_port_says_to_use_implicit_tls(timeout, error, script):
    # A server that waits for TLS first says nothing; as Postfix's wrapper mode does, it
    # hangs up in the end. The port is 465 as far as the client knows.
    with ScriptedServer(script) as server:
        with pytest.raises(error, match="port 465 .*tls_policy='implicit'"):
            smtpunit.smtp_send_message("localhost", "a@example.org", ["b@example.org"], HEADER, ["hi"], 465,
                                       tcp_connect=_forwarder(server.port), tls_encode=True, timeout=timeout)


def test_the_same_silence_on_another_port_gives_no_such_hint():
    with ScriptedServer([lambda peer: time.sleep(0.3)]) as server:
        with pytest.raises(errors.SMTPConnectionClosed) as caught:
            smtpunit.smtp_send_message("localhost", "a@example.org", ["b@example.org"], HEADER, ["hi"], 587,
                                       tcp_connect=_forwarder(server.port), tls_encode=True, timeout=5)
    assert "465" not in str(caught.value)


def test_a_server_that_speaks_tls_first_is_recognised_at_once():
    alert = b"\x15\x03\x03\x00\x02\x02\x28"  # a TLS alert record, as a TLS server may send
    with ScriptedServer([lambda peer: peer.say(alert)]) as server:
        started = time.monotonic()
        with pytest.raises(errors.SMTPProtocolError, match="tls_policy='implicit'"):
            smtpunit.smtp_send_message(HOST, "a@example.org", ["b@example.org"], HEADER, ["hi"], server.port,
                                       timeout=5)
    assert time.monotonic() - started < 2


def test_a_failed_starttls_handshake_names_the_server_and_port(start_server, wrong_name_certs):
    server = start_server(starttls=True, server_context=wrong_name_certs.server_context)
    for send in (smtpunit.smtp_send_message, _aio_send):
        with pytest.raises(errors.TLSHandshakeError, match=f"STARTTLS\\) with {HOST}:{server.port} failed"):
            send(HOST, "a@example.org", ["b@example.org"], HEADER, ["hi"], server.port, tls_encode=True,
                 timeout=5)


def _aio_send(*args, **options):
    return run(smtpunit.aio.smtp_send_message(*args, **options))


# -- review fixes --------------------------------------------------------------------------


def test_a_tls_socket_that_fails_mid_write_is_not_taken_for_a_write_that_never_went_out():
    # A TLS socket writes several records per call and may fail after some went out:
    # only a plain socket's failed first write says that nothing was written.
    from smtpunit.providers.tcp import SocketConnection

    class Failing(socket.socket):
        def send(self, data, flags=0):
            raise ConnectionResetError(104, "reset")

    for secure, error in ((False, errors.SMTPConnectionClosed), (True, ConnectionResetError)):
        near, far = socket.socketpair()
        failing = Failing(near.family, near.type, fileno=near.detach())
        try:
            with pytest.raises(error) as caught:
                SocketConnection(failing, "localhost", secure=secure, loopback=True).send(b"x" * 10, 1)
            assert secure is not isinstance(caught.value, errors.SMTPConnectionClosed)
        finally:
            failing.close()
            far.close()


def test_a_refusal_before_the_server_hangs_up_is_heard():
    # The server refuses in the middle of the data and closes its side: the client
    # still writes, and reads the refusal, instead of taking the close for the answer.
    def script(peer):
        for step in (*standard_session(), *accept_envelope()):
            step(peer)
        received = 0
        while received < 128 * 1024:
            received += len(peer.receive(64 * 1024))
        peer.say(b"552 5.3.4 message too big\r\n")
        peer.sock.shutdown(socket.SHUT_WR)
        while peer.receive(timeout=5):  # what the client still writes, until it closes
            pass

    lines = ["y" * 990] * 1024  # 1 MB
    sends = (lambda port: smtpunit.smtp_send_message(HOST, "a@example.org", ["b@example.org"], HEADER, lines, port,
                                                     timeout=5),
             lambda port: run(smtpunit.aio.smtp_send_message(HOST, "a@example.org", ["b@example.org"], HEADER,
                                                             lines, port, timeout=5)))
    for send in sends:
        with ScriptedServer(script) as server:
            with pytest.raises(errors.SMTPReplyError) as caught:
                send(server.port)
        assert caught.value.code == 552, caught.value


@pytest.mark.parametrize("password", ["pa\\ss\\word", "p\u00e4ssw\u00f6rt-long", "x" * 400, "it's \"quoted\""])
def test_a_password_is_redacted_before_server_text_is_escaped_or_cut(password):
    def script(peer):
        for step in standard_session(["AUTH PLAIN"]):
            step(peer)
        peer.line()
        peer.say(b"235 2.7.0 OK\r\n")
        peer.line()
        peer.say(b"ZZZ you said " + password.encode() + b"\r\n")

    with ScriptedServer(script) as server:
        with pytest.raises(errors.SMTPProtocolError) as caught:
            smtpunit.smtp_send_message(HOST, "a@example.org", ["b@example.org"], HEADER, ["hi"], server.port,
                                       auth_user="user", auth_passwd=password, timeout=5)
    shown = str(caught.value)
    assert "****" in shown
    for form in (password, repr(password)[1:-1], repr(password.encode())[2:-1], password[:20]):
        assert form not in shown, shown


def test_a_malformed_reply_among_pipelined_ones_is_redacted_too():
    # A malformed line comes in one read with the replies before it: it is parsed
    # from the buffer, after the read that brought it.
    def script(peer):
        for step in standard_session(["AUTH PLAIN", "PIPELINING"]):
            step(peer)
        peer.line()
        peer.say(b"235 2.7.0 OK\r\n")
        peer.line()
        peer.say(b"550 5.1.0 no\r\n250 OK\r\nZZZ you said " + PASSWORD.encode() + b"\r\n")

    with ScriptedServer(script) as server:
        with smtpunit.connect(HOST, server.port, auth_user="user", auth_passwd=PASSWORD, timeout=5) as session:
            outcomes = session.send_many([("a@example.org", ["b@example.org"], HEADER, ["one"]),
                                          ("a@example.org", ["b@example.org"], HEADER, ["two"])])
    shown = " ".join(map(str, outcomes))
    assert "****" in shown and PASSWORD not in shown, shown


def test_a_short_password_does_not_change_what_the_server_said():
    def script(peer):
        for step in standard_session(["AUTH PLAIN"]):
            step(peer)
        peer.line()
        peer.say(b"235 2.0.0 OK\r\n")
        for step in (*accept_envelope(), ExpectData()):
            step(peer)
        peer.say(b"250 2.0.0 Ok: queued as 4F0B2\r\n")
        Expect(b"QUIT")(peer)
        peer.say(b"221 2.0.0 bye\r\n")

    with ScriptedServer(script) as server:
        result = smtpunit.smtp_send_message(HOST, "a@example.org", ["b@example.org"], HEADER, ["hi"],
                                            server.port, auth_user="user", auth_passwd="0", timeout=5)
    assert result.reply.enhanced_status == "2.0.0" and result.reply.text == "2.0.0 Ok: queued as 4F0B2"
