"""A conformance kit: checks a provider's own tests call to prove it honours its signature.

``verifyObject`` only checks that methods exist. These checks also exercise the
behaviour the contracts in :mod:`smtpunit.interfaces` promise, against real servers
on 127.0.0.1::

    from smtpunit.testing import ScriptedServer, conformance

    def test_my_transport():
        with ScriptedServer(conformance.transport_script()) as server:
            conformance.check_transport(MyTransport(), server)

    def test_my_tls(certs):
        conformance.check_tls_upgrader(MyTLS(client_context), server_context)

    def test_my_mechanism():
        conformance.check_sasl_mechanism(MyMechanism(), "user", "pencil", challenges=[b"..."])

    def test_my_smtp():
        conformance.check_smtp(MySMTP())

Each check returns nothing when the provider conforms, and raises
:class:`ConformanceError` (an :class:`AssertionError`) naming the check and the broken
promise when it does not.
"""

from __future__ import annotations

import functools
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn, Optional, Union

from zope.interface import Invalid
from zope.interface.interface import InterfaceClass
from zope.interface.verify import verifyObject

from ..core.policy import is_loopback_name
from ..errors import SASLError
from ..interfaces import ISMTP, IConnection, IMailer, ISASLExchange, ISASLMechanism, ITLSUpgrader, ITransport
from ..providers.tcp import TCPTransport
from .memory import AsyncMemoryTransport, MemoryServer, MemoryTransport
from .scripted import Close, Expect, Peer, Reply, ScriptedServer, StartTLS, Step

__all__ = [
    "ConformanceError",
    "check_mailer",
    "check_sasl_mechanism",
    "check_smtp",
    "check_tls_upgrader",
    "check_transport",
    "transport_script",
]

SLACK = 0.5
"""Seconds a bounded wait may overrun its timeout before it counts as unbounded."""

_OUTWAIT = 3.0  # a server that must outlast the client waits this much longer (a loaded machine is late)


class ConformanceError(AssertionError):
    """A provider does not honour its signature's contract.

    :ivar check: the name of the check that failed (``"check_transport"``, ...).
    """

    def __init__(self, check: str, message: str) -> None:
        super().__init__(f"{check}: {message}")
        self.check = check


def _fail(check: str, message: str) -> NoReturn:
    raise ConformanceError(check, message)


def _verify(check: str, interface: InterfaceClass, obj: Any, what: str) -> None:
    try:
        verifyObject(interface, obj)
        interface.validateInvariants(obj)
    except Invalid as exc:
        _fail(check, f"{what} does not provide {interface.__name__}: {exc}")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _server_address(server: Any) -> tuple[str, int]:
    if isinstance(server, tuple) and len(server) == 2:
        return str(server[0]), int(server[1])
    host = getattr(server, "host", None) or getattr(server, "hostname", None)
    port = getattr(server, "port", None)
    if host is None or port is None:
        raise TypeError(f"server must be (host, port) or have host (or hostname) and port, not {server!r}")
    return str(host), int(port)


def _read_reply(check: str, connection: Any, timeout: float, what: str, first: bytes = b"") -> bytes:
    """Read one whole reply (all its lines) through ``connection``."""
    data = first
    deadline = time.monotonic() + timeout
    while True:
        lines = data.split(b"\r\n")
        complete = lines[:-1]
        if complete and complete[-1][3:4] != b"-":
            return data
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            _fail(check, f"no complete {what} within {timeout:g}s (got {data!r})")
        try:
            chunk = connection.receive(4096, remaining)
        except TimeoutError:
            _fail(check, f"receive() timed out before the whole {what} arrived (got {data!r})")
        except OSError as exc:
            _fail(check, f"receive() failed while reading the {what}: {_describe(exc)}")
        if not isinstance(chunk, bytes):
            _fail(check, f"receive() must return bytes, not {type(chunk).__name__}")
        if not chunk:
            _fail(check, f"receive() returned b'' (end of stream) in the middle of the {what} (got {data!r})")
        data += chunk


