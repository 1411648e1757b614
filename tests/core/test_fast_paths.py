"""The fast paths of the core agree with the careful, line-by-line logic they shortcut
(what each saves: bench/fast_paths.py).

Each check below has a fast path (one join, one regex, one cache lookup) and a slow
path kept to name the error. These properties compare the fast path with a
reference -- the slow logic itself, or a plain restatement of the grammar -- and
fail on any input the two treat differently.
"""

from __future__ import annotations

import array
import re
from contextlib import contextmanager

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from smtpunit.core import reply as reply_module
from smtpunit.core.commands import check_address, encode_header, mail, prepare_envelope, prepare_raw_envelope
from smtpunit.core.content import (
    MAX_LINE_OCTETS,
    LinesContent,
    check_body,
    dot_stuffed,
    encode_body,
    encode_line,
    scan_lines,
)
from smtpunit.core.reply import Reply, ReplyParser
from smtpunit.errors import InvalidAddress, InvalidArgument, InvalidHeader, InvalidMessageLine, SMTPProtocolError

REJECTED = object()  # the outcome of an input the check refuses


def outcome(check, value, error, **options):
    """``check(value)``, or REJECTED if it raises ``error``; anything else propagates."""
    try:
        return check(value, **options)
    except error:
        return REJECTED


def utf8(line) -> bytes:
    """A generated line as bytes (lone surrogates kept, so bytes lines can be any octets)."""
    return line.encode("utf-8", "surrogatepass") if isinstance(line, str) else bytes(line)


def near_limit(lead: str, filler: str, octets: int, tail: str) -> str:
    """``lead`` padded with ``filler`` to exactly ``octets`` UTF-8 octets, then ``tail``.

    A wide filler (``"€"``) gives lines of far fewer characters than octets.
    """
    count, rest = divmod(octets - len(lead.encode()), len(filler.encode()))
    return lead + filler * count + "x" * rest + tail


def inserted(text: str, bad: str, position: int) -> str:
    """``text`` with ``bad`` put in at ``position`` (clamped)."""
    position = min(position, len(text))
    return text[:position] + bad + text[position:]


# -- building blocks ---------------------------------------------------------------

POISON = st.sampled_from(["\r", "\n", "\x00", "\r\n", "\ud800", "\udfff"])
clean_text = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\r\n\x00") | st.sampled_from(list(".:é€😀 \t")),
    max_size=20,
)
poisoned_text = st.builds(inserted, clean_text, POISON, st.integers(0, 20))
long_text = st.builds(
    near_limit,
    lead=st.sampled_from(["", ".", "a"]),
    filler=st.sampled_from(["x", ".", "é", "€", "😀"]),
    octets=st.integers(MAX_LINE_OCTETS - 8, MAX_LINE_OCTETS + 6),
    tail=st.sampled_from(["", "", "é", "\x00", "\ud800"]),
)


# -- 1. encode_body against encode_line ----------------------------------------------

str_lines = st.one_of(clean_text, poisoned_text, long_text, st.sampled_from(["", ".", "..", ".x", "x."]))
bytes_lines = st.one_of(str_lines.map(utf8), st.binary(max_size=20))
line_lists = st.one_of(
    st.lists(str_lines, max_size=8),
    st.lists(bytes_lines, max_size=8),
    st.lists(str_lines | bytes_lines, max_size=8),
)


def unstuffed(encoded: bytes) -> bytes:
    """An :func:`encode_line` result without the dot it put before a leading dot."""
    return encoded[1:] if encoded[:1] == b"." else encoded


def reference_body(lines):
    """The body the line-by-line check makes: each line checked by encode_line."""
    return b"".join(unstuffed(encode_line(line, number)) for number, line in enumerate(lines, 1))


def assert_body_agrees(lines):
    expected = outcome(reference_body, lines, InvalidMessageLine)
    assert outcome(encode_body, lines, InvalidMessageLine) == expected
    if expected is not REJECTED:
        assert expected == b"".join(bytes(utf8(line)) + b"\r\n" for line in lines)
        # What check_body says of the lines without joining them is true of their bytes.
        content = LinesContent(b"\r\n", check_body(lines))
        assert (content.size, content.eight_bit, content.body) == (2 + len(expected), not expected.isascii(), expected)


