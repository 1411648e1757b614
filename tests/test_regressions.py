"""Regressions: each test names the fault it keeps from coming back."""

from __future__ import annotations

import socket

import pytest

import smtpunit
from smtpunit import errors
from smtpunit.core.commands import Envelope, prepare_envelope, prepare_raw_envelope, prepare_stream_envelope
from smtpunit.core.content import LinesContent, check_body, encode_line
from smtpunit.testing import MemoryServer, MemoryTransport
from smtpunit.testing.scripted import Expect, ExpectData, Reply, ScriptedServer, standard_session

HEADER = "Subject: regression\r\n\r\n"


def test_a_message_refused_at_its_end_does_not_resend_the_next_envelope():
    group = [Expect("MAIL FROM:<"), Expect("RCPT TO:<"), Expect("DATA", exact=True),
             Reply("250 2.1.0 ok", "250 2.1.5 ok", "354 go ahead")]
    script = [*standard_session(["PIPELINING"]),
              *group, ExpectData(), Reply("554 5.7.1 content rejected"),
              *group, ExpectData(), Reply("250 2.0.0 queued"),
              Expect("QUIT", exact=True), Reply("221 bye")]
    with ScriptedServer(script) as server:
        with smtpunit.connect("127.0.0.1", server.port) as session:
            outcomes = session.send_many([("a@example.org", ["b@example.org"], HEADER, ["first"]),
                                          ("a@example.org", ["b@example.org"], HEADER, ["second"])])
    assert isinstance(outcomes[0], errors.SMTPReplyError) and outcomes[0].phase == "data-end"
    assert isinstance(outcomes[1], smtpunit.SendResult)
    assert server.peers[0].received.count(b"MAIL FROM:") == 2


def test_a_bad_streamed_line_keeps_the_results_of_the_messages_before_it():
    server = MemoryServer(extensions=("PIPELINING",))
    good = prepare_envelope("a@example.org", ["b@example.org"], HEADER, ["fine"])
    bad = prepare_stream_envelope("a@example.org", ["b@example.org"], HEADER, iter(["x", "bad\r\nline"]))
    after = prepare_envelope("a@example.org", ["b@example.org"], HEADER, ["never sent"])
    with smtpunit.connect("mail.invalid", tcp_connect=MemoryTransport(server)) as session:
        outcomes = session.send_envelopes([good, bad, after])
        assert session.closed
    assert isinstance(outcomes[0], smtpunit.SendResult)
    assert isinstance(outcomes[1], errors.InvalidMessageLine)
    assert isinstance(outcomes[2], errors.SMTPConnectionClosed)
    assert len(server.messages) == 1


def test_the_pool_counts_right_when_the_retry_cannot_connect(monkeypatch):
    from smtpunit import pool as pool_module

    class Dead:
        closed = False

        def send_envelopes(self, envelopes, **options):
            self.closed = True
            return [errors.SMTPConnectionClosed("gone")]

        def close(self):
            self.closed = True

    class Alive(Dead):
        def send_envelopes(self, envelopes, **options):
            return [smtpunit.SendResult((), smtpunit.core.reply.Reply(250, ("ok",)))]

    made = []

    def connect():
        if len(made) == 2:
            raise errors.SMTPTransportError("cannot connect")
        made.append(Alive() if not made else Dead())
        return made[-1]

    monkeypatch.setattr(pool_module, "_server_went_away", lambda session: False)
    pool = smtpunit.Pool("127.0.0.1", 25, size=1, connect=connect)
    pool.send("a@example.org", ["b@example.org"], HEADER, ["1"])
    pool._idle[0][0].__class__ = Dead  # the idle connection died meanwhile
    with pytest.raises(errors.SMTPTransportError):
        pool.send("a@example.org", ["b@example.org"], HEADER, ["2"])
    assert pool._open == 0


def test_smtp_send_message_star_closes_the_connection_on_bad_input():
    left, right = socket.socketpair()
    with right:
        with pytest.raises(errors.InvalidAddress):
            smtpunit.smtp_send_message_star(left, "a@b.org\r\nRCPT TO:<x@y>", ["b@example.org"], HEADER, ["x"])
        assert left.fileno() == -1


def test_an_envelope_built_by_hand_cannot_smuggle_commands():
    server = MemoryServer()
    with pytest.raises(errors.InvalidAddress):
        forged = Envelope("a@example.org>\r\nRCPT TO:<evil@example.org", ("b@example.org",),
                          LinesContent(b"Subject: x\r\n\r\n", b"x\r\n"))
        smtpunit.send_envelope("mail.invalid", forged, tcp_connect=MemoryTransport(server))
    assert b"evil" not in server.received


def test_a_procedure_returning_something_else_than_a_socket_is_an_input_error():
    with pytest.raises(errors.InvalidArgument):
        smtpunit.smtp_send_message("mail.invalid", "a@example.org", ["b@example.org"], HEADER, ["x"],
                                   tcp_connect=lambda host, port: "not a socket")


def test_an_infinite_timeout_is_refused():
    with pytest.raises(errors.InvalidArgument):
        smtpunit.Timeouts.coerce(float("inf"))


