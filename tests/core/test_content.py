"""Message content: lines, streams, raw bytes and files, for DATA and BDAT."""

from __future__ import annotations

import io

import pytest
from conftest import HOST
from hypothesis import given, settings
from hypothesis import strategies as st

import smtpunit
from smtpunit import errors
from smtpunit.core import content as content_module
from smtpunit.core.commands import (
    prepare_envelope,
    prepare_file_envelope,
    prepare_raw_envelope,
    prepare_stream_envelope,
)
from smtpunit.core.content import gather

HEADER = b"Subject: content\r\n\r\n"
line_bytes = st.binary(max_size=40).filter(lambda b: b"\r" not in b and b"\n" not in b and b"\0" not in b)


def joined(pieces) -> bytes:
    return b"".join(bytes(p) for p in pieces)


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(line_bytes | st.sampled_from([b".", b"..", b".x", b""]), max_size=30),
       slice_size=st.integers(min_value=1, max_value=17))
def test_raw_content_matches_lines_content_whatever_the_slice_size(lines, slice_size, monkeypatch_module):
    monkeypatch_module.setattr(content_module, "RAW_SLICE", slice_size)
    raw = prepare_raw_envelope("a@x.org", ["b@y.org"], HEADER + b"".join(line + b"\r\n" for line in lines))
    by_lines = prepare_envelope("a@x.org", ["b@y.org"], HEADER, lines)
    assert joined(raw.content.data_pieces()) == joined(by_lines.content.data_pieces())
    assert joined(raw.content.bdat_pieces()) == HEADER + b"".join(line + b"\r\n" for line in lines)
    assert raw.size == by_lines.size and raw.eight_bit == by_lines.eight_bit


@pytest.fixture(scope="module")
def monkeypatch_module():
    patch = pytest.MonkeyPatch()
    yield patch
    patch.undo()


@pytest.mark.parametrize("data, error", [
    (HEADER + b"bare\nLF\r\n", errors.InvalidMessageLine),
    (HEADER + b"bare\rCR\r\n", errors.InvalidMessageLine),
    (HEADER + b"nul\0\r\n", errors.InvalidMessageLine),
    (HEADER + b"x" * 999 + b"\r\n", errors.InvalidMessageLine),
    (HEADER + b"no final CRLF", errors.InvalidMessageLine),
    (b"Subject: no blank line\r\nbody\r\n", errors.InvalidHeader),
    (b"not a header\r\n\r\nbody\r\n", errors.InvalidHeader),
])
def test_raw_content_is_checked_up_front(data, error):
    with pytest.raises(error):
        prepare_raw_envelope("a@x.org", ["b@y.org"], data)


def test_raw_content_with_the_empty_header():
    envelope = prepare_raw_envelope("a@x.org", ["b@y.org"], b"\r\n.body\r\n")
    assert joined(envelope.content.data_pieces()) == b"\r\n..body\r\n"


def test_stream_content_checks_lines_only_when_sent():
    def lines():
        yield "fine"
        yield "bad\r\n.\r\n"

    envelope = prepare_stream_envelope("a@x.org", ["b@y.org"], HEADER, lines())
    assert envelope.size is None and envelope.eight_bit is None
    pieces = envelope.content.data_pieces()
    assert next(pieces) == HEADER and next(pieces) == b"fine\r\n"
    with pytest.raises(errors.InvalidMessageLine):
        next(pieces)


def test_stream_content_refuses_8bit_when_the_server_cannot_take_it():
    envelope = prepare_stream_envelope("a@x.org", ["b@y.org"], HEADER, ["ascii", "ünïcode"])
    with pytest.raises(errors.UnsupportedByServer):
        joined(envelope.content.data_pieces(allow_8bit=False))


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
def test_file_envelope_normalises_line_endings(ending):
    text = ending.join([b"Subject: file", b"", b"line one", b".dot", b""])
    envelope = prepare_file_envelope("a@x.org", ["b@y.org"], io.BytesIO(text))
    assert envelope.header == b"Subject: file\r\n\r\n"
    assert joined(envelope.content.data_pieces()) == b"Subject: file\r\n\r\nline one\r\n..dot\r\n"


def test_file_envelope_needs_a_header():
    with pytest.raises(errors.InvalidHeader):
        prepare_file_envelope("a@x.org", ["b@y.org"], io.BytesIO(b"no header at all\n"))
    with pytest.raises(errors.InvalidHeader):
        prepare_file_envelope("a@x.org", ["b@y.org"], io.BytesIO(b"Subject: x\n"))


def test_gather_keeps_big_pieces_uncopied_and_yields_at_least_one_chunk():
    big = b"x" * 100
    assert list(gather([], 10)) == [b""]
    chunks = list(gather([big], 10))
    assert [bytes(c) for c in chunks] == [b"x" * 10] * 10
    assert all(isinstance(c, memoryview) and c.obj is big for c in chunks)  # views, not copies
    assert list(gather([b"ab", b"cd", b"e"], 4)) == [b"abcd", b"e"]


def test_streamed_message_is_delivered(start_server):
    server = start_server()
    with smtpunit.connect(HOST, server.port) as session:
        lines = (f"line {n}" for n in range(3))
        session.send_envelopes([prepare_stream_envelope("a@x.org", ["b@y.org"], HEADER, lines)])
        session.send_envelopes([prepare_raw_envelope("a@x.org", ["b@y.org"], HEADER + b".raw\r\n")])
    assert server.handler.messages[0].content == HEADER + b"line 0\r\nline 1\r\nline 2\r\n"
    assert server.handler.messages[1].content == HEADER + b".raw\r\n"


def test_bad_streamed_line_aborts_and_nothing_is_delivered(start_server):
    server = start_server()

    def lines():
        yield "fine"
        yield "smuggled\r\n.\r\nMAIL FROM:<evil@x.org>"

    session = smtpunit.connect(HOST, server.port)
    (outcome,) = session.send_envelopes([prepare_stream_envelope("a@x.org", ["b@y.org"], HEADER, lines())])
    assert isinstance(outcome, errors.InvalidMessageLine)
    assert session.closed
    smtpunit.smtp_send_message(HOST, "a@x.org", ["b@y.org"], HEADER, ["after"], server.port)
    assert [m.content for m in server.handler.messages] == [HEADER + b"after\r\n"]