@settings(max_examples=500, deadline=None)
@given(line_lists)
@example([])
@example(["x" * MAX_LINE_OCTETS, b"y" * MAX_LINE_OCTETS])
@example(["x" * MAX_LINE_OCTETS, "y" * (MAX_LINE_OCTETS + 1)])
@example(["x" * MAX_LINE_OCTETS])
@example(["é" * 499 + "x"])  # 999 octets in 500 characters
@example(["a", b"\xff\xfe", ".b", "\ud800"])
def test_encode_body_agrees_with_encode_line(lines):
    """encode_body accepts exactly the lists encode_line accepts line by line, and
    returns each line's bytes + CRLF, not dot-stuffed; it raises only InvalidMessageLine.
    check_body's size and 8-bit flag are those of those bytes."""
    assert_body_agrees(lines)


not_lines = st.sampled_from([0, 1.5, None, object(), ["x"], ("x",),
                             # buffers, but not str or bytes (encode_line refuses them too);
                             # the second is 1200 octets in 600 items
                             array.array("B", b"x"), array.array("H", [0x4141] * 600)])


@settings(max_examples=200, deadline=None)
@given(st.lists(str_lines | bytes_lines, max_size=5), not_lines, st.integers(0, 5))
def test_encode_body_rejects_items_that_are_not_lines(lines, item, position):
    """A list holding something other than str or bytes raises InvalidMessageLine,
    wherever the item is, whatever the other lines are."""
    lines = [*lines[:position], item, *lines[position:]]
    with pytest.raises(InvalidMessageLine):
        encode_body(lines)
    with pytest.raises(InvalidMessageLine):
        reference_body(lines)


def bytes_like(data: bytes, typecode: str):
    """``data`` as a bytearray (``"bytearray"``) or a memoryview of ``typecode`` items
    (cut to a whole number of items)."""
    if typecode == "bytearray":
        return bytearray(data)
    items = array.array(typecode)
    items.frombytes(data[: len(data) - len(data) % items.itemsize])
    return memoryview(items)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.builds(bytes_like, bytes_lines, st.sampled_from(["bytearray", "B", "b", "H", "I", "Q"])),
             min_size=1, max_size=4),
)
@example([bytes_like(b"A" * 1200, "I")])  # 300 items, 1200 octets
def test_encode_body_agrees_with_encode_line_on_bytes_like_lines(lines):
    """encode_line takes any bytes-like line (as_bytes copies it to bytes); encode_body
    must accept and reject the same ones, counting octets, not items."""
    assert_body_agrees(lines)


# -- 1b. the scans of raw content and of dot-stuffing ---------------------------------

octet_soup = st.lists(
    st.sampled_from([b"\r\n", b"\r\n", b"\r", b"\n", b"\x00", b".", b"\r\n.", b"x" * 500, b"\xff"])
    | st.binary(max_size=6),
    max_size=12,
).map(b"".join)


@settings(max_examples=500, deadline=None)
@given(octet_soup, st.integers(1, 40))
@example(b"\r\r\n", 1)
@example(b"a\r\n\nb\r\n", 2)
def test_scan_lines_finds_the_longest_line_and_any_bare_cr_or_lf(data, window):
    """Whatever the window, scan_lines gives the longest line between CRLFs, and says
    whether a CR not before an LF, or an LF not after a CR, is anywhere in the data."""
    expected_bare = re.search(rb"\r(?!\n)|(?<!\r)\n", data) is not None
    assert scan_lines(data, window) == (max(map(len, data.split(b"\r\n"))), expected_bare)


def raw_reference(body: bytes):
    """What a raw message's body must be: lines that encode_line takes, each ending in CRLF."""
    if body and not body.endswith(b"\r\n"):
        raise InvalidMessageLine("no final CRLF")
    for number, line in enumerate(body.split(b"\r\n")[:-1], 1):
        encode_line(line, number)
    return True


