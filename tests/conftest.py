"""Real servers for the tests: aiosmtpd in-process on 127.0.0.1, trustme certificates."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Optional

import pytest
import trustme
from aiosmtpd.controller import Controller, UnixSocketController
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import AuthResult, LoginPassword
from hypothesis import settings

from smtpunit.providers import default_context

# Property tests are about inputs, not speed: no per-example deadline on a busy machine.
settings.register_profile("smtpunit", deadline=None)
settings.load_profile("smtpunit")

HOST = "127.0.0.1"
USER, PASSWORD = "alice", "s3cret-pässword"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A port on 127.0.0.1 where a connect never completes: a socket listening with a
    backlog of 0 that never accepts, its queue filled. Linux drops the SYNs of further
    connects (tcp_abort_on_overflow=0), which stay in SYN-SENT until they give up."""
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind((HOST, 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(3):
            filler = socket.socket()
            fillers.append(filler)
            filler.setblocking(False)
            filler.connect_ex((HOST, port))
        with socket.socket() as probe:
            probe.settimeout(0.3)
            try:
                probe.connect((HOST, port))
            except TimeoutError:
                pass
            except OSError:  # refused or reset (tcp_abort_on_overflow=1)
                pytest.skip("a full listen backlog refuses connects on this system")
            else:
                pytest.skip("a full listen backlog does not hold connects on this system")
        yield port
    finally:
        for sock in (*fillers, listener):
            sock.close()


@dataclass
class Delivered:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    authenticated: Optional[str]


class Ehlo(NamedTuple):
    """One EHLO a server received: on which connection, with which name, over TLS or not."""

    session: int
    name: str
    tls: bool


@dataclass
class RecordingHandler:
    """An aiosmtpd handler that keeps what the server really received."""

    messages: list[Delivered] = field(default_factory=list)
    mail_commands: list[str] = field(default_factory=list)
    refuse: frozenset[str] = frozenset()
    ehlos: list[Ehlo] = field(default_factory=list)

    @property
    def connections(self) -> int:
        """The connections that said EHLO (its repeat after STARTTLS not counted)."""
        return sum(not ehlo.tls for ehlo in self.ehlos)

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        self.ehlos.append(Ehlo(id(session), hostname, session.ssl is not None))
        return responses

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        self.mail_commands.append(address)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        login = session.auth_data if session.authenticated else None
        self.messages.append(
            Delivered(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content,
                      _is_tls(server, session), login)
        )
        return "250 2.0.0 queued"


class Greylisting(RecordingHandler):
    """451 for a recipient the first time it is seen, as greylisting servers do."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()
        self.lock = threading.Lock()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        with self.lock:
            first = address not in self.seen
            self.seen.add(address)
        if first:
            return "451 4.7.1 greylisted, try again later"
        return await super().handle_RCPT(server, session, envelope, address, options)


def program(tmp_path: Path, name: str, script: str) -> Path:
    """An executable shell script standing in for sendmail."""
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return path


def recording_sendmail(tmp_path: Path) -> Path:
    """A sendmail that writes its arguments to ``argv`` and the message to ``message``
    beside it, in ``tmp_path``."""
    return program(tmp_path, "sendmail", f'echo "$@" > {tmp_path}/argv\ncat > {tmp_path}/message\n')


def _is_tls(server: Any, session: Any) -> bool:
    """STARTTLS sets session.ssl; implicit TLS shows only on the transport."""
    return session.ssl is not None or server.transport.get_extra_info("sslcontext") is not None


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == USER
        and auth_data.password.decode() == PASSWORD
    )
    return AuthResult(success=ok, handled=False, auth_data=USER if ok else None)


@dataclass
class Certificates:
    ca: trustme.CA
    server_context: ssl.SSLContext

    def client_context(self) -> ssl.SSLContext:
        context = default_context()
        self.ca.configure_trust(context)
        return context


def _server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


@pytest.fixture(scope="session")
def certs() -> Certificates:
    ca = trustme.CA()
    return Certificates(ca, _server_context(ca, "localhost", HOST))


@pytest.fixture(scope="session")
def wrong_name_certs() -> Certificates:
    ca = trustme.CA()
    return Certificates(ca, _server_context(ca, "mail.other.invalid"))


class _Controller(Controller):
    """aiosmtpd's controller, which with implicit TLS must trigger its own start over TLS."""

    def _trigger_server(self) -> None:
        if self.ssl_context is None:
            return super()._trigger_server()
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with socket.create_connection((self.hostname, self.port), timeout=5) as raw:
            with context.wrap_socket(raw) as sock:
                sock.recv(1024)


@dataclass
class RunningServer:
    port: int
    handler: RecordingHandler
    controller: Controller


@pytest.fixture
def start_server(certs: Certificates) -> Iterator[Any]:
    """Start aiosmtpd on 127.0.0.1: ``start_server(starttls=..., auth=..., implicit_tls=...)``."""
    running: list[Controller] = []

    def start(
        *,
        starttls: bool = False,
        require_starttls: bool = False,
        auth: bool = False,
        implicit_tls: bool = False,
        server_context: Optional[ssl.SSLContext] = None,
        refuse: frozenset[str] = frozenset(),
        handler: Optional[RecordingHandler] = None,
        **smtp_options: Any,
    ) -> RunningServer:
        handler = handler or RecordingHandler(refuse=refuse)
        context = server_context or certs.server_context
        kwargs: dict[str, Any] = dict(smtp_options)
        if starttls:
            kwargs.update(tls_context=context, require_starttls=require_starttls)
        if implicit_tls:
            kwargs.update(ssl_context=context)
        if auth:
            kwargs.update(authenticator=authenticator, auth_require_tls=starttls or implicit_tls)
        port = free_port()
        controller = _Controller(handler, hostname=HOST, port=port, **kwargs)
        controller.start()
        running.append(controller)
        return RunningServer(port, handler, controller)

    yield start
    for controller in running:
        controller.stop()


class LMTPHandler(RecordingHandler):
    """Answers the data once per recipient, refusing those in ``refuse_after_data``."""

    refuse_after_data: frozenset[str] = frozenset()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await super().handle_DATA(server, session, envelope)
        return "\r\n".join(
            "452 4.2.2 mailbox full" if r in self.refuse_after_data else f"250 2.1.5 delivered to {r}"
            for r in envelope.rcpt_tos
        )


class _LMTPController(_Controller):
    def factory(self) -> Any:
        return LMTP(self.handler, **self.SMTP_kwargs)


@pytest.fixture
def lmtp_server() -> Iterator[tuple[Controller, LMTPHandler]]:
    """aiosmtpd speaking LMTP on 127.0.0.1: ``(controller, handler)``."""
    handler = LMTPHandler()
    controller = _LMTPController(handler, hostname=HOST, port=free_port())
    controller.start()
    yield controller, handler
    controller.stop()


@pytest.fixture
def unix_server(tmp_path: Any) -> Iterator[tuple[Any, RecordingHandler]]:
    """aiosmtpd on a Unix socket: ``(path, handler)``."""
    handler = RecordingHandler()
    path = tmp_path / "smtp.sock"
    controller = UnixSocketController(handler, unix_socket=str(path))
    controller.start()
    yield path, handler
    controller.stop()
