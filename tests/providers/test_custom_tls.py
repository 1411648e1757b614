"""A TLS provider of one's own (neither SSLContextTLS nor an SSLContext) works under
both drivers: blocking through ``wrap``, asyncio through ``wrap_async``."""

from __future__ import annotations

import asyncio
import ssl

import pytest
from conftest import HOST
from zope.interface import implementer
from zope.interface.verify import verifyObject

import smtpunit
import smtpunit.aio
from smtpunit import errors
from smtpunit.interfaces import IAsyncTLSUpgrader, ITLSUpgrader
from smtpunit.providers.tcp import SocketConnection

HEADER = "Subject: custom TLS\r\n\r\n"


@implementer(ITLSUpgrader, IAsyncTLSUpgrader)
class PinnedTLS:
    """Trusts one CA only, and counts the handshakes it made (no ``.context``)."""

    def __init__(self, certs) -> None:
        self._context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        certs.ca.configure_trust(self._context)
        self.handshakes: list[str] = []

    def wrap(self, connection, server_hostname, timeout):
        sock = connection.socket
        sock.settimeout(timeout)
        secure = self._context.wrap_socket(sock, server_hostname=server_hostname)
        self.handshakes.append("blocking")
        return SocketConnection(secure, server_hostname, secure=True, loopback=connection.loopback)

    async def wrap_async(self, connection, server_hostname, timeout):
        await connection.start_tls(self._context, server_hostname, timeout)
        self.handshakes.append("asyncio")
        return connection


@implementer(ITLSUpgrader)
class BlockingOnly:
    def wrap(self, connection, server_hostname, timeout):  # pragma: no cover - never reached
        raise AssertionError("not used")


def test_the_custom_provider_verifies_as_both_signatures(certs):
    provider = PinnedTLS(certs)
    assert verifyObject(ITLSUpgrader, provider) and verifyObject(IAsyncTLSUpgrader, provider)


def test_a_custom_tls_provider_works_blocking_and_under_asyncio(start_server, certs):
    server = start_server(starttls=True, require_starttls=True)
    tls = PinnedTLS(certs)
    smtpunit.smtp_send_message(HOST, "a@example.org", ["b@example.org"], HEADER, ["1"], server.port, tls_encode=tls)
    asyncio.run(smtpunit.aio.smtp_send_message(HOST, "a@example.org", ["b@example.org"], HEADER, ["2"],
                                               server.port, tls_encode=tls))

    async def session() -> None:
        async with await smtpunit.aio.connect(HOST, server.port, tls_encode=tls) as opened:
            await opened.send("a@example.org", ["b@example.org"], HEADER, ["3"])

    asyncio.run(session())
    assert tls.handshakes == ["blocking", "asyncio", "asyncio"]
    assert [m.tls for m in server.handler.messages] == [True, True, True]


def test_the_custom_provider_still_refuses_a_certificate_it_does_not_trust(start_server, wrong_name_certs):
    server = start_server(starttls=True, require_starttls=True, server_context=wrong_name_certs.server_context)
    tls = PinnedTLS(wrong_name_certs)  # the right CA, the wrong host name
    with pytest.raises(errors.TLSHandshakeError):
        asyncio.run(smtpunit.aio.smtp_send_message(HOST, "a@example.org", ["b@example.org"], HEADER, ["x"],
                                                   server.port, tls_encode=tls))
    assert server.handler.mail_commands == []


def test_a_blocking_only_provider_is_refused_under_asyncio_before_connecting(start_server):
    server = start_server(starttls=True, require_starttls=True)
    with pytest.raises(errors.InvalidArgument, match="wrap_async"):
        asyncio.run(smtpunit.aio.smtp_send_message(HOST, "a@example.org", ["b@example.org"], HEADER, ["x"],
                                                   server.port, tls_encode=BlockingOnly()))
    assert server.handler.mail_commands == []


@implementer(ITLSUpgrader, IAsyncTLSUpgrader)
class NoEncryption:
    """Claims to upgrade, and leaves the connection as it was."""

    def wrap(self, connection, server_hostname, timeout):
        return connection

    async def wrap_async(self, connection, server_hostname, timeout):
        return connection


def test_a_provider_that_does_not_encrypt_fails_the_handshake_before_auth(start_server):
    server = start_server(starttls=True, require_starttls=True, auth=True)
    for send in (lambda **o: smtpunit.smtp_send_message(HOST, "a@example.org", ["b@example.org"], HEADER, ["x"],
                                                         server.port, **o),
                 lambda **o: asyncio.run(smtpunit.aio.smtp_send_message(
                     HOST, "a@example.org", ["b@example.org"], HEADER, ["x"], server.port, **o))):
        with pytest.raises(errors.TLSHandshakeError, match="unencrypted"):
            send(tls_encode=NoEncryption(), auth_user="user", auth_passwd="secret")
    assert server.handler.mail_commands == []


def test_implicit_tls_by_a_provider_of_ones_own_works_under_asyncio_too(start_server, certs):
    server = start_server(implicit_tls=True)
    tls = PinnedTLS(certs)
    asyncio.run(smtpunit.aio.smtp_send_message(HOST, "a@example.org", ["b@example.org"], HEADER, ["x"],
                                               server.port, tls_encode=tls, tls_policy="implicit"))
    assert tls.handshakes == ["asyncio"] and server.handler.messages[0].tls


def test_a_registrys_unnamed_tls_slot_given_as_tls_encode_is_what_it_stands_for(start_server, certs):
    server = start_server(starttls=True, require_starttls=True)
    registry = smtpunit.default_registry()
    registry.registerUtility(PinnedTLS(certs), ITLSUpgrader, "ssl")
    given = registry.getUtility(ITLSUpgrader)  # the alias of the named slot
    asyncio.run(smtpunit.aio.smtp_send_message(HOST, "a@example.org", ["b@example.org"], HEADER, ["x"],
                                               server.port, tls_encode=given))
    assert registry.getUtility(ITLSUpgrader, "ssl").handshakes == ["asyncio"]


def test_a_subclass_of_sslcontexttls_runs_its_own_handshake_for_implicit_tls_under_asyncio(start_server, certs):
    from smtpunit.providers.tls import SSLContextTLS

    class Counting(SSLContextTLS):
        calls = 0

        async def wrap_async(self, connection, server_hostname, timeout):
            Counting.calls += 1  # its own checks would go here
            return await super().wrap_async(connection, server_hostname, timeout)

    server = start_server(implicit_tls=True)
    asyncio.run(smtpunit.aio.smtp_send_message(HOST, "a@example.org", ["b@example.org"], HEADER, ["x"],
                                               server.port, tls_encode=Counting(certs.client_context()),
                                               tls_policy="implicit"))
    assert Counting.calls == 1 and server.handler.messages[0].tls