@settings(max_examples=500, deadline=None)
@given(octet_soup)
def test_a_raw_body_is_taken_exactly_when_its_lines_are(body):
    """prepare_raw_envelope's scans take a body exactly when each of its lines passes
    encode_line, and it sends the body dot-stuffed as the lines would be."""
    expected = outcome(raw_reference, body, InvalidMessageLine)
    got = outcome(lambda data: prepare_raw_envelope("a@b.org", ["c@d.org"], b"Subject: x\r\n\r\n" + data),
                  body, InvalidMessageLine)
    assert (got is REJECTED) == (expected is REJECTED)
    if got is not REJECTED:
        lines = body.split(b"\r\n")[:-1]
        assert b"".join(map(bytes, got.content.data_pieces())) == b"Subject: x\r\n\r\n" + b"".join(
            b"." + line + b"\r\n" if line.startswith(b".") else line + b"\r\n" for line in lines)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"", b".", b"..", b".x", b"x.", b"x", b"\xff."]), max_size=8))
def test_dot_stuffed_adds_a_dot_to_each_line_that_starts_with_one(lines):
    data = b"".join(line + b"\r\n" for line in lines)
    assert dot_stuffed(data) == b"".join(b"." + line + b"\r\n" if line[:1] == b"." else line + b"\r\n"
                                         for line in lines)


# -- 2. encode_header against the header grammar -------------------------------------

FIELD_NAME = re.compile(rb"[\x21-\x39\x3b-\x7e]+:")
NAME_CHARS = [chr(c) for c in range(0x21, 0x7F) if chr(c) != ":"]

names = st.one_of(
    st.text(st.sampled_from(NAME_CHARS), min_size=1, max_size=8),
    st.text(st.sampled_from([*NAME_CHARS, " ", "\t", "\x00", "\x7f", "é", "\r", "\n"]), max_size=8),
    st.sampled_from(["Subject", "X-A", ".", ".Dot", ""]),
)
values = st.one_of(clean_text, poisoned_text)
fields = st.builds(lambda name, value: f"{name}:{value}", names, values)
long_fields = st.builds(
    near_limit,
    lead=st.builds(lambda name: f"{name}:", names),
    filler=st.sampled_from(["x", "é", "€", "😀", " "]),
    octets=st.integers(MAX_LINE_OCTETS - 8, MAX_LINE_OCTETS + 6),
    tail=st.sampled_from(["", "", "\r", "\x00"]),
)
continuations = st.builds(lambda space, value: space + value, st.sampled_from([" ", "\t"]), values)
header_lines = st.one_of(fields, fields, long_fields, continuations, values)
terminators = st.sampled_from(["\r\n\r\n", "\r\n\r\n", "\r\n", "", "\r\n\r\n\r\n", "\n\n", "\r\n\n", "\r\r\n\r\n"])
header_texts = st.one_of(
    st.builds(lambda lines, end: "\r\n".join(lines) + end, st.lists(header_lines, min_size=1, max_size=6), terminators),
    st.sampled_from(["\r\n", "", "\r\n\r\n", "\n", "\r\n\r\n\r\n"]),
)
header_octets = st.one_of(
    st.binary(max_size=60),
    st.lists(st.sampled_from([b"A:", b"A", b" ", b"\t", b".", b":", b"\r\n", b"\r", b"\n", b"\x00", b"\xff"]),
             max_size=20).map(b"".join),
)
headers = st.one_of(
    header_texts,  # str, encoded as UTF-8 (a lone surrogate cannot be)
    header_texts.map(utf8),
    header_texts.map(lambda text: bytearray(utf8(text))),
    header_octets,
)


def reference_header(header):
    """The header as the line-by-line grammar reads it: its bytes dot-stuffed line by
    line, or REJECTED."""
    try:
        raw = header.encode("utf-8") if isinstance(header, str) else bytes(header)
    except UnicodeEncodeError:
        return REJECTED
    if raw == b"\r\n":
        return raw
    if not raw.endswith(b"\r\n\r\n") or b"\x00" in raw:
        return REJECTED
    lines = raw[:-4].split(b"\r\n")
    for number, line in enumerate(lines, 1):
        if b"\r" in line or b"\n" in line or len(line) > MAX_LINE_OCTETS:
            return REJECTED
        continuation = line[:1] in (b" ", b"\t")
        if (continuation and number == 1) or (not continuation and not FIELD_NAME.match(line)):
            return REJECTED
    return b"".join((b"." + line if line[:1] == b"." else line) + b"\r\n" for line in lines) + b"\r\n"


