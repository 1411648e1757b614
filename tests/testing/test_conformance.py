"""The conformance kit passes smtpunit's own providers and catches broken ones."""

from __future__ import annotations

import socket
import ssl

import pytest
from zope.interface import implementer

import smtpunit
from smtpunit import ISMTP, invoke
from smtpunit.errors import SASLError
from smtpunit.interfaces import IConnection, ISASLExchange, ISASLMechanism, ITLSUpgrader, ITransport
from smtpunit.providers import (
    CallableTLS,
    CramMD5Mechanism,
    LoginMechanism,
    PlainMechanism,
    ScramSHA256Mechanism,
    SocketConnection,
    SSLContextTLS,
    TCPTransport,
    XOAuth2Mechanism,
)
from smtpunit.testing import MemoryTransport, Outbox, Recorder, ScriptedServer
from smtpunit.testing.conformance import (
    ConformanceError,
    check_sasl_mechanism,
    check_smtp,
    check_tls_upgrader,
    check_transport,
    transport_script,
)

# RFC 7677 section 3: a whole SCRAM-SHA-256 exchange
SCRAM_NONCE = "rOprNGfwEbeRWgbNEkqO"
SCRAM_SERVER_FIRST = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
SCRAM_SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


@pytest.fixture
def script_server():
    servers = []

    def start():
        servers.append(ScriptedServer(transport_script(), timeout=5.0))  # outwaits the client's 1 s
        return servers[-1]

    yield start
    for server in servers:
        server.close(raise_errors=False)


# -- transports -------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [TCPTransport, lambda: Recorder().transport(TCPTransport())])
def test_smtpunits_transports_conform_against_a_scripted_server(make, script_server):
    with ScriptedServer(transport_script()) as server:
        check_transport(make(), server, secure=False, silence=0.05)


def test_tcp_transport_conforms_against_aiosmtpd(start_server):
    running = start_server()
    check_transport(TCPTransport(), ("127.0.0.1", running.port), silence=0.05)


def test_memory_transport_conforms():
    check_transport(MemoryTransport(), ("mail.invalid", 25), secure=False, loopback=True, silence=0.05)


@implementer(IConnection)
class _Wrapper:
    """A connection passing everything through, for breaking one thing at a time."""

    def __init__(self, inner):
        self.inner = inner
        self.server_hostname, self.secure, self.loopback = inner.server_hostname, inner.secure, inner.loopback

    def send(self, data, timeout):
        self.inner.send(data, timeout)

    def receive(self, max_bytes, timeout):
        return self.inner.receive(max_bytes, timeout)

    def close(self):
        self.inner.close()


class _SwallowsTimeouts(_Wrapper):
    def receive(self, max_bytes, timeout):
        try:
            return self.inner.receive(max_bytes, timeout)
        except TimeoutError:
            return b""


class _IgnoresMaxBytes(_Wrapper):
    def receive(self, max_bytes, timeout):
        return self.inner.receive(65536, timeout)


class _ReturnsStr(_Wrapper):
    def receive(self, max_bytes, timeout):
        return self.inner.receive(max_bytes, timeout).decode()


class _ClosesOnlyOnce(_Wrapper):
    closed = False

    def close(self):
        if self.closed:
            raise OSError("already closed")
        self.closed = True
        self.inner.close()


class _ClaimsSecure(_Wrapper):
    def __init__(self, inner):
        super().__init__(inner)
        self.secure = True


class _WrongHostname(_Wrapper):
    def __init__(self, inner):
        super().__init__(inner)
        self.server_hostname = "other.invalid"


class _NotLoopback(_Wrapper):
    def __init__(self, inner):
        super().__init__(inner)
        self.loopback = False