def _check_silence(check: str, connection: Any, wait: float) -> None:
    """While the server says nothing, receive() must raise TimeoutError within ``wait``."""
    started = time.monotonic()
    try:
        data = connection.receive(4096, wait)
    except TimeoutError:
        elapsed = time.monotonic() - started
        if elapsed > wait + SLACK:
            _fail(check, f"receive(4096, {wait:g}) raised TimeoutError only after {elapsed:.1f}s")
        return
    except OSError as exc:
        _fail(check, f"receive() on a silent peer must raise TimeoutError, not {_describe(exc)}")
    if data == b"":
        _fail(check, "receive() returned b'' (end of stream) while the peer was silent, not closed: "
                     "a timeout must raise TimeoutError")
    _fail(check, f"the server was expected to be silent after its reply, yet receive() returned {data!r}")


def _check_eof_and_close(check: str, connection: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            _fail(check, f"the server closed the connection, yet receive() did not return b'' within {timeout:g}s")
        try:
            data = connection.receive(4096, remaining)
        except TimeoutError:
            _fail(check, "receive() raised TimeoutError after the server closed the connection; "
                         "at end of stream it must return b''")
        except OSError as exc:
            _fail(check, f"receive() after the server closed must return b'', not raise {_describe(exc)}")
        if data == b"":
            break
    for attempt in ("first", "second"):
        try:
            connection.close()
        except Exception as exc:  # noqa: BLE001 -- any error is the finding
            _fail(check, f"the {attempt} close() raised {_describe(exc)}; closing twice must be harmless")


def _check_attributes(check: str, connection: Any, host: str, secure: Optional[bool],
                      loopback: Optional[bool]) -> None:
    if connection.server_hostname != host:
        _fail(check, f"server_hostname is {connection.server_hostname!r}, not the host asked for, {host!r}")
    for name, expected in (("secure", secure), ("loopback", loopback)):
        value = getattr(connection, name)
        if not isinstance(value, bool):
            _fail(check, f"{name} must be a bool, not {value!r}")
        if expected is not None and value is not expected:
            _fail(check, f"{name} is {value!r}, expected {expected!r}")


# -- transports ----------------------------------------------------------------------


def transport_script() -> list[Step]:
    """The :class:`~smtpunit.testing.scripted.ScriptedServer` script :func:`check_transport`
    needs: greet, answer ``QUIT`` with 221 and close."""
    return [Reply(b"220 conformance.invalid ESMTP ready"), Expect(b"QUIT", exact=True),
            Reply(b"221 2.0.0 bye"), Close()]


def check_transport(
    transport: Any,
    server: Any,
    *,
    timeout: float = 5.0,
    silence: float = 0.2,
    secure: Optional[bool] = None,
    loopback: Optional[bool] = None,
) -> None:
    """Check an :class:`~smtpunit.interfaces.ITransport` and the connections it makes.

    :param server: an SMTP server to connect to: ``(host, port)``, or an object with
        ``host`` (or ``hostname``) and ``port``, such as a
        :class:`~smtpunit.testing.scripted.ScriptedServer` playing
        :func:`transport_script` or an aiosmtpd controller. It must greet with 220,
        then say nothing until ``QUIT``, answer it with 221 and close.
    :param timeout: the timeout given to every call.
    :param silence: how long to wait for the server's silence to raise TimeoutError.
    :param secure: what the connection's ``secure`` must be (``None``: any bool).
    :param loopback: what ``loopback`` must be; by default True for a loopback address.

    Checked: ``verifyObject`` on the transport and the connection; the connection's
    attributes; ``receive(1, ...)`` returns one byte; the greeting arrives; a silent
    peer makes ``receive`` raise :class:`TimeoutError` within the timeout; ``send``
    writes a command and its reply arrives; ``b""`` at the end of the stream; closing
    twice is harmless.
    """
    check = "check_transport"
    _verify(check, ITransport, transport, f"transport {transport!r}")
    host, port = _server_address(server)
    if loopback is None and is_loopback_name(host):
        loopback = True
    started = time.monotonic()
    try:
        connection = transport.connect(host, port, timeout)
    except Exception as exc:  # noqa: BLE001 -- any error is the finding
        _fail(check, f"connect({host!r}, {port}, {timeout:g}) raised {_describe(exc)}")
    if time.monotonic() - started > timeout + SLACK:
        _fail(check, f"connect() took longer than its timeout of {timeout:g}s")
    try:
        _verify(check, IConnection, connection, f"the connection {connection!r}")
        _check_attributes(check, connection, host, secure, loopback)
        try:
            first = connection.receive(1, timeout)
        except Exception as exc:  # noqa: BLE001
            _fail(check, f"receive(1, {timeout:g}) raised {_describe(exc)} while the greeting was due")
        if not isinstance(first, bytes) or len(first) != 1:
            _fail(check, f"receive(1, ...) must return exactly 1 byte of bytes here, not {first!r}")
        greeting = _read_reply(check, connection, timeout, "greeting", first)
        if not greeting.startswith(b"220"):
            _fail(check, f"expected a 220 greeting, got {greeting!r}")
        _check_silence(check, connection, min(silence, timeout))
        try:
            connection.send(b"QUIT\r\n", timeout)
        except Exception as exc:  # noqa: BLE001
            _fail(check, f"send(b'QUIT\\r\\n', {timeout:g}) raised {_describe(exc)}")
        reply = _read_reply(check, connection, timeout, "reply to QUIT")
        if not reply.startswith(b"221"):
            _fail(check, f"expected 221 to QUIT, got {reply!r} (were the bytes sent whole?)")
        _check_eof_and_close(check, connection, timeout)
    finally:
        try:
            connection.close()
        except Exception:  # noqa: BLE001 -- already reported if it matters
            pass


# -- TLS upgraders --------------------------------------------------------------------


def _close_quietly(*connections: Any) -> None:
    for connection in connections:
        try:
            connection.close()
        except Exception:  # noqa: BLE001 -- cleaning up after a finding
            pass


def _drain(wait: float) -> Callable[[Peer], None]:
    def silent(peer: Peer) -> None:
        """Say nothing; read until the client gives up (or ``wait`` runs out)."""
        deadline = time.monotonic() + wait
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                if not peer.receive(timeout=remaining):
                    return
            except TimeoutError:
                return

    return silent


def check_tls_upgrader(
    upgrader: Any,
    server_context: ssl.SSLContext,
    *,
    server_hostname: str = "localhost",
    untrusted_context: Optional[ssl.SSLContext] = None,
    verifies: bool = True,
    timeout: float = 5.0,
    handshake_timeout: float = 0.5,
    transport: Any = None,
) -> None:
    """Check an :class:`~smtpunit.interfaces.ITLSUpgrader` against TLS servers on 127.0.0.1.

    :param server_context: a server ``ssl.SSLContext`` whose certificate names
        ``server_hostname`` and is trusted by the upgrader.
    :param untrusted_context: optionally, a server context with a certificate from a
        CA the upgrader does not trust: the handshake must then fail.
    :param verifies: the upgrader is meant to verify certificates (the default
        promise); then a certificate for another name must fail the handshake.
    :param timeout: the timeout given to every call.
    :param handshake_timeout: the timeout for the handshake with a silent server,
        which must fail within it.
    :param transport: makes the plaintext connections (default
        :class:`~smtpunit.providers.tcp.TCPTransport`).

    Checked: ``verifyObject``; the handshake works and yields an
    :class:`~smtpunit.interfaces.IConnection` that is ``secure``, keeps
    ``server_hostname`` and ``loopback``, and carries a greeting, a command and its
    reply; the end of stream and double close; with ``verifies``, a wrong host name
    (and an untrusted certificate) fails the handshake; a silent server makes it fail
    within ``handshake_timeout``.
    """
    check = "check_tls_upgrader"
    _verify(check, ITLSUpgrader, upgrader, f"upgrader {upgrader!r}")
    transport = transport if transport is not None else TCPTransport()

    def handshake(context: ssl.SSLContext, name: str, wait: float, script_timeout: float,
                  may_fail: bool) -> tuple[ScriptedServer, Any, Any]:
        script = [StartTLS(context, may_fail=may_fail)] + ([] if may_fail else transport_script())
        server = ScriptedServer(script, timeout=script_timeout)
        plain = transport.connect(server.host, server.port, timeout)
        try:
            return server, plain, upgrader.wrap(plain, name, wait)
        except BaseException:
            plain.close()
            server.close(raise_errors=False)
            raise

    # It works.
    try:
        server, plain, secure = handshake(server_context, server_hostname, timeout, timeout + SLACK + _OUTWAIT, False)
    except Exception as exc:  # noqa: BLE001
        _fail(check, f"wrap() failed against a server whose certificate names {server_hostname!r}: "
                     f"{_describe(exc)}")
    try:
        _verify(check, IConnection, secure, f"the connection wrap() returned, {secure!r},")
        _check_attributes(check, secure, server_hostname, True, bool(plain.loopback))
        greeting = _read_reply(check, secure, timeout, "greeting over TLS")
        if not greeting.startswith(b"220"):
            _fail(check, f"expected a 220 greeting over TLS, got {greeting!r}")
        secure.send(b"QUIT\r\n", timeout)
        reply = _read_reply(check, secure, timeout, "reply to QUIT over TLS")
        if not reply.startswith(b"221"):
            _fail(check, f"expected 221 to QUIT over TLS, got {reply!r}")
        _check_eof_and_close(check, secure, timeout)
    except BaseException:
        _close_quietly(secure, plain)
        server.close(raise_errors=False)
        raise
    _close_quietly(secure, plain)
    try:
        server.close()
    except AssertionError as exc:
        _fail(check, f"the TLS server saw something wrong: {exc}")

    # It verifies.
    if verifies:
        refusals = [(server_context, "wrong-name.invalid", "a certificate that does not name the host")]
        if untrusted_context is not None:
            refusals.append((untrusted_context, server_hostname, "a certificate from an untrusted CA"))
        for context, name, what in refusals:
            try:
                server, plain, secure = handshake(context, name, timeout, timeout + SLACK, True)
            except (ssl.SSLError, ssl.CertificateError, OSError):
                continue
            except Exception as exc:  # noqa: BLE001
                _fail(check, f"wrap() with {what} must raise ssl.SSLError or OSError, not {_describe(exc)}")
            secure.close()
            plain.close()
            server.close(raise_errors=False)
            _fail(check, f"wrap() accepted {what} (asked for {name!r}): it does not verify the server")

    # It is bounded.
    hold = handshake_timeout + SLACK + 0.25  # longer than a bounded handshake may take
    server = ScriptedServer([_drain(hold)], timeout=hold)
    try:
        plain = transport.connect(server.host, server.port, timeout)
        started = time.monotonic()
        try:
            secure = upgrader.wrap(plain, server_hostname, handshake_timeout)
        except OSError:
            elapsed = time.monotonic() - started
            if elapsed > handshake_timeout + SLACK:
                _fail(check, f"wrap(..., timeout={handshake_timeout:g}) with a silent server gave up only "
                             f"after {elapsed:.1f}s: it does not honour its timeout")
        except Exception as exc:  # noqa: BLE001
            _fail(check, f"wrap() with a silent server must raise TimeoutError (or OSError), not {_describe(exc)}")
        else:
            secure.close()
            _fail(check, "wrap() returned although the server never answered the handshake")
        finally:
            plain.close()
    finally:
        server.close(raise_errors=False)


# -- SASL mechanisms -------------------------------------------------------------------

Challenge = Union[bytes, Callable[[Optional[bytes]], bytes]]
"""A challenge for :func:`check_sasl_mechanism`: bytes, or a callable given the
client's previous message (the initial response, then each answer) returning them."""


def check_sasl_mechanism(
    mechanism: Any,
    username: str = "user",
    password: str = "pencil",
    challenges: Sequence[Challenge] = (),
    *,
    finish: bool = True,
    invalid_challenge: Optional[bytes] = None,
) -> None:
    """Check an :class:`~smtpunit.interfaces.ISASLMechanism` through one exchange.

    :param challenges: the decoded 334 challenges a server would send, in order;
        each is answered with ``respond``.
    :param finish: call ``finish()`` after the challenges, as after a 235 (it must
        not raise then, so give the challenges of a successful exchange).
    :param invalid_challenge: a challenge the mechanism cannot answer: ``respond``
        must raise :class:`~smtpunit.errors.SASLError` for it.

    Checked: ``verifyObject`` and the invariants (the name is upper-case ASCII) of
    the mechanism and of the exchange ``start`` returns; each ``start`` makes a new
    exchange; ``initial_response`` returns bytes or ``None``; ``respond`` returns
    bytes; ``finish`` is callable (and succeeds with ``finish``); the password shows
    in no repr.
    """
    check = "check_sasl_mechanism"
    _verify(check, ISASLMechanism, mechanism, f"mechanism {mechanism!r}")
    name = mechanism.name
    try:
        exchange = mechanism.start(username, password)
    except Exception as exc:  # noqa: BLE001
        _fail(check, f"{name}: start() raised {_describe(exc)}")
    _verify(check, ISASLExchange, exchange, f"{name}: the exchange {exchange!r}")
    if mechanism.start(username, password) is exchange:
        _fail(check, f"{name}: start() returned the same exchange twice; each AUTH needs its own")
    for label, text in (("mechanism", repr(mechanism)), ("exchange", repr(exchange)), ("exchange", str(exchange))):
        if password and password in text:
            _fail(check, f"{name}: the {label}'s repr shows the password")
    try:
        message = exchange.initial_response()
    except Exception as exc:  # noqa: BLE001
        _fail(check, f"{name}: initial_response() raised {_describe(exc)}")
    if message is not None and type(message) is not bytes:
        _fail(check, f"{name}: initial_response() must return bytes or None, not {type(message).__name__}")
    for number, challenge in enumerate(challenges, 1):
        data = challenge(message) if callable(challenge) else challenge
        try:
            message = exchange.respond(data)
        except Exception as exc:  # noqa: BLE001
            _fail(check, f"{name}: respond() to challenge {number} ({data!r}) raised {_describe(exc)}")
        if type(message) is not bytes:
            _fail(check, f"{name}: respond() must return bytes, not {type(message).__name__} ({message!r})")
    if not callable(getattr(exchange, "finish", None)):
        _fail(check, f"{name}: the exchange's finish is not callable")
    if finish:
        try:
            exchange.finish()
        except Exception as exc:  # noqa: BLE001
            _fail(check, f"{name}: finish() after the challenges raised {_describe(exc)}")
    if invalid_challenge is not None:
        fresh = mechanism.start(username, password)
        fresh.initial_response()
        try:
            answer = fresh.respond(invalid_challenge)
        except SASLError as exc:
            if password and password in str(exc):
                _fail(check, f"{name}: the SASLError for an invalid challenge shows the password")
        except Exception as exc:  # noqa: BLE001
            _fail(check, f"{name}: respond() to an invalid challenge must raise SASLError, not {_describe(exc)}")
        else:
            _fail(check, f"{name}: respond() answered the invalid challenge {invalid_challenge!r} with {answer!r} "
                         "instead of raising SASLError")


# -- whole ISMTP providers --------------------------------------------------------------

_GOOD: dict[str, Any] = dict(server_address="mail.invalid", from_="a@example.org", to=["b@example.org"],
                             header="Subject: conformance\r\n\r\n", message=["body"])
_SECRET = "s3cret-conformance"

BAD_INPUTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("a sender with CRLF (command injection)", {"from_": "a@example.org\r\nRCPT TO:<evil@example.org>"}),
    ("a sender with '>' (parameter smuggling)", {"from_": "a@example.org> SIZE=1"}),
    ("a recipient with a space", {"to": ["b c@example.org"]}),
    ("a recipient with NUL", {"to": ["b\0@example.org"]}),
    ("a recipient with LF, after a good one", {"to": ["b@example.org", "c@example.org\nDATA"]}),
    ("no recipients", {"to": []}),
    ("recipients as one string", {"to": "b@example.org"}),
    ("a header without the blank line", {"header": "Subject: x\r\n"}),
    ("a header with a bare LF", {"header": "Subject: x\nBcc: evil@example.org\r\n\r\n"}),
    ("a message line with CRLF", {"message": ["ok", "bad\r\n.\r\nMAIL FROM:<evil@example.org>"]}),
    ("a message line with NUL", {"message": ["bad\0"]}),
    ("a message as one string", {"message": "body"}),
    ("an empty server address", {"server_address": ""}),
    ("port 70000", {"port_no": 70000}),
    ("auth_user with CRLF", {"auth_user": "u\r\nRSET", "auth_passwd": "p"}),
    ("auth_passwd with CRLF", {"auth_user": "u", "auth_passwd": _SECRET + "\r\nRSET"}),
    ("auth_user without auth_passwd", {"auth_user": "u"}),
)
"""The bad inputs :func:`check_smtp` tries: a description and the arguments changed."""