def test_credentials_a_named_mechanism_cannot_carry_are_refused_before_connecting():
    server = MemoryServer()
    with pytest.raises(errors.InvalidArgument, match="XOAUTH2") as caught:
        smtpunit.smtp_send_message("mail.invalid", "a@example.org", ["b@example.org"], HEADER, ["x"],
                                   tcp_connect=MemoryTransport(server), auth_user="user\x01x",
                                   auth_passwd="token-secret", auth_mechanism="XOAUTH2")
    assert server.connections == 0 and "token-secret" not in str(caught.value)


def test_an_envelope_keeps_its_checked_recipients_as_they_were_checked():
    content = LinesContent(b"Subject: x\r\n\r\n", b"x\r\n")
    recipients = ["b@example.org"]
    envelope = Envelope("a@example.org", recipients, content)
    recipients.append("c@example.org>\r\nRSET\r\nMAIL FROM:<evil@example.org")
    assert envelope.recipients == ("b@example.org",)
    with pytest.raises(errors.InvalidArgument):
        Envelope("a@example.org", "b@example.org", content)  # type: ignore[arg-type]


_SMUGGLED = "x\r\n.\r\nMAIL FROM:<evil@example.org>\r\nRSET"


class _SneakyStr(str):
    """A str whose encode() hands out a buffer the caller can change later."""

    buffer = bytearray(b"second")

    def encode(self, *args, **kwargs):  # type: ignore[override]
        return self.buffer


@pytest.mark.parametrize("make_lines", [
    lambda: ["first", "second"],  # all str
    lambda: ["first", bytearray(b"second")],  # a mutable line
    lambda: [b"first", _SneakyStr("second")],  # a str subclass with its own encode()
], ids=["str", "bytearray", "str-subclass"])
def test_an_envelope_sends_its_lines_as_they_were_checked(make_lines):
    """The lines are joined only when sent; changing the caller's list, or a line in
    it, after the check must not change (or smuggle into) what is sent."""
    lines = make_lines()
    _SneakyStr.buffer[:] = b"second"
    envelope = prepare_envelope("a@example.org", ["b@example.org"], HEADER, lines)
    lines[0] = _SMUGGLED
    if isinstance(lines[1], bytearray):
        lines[1][:] = _SMUGGLED.encode()
    _SneakyStr.buffer[:] = _SMUGGLED.encode()
    server = MemoryServer()
    smtpunit.send_envelope("mail.invalid", envelope, tcp_connect=MemoryTransport(server))
    assert b"first\r\nsecond\r\n.\r\n" in server.received
    assert b"evil" not in server.received and b"RSET" not in server.received


def test_a_raw_bytearray_is_sent_as_it_was_checked():
    data = bytearray(b"Subject: x\r\n\r\nchecked\r\n")
    envelope = prepare_raw_envelope("a@example.org", ["b@example.org"], data)
    data[-9:] = b"x\r\n.\r\nRSET\r\n"
    server = MemoryServer()
    smtpunit.send_envelope("mail.invalid", envelope, tcp_connect=MemoryTransport(server))
    assert b"\r\n\r\nchecked\r\n.\r\n" in server.received and b"RSET" not in server.received


class _LyingBytes(bytes):
    def __bytes__(self):
        return b"x\r\n.\r\nRSET"


@pytest.mark.parametrize("line", [_SneakyStr("second"), _LyingBytes(b"second")], ids=["str-encode", "bytes-dunder"])
def test_a_line_is_its_own_octets_to_every_check(line):
    """encode_line (streams, one line at a time) and check_body (lines checked
    together) both take a subclass's real octets, not what its methods say."""
    _SneakyStr.buffer[:] = _SMUGGLED.encode()
    assert encode_line(line, 1) == b"second\r\n"
    assert check_body([line, b"x"]).encode() == b"second\r\nx\r\n"


def test_a_file_envelope_with_a_bad_address_reads_nothing_of_the_file():
    import io

    from smtpunit.core.commands import prepare_file_envelope

    source = io.BytesIO(b"Subject: x\r\n\r\nbody\r\n")
    with pytest.raises(errors.InvalidAddress):
        prepare_file_envelope("a@example.org", ["bad address"], source)
    assert source.tell() == 0


def test_results_stay_immutable_and_survive_pickling_and_copying():
    """Results are frozen: nothing can be set on them, field or not, and the error
    says so (a slotted frozen dataclass would raise a TypeError from super() for a
    new attribute); they travel (to another process, through a queue) and copy
    unchanged."""
    import copy
    import dataclasses
    import pickle

    server = MemoryServer(extensions=("PIPELINING",))
    with smtpunit.connect("mail.invalid", tcp_connect=MemoryTransport(server)) as session:
        result = session.send("a@example.org", ["b@example.org", "c@example.org"], HEADER, ["body"])
    assert isinstance(result, smtpunit.SendResult) and len(result.recipients) == 2
    for value in (result, result.recipients[0], result.reply):
        assert pickle.loads(pickle.dumps(value)) == value
        assert copy.deepcopy(value) == value and copy.copy(value) == value
        with pytest.raises(dataclasses.FrozenInstanceError):
            value.reply = None  # type: ignore[misc]
        with pytest.raises(dataclasses.FrozenInstanceError):
            value.extra = 1  # type: ignore[attr-defined]
