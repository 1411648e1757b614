"""ReplyParser and Reply, fed literal server bytes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtpunit.core.reply import Reply, ReplyParser, sanitize
from smtpunit.errors import SMTPProtocolError


def parse_all(data: bytes, **limits: int) -> list[Reply]:
    """Feed ``data`` in one piece and take every complete reply."""
    parser = ReplyParser(**limits)
    parser.feed(data)
    replies = []
    while (reply := parser.next_reply()) is not None:
        replies.append(reply)
    return replies


def parse_error(data: bytes, **limits: int) -> SMTPProtocolError:
    """Feed ``data`` and return the SMTPProtocolError it must cause."""
    parser = ReplyParser(**limits)
    with pytest.raises(SMTPProtocolError) as info:
        parser.feed(data)
        while parser.next_reply() is not None:
            pass
    return info.value


# -- well-formed replies ---------------------------------------------------------


def test_single_line_reply():
    assert parse_all(b"250 OK\r\n") == [Reply(250, ("OK",))]


def test_single_line_reply_text_keeps_inner_spaces():
    [reply] = parse_all(b"220 mx.example.org ESMTP  ready \r\n")
    assert reply.code == 220
    assert reply.lines == ("mx.example.org ESMTP  ready ",)


def test_multi_line_reply():
    [reply] = parse_all(b"250-mx.example.org\r\n250-SIZE 1000\r\n250 STARTTLS\r\n")
    assert reply == Reply(250, ("mx.example.org", "SIZE 1000", "STARTTLS"))
    assert reply.text == "mx.example.org\nSIZE 1000\nSTARTTLS"


def test_final_line_of_just_the_code():
    assert parse_all(b"250-first\r\n250\r\n") == [Reply(250, ("first", ""))]


def test_single_line_of_just_the_code():
    assert parse_all(b"354\r\n") == [Reply(354, ("",))]


def test_two_replies_in_one_chunk_come_out_in_order():
    assert parse_all(b"250 one\r\n221 two\r\n") == [Reply(250, ("one",)), Reply(221, ("two",))]


def test_utf8_text_is_decoded():
    [reply] = parse_all("250 Grüße ✓\r\n".encode())
    assert reply.lines == ("Grüße ✓",)


def test_reply_split_byte_by_byte():
    data = b"250-a\r\n250 b\r\n"
    parser = ReplyParser()
    for index in range(len(data) - 1):
        parser.feed(data[index : index + 1])
        assert parser.next_reply() is None
    parser.feed(data[-1:])
    assert parser.next_reply() == Reply(250, ("a", "b"))


def test_is_positive():
    assert Reply(250, ("ok",)).is_positive
    assert Reply(354, ("go",)).is_positive
    assert not Reply(421, ("bye",)).is_positive
    assert not Reply(550, ("no",)).is_positive


# -- enhanced status codes -------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"250 2.1.5 Ok\r\n", "2.1.5"),
        (b"550 5.1.1 no such user\r\n", "5.1.1"),
        (b"451 4.7.1 try later\r\n", "4.7.1"),
        (b"250 2.0.0\r\n", "2.0.0"),
        (b"552 5.123.999 big\r\n", "5.123.999"),
        (b"250-2.1.0 first line counts\r\n250 2.1.5 not this\r\n", "2.1.0"),
    ],
)
def test_enhanced_status_parsed(raw, expected):
    [reply] = parse_all(raw)
    assert reply.enhanced_status == expected


@pytest.mark.parametrize(
    "raw",
    [
        b"250 OK\r\n",
        b"550 4.1.1 class does not match the code\r\n",
        b"250 5.0.0 class does not match the code\r\n",
        b"250 3.0.0 class 3 does not exist\r\n",
        b"250 2.1.5Ok\r\n",  # not followed by a space or the end
        b"250 2.1234.5 too many digits\r\n",
        b"250 x 2.1.5 not at the start\r\n",
        b"250\r\n",
        "250 2.\u0660.0 arabic-indic digit\r\n".encode(),
    ],
)
def test_enhanced_status_absent_or_invalid(raw):
    [reply] = parse_all(raw)
    assert reply.enhanced_status is None


def test_enhanced_status_of_a_reply_without_lines():
    assert Reply(250, ()).enhanced_status is None


# -- sanitizing ------------------------------------------------------------------


def test_summary_escapes_control_characters():
    [reply] = parse_all(b"550 evil\x1b[31m\x07 text\x00\x7f\r\n")
    summary = reply.summary()
    assert summary == "550 evil\\x1b[31m\\x07 text\\x00\\x7f"
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in summary)


def test_summary_escapes_c1_controls():
    assert Reply(550, ("a\u009bb",)).summary() == "550 a\\x9bb"


def test_summary_joins_lines_on_one_line():
    assert Reply(250, ("a", "b")).summary() == "250 a / b"


def test_summary_is_cut_at_the_limit():
    summary = Reply(550, ("x" * 1000,)).summary()
    assert len(summary) == 303
    assert summary.endswith("...")


def test_sanitize_escapes_newlines():
    assert sanitize("a\r\nb") == "a\\x0d\\x0ab"


# -- grammar errors --------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"2500 x\r\n", id="four-digits"),
        pytest.param(b"2500\r\n", id="four-digits-alone"),
        pytest.param(b"25 x\r\n", id="two-digits"),
        pytest.param(b"25\r\n", id="two-digits-alone"),
        pytest.param(b"abc\r\n", id="letters"),
        pytest.param(b"\r\n", id="empty-line"),
        pytest.param(b" 250 x\r\n", id="leading-space"),
        pytest.param(b"150 x\r\n", id="first-digit-1"),
        pytest.param(b"650 x\r\n", id="first-digit-6"),
        pytest.param(b"050 x\r\n", id="first-digit-0"),
        pytest.param(b"260 x\r\n", id="second-digit-6"),
        pytest.param(b"270 x\r\n", id="second-digit-7"),
        pytest.param(b"580 x\r\n", id="second-digit-8"),
        pytest.param(b"490 x\r\n", id="second-digit-9"),
        pytest.param(b"25a x\r\n", id="third-not-a-digit"),
        pytest.param(b"250_x\r\n", id="bad-separator"),
        pytest.param("25\u0660 x\r\n".encode(), id="non-ascii-digit"),
        pytest.param(b"250 x\n", id="bare-lf"),
        pytest.param(b"\n", id="lone-lf"),
        pytest.param(b"250 a\rb\r\n", id="bare-cr-inside"),
        pytest.param(b"250 a\r\r\n", id="cr-before-crlf"),
        pytest.param(b"250 caf\xe9\r\n", id="latin-1"),
        pytest.param(b"250 \xff\xfe\r\n", id="invalid-utf8"),
        pytest.param(b"250 \xed\xa0\x80\r\n", id="utf8-surrogate"),
        pytest.param(b"250-a\r\n251 b\r\n", id="code-changes-in-multi-line"),
        pytest.param(b"250-a\r\n550 b\r\n", id="class-changes-in-multi-line"),
    ],
)
def test_malformed_reply_raises(raw):
    parse_error(raw)


def test_bare_lf_in_second_line_of_multi_line_reply():
    parse_error(b"250-a\r\n250 b\n")


def test_line_longer_than_limit_with_newline():
    line = b"250 " + b"x" * 20 + b"\r\n"  # 26 octets
    parse_error(line, max_line_length=25)
    assert parse_all(line, max_line_length=26) == [Reply(250, ("x" * 20,))]


def test_line_longer_than_limit_before_any_newline():
    parser = ReplyParser(max_line_length=25)
    parser.feed(b"250 " + b"x" * 21)  # 25 octets, may still end in time
    assert parser.next_reply() is None
    parser.feed(b"x")  # 26 octets and no end in sight
    with pytest.raises(SMTPProtocolError):
        parser.next_reply()


def test_default_line_limit_rejects_endless_line_without_newline():
    parser = ReplyParser()
    parser.feed(b"250 " + b"x" * 5000)
    with pytest.raises(SMTPProtocolError):
        parser.next_reply()


def test_reply_with_too_many_lines():
    parse_error(b"250-a\r\n250-b\r\n250-c\r\n250 d\r\n", max_reply_lines=3)
    assert parse_all(b"250-a\r\n250-b\r\n250 c\r\n", max_reply_lines=3) == [Reply(250, ("a", "b", "c"))]


def test_endless_multi_line_reply_is_cut_off_before_its_end():
    parser = ReplyParser(max_reply_lines=5)
    parser.feed(b"250-x\r\n" * 6)
    with pytest.raises(SMTPProtocolError):
        parser.next_reply()


def test_feed_after_error_raises():
    parser = ReplyParser()
    parser.feed(b"abc\r\n")
    with pytest.raises(SMTPProtocolError):
        parser.next_reply()
    with pytest.raises(SMTPProtocolError):
        parser.feed(b"250 ok\r\n")


def test_next_reply_after_error_raises_instead_of_reading_on():
    parser = ReplyParser()
    parser.feed(b"abc\r\n250 ok\r\n")
    with pytest.raises(SMTPProtocolError):
        parser.next_reply()
    with pytest.raises(SMTPProtocolError):
        parser.next_reply()


def test_broken_multi_line_reply_is_not_spliced_with_later_lines():
    parser = ReplyParser()
    parser.feed(b"250-a\r\n251 b\r\n250 c\r\n")
    with pytest.raises(SMTPProtocolError):
        parser.next_reply()
    with pytest.raises(SMTPProtocolError):
        parser.next_reply()


def test_error_message_is_sanitized():
    error = parse_error(b"\x1b[2J\r\n")
    assert "\x1b" not in str(error)


# -- has_pending_input -----------------------------------------------------------


def test_fresh_parser_has_no_pending_input():
    assert not ReplyParser().has_pending_input


def test_pending_input_for_a_partial_line():
    parser = ReplyParser()
    parser.feed(b"250 o")
    assert parser.next_reply() is None
    assert parser.has_pending_input


def test_pending_input_between_lines_of_unfinished_multi_line_reply():
    parser = ReplyParser()
    parser.feed(b"250-first\r\n")
    assert parser.next_reply() is None
    assert parser.has_pending_input


def test_pending_input_when_second_reply_is_buffered():
    parser = ReplyParser()
    parser.feed(b"220 go\r\n250 injected\r\n")
    assert parser.next_reply() == Reply(220, ("go",))
    assert parser.has_pending_input
    assert parser.next_reply() == Reply(250, ("injected",))
    assert not parser.has_pending_input


def test_no_pending_input_after_everything_taken():
    parser = ReplyParser()
    parser.feed(b"250-a\r\n250 b\r\n")
    assert parser.has_pending_input
    assert parser.next_reply() is not None
    assert not parser.has_pending_input
    assert parser.next_reply() is None
    parser.feed(b"221 bye\r\n")
    assert parser.next_reply() == Reply(221, ("bye",))
    assert not parser.has_pending_input


def test_large_stream_of_replies_is_parsed_in_order():
    # Enough bytes to make the parser trim its buffer on the way.
    data = b"".join(b"250 reply %d\r\n" % n for n in range(10000))
    parser = ReplyParser()
    codes = []
    for start in range(0, len(data), 999):
        parser.feed(data[start : start + 999])
        while (reply := parser.next_reply()) is not None:
            codes.append(reply.lines[0])
    assert codes == [f"reply {n}" for n in range(10000)]
    assert not parser.has_pending_input


# -- properties ------------------------------------------------------------------

codes = st.builds(
    lambda a, b, c: 100 * a + 10 * b + c,
    st.integers(2, 5),
    st.integers(0, 5),
    st.integers(0, 9),
)
line_texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
    max_size=40,
)
replies = st.builds(
    lambda code, lines: Reply(code, tuple(lines)),
    codes,
    st.lists(line_texts, min_size=1, max_size=5),
)


def serialize(reply: Reply, bare: bool) -> bytes:
    out = []
    for number, text in enumerate(reply.lines, 1):
        last = number == len(reply.lines)
        if last and bare and not text:
            out.append(f"{reply.code}\r\n")
        else:
            out.append(f"{reply.code}{' ' if last else '-'}{text}\r\n")
    return "".join(out).encode("utf-8")


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False)]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(replies, min_size=1, max_size=6),
    st.booleans(),
    st.lists(st.integers(min_value=0), max_size=30),
)
def test_any_split_gives_the_same_replies(reply_list, bare, cuts):
    data = b"".join(serialize(r, bare) for r in reply_list)
    whole = parse_all(data)
    assert whole == reply_list

    parser = ReplyParser()
    pieces = []
    for chunk in split(data, cuts):
        parser.feed(chunk)
        while (reply := parser.next_reply()) is not None:
            pieces.append(reply)
    assert pieces == whole
    assert not parser.has_pending_input


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=300),
    st.lists(st.integers(min_value=0), max_size=20),
    st.integers(min_value=5, max_value=64) | st.just(4096),  # smaller is refused
    st.integers(min_value=1, max_value=4) | st.just(512),
)
def test_arbitrary_bytes_raise_only_protocol_errors(data, cuts, max_line_length, max_reply_lines):
    parser = ReplyParser(max_line_length=max_line_length, max_reply_lines=max_reply_lines)
    try:
        for chunk in split(data, cuts):
            parser.feed(chunk)
            while (reply := parser.next_reply()) is not None:
                assert isinstance(reply, Reply)
                assert 200 <= reply.code <= 559
                assert 1 <= len(reply.lines) <= max_reply_lines
    except SMTPProtocolError:
        with pytest.raises(SMTPProtocolError):
            parser.feed(b"250 ok\r\n")


def test_eof_inside_a_reply_is_a_protocol_error_and_between_replies_a_closed_connection():
    from smtpunit.errors import SMTPConnectionClosed

    parser = ReplyParser()
    parser.feed(b"250 done\r\n")
    assert parser.next_reply() is not None
    with pytest.raises(SMTPConnectionClosed):
        parser.feed_eof("mail")
    parser = ReplyParser()
    parser.feed(b"250-first of two\r\n")
    assert parser.next_reply() is None
    with pytest.raises(SMTPProtocolError, match="middle of a reply"):
        parser.feed_eof("mail")