def _expect_refusal(check: str, what: str, server: MemoryServer, send: Callable[[], Any]) -> None:
    try:
        result = send()
    except ValueError as exc:
        if server.received:
            _fail(check, f"{what}: ValueError was raised only after {bytes(server.received)!r} reached the server")
        if _SECRET in str(exc) or _SECRET in repr(exc.args):
            _fail(check, f"{what}: the error shows the password: {exc}")
        return
    except Exception as exc:  # noqa: BLE001
        _fail(check, f"{what} must raise a ValueError, not {_describe(exc)}")
    _fail(check, f"{what} was accepted (returned {result!r}); it must raise a ValueError before sending")


def _send(provider: Any, server: MemoryServer, arguments: dict[str, Any]) -> Any:
    return provider.smtp_send_message(tcp_connect=MemoryTransport(server), **arguments)


def _send_star(provider: Any, server: MemoryServer, arguments: dict[str, Any]) -> Any:
    return provider.smtp_send_message_star(server.open("mail.invalid"), **arguments)


def check_smtp(provider: Any, bad_inputs: Iterable[tuple[str, dict[str, Any]]] = BAD_INPUTS) -> None:
    """Check a whole :class:`~smtpunit.interfaces.ISMTP` provider.

    The provider is called with ``tcp_connect=``:class:`~smtpunit.testing.memory.MemoryTransport`
    (and, for ``smtp_send_message_star``, a :class:`~smtpunit.testing.memory.MemoryConnection`),
    so whatever reaches a server is observed, and nothing leaves the process.

    Checked: ``verifyObject``; both parameters are present, readable and
    parameterizable; every one of ``bad_inputs`` (and a bad EHLO name) raises a
    :class:`ValueError` before any byte reaches the server, through both functions,
    and no error shows the password; a good message goes through.
    """
    check = "check_smtp"
    _verify(check, ISMTP, provider, f"provider {provider!r}")
    for name, probe, check_value in (
        ("smtp_sending_server", "conformance.invalid", lambda v: isinstance(v, str) and v),
        ("smtp_sending_end_of_message", lambda: None, callable),
    ):
        parameter = getattr(provider, name)
        if not callable(parameter) or not callable(getattr(parameter, "parameterize", None)):
            _fail(check, f"{name} must be a parameter: callable, with parameterize()")
        before = parameter()
        if not check_value(before):
            _fail(check, f"{name}() returned {before!r}")
        with parameter.parameterize(probe):
            if parameter() is not probe and parameter() != probe:
                _fail(check, f"{name}.parameterize({probe!r}) did not set it: {name}() is {parameter()!r}")
        if parameter() is not before and parameter() != before:
            _fail(check, f"{name} was not restored after parameterize(): {parameter()!r}")

    for what, changes in bad_inputs:
        server = MemoryServer()
        arguments = {**_GOOD, **changes}
        _expect_refusal(check, what, server, functools.partial(_send, provider, server, arguments))
        if "server_address" in changes or "port_no" in changes:
            continue  # smtp_send_message_star has neither
        star = {k: v for k, v in arguments.items() if k not in ("server_address", "port_no")}
        server = MemoryServer()
        _expect_refusal(check, f"{what} (smtp_send_message_star)", server,
                        functools.partial(_send_star, provider, server, star))

    server = MemoryServer()

    def bad_ehlo_name() -> Any:
        with provider.smtp_sending_server.parameterize("bad name\r\nRSET"):
            return provider.smtp_send_message(tcp_connect=MemoryTransport(server), **_GOOD)

    _expect_refusal(check, "an EHLO name with CRLF", server, bad_ehlo_name)

    server = MemoryServer()
    try:
        provider.smtp_send_message(tcp_connect=MemoryTransport(server), **_GOOD)
    except Exception as exc:  # noqa: BLE001
        _fail(check, f"a good message was refused: {_describe(exc)}")


