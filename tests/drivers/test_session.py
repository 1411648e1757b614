"""Sessions: one connection, many messages, against real servers on 127.0.0.1."""

from __future__ import annotations

import pytest
from conftest import HOST, PASSWORD, USER

import smtpunit
from smtpunit import errors
from smtpunit.providers import TCPTransport
from smtpunit.testing import MemoryServer, MemoryTransport, Recorder

HEADER = "Subject: session\r\n\r\n"


def message(n: int, to=("b@example.org",)):
    return ("a@example.org", list(to), HEADER, [f"message {n}"])


def test_one_connection_many_messages(start_server):
    server = start_server()
    recorder = Recorder()
    with smtpunit.connect(HOST, server.port, tcp_connect=recorder.transport(TCPTransport())) as session:
        for n in range(3):
            result = session.send(*message(n))
            assert result.accepted == ("b@example.org",)
    bodies = [m.content.split(b"\r\n\r\n", 1)[1] for m in server.handler.messages]
    assert bodies == [f"message {n}\r\n".encode() for n in range(3)]
    assert bytes(recorder.sent).count(b"EHLO") == 1 and bytes(recorder.sent).endswith(b"QUIT\r\n")


def test_failed_message_is_reset_and_the_session_goes_on(start_server):
    server = start_server(refuse=frozenset({"bad@example.org"}))
    recorder = Recorder()
    with smtpunit.connect(HOST, server.port, tcp_connect=recorder.transport(TCPTransport())) as session:
        with pytest.raises(errors.RecipientsRefused):
            session.send(*message(1, to=("bad@example.org",)))
        session.send(*message(2))
        assert not session.closed
    assert b"RSET\r\nMAIL FROM:<a@example.org>" in recorder.sent
    assert len(server.handler.messages) == 1


def test_send_many_reports_each_outcome(start_server):
    server = start_server(refuse=frozenset({"bad@example.org"}))
    with smtpunit.connect(HOST, server.port) as session:
        outcomes = session.send_many([message(1), message(2, to=("bad@example.org",)), message(3)])
    assert isinstance(outcomes[0], smtpunit.SendResult) and isinstance(outcomes[2], smtpunit.SendResult)
    assert isinstance(outcomes[1], errors.RecipientsRefused) and outcomes[1].code == 550
    assert len(server.handler.messages) == 2


def test_send_many_checks_every_message_before_sending(start_server):
    server = start_server()
    with smtpunit.connect(HOST, server.port) as session:
        with pytest.raises(errors.InvalidAddress):
            session.send_many([message(1), ("a@example.org", ["bad address"], HEADER, ["x"])])
        assert server.handler.mail_commands == []
        session.send(*message(3))


def test_noop_and_reset(start_server):
    server = start_server()
    with smtpunit.connect(HOST, server.port) as session:
        assert session.noop().code == 250
        session.reset()


def test_session_with_starttls_and_auth(start_server, certs):
    server = start_server(starttls=True, require_starttls=True, auth=True)
    with smtpunit.connect(HOST, server.port, tls_encode=certs.client_context(), auth_user=USER,
                          auth_passwd=PASSWORD) as session:
        assert session.capabilities.supports("AUTH")
        session.send(*message(1))
        session.send(*message(2))
    assert [m.authenticated for m in server.handler.messages] == [USER, USER]


def test_closed_session_refuses_to_send(start_server):
    server = start_server()
    session = smtpunit.connect(HOST, server.port)
    session.close()
    session.close()  # idempotent
    with pytest.raises(errors.SMTPConnectionClosed):
        session.send(*message(1))


def test_pipelining_across_messages_with_the_memory_server():
    server = MemoryServer(extensions=("PIPELINING", "8BITMIME"))
    recorder = Recorder()
    with smtpunit.connect("mail.invalid", tcp_connect=recorder.transport(MemoryTransport(server))) as session:
        outcomes = session.send_many([message(n) for n in range(3)])
    assert all(isinstance(o, smtpunit.SendResult) for o in outcomes)
    assert [m.data for m in server.messages] == [f"Subject: session\r\n\r\nmessage {n}\r\n".encode() for n in range(3)]
    # one message's end of data shares a write with the next message's envelope
    assert b".\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n" in recorder.sent


def test_end_of_message_failure_closes_the_session(start_server):
    server = start_server()
    session = smtpunit.connect(HOST, server.port)

    def interrupt() -> None:
        raise RuntimeError("stop")

    with smtpunit.smtp_sending_end_of_message.parameterize(interrupt):
        with pytest.raises(RuntimeError):
            session.send(*message(1))
    assert session.closed
    assert server.handler.messages == []


