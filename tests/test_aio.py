"""The asyncio API against real servers on 127.0.0.1: same features, same errors, same bounds."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from conftest import HOST, PASSWORD, USER
from zope.interface.verify import verifyObject

import smtpunit
import smtpunit.aio
from smtpunit import errors
from smtpunit.interfaces import IAsyncConnection, IAsyncTransport
from smtpunit.providers.async_tcp import AsyncTCPTransport

HEADER = "Subject: aio\r\n\r\n"


def run(coroutine):
    return asyncio.run(coroutine)


def send(port: int, **options):
    return smtpunit.aio.smtp_send_message(HOST, "a@example.org", ["b@example.org"], HEADER, ["x", ".dot"], port,
                                          **options)


def test_one_shot_delivers_the_same_data(start_server):
    server = start_server()
    result = run(send(server.port))
    assert result.accepted == ("b@example.org",)
    assert server.handler.messages[0].content == HEADER.encode() + b"x\r\n.dot\r\n"


def test_starttls_and_auth(start_server, certs):
    server = start_server(starttls=True, require_starttls=True, auth=True)
    run(send(server.port, tls_encode=certs.client_context(), auth_user=USER, auth_passwd=PASSWORD))
    message = server.handler.messages[0]
    assert message.tls and message.authenticated == USER


def test_starttls_verifies_by_default(start_server):
    server = start_server(starttls=True, require_starttls=True)
    with pytest.raises(errors.TLSHandshakeError):
        run(send(server.port, tls_encode=True))
    assert server.handler.mail_commands == []


def test_implicit_tls(start_server, certs):
    server = start_server(implicit_tls=True)
    run(send(server.port, tls_encode=certs.client_context(), tls_policy="implicit"))
    assert server.handler.messages[0].tls


def test_session_sends_many_and_resets_after_a_failure(start_server):
    server = start_server(refuse=frozenset({"bad@example.org"}))

    async def main():
        async with await smtpunit.aio.connect(HOST, server.port) as session:
            first = await session.send("a@example.org", ["b@example.org"], HEADER, ["1"])
            outcomes = await session.send_many([
                ("a@example.org", ["bad@example.org"], HEADER, ["2"]),
                ("a@example.org", ["b@example.org"], HEADER, ["3"]),
            ])
            assert (await session.noop()).code == 250
            return first, outcomes

    first, outcomes = run(main())
    assert first.reply.code == 250
    assert isinstance(outcomes[0], errors.RecipientsRefused) and isinstance(outcomes[1], smtpunit.SendResult)
    assert len(server.handler.messages) == 2


def test_concurrent_sessions(start_server):
    server = start_server()

    async def one(n: int):
        async with await smtpunit.aio.connect(HOST, server.port) as session:
            await session.send("a@example.org", ["b@example.org"], HEADER, [f"task {n}"])

    async def main():
        await asyncio.gather(*(one(n) for n in range(5)))

    run(main())
    assert len(server.handler.messages) == 5


def test_a_silent_server_times_out():
    with socket.create_server((HOST, 0)) as silent:  # accepts (in the backlog) and never speaks
        started = time.monotonic()
        with pytest.raises(errors.SMTPTimeout) as caught:
            run(send(silent.getsockname()[1], timeout=smtpunit.Timeouts(reply=0.5)))
        assert time.monotonic() - started < 3
    assert caught.value.phase == "greeting"


def test_bad_input_is_refused_before_connecting():
    with pytest.raises(errors.InvalidAddress):
        run(smtpunit.aio.smtp_send_message(HOST, "a@b.org\r\nRCPT TO:<x@y>", ["b@example.org"], HEADER, ["x"], 1))


def test_tls_procedure_is_refused_for_asyncio():
    with pytest.raises(errors.InvalidArgument, match="asyncio"):
        run(send(1, tls_encode=lambda sock, server_hostname: sock))


def test_async_transport_verifies(start_server):
    server = start_server()
    transport = AsyncTCPTransport()
    assert verifyObject(IAsyncTransport, transport)

    async def main():
        connection = await transport.connect(HOST, server.port, 5)
        try:
            assert verifyObject(IAsyncConnection, connection)
            assert connection.loopback and not connection.secure
            assert (await connection.receive(1024, 5)).startswith(b"220 ")
        finally:
            connection.close()

    run(main())


def test_aio_send_many_sends_every_message_over_one_connection(start_server):
    server = start_server(refuse=frozenset({"nobody@example.org"}))
    messages = [("a@example.org", ["b@example.org"], "Subject: 1\r\n\r\n", ["one"]),
                ("a@example.org", ["nobody@example.org"], "Subject: 2\r\n\r\n", ["two"])]
    outcomes = asyncio.run(smtpunit.aio.send_many(HOST, messages, server.port))
    assert [type(o).__name__ for o in outcomes] == ["SendResult", "RecipientsRefused"]
    assert [m.rcpt_tos for m in server.handler.messages] == [["b@example.org"]]
    result = asyncio.run(smtpunit.aio.send(HOST, "a@example.org", ["c@example.org"], "Subject: 3\r\n\r\n",
                                           ["three"], server.port))
    assert result.accepted == ("c@example.org",)