@settings(max_examples=800, deadline=None)
@given(headers)
@example("Subject: \ud800\r\n\r\n")
@example(".Dot: x\r\n.Dot: y\r\n\r\n")
@example("A:" + "x" * (MAX_LINE_OCTETS - 2) + "\r\n\r\n")
@example("A:" + "x" * (MAX_LINE_OCTETS - 1) + "\r\n\r\n")
@example("A:" + "é" * 499 + "\r\n\r\n")  # 1000 octets in 501 characters
@example(b"A: x\r\n \r\n\t.\r\n\r\n")
def test_encode_header_agrees_with_the_line_by_line_grammar(header):
    """encode_header raises InvalidHeader iff the grammar refuses the header, and
    otherwise returns the same dot-stuffed bytes."""
    assert outcome(encode_header, header, InvalidHeader) == reference_header(header)


# -- 3. check_address against its predicate ------------------------------------------

BAD_IN_ADDRESS = re.compile(r"[\x00-\x20\x7f-\x9f<>]|\s")
ADDRESS_SPECIALS = [
    *map(chr, range(0x00, 0x21)), *map(chr, range(0x7F, 0xA0)),
    "<", ">", "@", ".", "\u00a0", "\u1680", "\u2003", "\u2028", "\u3000", "\ufeff", "\ud800", "\udfff",
]
addresses = st.one_of(
    st.text(st.characters() | st.sampled_from(ADDRESS_SPECIALS), max_size=12),
    st.text(st.characters(exclude_categories=("Cc", "Zs", "Zl", "Zp")), max_size=12),  # mostly safe
)


def address_acceptable(address: str, allow_empty: bool) -> bool:
    """The reference predicate: non-empty unless allowed, nothing dangerous, UTF-8."""
    if not address and not allow_empty:
        return False
    if BAD_IN_ADDRESS.search(address):
        return False
    try:
        address.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@settings(max_examples=800, deadline=None)
@given(addresses, st.sampled_from(["sender", "recipient"]), st.booleans())
@example("", "sender", True)
@example("", "recipient", False)
@example("a\u2003@b.org", "recipient", False)
@example("a\ud800@b.org", "recipient", False)
def test_check_address_agrees_with_its_predicate(address, role, allow_empty):
    """check_address returns the very address it is given iff the predicate accepts
    it, and raises InvalidAddress otherwise."""
    result = outcome(check_address, address, InvalidAddress, role=role, allow_empty=allow_empty)
    if address_acceptable(address, allow_empty):
        assert result is address
    else:
        assert result is REJECTED


safe_addresses = addresses.filter(lambda address: address_acceptable(address, allow_empty=False))


@settings(max_examples=300, deadline=None)
@given(st.lists(safe_addresses, min_size=1, max_size=12))
def test_rcpt_wire_is_the_bytes_of_the_rcpt_commands(recipients):
    """A pipelined group's RCPT bytes, made in one piece, are those of the RCPT commands
    the transcript shows, in order."""
    envelope = prepare_envelope("sender@example.org", recipients, "Subject: t\r\n\r\n", ["x"])
    assert envelope.rcpt_wire == b"".join(command.wire for command in envelope.rcpt_commands)
    assert [command.display for command in envelope.rcpt_commands] == [f"RCPT TO:<{r}>" for r in recipients]


@given(safe_addresses | st.just(""), st.sampled_from([(), ("BODY=8BITMIME",), ("SMTPUTF8", "BODY=8BITMIME")]))
def test_an_envelope_s_mail_command_is_the_one_mail_makes(sender, parameters):
    """The MAIL command made for an envelope (whose sender was checked with it) is
    the one ``mail`` makes after checking the sender again."""
    envelope = prepare_envelope(sender, ["rcpt@example.org"], "Subject: t\r\n\r\n", ["x"])
    assert envelope.mail_command(parameters) == mail(sender, parameters)


# -- 4. the reply cache --------------------------------------------------------------