# -- every entry point, through any mail provider -------------------------------------------

_FROM, _TO, _HEADER, _LINES = "a@example.org", ["b@example.org"], "Subject: conformance\r\n\r\n", ["body"]


def _email() -> Any:
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = _FROM, ", ".join(_TO), "conformance"
    message.set_content("body\n")
    return message


def _entry_points(server: MemoryServer) -> list[tuple[str, Callable[..., Any]]]:
    """Each public entry point, as a call sending one good message (``send_many`` two)
    with the given extra keywords; what it returns, one outcome per message."""
    import asyncio

    import smtpunit
    import smtpunit.aio

    sync, aio = MemoryTransport(server), AsyncMemoryTransport(server)
    envelope = smtpunit.core.commands.prepare_envelope(_FROM, _TO, _HEADER, _LINES)
    message = (_FROM, _TO, _HEADER, _LINES)

    def session(verb: str, **options: Any) -> list[Any]:
        with smtpunit.connect("mail.invalid", 25, tcp_connect=sync, **options) as opened:
            return _through_session(verb, opened, envelope, message)

    def pool(verb: str, **options: Any) -> list[Any]:
        with smtpunit.Pool("mail.invalid", 25, size=1, tcp_connect=sync, **options) as pooled:
            return _through_session(verb, pooled, envelope, message)

    def pool_session(verb: str, **options: Any) -> list[Any]:
        with smtpunit.Pool("mail.invalid", 25, size=1, tcp_connect=sync, **options) as pooled, \
                pooled.connect() as lent:
            return _through_session(verb, lent, envelope, message)

    async def through_async(verb: str, method: Callable[[str], Any]) -> list[Any]:
        """``verb`` sent through the coroutine function ``method(verb)``."""
        if verb == "send_many":
            return list(await method(verb)([message, message]))
        if verb == "send_message":
            return [await method(verb)(_email())]
        return [await method(verb)(*((envelope,) if verb == "send_envelope" else message))]

    async def async_session(verb: str, **options: Any) -> list[Any]:
        async with await smtpunit.aio.connect("mail.invalid", 25, tcp_connect=aio, **options) as opened:
            return await through_async(verb, functools.partial(getattr, opened))

    def mailer(verb: str, **options: Any) -> list[Any]:
        with smtpunit.Mailer("mail.invalid", 25, pool_size=1, tcp_connect=sync, **options) as configured:
            return _through_session(verb, configured, envelope, message)

    def mailer_session(verb: str, **options: Any) -> list[Any]:
        with smtpunit.Mailer("mail.invalid", 25, pool_size=1, tcp_connect=sync, **options) as configured, \
                configured.connect() as lent:
            return _through_session(verb, lent, envelope, message)

    async def mailer_async(verb: str, **options: Any) -> list[Any]:
        configured = smtpunit.Mailer("mail.invalid", 25, tcp_connect=aio, **options)
        return await through_async(verb, lambda name: getattr(configured, f"{name}_async"))

    async def mailer_async_session(verb: str, **options: Any) -> list[Any]:
        async with await smtpunit.Mailer("mail.invalid", 25, tcp_connect=aio, **options).connect_async() as opened:
            return await through_async(verb, functools.partial(getattr, opened))

    def run(coroutine: Any) -> list[Any]:
        result = asyncio.run(coroutine)
        return result if isinstance(result, list) else [result]

    return [
        ("smtp_send_message", lambda **o: [smtpunit.smtp_send_message(
            "mail.invalid", *message, 25, tcp_connect=sync, **o)]),
        ("send", lambda **o: [smtpunit.send("mail.invalid", *message, 25, tcp_connect=sync, **o)]),
        ("send_envelope", lambda **o: [smtpunit.send_envelope("mail.invalid", envelope, 25, tcp_connect=sync, **o)]),
        ("send_many", lambda **o: smtpunit.send_many("mail.invalid", [message, message], 25, tcp_connect=sync, **o)),
        ("send_message", lambda **o: [smtpunit.send_message("mail.invalid", _email(), 25, tcp_connect=sync, **o)]),
        *((f"connect().{verb}", functools.partial(session, verb)) for verb in _SESSION_VERBS),
        *((f"Pool.{verb}", functools.partial(pool, verb)) for verb in _SESSION_VERBS),
        *((f"Pool.connect().{verb}", functools.partial(pool_session, verb)) for verb in _SESSION_VERBS),
        ("aio.smtp_send_message", lambda **o: run(smtpunit.aio.smtp_send_message(
            "mail.invalid", *message, 25, tcp_connect=aio, **o))),
        ("aio.send", lambda **o: run(smtpunit.aio.send("mail.invalid", *message, 25, tcp_connect=aio, **o))),
        ("aio.send_many", lambda **o: run(smtpunit.aio.send_many(
            "mail.invalid", [message, message], 25, tcp_connect=aio, **o))),
        ("aio.send_envelope", lambda **o: run(smtpunit.aio.send_envelope(
            "mail.invalid", envelope, 25, tcp_connect=aio, **o))),
        ("aio.send_message", lambda **o: run(smtpunit.aio.send_message(
            "mail.invalid", _email(), 25, tcp_connect=aio, **o))),
        *((f"aio.connect().{verb}", lambda verb=verb, **o: run(async_session(verb, **o)))
          for verb in _SESSION_VERBS),
        *((f"Mailer.{verb}", functools.partial(mailer, verb)) for verb in _SESSION_VERBS),
        *((f"Mailer.connect().{verb}", functools.partial(mailer_session, verb)) for verb in _SESSION_VERBS),
        *((f"Mailer.{verb}_async", lambda verb=verb, **o: run(mailer_async(verb, **o))) for verb in _SESSION_VERBS),
        *((f"Mailer.connect_async().{verb}", lambda verb=verb, **o: run(mailer_async_session(verb, **o)))
          for verb in _SESSION_VERBS),
    ]


