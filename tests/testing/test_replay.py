"""Record a real conversation (aiosmtpd), save it, and replay it with ReplayServer."""

from __future__ import annotations

import json

import pytest
from conftest import HOST

import smtpunit
from smtpunit import errors
from smtpunit.providers import ImplicitTLSTransport, SSLContextTLS, TCPTransport
from smtpunit.testing import (
    CLIENT,
    MISMATCH_REPLY,
    SERVER,
    STARTTLS,
    Conversation,
    ConversationEvent,
    Recorder,
    ReplayMismatch,
    ReplayServer,
    ScriptMismatch,
)

HEADER = "From: a@example.org\r\nSubject: replay\r\n\r\n"
LINES = ["first line", ".dot line"]


def send(port: int, to=("b@example.org", "c@example.org"), **options):
    return smtpunit.smtp_send_message(HOST, "a@example.org", list(to), HEADER, LINES, port, **options)


def first_difference(a: bytes, b: bytes) -> int:
    return next(i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y)


# -- conversations and their files --------------------------------------------------------


def test_conversation_joins_each_sides_bytes_and_round_trips_through_json_lines(tmp_path):
    conversation = Conversation([(SERVER, b"220 hi\r\n"), (CLIENT, b"EHLO x\r\n"), (CLIENT, b""),
                                 (SERVER, b"250 ok\r\n"), (SERVER, b"\xff\x00binary"), (STARTTLS, b""),
                                 (CLIENT, "QUIT é\r\n".encode())])
    assert conversation.events == [
        ConversationEvent(SERVER, b"220 hi\r\n"), ConversationEvent(CLIENT, b"EHLO x\r\n"),
        ConversationEvent(SERVER, b"250 ok\r\n\xff\x00binary"), ConversationEvent(STARTTLS),
        ConversationEvent(CLIENT, "QUIT é\r\n".encode())]
    assert conversation.uses_tls and conversation.client_bytes == "EHLO x\r\nQUIT é\r\n".encode()
    path = tmp_path / "conversation.jsonl"
    conversation.save(path)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records[0] == {"from": "server", "data": "220 hi\r\n"}
    assert records[2]["encoding"] == "base64" and records[3] == {"event": "starttls"}
    assert records[4] == {"from": "client", "data": "QUIT é\r\n"}
    assert path.read_bytes().isascii()
    assert Conversation.load(path) == conversation


@pytest.mark.parametrize("line", ['{"from": "proxy", "data": "x"}', '{"from": "client"}', "[1]", "not json",
                                  '{"from": "client", "data": "!!", "encoding": "base64"}',
                                  '{"event": "starttls", "data": "x"}', '{"from": "client", "data": "x", "n": 1}'])
def test_malformed_conversation_files_name_the_line(tmp_path, line):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"from": "server", "data": "220 hi\\r\\n"}\n' + line + "\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:2: not a conversation event"):
        Conversation.load(path)


def test_recorder_keeps_one_conversation_per_connection(start_server):
    server = start_server()
    recorder = Recorder()
    with pytest.raises(LookupError):
        recorder.conversation  # noqa: B018 -- the property raises
    for _ in range(2):
        send(server.port, tcp_connect=recorder.transport(TCPTransport()))
    first, second = recorder.conversations
    assert first == second and recorder.conversation is second
    assert first.client_bytes + second.client_bytes == bytes(recorder.sent)
    assert first.server_bytes + second.server_bytes == bytes(recorder.received)
    assert [e.kind for e in first][:3] == [SERVER, CLIENT, SERVER]


# -- replay ---------------------------------------------------------------------------------


def test_record_save_and_replay_a_real_conversation(start_server, tmp_path):
    aiosmtpd = start_server()
    recorder = Recorder()
    recorded = send(aiosmtpd.port, tcp_connect=recorder.transport(TCPTransport()))
    path = tmp_path / "send.jsonl"
    recorder.save(path)

    with ReplayServer(path) as replay:
        replayed = send(replay.port)
    assert replayed == recorded
    assert replay.peers[0].received == Conversation.load(path).client_bytes == bytes(recorder.sent)