@contextmanager
def reply_cache(enabled: bool = True):
    """The reply caches (single replies, groups and multi-line replies), emptied for the block (disabled
    if not ``enabled``) and put back as they were afterwards."""
    saved, octets = dict(reply_module._KNOWN_REPLIES), reply_module._KNOWN_REPLY_OCTETS
    saved_groups = dict(reply_module._KNOWN_GROUPS)
    saved_long = dict(reply_module._KNOWN_LONG_REPLIES)
    reply_module._KNOWN_REPLIES.clear()
    reply_module._KNOWN_GROUPS.clear()
    reply_module._KNOWN_LONG_REPLIES.clear()
    if not enabled:
        reply_module._KNOWN_REPLY_OCTETS = 0  # no line is short enough to be kept
    try:
        yield reply_module._KNOWN_REPLIES
    finally:
        reply_module._KNOWN_REPLIES.clear()
        reply_module._KNOWN_REPLIES.update(saved)
        reply_module._KNOWN_GROUPS.clear()
        reply_module._KNOWN_GROUPS.update(saved_groups)
        reply_module._KNOWN_LONG_REPLIES.clear()
        reply_module._KNOWN_LONG_REPLIES.update(saved_long)
        reply_module._KNOWN_REPLY_OCTETS = octets


def test_the_reply_cache_stays_bounded_and_keeps_working():
    """Lines that never come again fill the cache up; it is emptied then, and a line
    seen afterwards is kept again. Long lines are never kept."""
    with reply_cache() as cache:
        for number in range(reply_module._KNOWN_REPLIES_LIMIT + 10):
            parse(b"250 2.0.0 Ok: queued as %d\r\n" % number)
            assert len(cache) <= reply_module._KNOWN_REPLIES_LIMIT
        parse(b"250 2.1.5 Ok\r\n")
        assert b"250 2.1.5 Ok\r\n" in cache
        long_line = b"250 " + b"x" * reply_module._KNOWN_REPLY_OCTETS + b"\r\n"
        assert parse(long_line) == ([Reply(250, ("x" * reply_module._KNOWN_REPLY_OCTETS,))], None)
        assert long_line not in cache


def test_a_multi_line_reply_is_known_by_its_bytes_within_each_parser_s_limits():
    """An EHLO reply seen before comes as the same reply; a parser whose limits it
    exceeds still refuses it, and other bytes after the same first line are parsed."""
    ehlo = b"250-mx.example.org\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
    expected = Reply(250, ("mx.example.org", "PIPELINING", "8BITMIME"))
    with reply_cache():
        assert parse(ehlo) == ([expected], None)
        assert reply_module._KNOWN_LONG_REPLIES[b"250-mx.example.org\r\n"][0] == ehlo
        first, _ = parse(ehlo + b"221 bye\r\n")
        assert first == [expected, Reply(221, ("bye",))]
        assert parse(ehlo, max_reply_lines=2) == ([], SMTPProtocolError)
        assert parse(ehlo, max_line_length=19) == ([], SMTPProtocolError)
        other = b"250-mx.example.org\r\n250 SIZE 10\r\n"
        assert parse(other) == ([Reply(250, ("mx.example.org", "SIZE 10"))], None)
        assert parse(ehlo, cuts=[30]) == ([expected], None)


def parse(data: bytes, cuts=(), **limits):
    """Every reply a fresh parser takes from ``data`` fed in pieces cut at ``cuts``,
    and the type of the error that stopped it (or None)."""
    parser = ReplyParser(**limits)
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    replies = []
    try:
        for start, end in zip(points, points[1:], strict=False):
            parser.feed(data[start:end])
            while (reply := parser.next_reply()) is not None:
                replies.append(reply)
    except SMTPProtocolError as error:
        return replies, type(error)
    return replies, None


codes = st.builds(lambda a, b, c: f"{a}{b}{c}", st.integers(2, 5), st.integers(0, 5), st.integers(0, 9))
texts = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r\n"), max_size=30)
reply_lines = st.one_of(
    st.builds(lambda code, separator, text: f"{code}{separator}{text}\r\n".encode(),
              codes, st.sampled_from([" ", "-"]), texts),
    st.builds(lambda code: f"{code}\r\n".encode(), codes),  # just the code
)
# Lines drawn from a small pool, so that the same line comes again and hits the cache.
line_sequences = st.lists(reply_lines, min_size=1, max_size=4).flatmap(
    lambda pool: st.lists(st.sampled_from(pool), max_size=12)
)
cut_lists = st.lists(st.integers(min_value=0), max_size=6)