_SESSION_VERBS = ("send", "send_message", "send_envelope", "send_many")


def _through_session(verb: str, session: Any, envelope: Any, message: tuple[Any, ...]) -> list[Any]:
    if verb == "send_many":
        return list(session.send_many([message, message]))
    if verb == "send_message":
        return [session.send_message(_email())]
    return [getattr(session, verb)(*((envelope,) if verb == "send_envelope" else message))]


def check_mailer(provider: Any) -> None:
    """Check that a mail provider serves every entry point of the public API.

    ``provider`` is linked as the ``ISMTP`` of a registry over the default one and made
    current (:data:`smtpunit.current_registry`). Through it, every entry point --
    ``smtp_send_message``, ``send``, ``send_envelope``, ``send_message``, ``send_many``,
    a session's, a :class:`~smtpunit.Pool`'s, a :class:`~smtpunit.Mailer`'s and a
    session lent by ``Pool.connect`` or ``Mailer.connect``'s ``send``, ``send_message``,
    ``send_envelope`` and ``send_many``, and each of these in :mod:`smtpunit.aio`
    (and a Mailer's ``*_async`` forms) -- sends a good message,
    with ``tcp_connect`` an in-memory transport (which a provider without connections
    may ignore), and must return a :class:`~smtpunit.core.results.SendResult` for each;
    a misspelled option must raise ``TypeError`` before anything is sent. A provider of
    ``smtp^`` alone passes too: the framework supplies the rest.
    """
    import smtpunit

    check = "check_mailer"
    _verify(check, ISMTP, provider, f"provider {provider!r}")
    # The provider takes the place of the real client under every signature it serves.
    exports = (ISMTP, IMailer) if IMailer.providedBy(provider) else ISMTP
    registry = smtpunit.link(smtpunit.provide(exports, provider), bases=(smtpunit.default_registry(),))
    with smtpunit.current_registry.parameterize(registry):
        for name, send in _entry_points(MemoryServer()):
            try:
                outcomes = send()
            except Exception as exc:  # noqa: BLE001
                _fail(check, f"{name}: a good message was refused: {_describe(exc)}")
            if not outcomes or not all(isinstance(o, smtpunit.SendResult) for o in outcomes):
                _fail(check, f"{name} returned {outcomes!r}, not a SendResult per message")
            server = MemoryServer()
            try:
                dict(_entry_points(server))[name](tls_encdoe=True)
            except TypeError as exc:
                if "tls_encdoe" not in str(exc):
                    _fail(check, f"{name}: the TypeError for a misspelled option does not name it: {exc}")
            except Exception as exc:  # noqa: BLE001
                _fail(check, f"{name}: a misspelled option must raise TypeError, not {_describe(exc)}")
            else:
                _fail(check, f"{name}: a misspelled option (tls_encdoe) was accepted")
            if server.received:
                _fail(check, f"{name}: {bytes(server.received)!r} reached the server before the misspelled option "
                             "was refused")
