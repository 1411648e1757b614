"""Sessions against Postfix: PIPELINING with smtp-sink and smtpd, BDAT with smtpd."""

from __future__ import annotations

from typing import Any

import pytest
from postfix import HOST, REFUSED, PostfixInstance, start_smtp_sink
from postfix import postfix as postfix_fixture  # noqa: F401
from zope.interface import implementer

import smtpunit
from smtpunit import errors
from smtpunit.interfaces import IConnection, ITransport
from smtpunit.providers import TCPTransport


@implementer(IConnection)
class CountingConnection:
    """Counts writes and round trips: a write after a read starts a new round trip."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.writes: list[bytes] = []
        self.round_trips = 0
        self._read_since_write = True

    server_hostname = property(lambda self: self.inner.server_hostname)
    secure = property(lambda self: self.inner.secure)
    loopback = property(lambda self: self.inner.loopback)
    socket = property(lambda self: self.inner.socket)

    def send(self, data: bytes, timeout: float) -> None:
        if self._read_since_write:
            self.round_trips += 1
            self._read_since_write = False
        self.writes.append(bytes(data))
        self.inner.send(data, timeout)

    def receive(self, max_bytes: int, timeout: float) -> bytes:
        self._read_since_write = True
        return self.inner.receive(max_bytes, timeout)

    def close(self) -> None:
        self.inner.close()


@implementer(ITransport)
class CountingTransport:
    def __init__(self) -> None:
        self.connections: list[CountingConnection] = []

    def connect(self, host: str, port: int, timeout: float) -> CountingConnection:
        connection = CountingConnection(TCPTransport().connect(host, port, timeout))
        self.connections.append(connection)
        return connection


def header(to: str, subject: str) -> str:
    return (f"From: sender@example.org\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-Id: <{subject.replace(' ', '-')}@example.org>\r\nDate: Sat, 28 Nov 2026 12:00:00 +0000\r\n\r\n")


def test_send_many_to_smtp_sink_costs_one_round_trip_per_message():
    transport = CountingTransport()
    messages = [("a@example.org", ["b@example.org"], "Subject: sink\r\n\r\n", [f"message {n}"]) for n in range(20)]
    with start_smtp_sink() as sink:
        with smtpunit.connect(HOST, sink.port, tcp_connect=transport) as session:
            assert session.capabilities.supports("PIPELINING")
            outcomes = session.send_many(messages)
    assert all(isinstance(o, smtpunit.SendResult) for o in outcomes)
    (connection,) = transport.connections
    # greeting+EHLO, then one per message (its data and "." go with the next envelope), then QUIT
    assert connection.round_trips <= 20 + 3
    # each message's data, its "." and the next message's envelope: one write
    assert sum(w.startswith(b"Subject: sink\r\n\r\nmessage ")
               and w.endswith(b"\r\n.\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n")
               for w in connection.writes) == 19


def test_one_shot_pipelines_with_racket_bytes(postfix: PostfixInstance):
    transport = CountingTransport()
    rcpt = postfix.address("oneshot")
    smtpunit.smtp_send_message(HOST, "sender@example.org", [rcpt], header(rcpt, "one shot"), ["x"],
                               postfix.port, tcp_connect=transport)
    (connection,) = transport.connections
    assert f"MAIL FROM:<sender@example.org>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n".encode() in connection.writes
    assert b"".join(connection.writes).startswith(b"EHLO localhost\r\nMAIL FROM:<sender@example.org>\r\n")
    assert postfix.messages(to=rcpt)[0].body == b"x\r\n"


def test_refused_recipient_inside_a_pipelined_group(postfix: PostfixInstance):
    first, last = postfix.address("group-a"), postfix.address("group-b")
    recipients = [first, REFUSED, last]
    with smtpunit.connect(HOST, postfix.port) as session:
        with pytest.raises(errors.RecipientsRefused) as caught:
            session.send("sender@example.org", recipients, header(first, "all or nothing"), ["x"])
    assert [r.reply.code for r in caught.value.recipients] == [250, 550, 250]
    assert caught.value.recipients[1].reply.enhanced_status == "5.1.1"
    postfix.assert_nothing_delivered(first)

    with smtpunit.connect(HOST, postfix.port) as session:
        result = session.send("sender@example.org", recipients, header(first, "to the accepted"), ["y"],
                              partial_delivery=True)
    assert result.accepted == (first, last)
    assert [r.address for r in result.refused] == [REFUSED]
    assert postfix.messages(to=last)[0].body == b"y\r\n"


def test_bdat_is_used_with_smtpd_and_the_message_arrives_unchanged(postfix: PostfixInstance):
    assert postfix is not None
    transport = CountingTransport()
    rcpt = postfix.address("bdat")
    lines = [".starts with a dot", ".", "ünïcödé", "x" * 998, ""]
    with smtpunit.connect(HOST, postfix.port, tcp_connect=transport) as session:
        assert session.capabilities.supports("CHUNKING")
        session.send("sender@example.org", [rcpt], header(rcpt, "bdat"), lines)
    sent = b"".join(transport.connections[0].writes)
    assert b"BDAT " in sent and b"\r\nDATA\r\n" not in sent and b"BODY=8BITMIME" in sent
    assert postfix.messages(to=rcpt)[0].body == b"".join(line.encode() + b"\r\n" for line in lines)


def test_big_message_in_pipelined_bdat_chunks(postfix: PostfixInstance):
    rcpt = postfix.address("bigbdat")
    lines = [f"{n:08d} " + "y" * 70 for n in range(40_000)]  # about 3 MB: several chunks
    transport = CountingTransport()
    with smtpunit.connect(HOST, postfix.port, tcp_connect=transport) as session:
        session.send("sender@example.org", [rcpt], header(rcpt, "big bdat"), lines)
    sent = b"".join(transport.connections[0].writes)
    assert sent.count(b"BDAT ") >= 3 and sent.count(b" LAST\r\n") == 1
    assert postfix.messages(to=rcpt)[0].body == "".join(f"{line}\r\n" for line in lines).encode()


def test_send_many_with_bdat_across_messages(postfix: PostfixInstance):
    recipients = [postfix.address(f"many-{n}") for n in range(5)]
    with smtpunit.connect(HOST, postfix.port) as session:
        outcomes = session.send_many([("sender@example.org", [r], header(r, f"many {n}"), [f"body {n}"])
                                      for n, r in enumerate(recipients)])
    assert all(isinstance(o, smtpunit.SendResult) for o in outcomes)
    for n, rcpt in enumerate(recipients):
        assert postfix.messages(to=rcpt)[0].body == f"body {n}\r\n".encode()


def test_a_batch_sends_each_message_data_once_whatever_came_before(postfix: PostfixInstance):
    """The data made ahead (while the previous reply is awaited) goes out only for its
    own message: after a refused envelope, around a stream, with a dot-stuffed line."""
    from smtpunit.core.commands import prepare_envelope, prepare_stream_envelope

    first, third, fourth, fifth = (postfix.address(f"batch-{n}") for n in (1, 3, 4, 5))
    envelopes = [
        prepare_envelope("sender@example.org", [first], header(first, "batch 1"), ["first"]),
        prepare_envelope("sender@example.org", [REFUSED], header(REFUSED, "batch 2"), ["never sent"]),
        prepare_envelope("sender@example.org", [third], header(third, "batch 3"), [".third"]),
        prepare_stream_envelope("sender@example.org", [fourth], header(fourth, "batch 4"), iter(["fourth"])),
        prepare_envelope("sender@example.org", [fifth], header(fifth, "batch 5"), ["fifth"]),
    ]
    transport = CountingTransport()
    with smtpunit.connect(HOST, postfix.port, tcp_connect=transport, chunking=False) as session:
        assert session.capabilities.supports("PIPELINING")
        outcomes = session.send_envelopes(envelopes)
    assert [type(o) for o in outcomes] == [smtpunit.SendResult, errors.RecipientsRefused, smtpunit.SendResult,
                                           smtpunit.SendResult, smtpunit.SendResult]
    for rcpt, body in ((first, b"first\r\n"), (third, b".third\r\n"), (fourth, b"fourth\r\n"), (fifth, b"fifth\r\n")):
        assert postfix.messages(to=rcpt)[0].body == body
    sent = b"".join(transport.connections[0].writes)
    assert b"never sent" not in sent
    assert [sent.count(b"\r\n\r\n" + data + b"\r\n.\r\n") for data in (b"first", b"..third", b"fourth", b"fifth")] \
        == [1, 1, 1, 1]


@pytest.mark.parametrize("chunking", [False, True], ids=["DATA", "BDAT"])
def test_the_transcript_names_every_pipelined_command_in_the_order_sent(postfix: PostfixInstance, caplog,
                                                                        chunking: bool):
    """Pipelined groups are logged command by command, as they go out: the message's
    own, those sent ahead with the previous end, and the RSET after a refusal."""
    first, third_a, third_b = (postfix.address(f"log-{name}-{chunking}") for name in ("1", "3a", "3b"))
    messages = [("sender@example.org", [first], header(first, "log 1"), ["one"]),
                ("sender@example.org", [REFUSED], header(REFUSED, "log 2"), ["two"]),
                ("sender@example.org", [third_a, third_b], header(third_a, "log 3"), ["three"])]
    transport = CountingTransport()
    with caplog.at_level("DEBUG", logger="smtpunit.transcript"):
        with smtpunit.connect(HOST, postfix.port, tcp_connect=transport, chunking=chunking) as session:
            assert session.capabilities.supports("PIPELINING")
            assert session.capabilities.supports("CHUNKING")
            outcomes = session.send_many(messages)
    assert [type(o) for o in outcomes] == [smtpunit.SendResult, errors.RecipientsRefused, smtpunit.SendResult]
    logged = [m.removeprefix("C: ") for m in caplog.messages if m.startswith("C: ")]
    logged = logged[logged.index("MAIL FROM:<sender@example.org>"):]

    def end(message: tuple) -> list[str]:
        _sender, _to, head, (body,) = message
        return (["<message data in BDAT chunks>", f"BDAT {len(head) + len(body) + 2} LAST"]
                if chunking else ["<message data>", "."])

    mail = "MAIL FROM:<sender@example.org>"
    data = [] if chunking else ["DATA"]
    assert logged == [mail, f"RCPT TO:<{first}>", *data, *end(messages[0]),
                      mail, f"RCPT TO:<{REFUSED}>", *data,
                      "RSET", mail, f"RCPT TO:<{third_a}>", f"RCPT TO:<{third_b}>", *data, *end(messages[2]),
                      "QUIT"]
    sent, position = b"".join(transport.connections[0].writes), 0
    for command in logged:
        if not command.startswith("<"):
            position = sent.index(command.encode() + b"\r\n", position) + len(command) + 2


def test_a_refused_recipient_does_not_sink_the_rest_of_a_pipelined_data_batch(postfix: PostfixInstance):
    # Once: DATA went ahead with the RCPTs, the server answered 354, and closing the
    # connection was the only way not to send the refused message: the two after it
    # came back as SMTPConnectionClosed, never sent. Now they go over a new connection.
    first, second, third = (postfix.address(f"sink-{n}") for n in range(3))
    transport = CountingTransport()
    messages = [("sender@example.org", [first, REFUSED], header(first, "refused"), ["x"]),
                ("sender@example.org", [second], header(second, "second"), ["y"]),
                ("sender@example.org", [third, second], header(third, "third"), ["z"])]
    with smtpunit.connect(HOST, postfix.port, tcp_connect=transport, chunking=False) as session:
        assert session.capabilities.supports("PIPELINING")
        outcomes = session.send_many(messages)
        assert not session.closed
        session.send("sender@example.org", [third], header(third, "after"), ["w"])
    assert isinstance(outcomes[0], errors.RecipientsRefused)
    assert [(o.accepted, o.reconnected) for o in outcomes[1:]] == [((second,), True), ((third, second), True)]
    assert len(transport.connections) == 2
    assert b"RCPT TO:<" + REFUSED.encode() + b">\r\nDATA\r\n" in b"".join(transport.connections[0].writes)
    postfix.assert_nothing_delivered(first)
    assert sorted(m.body for m in postfix.messages(to=third)) == [b"w\r\n", b"z\r\n"]
