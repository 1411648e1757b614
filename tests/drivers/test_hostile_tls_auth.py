"""Hostile servers at STARTTLS and AUTH, through every entry point.

Each case runs through the one-shot ``smtpunit.smtp_send_message``, a session
(``smtpunit.connect``), a ``smtpunit.Pool`` and asyncio (``smtpunit.aio.smtp_send_message``,
``smtpunit.aio.connect``): the ``send`` fixture below is one of them.

* a man in the middle strips STARTTLS (or refuses it with 502) in front of a real
  aiosmtpd server: STARTTLS fails closed, and nothing of the password passes the proxy;
* a TLS handshake that stalls, or that the server drips a byte at a time: the client
  gives up within its ``tls_handshake`` bound and sends nothing more;
* drips and stalls of the replies at STARTTLS and AUTH: each reply is held to the
  reply bound (a reply, not a byte), and a slow reply within the bound still works;
* a server that refuses SCRAM-SHA-256: no retry with a weaker mechanism;
* every logger at DEBUG, every SASL mechanism, success and failure, and servers that
  echo the secret back: no credential in any log record or error;
* drops at STARTTLS and AUTH: a connection error of smtpunit's, never an unknown
  outcome or a bare OSError, and no file descriptor left open.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import hmac
import logging
import os
import select
import socket
import ssl
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Optional

import pytest
from conftest import HOST, PASSWORD, USER

import smtpunit
import smtpunit.aio
from smtpunit import errors
from smtpunit.providers.sasl import saslprep
from smtpunit.testing.scripted import (
    Close,
    Expect,
    ExpectClose,
    ExpectData,
    Peer,
    Reply,
    ScriptedServer,
    ScriptMismatch,
    StartTLS,
    accept_envelope,
    standard_session,
)

HEADER = "Subject: hostile\r\n\r\n"
SENDER, RECIPIENTS, LINES = "a@example.org", ["b@example.org"], ["x"]
WRONG_PASSWORD = "Wr0ng-pässwörd-never-to-be-seen"  # long enough that its base64 forms are distinctive
TOKEN = "ya29.A0ARrdaM-bearer-token-never-to-be-seen"

# Small bounds: every test here waits for one of them at most, a few times.
TIMEOUTS = smtpunit.Timeouts(connect=2, reply=1, data_end=2, tls_handshake=0.5)
GIVE_UP_WITHIN = 2.0  # seconds: generous against a 0.6 s reply bound or a 0.5 s handshake bound
# Where one bound is under test, the others are longer than GIVE_UP_WITHIN: giving up
# in time by the wrong bound fails the test.
HANDSHAKE_BOUND = 0.5
SHORT_HANDSHAKE = smtpunit.Timeouts(connect=5, reply=5, data_end=5, tls_handshake=HANDSHAKE_BOUND)
REPLY_BOUND = 0.6  # the greeting and EHLO are held to it too: room for a loaded machine
SHORT_REPLY = smtpunit.Timeouts(connect=5, reply=REPLY_BOUND, data_end=5, tls_handshake=5)


# -- the entry points ------------------------------------------------------------------


def _one_shot(port: int, **options: Any) -> smtpunit.SendResult:
    return smtpunit.smtp_send_message(HOST, SENDER, RECIPIENTS, HEADER, LINES, port, **options)


def _session(port: int, **options: Any) -> smtpunit.SendResult:
    with smtpunit.connect(HOST, port, **options) as session:
        return session.send(SENDER, RECIPIENTS, HEADER, LINES)


def _pool(port: int, **options: Any) -> smtpunit.SendResult:
    with smtpunit.Pool(HOST, port, size=1, **options) as pool:
        return pool.send(SENDER, RECIPIENTS, HEADER, LINES)


def _aio_one_shot(port: int, **options: Any) -> smtpunit.SendResult:
    return asyncio.run(smtpunit.aio.smtp_send_message(HOST, SENDER, RECIPIENTS, HEADER, LINES, port, **options))


def _aio_session(port: int, **options: Any) -> smtpunit.SendResult:
    async def main() -> smtpunit.SendResult:
        async with await smtpunit.aio.connect(HOST, port, **options) as session:
            return await session.send(SENDER, RECIPIENTS, HEADER, LINES)

    return asyncio.run(main())


ENTRY_POINTS: dict[str, Callable[..., smtpunit.SendResult]] = {
    "one-shot": _one_shot,
    "session": _session,
    "pool": _pool,
    "aio-one-shot": _aio_one_shot,
    "aio-session": _aio_session,
}


@pytest.fixture(params=list(ENTRY_POINTS))
def send(request: pytest.FixtureRequest) -> Callable[..., smtpunit.SendResult]:
    """One entry point: ``send(port, **options)`` sends one message and returns its result."""
    return ENTRY_POINTS[request.param]


def timed(call: Callable[[], Any], expected: type[BaseException] | tuple[type[BaseException], ...]
          ) -> tuple[BaseException, float]:
    """Run ``call``, which must raise ``expected``; the error and the seconds it took."""
    started = time.monotonic()
    with pytest.raises(expected) as caught:
        call()
    return caught.value, time.monotonic() - started


# -- secrets -------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def secret_forms(password: str, *blobs: bytes) -> set[str]:
    """Every form of ``password`` that must never be shown: as it is, base64-encoded at
    any alignment inside a longer base64 stream (the part of the encoding that only the
    password determines), the AUTH PLAIN blob, and ``blobs`` (base64-encoded)."""
    raw = password.encode()
    forms = {password, b64(raw), b64(f"{USER}\0{USER}\0{password}".encode())}
    for offset, first_clean_char in ((0, 0), (1, 2), (2, 3)):
        encoded = b64(b"\0" * offset + raw)
        whole_groups = (offset + len(raw)) // 3 * 4
        forms.add(encoded[first_clean_char:whole_groups])
    forms.update(b64(blob) for blob in blobs)
    assert all(len(form) >= 12 for form in forms)  # else the check proves nothing
    return forms


def xoauth2_blob(token: str) -> bytes:
    return f"user={USER}\x01auth=Bearer {token}\x01\x01".encode()


def error_texts(error: BaseException) -> list[str]:
    """How an error may be shown: str and repr of it and of every error in its chain as
    Python shows the chain (``raise ... from None`` hides the context), and the whole
    traceback as logging or an uncaught exception prints it."""
    texts, seen = [], set()
    current: Optional[BaseException] = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args)]
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    texts.append("".join(traceback.format_exception(type(error), error, error.__traceback__)))
    return texts


def assert_not_shown(texts: Iterable[str], forms: set[str], where: str) -> None:
    for text in texts:
        for form in forms:
            assert form not in text, f"{where} shows the secret {form!r}: {text[:2000]!r}"


# -- log capture ------------------------------------------------------------------------------

SERVER_LOGGERS = ("mail.log",)  # aiosmtpd, the in-process test server, logs what it receives


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], list[str]]]:
    """Every logger at DEBUG (root and smtpunit*); returns a function giving each record
    the client side logged, rendered: message with its arguments, the arguments' repr,
    and any exception or stack attached."""
    import smtpunit.core.actions  # noqa: F401 -- make sure the transcript logger exists

    caplog.set_level(logging.DEBUG)
    names = sorted({"smtpunit", "smtpunit.transcript", "smtpunit.units.discovery",
                    *(name for name in logging.root.manager.loggerDict if name.startswith("smtpunit"))})
    for name in names:
        caplog.set_level(logging.DEBUG, logger=name)
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")

    def rendered() -> list[str]:
        return [f"{formatter.format(record)} args={record.args!r}" for record in caplog.records
                if not record.name.startswith(SERVER_LOGGERS)]

    yield rendered


def transcript_lines(rendered: list[str]) -> list[str]:
    return [line for line in rendered if line.startswith("smtpunit.transcript ")]


# -- script helpers ---------------------------------------------------------------------------


def drip(data: bytes, interval: float) -> Callable[[Peer], None]:
    """Send ``data`` a byte at a time, ``interval`` apart, watching the client between
    bytes: it must not send anything while the reply is incomplete; if it closes the
    connection (it gave up), the script ends there."""

    def step(peer: Peer) -> None:
        for index in range(len(data)):
            peer.say(data[index:index + 1])
            if index == len(data) - 1:
                return  # the reply is complete: the client may go on at once
            readable, _, _ = select.select([peer.sock], [], [], interval)
            if readable:
                chunk = peer.receive(timeout=1)
                if not chunk:
                    Close()(peer)  # the client gave up: end of the script
                raise ScriptMismatch(f"the client sent {chunk!r} while the server dripped its reply")

    return step


def swallow_until_close(timeout: float = 5.0) -> Callable[[Peer], None]:
    """Read (into ``peer.received``) whatever the client sends, until it closes."""

    def step(peer: Peer) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if not peer.receive(timeout=max(0.01, deadline - time.monotonic())):
                    return
            except TimeoutError:
                break
        raise ScriptMismatch(f"the client did not close the connection within {timeout:g}s")

    return step


def only_tls_records(data: bytes) -> bool:
    """True if ``data`` is whole TLS records of the handshake (handshake, alert, change
    cipher spec): the client sent nothing in plaintext."""
    at = 0
    while at < len(data):
        if len(data) - at < 5 or data[at] not in (0x14, 0x15, 0x16) or data[at + 1] != 3:
            return False
        at += 5 + int.from_bytes(data[at + 3:at + 5], "big")
    return at == len(data)


def after(data: bytes, marker: bytes) -> bytes:
    assert marker in data, f"{marker!r} not in {data!r}"
    return data.split(marker, 1)[1]


DELIVERY = [*accept_envelope(), ExpectData(), Reply(b"250 2.0.0 queued"), Expect(b"QUIT", exact=True),
            Reply(b"221 bye")]
QUIT = [Expect(b"QUIT", exact=True), Reply(b"221 bye")]


# == 1. STARTTLS stripped by a man in the middle ==================================================


@dataclass
class _Relay:
    client: socket.socket
    upstream: socket.socket
    lock: threading.Lock
    starttls_sent: bool = False
    dripping: bool = False
    drip_started: Optional[float] = None


class MitmProxy:
    """A man in the middle on 127.0.0.1, in front of a real server.

    :param mode: ``"strip"`` removes STARTTLS from the EHLO reply; ``"strip-offer-auth"``
        puts ``AUTH PLAIN LOGIN`` in its place (a lure); ``"refuse-502"`` leaves the
        EHLO reply as it is. In these three modes a STARTTLS command never reaches the
        server: the proxy answers it with 502. ``"drip"`` relays everything, but once
        the server said 220 to STARTTLS it relays the server's bytes (the TLS
        handshake) one at a time, ``drip_interval`` apart, for ``drip_limit`` seconds
        at most, then closes both sides.

    :ivar from_client: every byte the client sent through the proxy.
    :ivar dripped: how many bytes of the server's handshake were dripped.
    """

    def __init__(self, upstream_port: int, mode: str, *, drip_interval: float = 0.05, drip_limit: float = 3.0):
        assert mode in ("strip", "strip-offer-auth", "refuse-502", "drip")
        self.upstream_port = upstream_port
        self.mode = mode
        self.drip_interval = drip_interval
        self.drip_limit = drip_limit
        self.from_client = bytearray()
        self.dripped = 0  # bytes of the server's handshake relayed one at a time
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server((HOST, 0))
        self.port = self._listener.getsockname()[1]
        self._start(self._accept)

    def _start(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=self._guard, args=(target, *args), daemon=True)
        self._threads.append(thread)
        thread.start()

    def _guard(self, target: Callable[..., None], *args: Any) -> None:
        try:
            target(*args)
        except OSError:
            pass  # one side went away, or the proxy is closing
        except BaseException as exc:  # noqa: BLE001 -- raised by close()
            self.errors.append(exc)

    def _accept(self) -> None:
        while not self._stop.is_set():
            client, _ = self._listener.accept()
            upstream = socket.create_connection((HOST, self.upstream_port), timeout=10)
            client.settimeout(10)
            self._sockets += [client, upstream]
            relay = _Relay(client, upstream, threading.Lock())
            self._start(self._client_to_server, relay)
            self._start(self._server_to_client, relay)

    def _client_to_server(self, relay: _Relay) -> None:
        pending = b""
        try:
            while data := relay.client.recv(65536):
                self.from_client += data
                if self.mode == "drip":
                    if b"STARTTLS\r\n" in self.from_client:
                        relay.starttls_sent = True
                    relay.upstream.sendall(data)
                    continue
                pending += data
                while b"\r\n" in pending:
                    line, pending = pending.split(b"\r\n", 1)
                    if line.upper() == b"STARTTLS":
                        with relay.lock:
                            relay.client.sendall(b"502 5.5.1 STARTTLS not implemented\r\n")
                    else:
                        relay.upstream.sendall(line + b"\r\n")
        finally:
            _shutdown(relay.upstream, socket.SHUT_WR)

    def _server_to_client(self, relay: _Relay) -> None:
        pending, reply = b"", []
        try:
            while data := relay.upstream.recv(65536):
                if relay.dripping:
                    self._drip(relay, data)
                    continue
                pending += data
                while not relay.dripping and b"\r\n" in pending:
                    line, pending = pending.split(b"\r\n", 1)
                    reply.append(line)
                    if line[3:4] == b"-":
                        continue
                    out, reply = self._rewrite(reply), []
                    with relay.lock:
                        relay.client.sendall(out)
                    if self.mode == "drip" and relay.starttls_sent and out.startswith(b"220"):
                        relay.dripping = True
                if relay.dripping and pending:
                    self._drip(relay, pending)
                    pending = b""
        finally:
            _shutdown(relay.client, socket.SHUT_WR)

    def _rewrite(self, lines: list[bytes]) -> bytes:
        if self.mode in ("strip", "strip-offer-auth") and lines[0].startswith(b"250"):
            kept = []
            for line in lines:
                if line[4:].strip().upper() == b"STARTTLS":
                    if self.mode == "strip-offer-auth":
                        kept.append(b"250 AUTH PLAIN LOGIN")
                    continue
                kept.append(line)
            lines = [line[:3] + (b" " if i == len(kept) - 1 else b"-") + line[4:] for i, line in enumerate(kept)]
        return b"".join(line + b"\r\n" for line in lines)

    def _drip(self, relay: _Relay, data: bytes) -> None:
        if relay.drip_started is None:
            relay.drip_started = time.monotonic()
        for index in range(len(data)):
            if time.monotonic() - relay.drip_started > self.drip_limit:
                _shutdown(relay.client, socket.SHUT_RDWR)
                _shutdown(relay.upstream, socket.SHUT_RDWR)
                return
            relay.client.sendall(data[index:index + 1])
            self.dripped += 1
            if self._stop.wait(self.drip_interval):
                return

    def close(self) -> None:
        self._stop.set()
        _shutdown(self._listener, socket.SHUT_RDWR)
        self._listener.close()
        for sock in self._sockets:
            _shutdown(sock, socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(5)
        for sock in self._sockets:
            sock.close()
        assert not any(thread.is_alive() for thread in self._threads), "a proxy thread did not stop"
        if self.errors:
            raise self.errors[0]

    def __enter__(self) -> MitmProxy:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def _shutdown(sock: socket.socket, how: int) -> None:
    try:
        sock.shutdown(how)
    except OSError:
        pass


@pytest.mark.parametrize(("mode", "expected"), [
    ("strip", errors.StartTLSNotOffered),
    ("strip-offer-auth", errors.StartTLSNotOffered),
    ("refuse-502", errors.StartTLSRefused),
])
def test_starttls_stripped_by_a_man_in_the_middle_fails_closed(start_server, send, mode, expected):
    server = start_server(starttls=True, require_starttls=True, auth=True)
    with MitmProxy(server.port, mode) as proxy:
        error, _ = timed(lambda: send(proxy.port, tls_encode=True, auth_user=USER, auth_passwd=PASSWORD,
                                      timeout=TIMEOUTS), expected)
    seen = bytes(proxy.from_client)
    assert seen.startswith(b"EHLO "), seen  # the client did talk through the proxy
    if expected is errors.StartTLSRefused:
        assert error.code == 502 and b"STARTTLS\r\n" in seen
    else:
        assert b"STARTTLS" not in seen
    assert b"AUTH" not in seen and b"MAIL" not in seen and b"RCPT" not in seen
    assert seen.endswith(b"QUIT\r\n")  # the polite end of a refusal, and nothing else
    assert_not_shown([seen.decode("utf-8", "replace")], secret_forms(PASSWORD), "the bytes through the proxy")
    assert_not_shown(error_texts(error), secret_forms(PASSWORD), "the error")
    assert server.handler.mail_commands == [] and server.handler.messages == []


# == 2. a stalled or dripped TLS handshake =========================================================


def test_a_stalled_tls_handshake_is_given_up_within_its_bound(send):
    script = [*standard_session([b"STARTTLS"]), Expect(b"STARTTLS", exact=True), Reply(b"220 2.0.0 go ahead"),
              swallow_until_close()]  # and then not a byte of the handshake
    with ScriptedServer(script, timeout=5) as server:
        error, elapsed = timed(lambda: send(server.port, tls_encode=True, auth_user=USER, auth_passwd=PASSWORD,
                                            timeout=SHORT_HANDSHAKE), (errors.SMTPTimeout, errors.TLSHandshakeError))
    assert elapsed < GIVE_UP_WITHIN, f"gave up after {elapsed:.2f}s, the handshake bound is {HANDSHAKE_BOUND}s"
    if isinstance(error, errors.SMTPTimeout):
        assert error.phase == "starttls"
    handshake = after(server.peers[0].received, b"STARTTLS\r\n")
    assert handshake and only_tls_records(handshake), f"plaintext after STARTTLS: {handshake!r}"
    assert len(server.peers) == 1


def test_a_dripped_tls_handshake_is_given_up_within_its_bound(start_server, certs, send):
    """The real handshake of aiosmtpd, relayed a byte per 0.05 s: every read gets a byte
    long before the 0.5 s bound, but the handshake as a whole must not take longer."""
    server = start_server(starttls=True, require_starttls=True, auth=True)
    with MitmProxy(server.port, "drip", drip_interval=0.05, drip_limit=GIVE_UP_WITHIN + 0.5) as proxy:
        error, elapsed = timed(lambda: send(proxy.port, tls_encode=certs.client_context(), auth_user=USER,
                                            auth_passwd=PASSWORD, timeout=SHORT_HANDSHAKE),
                               (errors.SMTPTimeout, errors.TLSHandshakeError))
    assert elapsed < GIVE_UP_WITHIN, (
        f"gave up after {elapsed:.2f}s ({type(error).__name__}: {error}); the handshake bound is {HANDSHAKE_BOUND}s")
    assert isinstance(error, errors.SMTPTimeout) and error.phase == "starttls", repr(error)
    assert proxy.dripped >= 3  # the client did get handshake bytes, each well within the bound
    handshake = after(bytes(proxy.from_client), b"STARTTLS\r\n")
    assert only_tls_records(handshake), f"plaintext after STARTTLS: {handshake!r}"
    assert server.handler.mail_commands == [] and server.handler.messages == []


# == 3. drips and stalls of the replies at STARTTLS and AUTH =========================================

SLOW = 0.1  # seconds between bytes: well under the 0.6 s reply bound, but the reply never ends within it

SLOW_REPLIES = {
    "starttls-220-dripped": ([b"STARTTLS"], [Expect(b"STARTTLS", exact=True),
                                             drip(b"220 2.0.0 ready to start TLS now\r\n", SLOW)], "starttls"),
    "login-334-dripped": ([b"AUTH LOGIN"], [Expect(b"AUTH LOGIN", exact=True),
                                            drip(b"334 " + base64.b64encode(b"User name, slowly:") + b"\r\n", SLOW)],
                          "auth"),
    "login-334-stalled": ([b"AUTH LOGIN"], [Expect(b"AUTH LOGIN", exact=True), ExpectClose(timeout=5)], "auth"),
    "login-second-334-stalled": ([b"AUTH LOGIN"], [Expect(b"AUTH LOGIN", exact=True), Reply(b"334 VXNlcm5hbWU6"),
                                                   Expect(b64(USER.encode())), ExpectClose(timeout=5)], "auth"),
    "plain-235-stalled": ([b"AUTH PLAIN"], [Expect(b"AUTH PLAIN "), ExpectClose(timeout=5)], "auth"),
    "plain-235-dripped": ([b"AUTH PLAIN"], [Expect(b"AUTH PLAIN "),
                                            drip(b"235 2.7.0 authentication successful\r\n", SLOW)], "auth"),
}


@pytest.mark.parametrize("case", list(SLOW_REPLIES))
def test_a_slow_reply_at_starttls_or_auth_is_held_to_the_reply_bound(send, case):
    extensions, steps, phase = SLOW_REPLIES[case]
    with ScriptedServer([*standard_session(extensions), *steps], timeout=5) as server:
        options: dict[str, Any] = {"timeout": SHORT_REPLY}
        if b"STARTTLS" in extensions:
            options["tls_encode"] = True
        else:
            options.update(auth_user=USER, auth_passwd=PASSWORD)
        error, elapsed = timed(lambda: send(server.port, **options), errors.SMTPTimeout)
    assert error.phase == phase
    assert elapsed < GIVE_UP_WITHIN, f"gave up after {elapsed:.2f}s, the reply bound is {REPLY_BOUND}s"
    received = server.peers[0].received
    assert b"MAIL" not in received and b"QUIT" not in received  # nothing after a timeout


def test_replies_dripped_within_the_bound_succeed(certs, send):
    """STARTTLS's 220, the two 334s of AUTH LOGIN and the 235 each come a byte at a time,
    each reply within the reply bound: the bound is on the reply, so all is well."""
    fast = 0.01  # 20-odd bytes: about 0.2 s a reply, against a bound of 1 s
    script = [*standard_session([b"STARTTLS"]), Expect(b"STARTTLS", exact=True), drip(b"220 2.0.0 go ahead\r\n", fast),
              StartTLS(certs.server_context), Expect(b"EHLO"), Reply(b"250-scripted.invalid", b"250 AUTH LOGIN"),
              Expect(b"AUTH LOGIN", exact=True), drip(b"334 VXNlcm5hbWU6\r\n", fast), Expect(b64(USER.encode())),
              drip(b"334 UGFzc3dvcmQ6\r\n", fast), Expect(b64(PASSWORD.encode()), exact=True),
              drip(b"235 2.7.0 authenticated\r\n", fast), *DELIVERY]
    with ScriptedServer(script, timeout=5) as server:
        result = send(server.port, tls_encode=certs.client_context(), auth_user=USER, auth_passwd=PASSWORD,
                      timeout=smtpunit.Timeouts(connect=2, reply=1, data_end=2, tls_handshake=2))
    assert result.reply.code == 250
    assert server.peers[0].secure and len(server.peers[0].messages) == 1


# == 4. AUTH downgrade: the strongest mechanism refused ============================================

ALL_MECHANISMS = b"AUTH SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN"

SCRAM_REFUSALS = {
    "504": [Reply(b"504 5.5.4 SCRAM-SHA-256 not available, try PLAIN")],
    "535": [Reply(b"535 5.7.8 authentication failed")],
    "454": [Reply(b"454 4.7.0 temporary authentication failure")],
    "534": [Reply(b"534 5.7.9 authentication mechanism is too weak")],
    "error in server-first": [Reply(b"334 " + base64.b64encode(b"e=other-error")),
                              Expect(b"*", exact=True), Reply(b"501 5.7.0 authentication cancelled")],
}


@pytest.mark.parametrize("refusal", list(SCRAM_REFUSALS))
def test_a_refused_scram_is_not_retried_with_a_weaker_mechanism(send, refusal):
    """smtpunit picks the strongest mechanism both sides have (authentication.py:
    SCRAM-SHA-256, CRAM-MD5, PLAIN, LOGIN) and tries that one only: a refusal is the
    end of AUTH, never a cue to send the password in PLAIN or LOGIN."""
    script = [*standard_session([ALL_MECHANISMS]), Expect(b"AUTH SCRAM-SHA-256 "), *SCRAM_REFUSALS[refusal], *QUIT]
    with ScriptedServer(script, timeout=5) as server:
        expected = errors.SASLError if refusal == "error in server-first" else errors.SMTPAuthenticationError
        error, _ = timed(lambda: send(server.port, auth_user=USER, auth_passwd=PASSWORD, timeout=TIMEOUTS), expected)
    if expected is errors.SMTPAuthenticationError:
        assert error.code == int(refusal) and error.phase == "auth"
    assert len(server.peers) == 1  # no second connection to try again
    received = server.peers[0].received
    assert received.count(b"AUTH ") == 1
    for weaker in (b"AUTH CRAM-MD5", b"AUTH PLAIN", b"AUTH LOGIN"):
        assert weaker not in received
    assert b"MAIL" not in received
    assert_not_shown([received.decode("utf-8", "replace")], secret_forms(PASSWORD), "what the server received")


# == 5. every logger at DEBUG free of credentials ===================================================


def scram_server(password: str, succeed: bool) -> Callable[[Peer], None]:
    """The server side of SCRAM-SHA-256 (RFC 5802, 7677), checking the client's proof."""

    def step(peer: Peer) -> None:
        line = peer.line()
        assert line.startswith(b"AUTH SCRAM-SHA-256 "), line
        client_first = base64.b64decode(line.split(b" ")[2]).decode()
        assert client_first.startswith("n,,"), client_first
        client_first_bare = client_first[3:]
        nonce = dict(part.split("=", 1) for part in client_first_bare.split(","))["r"]
        salt, iterations = b"pepper-and-salt!", 4096
        server_first = f"r={nonce}server-part,s={b64(salt)},i={iterations}"
        peer.say(b"334 " + base64.b64encode(server_first.encode()) + b"\r\n")
        client_final = base64.b64decode(peer.line()).decode()
        without_proof, proof = client_final.rsplit(",p=", 1)
        if not succeed:
            peer.say(b"535 5.7.8 authentication failed\r\n")
            return
        salted = hashlib.pbkdf2_hmac("sha256", saslprep(password).encode(), salt, iterations)
        auth_message = f"{client_first_bare},{server_first},{without_proof}".encode()
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        signature = hmac.new(hashlib.sha256(client_key).digest(), auth_message, hashlib.sha256).digest()
        assert base64.b64decode(proof) == bytes(a ^ b for a, b in zip(client_key, signature, strict=True)), "bad proof"
        server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        server_signature = hmac.new(server_key, auth_message, hashlib.sha256).digest()
        peer.say(b"334 " + base64.b64encode(f"v={b64(server_signature)}".encode()) + b"\r\n")
        if peer.line() != b"":
            raise ScriptMismatch("expected an empty line after the SCRAM server-final message")
        peer.say(b"235 2.7.0 authenticated\r\n")

    return step