class _SendsHalf(_Wrapper):
    def send(self, data, timeout):
        self.inner.send(data[: len(data) // 2], timeout)


class _ErrorAtEOF(_Wrapper):
    def receive(self, max_bytes, timeout):
        data = self.inner.receive(max_bytes, timeout)
        if not data:
            raise ConnectionResetError("eof")
        return data


class _NoLoopbackAttribute:
    def __init__(self, inner):
        self.inner = inner

    def close(self):  # so that the server sees the client go once the check fails
        self.inner.close()


@implementer(ITransport)
class _BrokenTransport:
    def __init__(self, wrapper):
        self.wrapper = wrapper

    def connect(self, host, port, timeout):
        return self.wrapper(TCPTransport().connect(host, port, timeout))


@pytest.mark.parametrize("wrapper, message", [
    (_SwallowsTimeouts, r"returned b'' \(end of stream\) while the peer was silent"),
    (_IgnoresMaxBytes, r"receive\(1, ...\) must return exactly 1 byte"),
    (_ReturnsStr, r"receive\(1, ...\) must return exactly 1 byte of bytes here, not '2'"),
    (_ClosesOnlyOnce, r"the second close\(\) raised OSError"),
    (_ClaimsSecure, "secure is True, expected False"),
    (_WrongHostname, "server_hostname is 'other.invalid', not the host asked for, '127.0.0.1'"),
    (_NotLoopback, "loopback is False, expected True"),
    (_SendsHalf, "no complete reply to QUIT|receive.. timed out before the whole reply to QUIT"),
    (_ErrorAtEOF, "after the server closed must return b'', not raise ConnectionResetError"),
    (_NoLoopbackAttribute, "does not provide IConnection"),
])
def test_broken_connections_fail_with_a_clear_message(wrapper, message, script_server):
    with pytest.raises(ConformanceError, match=message) as caught:
        check_transport(_BrokenTransport(wrapper), script_server(), secure=False, timeout=1.0, silence=0.05)
    assert caught.value.check == "check_transport" and str(caught.value).startswith("check_transport: ")


def test_a_transport_that_is_not_one_fails(script_server):
    class Undeclared:
        def connect(self, host, port, timeout):
            raise OSError

    with pytest.raises(ConformanceError, match="does not provide ITransport"):
        check_transport(Undeclared(), script_server(), silence=0.05)

    @implementer(ITransport)
    class Refusing:
        def connect(self, host, port, timeout):
            raise ConnectionRefusedError("nope")

    with pytest.raises(ConformanceError, match=r"connect\('127.0.0.1', \d+, 5\) raised ConnectionRefusedError"):
        check_transport(Refusing(), script_server())


# -- TLS upgraders -----------------------------------------------------------------------------


def test_smtpunits_tls_upgraders_conform(certs, wrong_name_certs):
    context = certs.client_context()
    for upgrader in (SSLContextTLS(context), CallableTLS(context.wrap_socket),
                     Recorder().tls(SSLContextTLS(certs.client_context()))):
        check_tls_upgrader(upgrader, certs.server_context, untrusted_context=wrong_name_certs.server_context,
                           handshake_timeout=0.2)


def _unverified_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@implementer(ITLSUpgrader)
class _NoTimeoutTLS:
    def __init__(self, context):
        self.context = context

    def wrap(self, connection, server_hostname, timeout):
        connection.socket.settimeout(None)
        sock = self.context.wrap_socket(connection.socket, server_hostname=server_hostname)
        return SocketConnection(sock, server_hostname, secure=True, loopback=connection.loopback)


@implementer(ITLSUpgrader)
class _PretendTLS:
    def wrap(self, connection, server_hostname, timeout):
        return SocketConnection(connection.socket, server_hostname, secure=True, loopback=connection.loopback)


@implementer(ITLSUpgrader)
class _InsecureFlagTLS:
    def __init__(self, context):
        self.inner = SSLContextTLS(context)

    def wrap(self, connection, server_hostname, timeout):
        secure = self.inner.wrap(connection, server_hostname, timeout)
        secure.secure = False
        return secure


def test_an_upgrader_that_does_not_verify_fails(certs):
    with pytest.raises(ConformanceError, match="accepted a certificate that does not name the host .*does not verify"):
        check_tls_upgrader(SSLContextTLS(_unverified_context()), certs.server_context, handshake_timeout=0.1)
    check_tls_upgrader(SSLContextTLS(_unverified_context()), certs.server_context, verifies=False,
                       handshake_timeout=0.1)


def test_an_upgrader_that_trusts_an_unknown_ca_fails(certs, wrong_name_certs):
    context = certs.client_context()
    wrong_name_certs.ca.configure_trust(context)  # trusts the other CA, so its certificate passes
    other = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    wrong_name_certs.ca.issue_cert("localhost").configure_cert(other)
    with pytest.raises(ConformanceError, match="accepted a certificate from an untrusted CA"):
        check_tls_upgrader(SSLContextTLS(context), certs.server_context, untrusted_context=other,
                           handshake_timeout=0.1)


def test_an_upgrader_without_a_timeout_fails(certs):
    with pytest.raises(ConformanceError, match=r"gave up only after \d\.\ds: it does not honour its timeout"):
        check_tls_upgrader(_NoTimeoutTLS(certs.client_context()), certs.server_context, verifies=False,
                           handshake_timeout=0.2)


def test_an_upgrader_that_does_not_handshake_fails(certs):
    with pytest.raises(ConformanceError, match="no complete greeting over TLS|timed out before the whole greeting"):
        check_tls_upgrader(_PretendTLS(), certs.server_context, timeout=0.3)


def test_an_upgrader_whose_connection_is_not_secure_fails(certs):
    with pytest.raises(ConformanceError, match="secure is False, expected True"):
        check_tls_upgrader(_InsecureFlagTLS(certs.client_context()), certs.server_context, handshake_timeout=0.1)


# -- SASL mechanisms ----------------------------------------------------------------------------


@pytest.mark.parametrize("mechanism, challenges, invalid", [
    (PlainMechanism(), [b""], None),
    (LoginMechanism(), [b"Username:", b"Password:"], None),
    (CramMD5Mechanism(), [b"<1896.697170952@postoffice.example.net>"], None),
    (XOAuth2Mechanism(), [], None),
    (ScramSHA256Mechanism(nonce_factory=lambda: SCRAM_NONCE), [SCRAM_SERVER_FIRST, SCRAM_SERVER_FINAL],
     b"r=other-nonce,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"),
])
def test_smtpunits_mechanisms_conform(mechanism, challenges, invalid):
    check_sasl_mechanism(mechanism, "user", "pencil", challenges, invalid_challenge=invalid)


def test_challenges_may_be_computed_from_the_client_message():
    seen = []

    def server_first(client_first):
        seen.append(client_first)
        return SCRAM_SERVER_FIRST

    check_sasl_mechanism(ScramSHA256Mechanism(nonce_factory=lambda: SCRAM_NONCE), "user", "pencil",
                         [server_first, SCRAM_SERVER_FINAL])
    assert seen == [b"n,,n=user,r=" + SCRAM_NONCE.encode()]


def test_scram_without_the_servers_proof_fails_finish():
    with pytest.raises(ConformanceError, match=r"finish\(\) after the challenges raised SASLError"):
        check_sasl_mechanism(ScramSHA256Mechanism(nonce_factory=lambda: SCRAM_NONCE), "user", "pencil",
                             [SCRAM_SERVER_FIRST])


@implementer(ISASLExchange)
class _Exchange:
    def __init__(self, password="", initial=b"\0user\0pw", answer=b"ok", check=None):
        self.password, self.initial, self.answer, self.check = password, initial, answer, check

    def initial_response(self):
        return self.initial

    def respond(self, challenge):
        if self.check:
            self.check(challenge)
        return self.answer

    def finish(self):
        pass


@implementer(ISASLMechanism)
class _Mechanism:
    name = "X-TEST"

    def __init__(self, **exchange):
        self.exchange = exchange

    def start(self, username, password):
        return _Exchange(password, **self.exchange)


class _LowerCase(_Mechanism):
    name = "x-test"


class _Shared(_Mechanism):
    shared = _Exchange()

    def start(self, username, password):
        return self.shared


class _Leaky(_Mechanism):
    def start(self, username, password):
        exchange = _Exchange(password)
        exchange.__class__ = type("LeakyExchange", (_Exchange,), {"__repr__": lambda s: f"<{s.password}>"})
        return exchange


@implementer(ISASLMechanism)
class _NoExchange:
    name = "X-TEST"

    def start(self, username, password):
        return object()


def _raise(exc):
    def check(challenge):
        raise exc

    return check


@pytest.mark.parametrize("mechanism, kwargs, message", [
    (_LowerCase(), {}, "upper-case"),
    (_NoExchange(), {}, "the exchange .* does not provide ISASLExchange"),
    (_Shared(), {}, "returned the same exchange twice"),
    (_Leaky(), {}, "repr shows the password"),
    (_Mechanism(initial="text"), {}, r"initial_response\(\) must return bytes or None, not str"),
    (_Mechanism(answer="text"), {"challenges": [b"x"]}, r"respond\(\) must return bytes, not str"),
    (_Mechanism(check=_raise(KeyError("k"))), {"challenges": [b"x"]}, r"respond\(\) to challenge 1 .* KeyError"),
    (_Mechanism(), {"invalid_challenge": b"junk"}, "answered the invalid challenge b'junk'"),
    (_Mechanism(check=_raise(ValueError("v"))), {"invalid_challenge": b"junk"}, "must raise SASLError, not ValueError"),
    (_Mechanism(check=_raise(SASLError("bad pencil"))), {"invalid_challenge": b"junk"},
     "SASLError .* shows the password"),
])
def test_broken_mechanisms_fail_with_a_clear_message(mechanism, kwargs, message):
    with pytest.raises(ConformanceError, match=message) as caught:
        check_sasl_mechanism(mechanism, "user", "pencil", **kwargs)
    assert caught.value.check == "check_sasl_mechanism"


# -- whole ISMTP providers -------------------------------------------------------------------------


@pytest.mark.parametrize("provider", [smtpunit.smtp, Outbox(), Outbox(refuse=["x@example.org"])],
                         ids=["smtpunit.smtp", "Outbox", "Outbox with faults"])
def test_smtpunits_ismtp_providers_conform(provider):
    check_smtp(provider)


def test_the_invoked_default_unit_conforms():
    check_smtp(invoke(smtpunit.default_registry()))


class _SendsFirst(Outbox):
    """Says EHLO through tcp_connect before checking its input."""

    def smtp_send_message(self, server_address, from_, to, header, message, port_no=25, **options):
        connection = options["tcp_connect"].connect(server_address, port_no, 5)
        connection.send(b"EHLO localhost\r\n", 5)
        return super().smtp_send_message(server_address, from_, to, header, message, port_no, **options)


class _NoHeaderCheck(Outbox):
    def smtp_send_message(self, server_address, from_, to, header, message, port_no=25, **options):
        return super().smtp_send_message(server_address, from_, to, "Subject: fixed\r\n\r\n", message, port_no,
                                         **options)


class _ShowsPassword(Outbox):
    def smtp_send_message(self, *args, auth_passwd=None, **options):
        if auth_passwd and "\r" in auth_passwd:
            raise ValueError(f"bad password {auth_passwd!r}")
        return super().smtp_send_message(*args, auth_passwd=auth_passwd, **options)


class _TypeErrors(Outbox):
    def smtp_send_message(self, server_address, *args, **options):
        if not server_address:
            raise TypeError("no server")
        return super().smtp_send_message(server_address, *args, **options)


class _RefusesEverything(Outbox):
    def smtp_send_message(self, *args, **options):
        super().smtp_send_message(*args, **options)
        raise smtpunit.errors.SMTPReplyError(smtpunit.core.reply.Reply(554, ("5.0.0 no",)), "DATA", "data")


@implementer(ISMTP)
class _NoParameters:
    smtp_sending_server = staticmethod(lambda: "localhost")
    smtp_sending_end_of_message = staticmethod(lambda: (lambda: None))

    def smtp_send_message(self, *args, **kwargs):
        pass

    def smtp_send_message_star(self, *args, **kwargs):
        pass


@pytest.mark.parametrize("provider, message", [
    (_SendsFirst(), r"ValueError was raised only after b'EHLO localhost\\r\\n' reached the server"),
    (_NoHeaderCheck(), "a header without the blank line was accepted"),
    (_ShowsPassword(), "auth_passwd with CRLF: the error shows the password"),
    (_TypeErrors(), "an empty server address must raise a ValueError, not TypeError"),
    (_RefusesEverything(), "a good message was refused: SMTPReplyError"),
    (_NoParameters(), "smtp_sending_server must be a parameter"),
    (object(), "does not provide ISMTP"),
])
def test_broken_ismtp_providers_fail_with_a_clear_message(provider, message):
    with pytest.raises(ConformanceError, match=message) as caught:
        check_smtp(provider)
    assert caught.value.check == "check_smtp"


def test_check_transport_accepts_only_a_server_it_can_find():
    with pytest.raises(TypeError):
        check_transport(TCPTransport(), object())
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        with pytest.raises(ConformanceError, match="raised ConnectionRefusedError"):
            check_transport(TCPTransport(), unused.getsockname())


# -- every double, verified -------------------------------------------------------------------------


def test_every_double_verifies_against_its_interface():
    from zope.interface.verify import verifyObject

    from smtpunit.testing import MemoryServer

    recorder = Recorder()
    with ScriptedServer(transport_script()) as server:
        recorded = recorder.transport(TCPTransport()).connect(server.host, server.port, 5)
        try:
            doubles = [(ISMTP, Outbox()), (ITransport, MemoryTransport()), (IConnection, MemoryServer().open("h")),
                       (ITransport, recorder.transport(TCPTransport())), (ITLSUpgrader, recorder.tls(SSLContextTLS())),
                       (IConnection, recorded)]
            for interface, double in doubles:
                assert verifyObject(interface, double), double
                interface.validateInvariants(double)
            recorded.send(b"QUIT\r\n", 5)
        finally:
            recorded.close()