@settings(max_examples=300, deadline=None)
@given(line_sequences, cut_lists)
def test_cached_replies_equal_replies_parsed_afresh(lines, cuts):
    """The same lines give the same replies (and the same error, if any) with the
    cache off, cold and warm."""
    data = b"".join(lines)
    with reply_cache(enabled=False):
        uncached = parse(data, cuts)
    with reply_cache():
        assert parse(data, cuts) == uncached  # the cache filling up
        assert parse(data, cuts) == uncached  # the cache warm
        assert parse(data) == uncached


def parse_groups(data: bytes, cuts=(), counts=(3,), **limits):
    """The batches a fresh parser gives for ``next_replies(n)``, ``n`` taken in turn
    from ``counts``, on ``data`` fed in pieces cut at ``cuts`` (a short batch waits for
    the next piece), and the type of the error that stopped it (or None)."""
    parser = ReplyParser(**limits)
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    batches, call = [], 0
    try:
        for start, end in zip(points, points[1:], strict=False):
            parser.feed(data[start:end])
            while True:
                count = counts[call % len(counts)]
                call += 1
                batches.append(parser.next_replies(count))
                if len(batches[-1]) < count:
                    break
    except SMTPProtocolError as error:
        return batches, type(error)
    return batches, None


@settings(max_examples=300, deadline=None)
@given(line_sequences, cut_lists, st.lists(st.integers(1, 5), min_size=1, max_size=3), st.integers(5, 40))
@example([b"250 a\r\n", b"354 b\r\n"] * 2, [], [2], 5)  # a group known, then a limit too small for it
# Known bytes that arrive while a multi-line reply is under way end that reply; they are not the group.
@example([b"250 a\r\n", b"354 b\r\n", b"250-x\r\n", b"250 a\r\n", b"354 b\r\n"], [21], [2], 40)
def test_cached_groups_equal_groups_parsed_afresh(lines, cuts, counts, max_line_length):
    """Replies taken a group at a time are the same, and fail the same way, with the
    caches off, cold and warm -- also for a parser with a shorter line limit than the
    one that filled the cache."""
    data = b"".join(lines)
    with reply_cache(enabled=False):
        uncached = parse_groups(data, cuts, counts)
        uncached_short = parse_groups(data, cuts, counts, max_line_length=max_line_length)
    with reply_cache():
        assert parse_groups(data, cuts, counts) == uncached  # the caches filling up
        assert parse_groups(data, cuts, counts) == uncached  # the caches warm
        assert parse_groups(data, cuts, counts, max_line_length=max_line_length) == uncached_short


def test_the_group_cache_keeps_only_small_groups_of_single_line_replies():
    """A group is kept (by its size) only if every reply in it is one short line, and
    the cache stays bounded."""
    with reply_cache():
        groups = reply_module._KNOWN_GROUPS
        assert parse_groups(b"250 a\r\n250 b\r\n354 c\r\n") == ([[Reply(250, ("a",)), Reply(250, ("b",)),
                                                                    Reply(354, ("c",))], []], None)
        assert groups[3][0] == b"250 a\r\n250 b\r\n354 c\r\n"
        parse_groups(b"250-a\r\n250 b\r\n250 c\r\n354 d\r\n")  # a multi-line reply in the group
        assert groups[3][0] == b"250 a\r\n250 b\r\n354 c\r\n"
        long_text = "x" * reply_module._KNOWN_REPLY_OCTETS
        parse_groups(f"250 {long_text}\r\n250 b\r\n354 c\r\n".encode())  # a line too long to keep
        assert groups[3][0] == b"250 a\r\n250 b\r\n354 c\r\n"
        many = reply_module._KNOWN_GROUP_OCTETS // 8 + 1
        parse_groups(b"250 ok\r\n" * many, counts=(many,))  # a group too big to keep
        assert many not in groups
        for count in range(2, reply_module._KNOWN_GROUPS_LIMIT + 12):
            parse_groups(b"250 ok\r\n" * count, counts=(count,))
            assert len(groups) <= reply_module._KNOWN_GROUPS_LIMIT