def cram_md5_server(password: str, succeed: bool) -> list[Any]:
    challenge = b"<1896.697170952@scripted.invalid>"
    digest = hmac.new(password.encode(), challenge, hashlib.md5).hexdigest()
    answer = b64(f"{USER} {digest}".encode()).encode()
    return [Expect(b"AUTH CRAM-MD5", exact=True), Reply(b"334 " + base64.b64encode(challenge)),
            Expect(answer, exact=True), Reply(b"235 2.7.0 ok" if succeed else b"535 5.7.8 authentication failed")]


def xoauth2_server(token: str, succeed: bool) -> list[Any]:
    steps: list[Any] = [Expect(b"AUTH XOAUTH2 " + base64.b64encode(xoauth2_blob(token)), exact=True)]
    if succeed:
        return [*steps, Reply(b"235 2.7.0 accepted")]
    error = base64.b64encode(b'{"status":"401","schemes":"Bearer","scope":"https://mail.example.org/"}')
    return [*steps, Reply(b"334 " + error), Expect(b"", exact=True),
            Reply(b"535 5.7.8 Username and Password not accepted")]


# (mechanism, succeed): PLAIN and LOGIN against aiosmtpd, the others against scripted servers
AUTH_RUNS = [(mechanism, succeed) for mechanism in ("PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "SCRAM-SHA-256")
             for succeed in (True, False)]


@pytest.mark.parametrize(("mechanism", "succeed"), AUTH_RUNS,
                         ids=[f"{m}-{'ok' if ok else 'refused'}" for m, ok in AUTH_RUNS])
def test_no_credential_in_any_log_record_or_error(start_server, debug_logs, send, mechanism, succeed):
    secret = TOKEN if mechanism == "XOAUTH2" else (PASSWORD if succeed else WRONG_PASSWORD)
    forms = secret_forms(secret, xoauth2_blob(secret))
    options: dict[str, Any] = {"auth_user": USER, "auth_passwd": secret, "auth_mechanism": mechanism,
                               "timeout": TIMEOUTS}
    error: Optional[BaseException] = None
    if mechanism in ("PLAIN", "LOGIN"):
        server = start_server(auth=True)
        if succeed:
            assert send(server.port, **options).reply.code == 250
        else:
            error, _ = timed(lambda: send(server.port, **options), errors.SMTPAuthenticationError)
    else:
        if mechanism == "SCRAM-SHA-256":
            steps: list[Any] = [scram_server(secret, succeed)]
        elif mechanism == "CRAM-MD5":
            steps = cram_md5_server(secret, succeed)
        else:
            steps = xoauth2_server(secret, succeed)
        script = [*standard_session([f"AUTH {mechanism}".encode()]), *steps, *(DELIVERY if succeed else QUIT)]
        with ScriptedServer(script, timeout=5) as scripted:
            if succeed:
                assert send(scripted.port, **options).reply.code == 250
            else:
                error, _ = timed(lambda: send(scripted.port, **options), errors.SMTPAuthenticationError)
    rendered = debug_logs()
    transcript = transcript_lines(rendered)
    assert any(f"C: AUTH {mechanism}" in line for line in transcript), "no transcript: logging was not captured"
    assert_not_shown(rendered, forms, "a log record")
    if error is not None:
        assert error.code == 535 and error.phase == "auth"
        assert_not_shown(error_texts(error), forms, "the error")


def _echo_line(peer: Peer) -> None:
    peer.say(b"535 5.7.8 bad credentials in: " + peer.lines[-1] + b"\r\n")


def _echo_decoded(peer: Peer) -> None:
    peer.say(b"535 5.7.8 wrong password: " + base64.b64decode(peer.lines[-1]) + b"\r\n")


def _echo_in_a_challenge(peer: Peer) -> None:
    peer.say(b"334 " + peer.lines[-1] + b"\r\n")


def _echo_in_a_malformed_reply(peer: Peer) -> None:
    peer.say(b"5x5 5.7.8 bad credentials in: " + peer.lines[-1] + b"\r\n")


LOGIN_STEPS = [Expect(b"AUTH LOGIN", exact=True), Reply(b"334 VXNlcm5hbWU6"), Expect(b64(USER.encode())),
               Reply(b"334 UGFzc3dvcmQ6"), Expect(b64(PASSWORD.encode()), exact=True)]

ECHOES = {
    # the AUTH PLAIN line, blob and all, quoted in the 535
    "plain-line-in-535": ([b"AUTH PLAIN"], [Expect(b"AUTH PLAIN "), _echo_line, *QUIT],
                          errors.SMTPAuthenticationError),
    # the password of AUTH LOGIN quoted in the 535, as the client sent it (base64)...
    "login-base64-in-535": ([b"AUTH LOGIN"], [*LOGIN_STEPS, _echo_line, *QUIT], errors.SMTPAuthenticationError),
    # ...and decoded: the password itself
    "login-password-in-535": ([b"AUTH LOGIN"], [*LOGIN_STEPS, _echo_decoded, *QUIT],
                              errors.SMTPAuthenticationError),
    # the password sent back as a third LOGIN challenge: the client cancels
    "login-password-in-334": ([b"AUTH LOGIN"], [*LOGIN_STEPS, _echo_in_a_challenge, Expect(b"*", exact=True),
                                                Reply(b"501 5.7.0 cancelled"), *QUIT], errors.SASLError),
    # the AUTH PLAIN line quoted in a reply that breaks the grammar: the parser's error quotes it
    "plain-line-in-malformed-reply": ([b"AUTH PLAIN"], [Expect(b"AUTH PLAIN "), _echo_in_a_malformed_reply],
                                      errors.SMTPProtocolError),
}


@pytest.mark.parametrize("echo", list(ECHOES))
def test_a_secret_echoed_by_the_server_is_redacted_in_errors_and_transcript(debug_logs, send, echo):
    """The server quotes what the client sent: the secret must be redacted wherever
    server text is shown -- the error (str, repr, traceback) and the transcript."""
    extensions, steps, expected = ECHOES[echo]
    with ScriptedServer([*standard_session(extensions), *steps], timeout=5) as server:
        error, _ = timed(lambda: send(server.port, auth_user=USER, auth_passwd=PASSWORD, timeout=TIMEOUTS), expected)
    rendered = debug_logs()
    assert any("C: AUTH " in line for line in transcript_lines(rendered)), "no transcript: logging was not captured"
    forms = secret_forms(PASSWORD)
    assert_not_shown(error_texts(error), forms, "the error")
    assert_not_shown(rendered, forms, "a log record")
    assert b"MAIL" not in server.peers[0].received


# == 6. drops at STARTTLS and AUTH ==================================================================


def half_a_handshake(context: ssl.SSLContext) -> Callable[[Peer], None]:
    """Read the ClientHello, answer with the first half of the server's real first
    flight, and close the connection."""

    def step(peer: Peer) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_side=True)
        while not outgoing.pending:
            data = peer.receive()
            if not data:
                raise ScriptMismatch("the client closed before its ClientHello was complete")
            incoming.write(data)
            try:
                tls.do_handshake()
            except ssl.SSLWantReadError:
                pass
        flight = outgoing.read()
        peer.say(flight[: len(flight) // 2])
        Close()(peer)

    return step


def drops(certs: Any) -> dict[str, tuple[list[Any], list[Any], type[BaseException]]]:
    """(extensions, steps, expected error) per drop."""
    starttls = [Expect(b"STARTTLS", exact=True), Reply(b"220 2.0.0 go ahead")]
    login = [Expect(b"AUTH LOGIN", exact=True), Reply(b"334 VXNlcm5hbWU6")]
    return {
        "after-starttls-220": ([b"STARTTLS"], [*starttls, Close()], errors.TLSHandshakeError),
        "reset-after-starttls-220": ([b"STARTTLS"], [*starttls, Close(reset=True)], errors.TLSHandshakeError),
        "mid-handshake": ([b"STARTTLS"], [*starttls, half_a_handshake(certs.server_context)],
                          errors.TLSHandshakeError),
        "after-auth-command": ([b"AUTH PLAIN"], [Expect(b"AUTH PLAIN "), Close()], errors.SMTPTransportError),
        "reset-after-auth-command": ([b"AUTH PLAIN"], [Expect(b"AUTH PLAIN "), Close(reset=True)],
                                     errors.SMTPTransportError),
        "after-334": ([b"AUTH LOGIN"], [*login, Close()], errors.SMTPTransportError),
        "reset-after-334": ([b"AUTH LOGIN"], [*login, Close(reset=True)], errors.SMTPTransportError),
        "after-second-334": ([b"AUTH LOGIN"], [*login, Expect(b64(USER.encode())), Reply(b"334 UGFzc3dvcmQ6"),
                                               Close()], errors.SMTPTransportError),
    }


DROPS = ["after-starttls-220", "reset-after-starttls-220", "mid-handshake", "after-auth-command",
         "reset-after-auth-command", "after-334", "reset-after-334", "after-second-334"]


def run_drop(certs: Any, send: Callable[..., Any], drop: str) -> BaseException:
    """Run ``send`` against the server of ``drop``; check and return the error."""
    extensions, steps, expected = drops(certs)[drop]
    options: dict[str, Any] = {"timeout": TIMEOUTS, "auth_user": USER, "auth_passwd": PASSWORD}
    if b"STARTTLS" in extensions:
        options["tls_encode"] = certs.client_context()
    with ScriptedServer([*standard_session(extensions), *steps], timeout=5) as server:
        started = time.monotonic()
        with pytest.raises(BaseException) as caught:
            send(server.port, **options)
        elapsed = time.monotonic() - started
    error = caught.value
    assert isinstance(error, expected), f"{drop}: {type(error).__mro__} {error}"
    assert isinstance(error, errors.SMTPError) and isinstance(error, ConnectionError), repr(error)
    assert not isinstance(error, errors.SMTPOutcomeUnknown), repr(error)
    assert elapsed < GIVE_UP_WITHIN, f"{drop}: a drop took {elapsed:.2f}s to notice"
    assert b"MAIL" not in server.peers[0].received
    return error


@pytest.mark.parametrize("drop", DROPS)
def test_a_drop_at_starttls_or_auth_is_a_connection_error(certs, send, drop):
    """A drop in the handshake is a TLSHandshakeError (smtpunit's error for a failed
    handshake: a ConnectionError, but not an SMTPTransportError); a drop during AUTH an
    SMTPTransportError. Never an unknown outcome, never a bare OSError or SSLError."""
    run_drop(certs, send, drop)


def open_descriptors() -> dict[str, str]:
    """This process's open file descriptors: number -> what it is."""
    described = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            described[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass  # the listing's own descriptor, closed meanwhile
    return described


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
@pytest.mark.parametrize("drop", DROPS)
def test_a_drop_leaves_no_file_descriptor_open(certs, drop):
    """Each failed connection is closed by smtpunit, not left to the garbage collector
    (which is off while counting: a socket only it would close is a leak)."""
    def batch() -> None:
        for send in ENTRY_POINTS.values():
            run_drop(certs, send, drop)

    batch()  # once, for whatever is opened once for good (caches, the CA store, ...)
    gc.collect()
    gc.disable()
    try:
        before = open_descriptors()
        batch()
        batch()
        after = open_descriptors()
    finally:
        gc.enable()
        gc.collect()
    left_open = {fd: what for fd, what in after.items() if before.get(fd) != what}
    assert left_open == {}, f"{drop}: descriptors left open by the failed connections: {left_open}"