def test_replay_with_a_changed_recipient_fails_loudly_naming_the_offset(start_server):
    aiosmtpd = start_server()
    recorder = Recorder()
    send(aiosmtpd.port, tcp_connect=recorder.transport(TCPTransport()))
    changed = Recorder()

    with pytest.raises(ReplayMismatch) as caught:
        with ReplayServer(recorder.conversation) as replay:
            with pytest.raises(errors.SMTPError):
                send(replay.port, to=("b@example.org", "carol@example.org"),
                     tcp_connect=changed.transport(TCPTransport()))
    mismatch = caught.value
    offset = first_difference(bytes(recorder.sent), bytes(changed.sent))
    assert mismatch.offset == offset
    assert mismatch.expected == b"RCPT TO:<c@example.org>\r\n"
    assert mismatch.actual == b"RCPT TO:<carol@example.org>\r\n"
    assert f"at byte {offset} (line 4)" in str(mismatch)
    assert isinstance(mismatch, ScriptMismatch) and isinstance(mismatch, AssertionError)
    assert MISMATCH_REPLY in bytes(changed.received)  # what the client was told


def test_replay_of_a_starttls_recording_runs_real_tls(start_server, certs, tmp_path):
    aiosmtpd = start_server(starttls=True, require_starttls=True)
    recorder = Recorder()
    recorded = send(aiosmtpd.port, tcp_connect=recorder.transport(TCPTransport()),
                    tls_encode=recorder.tls(SSLContextTLS(certs.client_context())))
    assert aiosmtpd.handler.messages[0].tls
    path = tmp_path / "starttls.jsonl"
    recorder.save(path)
    assert '{"event": "starttls"}' in path.read_text().splitlines()
    conversation = Conversation.load(path)
    kinds = [e.kind for e in conversation]
    assert kinds.count(STARTTLS) == 1 and b"STARTTLS\r\n" in conversation.client_bytes
    assert conversation.client_bytes.count(b"EHLO") == 2

    with pytest.raises(ValueError, match="tls_context"):
        ReplayServer(conversation)
    with ReplayServer(conversation, tls_context=certs.server_context) as replay:
        replayed = send(replay.port, tls_encode=certs.client_context())
    assert replayed == recorded and replay.peers[0].secure


def test_a_client_that_skips_starttls_diverges_from_a_tls_recording(start_server, certs):
    aiosmtpd = start_server(starttls=True)
    recorder = Recorder()
    send(aiosmtpd.port, tcp_connect=recorder.transport(TCPTransport()),
         tls_encode=recorder.tls(SSLContextTLS(certs.client_context())))
    with pytest.raises(ReplayMismatch, match=r"expected b'STARTTLS\\r\\n', got b'MAIL FROM:<a@example.org>\\r\\n'"):
        with ReplayServer(recorder.conversation, tls_context=certs.server_context) as replay:
            with pytest.raises(errors.SMTPError):
                send(replay.port)


def test_replay_of_implicit_tls_starts_with_the_handshake(start_server, certs):
    aiosmtpd = start_server(implicit_tls=True)
    recorder = Recorder()
    send(aiosmtpd.port, tcp_connect=recorder.transport(ImplicitTLSTransport(certs.client_context())))
    assert recorder.conversation.events[0] == ConversationEvent(STARTTLS)
    with ReplayServer(recorder.conversation, tls_context=certs.server_context) as replay:
        send(replay.port, tcp_connect=ImplicitTLSTransport(certs.client_context()))


def test_a_client_sending_more_than_recorded_is_a_mismatch():
    conversation = Conversation([(SERVER, b"554 5.7.1 go away\r\n")])  # recorded without the QUIT
    with pytest.raises(ReplayMismatch, match=r"at byte 0 \(line 1\): bytes after the end of the recording") as caught:
        with ReplayServer(conversation) as replay:
            with pytest.raises(errors.SMTPReplyError):
                send(replay.port)
    assert (caught.value.offset, caught.value.actual) == (0, b"QUIT\r\n")
    assert str(caught.value).startswith("connection 0: the client diverged")


def test_a_client_that_stops_early_is_a_mismatch():
    conversation = Conversation([(SERVER, b"554 go away\r\n"), (CLIENT, b"QUIT\r\nNOOP\r\n"), (SERVER, b"221 bye\r\n")])
    with pytest.raises(ReplayMismatch, match=r"at byte 6 \(line 2\): the client sent nothing more within 0.3s"):
        with ReplayServer(conversation, timeout=0.3) as replay:
            with pytest.raises(errors.SMTPReplyError):
                send(replay.port, timeout=2)