@pytest.mark.parametrize("value", ["no", 0, 1, "false"])
def test_an_ill_typed_partial_delivery_is_refused_before_anything_is_sent(start_server, value):
    server = start_server()
    with smtpunit.connect(HOST, server.port) as session:
        with pytest.raises(TypeError, match="partial_delivery"):
            session.send("a@example.org", ["b@example.org"], "Subject: s\r\n\r\n", ["x"], partial_delivery=value)
        assert not session.closed
        session.send("a@example.org", ["b@example.org"], "Subject: s\r\n\r\n", ["y"], partial_delivery=False)
    assert server.handler.mail_commands == ["a@example.org"]


# -- a refusal while the server waits for data ----------------------------------------

REFUSING = ("a@example.org", ["b@example.org", "refused@example.org"], HEADER, ["must reach both or neither"])


def pipelining_server() -> MemoryServer:
    return MemoryServer(extensions=("PIPELINING", "8BITMIME"), refuse={"refused@example.org"})


def test_the_rest_of_the_batch_goes_over_a_new_connection():
    server = pipelining_server()
    with smtpunit.connect("mail.invalid", tcp_connect=MemoryTransport(server)) as session:
        outcomes = session.send_many([message(0), REFUSING, message(2), message(3)])
        assert not session.closed
        after = session.send(*message(4))
    assert isinstance(outcomes[0], smtpunit.SendResult) and not outcomes[0].reconnected
    assert isinstance(outcomes[1], errors.RecipientsRefused)
    assert [o.reconnected for o in outcomes[2:]] == [True, True] and not after.reconnected
    assert server.connections == 2
    assert [m.data.split(b"\r\n\r\n", 1)[1] for m in server.messages] == [
        b"message 0\r\n", b"message 2\r\n", b"message 3\r\n", b"message 4\r\n"]


def test_the_rest_of_the_batch_goes_over_a_new_connection_under_asyncio():
    import asyncio

    import smtpunit.aio
    from smtpunit.testing import AsyncMemoryTransport

    server = pipelining_server()

    async def main():
        async with await smtpunit.aio.connect("mail.invalid", tcp_connect=AsyncMemoryTransport(server)) as session:
            return await session.send_many([REFUSING, message(1)])

    outcomes = asyncio.run(main())
    assert isinstance(outcomes[0], errors.RecipientsRefused) and outcomes[1].reconnected
    assert server.connections == 2 and [m.data.endswith(b"message 1\r\n") for m in server.messages] == [True]


def test_no_new_connection_when_nothing_is_left_to_send():
    server = pipelining_server()
    with smtpunit.connect("mail.invalid", tcp_connect=MemoryTransport(server)) as session:
        outcomes = session.send_many([message(0), REFUSING])
        assert session.closed  # the connection had to go, and nothing needed another
    assert isinstance(outcomes[1], errors.RecipientsRefused) and server.connections == 1


def test_when_no_new_connection_can_be_had_the_rest_stay_not_attempted():
    server = pipelining_server()

    def only_once(host, port):
        if server.connections:
            raise ConnectionRefusedError("the server is gone")
        return MemoryTransport(server).connect(host, port, 5.0)

    with smtpunit.connect("mail.invalid", tcp_connect=only_once) as session:
        outcomes = session.send_many([REFUSING, message(1)])
        assert session.closed
    assert isinstance(outcomes[1], errors.NotAttempted) and server.messages == []


def test_probe_asks_as_a_send_would_and_delivers_nothing():
    from smtpunit import DSN
    from smtpunit.core.commands import prepare_envelope

    server = MemoryServer(extensions=("PIPELINING", "8BITMIME", "DSN"), refuse={"refused@example.org"})
    recorder = Recorder()
    envelope = prepare_envelope("a@example.org", ["b@example.org", "refused@example.org"], HEADER, ["caf\u00e9"])
    with smtpunit.connect("mail.invalid", tcp_connect=recorder.transport(MemoryTransport(server)),
                          dsn=DSN(notify=("FAILURE",))) as session:
        replies = session.probe(envelope)
        assert [r.code for r in replies] == [250, 250, 550]
        assert [r.code for r in session.probe(envelope, recipients=False)] == [250]
    sent = bytes(recorder.sent)
    assert b"MAIL FROM:<a@example.org> BODY=8BITMIME\r\n" in sent
    assert b"RCPT TO:<b@example.org> NOTIFY=FAILURE ORCPT=rfc822;b@example.org\r\n" in sent
    assert sent.count(b"RSET\r\n") == 2 and b"DATA" not in sent and server.messages == []