def test_a_known_group_comes_as_a_new_list_and_the_buffer_stays_trimmed():
    """A caller may extend the list a known group comes in without changing the next
    one; a parser that only meets known groups still trims its buffer."""
    group = b"250 2.1.0 Ok\r\n354 go\r\n"
    with reply_cache():
        parser = ReplyParser()
        parser.feed(group * 6000)  # over 64 KB
        first = parser.next_replies(2)
        first.append(Reply(250, ("extra",)))
        for _ in range(5999):
            assert parser.next_replies(2) == [Reply(250, ("2.1.0 Ok",)), Reply(354, ("go",))]
            assert len(parser._buffer) - parser._pos <= len(group) * 6000 and parser._pos <= 65536
        assert not parser.has_pending_input


replies = st.builds(
    lambda code, lines: Reply(int(code), tuple(lines)), codes, st.lists(texts, min_size=1, max_size=3)
)


def serialize(reply: Reply) -> bytes:
    last = len(reply.lines) - 1
    return b"".join(f"{reply.code}{' ' if n == last else '-'}{text}\r\n".encode()
                    for n, text in enumerate(reply.lines))


@settings(max_examples=200, deadline=None)
@given(st.lists(replies, min_size=1, max_size=4).flatmap(lambda pool: st.lists(st.sampled_from(pool), max_size=10)))
def test_cached_replies_are_the_replies_sent(sent):
    """Well-formed replies come out as they were sent, the cache cold or warm."""
    data = b"".join(map(serialize, sent))
    with reply_cache():
        assert parse(data) == (sent, None)
        assert parse(data) == (sent, None)


def single_line(octets: int) -> bytes:
    """A well-formed single-line reply of exactly ``octets`` octets, CRLF included."""
    return b"250 " + b"x" * (octets - 6) + b"\r\n"


@settings(max_examples=200, deadline=None)
@given(st.integers(6, 60), st.integers(5, 64))
@example(40, 20)
def test_line_length_limit_holds_for_cached_replies(octets, max_line_length):
    """A line over the parser's limit is refused even when a default parser has put
    that very line in the cache; one within the limit is taken."""
    line = single_line(octets)
    with reply_cache():
        assert parse(line) == ([Reply(250, (line[4:-2].decode(),))], None)
        assert line in reply_module._KNOWN_REPLIES
        with reply_cache(enabled=False):
            uncached = parse(line, max_line_length=max_line_length)
        assert parse(line, max_line_length=max_line_length) == uncached
    if octets > max_line_length:
        assert uncached == ([], SMTPProtocolError)
    else:
        assert uncached == ([Reply(250, (line[4:-2].decode(),))], None)


@settings(max_examples=100, deadline=None)
@given(reply_lines.filter(lambda line: line[3:4] != b"-"), st.integers(1, 2))
@example(b"250 ok\r\n", 1)
def test_reply_line_limit_holds_for_cached_replies(line, max_reply_lines):
    """A cached single-line reply is treated as the parser's own line limit says."""
    with reply_cache():
        parse(line)  # now in the cache
        with reply_cache(enabled=False):
            uncached = parse(line, max_reply_lines=max_reply_lines)
        assert parse(line, max_reply_lines=max_reply_lines) == uncached


@pytest.mark.parametrize("limits", [{"max_reply_lines": 0}, {"max_line_length": 4}])
def test_a_parser_without_room_for_a_reply_is_refused(limits):
    """Limits that leave no room for "250\\r\\n" are refused when the parser is made."""
    with pytest.raises(InvalidArgument):
        ReplyParser(**limits)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(replies, min_size=1, max_size=5),
    st.sampled_from([1, 1, 3, 4000]),  # 4000 copies: the parser trims its buffer on the way
    st.lists(st.integers(1, 6) | st.just(10**6), min_size=1, max_size=5),
)
def test_next_replies_takes_at_most_n_in_order(pool, copies, limits):
    """next_replies(n) on fed data returns min(n, replies left) replies, in order;
    the rest stay for further calls, until none is left."""
    sent = pool * copies
    data = b"".join(map(serialize, sent))
    with reply_cache():
        for _warm in (False, True):
            parser = ReplyParser()
            parser.feed(data)
            taken = 0
            for call in range(len(sent) + 1):
                n = limits[call % len(limits)]
                batch = parser.next_replies(n)
                assert batch == sent[taken : taken + n]
                taken += len(batch)
                if taken == len(sent):
                    break
            assert taken == len(sent)
            assert parser.next_replies(5) == []
            assert not parser.has_pending_input
