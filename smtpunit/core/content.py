"""Message content in three forms, each able to produce DATA and BDAT chunks (no I/O).

* :class:`LinesContent` -- a header and lines checked up front (Racket's form);
* :class:`StreamContent` -- a header checked up front, and lines from any iterable
  (or a binary file) checked and encoded as they are sent, in bounded memory;
* :class:`RawContent` -- a whole message as one bytes-like object, checked up front
  a window at a time (bytes are not copied whole, a bytearray is), and sent in slices
  of it.

A streamed line that turns out to be bad raises in the middle of the data; the
client then closes the connection without ending the data, so the server delivers
nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain
from typing import BinaryIO, Optional, Protocol, Union

from ..errors import InvalidHeader, InvalidMessageLine, UnsupportedByServer

__all__ = [
    "Content",
    "CheckedLines",
    "LinesContent",
    "StreamContent",
    "RawContent",
    "as_bytes",
    "check_body",
    "dot_stuffed",
    "encode_body",
    "encode_line",
    "file_lines",
    "gather",
    "longest_line",
    "scan_lines",
    "DATA_CHUNK",
    "BDAT_CHUNK",
]

MAX_LINE_OCTETS = 998  # RFC 5322 section 2.1.1, CRLF excluded
DATA_CHUNK = 64 * 1024  # DATA content is handed to the driver in pieces of about this size
BDAT_CHUNK = 1024 * 1024  # octets per BDAT command
RAW_SLICE = 1024 * 1024  # raw content is sent in slices of at most this size

Line = Union[str, bytes]

_EIGHT_BIT = re.compile(rb"[\x80-\xff]")
# A line that starts with "." (its LF is the end of the line before: only CRLF is let
# through). The regular expression's tight loop in C finds it sooner than the scan of
# bytes.replace or bytes.find for three octets (figures: bench/RESULTS.rst).
_DOT_LINE = re.compile(rb"\n\.")
_BARE_LF = re.compile(rb"(?<!\r)\n")  # an LF without its CR


class Content(Protocol):
    """What a transaction needs of a message's content."""

    header: bytes

    @property
    def size(self) -> Optional[int]:
        """Octets of the message, header included and transparency dots not (RFC 1870),
        if known before sending."""

    @property
    def eight_bit(self) -> Optional[bool]:
        """Whether the body has octets above 127, if known before sending."""

    def data_pieces(self, allow_8bit: bool) -> Iterator[bytes]:
        """The dot-stuffed data for DATA, header first, without the final ``.``.

        :raises UnsupportedByServer: on 8-bit data when ``allow_8bit`` is false.
        """

    def bdat_pieces(self, allow_8bit: bool) -> Iterator[bytes]:
        """The data as it is (no dot-stuffing), header first, for BDAT."""


def as_bytes(value: Line, what: str, error: type[ValueError]) -> bytes:
    """``value`` as bytes: UTF-8 for a str. Raises ``error`` naming ``what`` otherwise."""
    try:
        return _own_bytes(value)
    except UnicodeEncodeError:
        raise error(f"{what} cannot be encoded as UTF-8 (it holds a lone surrogate)") from None
    except TypeError:
        raise error(f"{what} must be str or bytes, not {type(value).__name__}") from None


def _own_bytes(value: object) -> bytes:
    """``value``'s octets in a ``bytes`` that nothing else can change, made with str's
    and bytes' own methods, not a subclass's: what is checked is then what is sent.
    UTF-8 for a str (:class:`UnicodeEncodeError` for a lone surrogate);
    :class:`TypeError` if ``value`` is neither str nor bytes-like."""
    if type(value) is bytes:
        return value
    if isinstance(value, str):
        return str.encode(value, "utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(memoryview(value))  # a memoryview's len() counts items, not octets
    raise TypeError(f"not a line: {type(value).__name__}")


def encode_line(line: Line, number: int) -> bytes:
    """One message line checked and encoded: dot-stuffed, ending in CRLF.

    :raises InvalidMessageLine: for CR, LF or NUL, more than 998 octets, or a type
        other than str or bytes.
    """
    raw = as_bytes(line, f"message line {number}", InvalidMessageLine)
    if b"\r" in raw or b"\n" in raw or b"\x00" in raw:
        raise InvalidMessageLine(f"message line {number} holds CR, LF or NUL")
    if len(raw) > MAX_LINE_OCTETS:
        raise InvalidMessageLine(f"message line {number} is longer than {MAX_LINE_OCTETS} octets")
    return b"." + raw + b"\r\n" if raw[:1] == b"." else raw + b"\r\n"


def _unstuffed(line: bytes) -> bytes:
    return line[1:] if line[:1] == b"." else line


def gather(pieces: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Pieces as chunks of about ``size`` octets: small ones joined, large ones cut
    into views of themselves (no copy). At least one chunk, maybe empty."""
    pending: list[bytes] = []
    total = 0
    yielded = False
    for piece in pieces:
        if len(piece) >= size:
            if pending:
                yield b"".join(pending)
                pending, total = [], 0
            view = memoryview(piece)
            for offset in range(0, len(view), size):
                yield view[offset : offset + size]  # type: ignore[misc]
            yielded = True
            continue
        pending.append(piece)
        total += len(piece)
        if total >= size:
            yield b"".join(pending)
            pending, total, yielded = [], 0, True
    if pending or not yielded:
        yield b"".join(pending)


def longest_line(data: Union[bytes, bytearray], window: int = 1 << 16) -> int:
    """The length of the longest CRLF-terminated line of ``data``."""
    return scan_lines(data, window)[0]


def scan_lines(data: Union[bytes, bytearray], window: int = 1 << 16) -> tuple[int, bool]:
    """The length of the longest CRLF-terminated line of ``data``, and whether a CR or
    LF stands outside a CRLF, found a window at a time (split at C speed). Windows of
    a fixed size bound the memory whatever the data (64 KB: 0.2 MB above a 200 MB
    message at the peak) and cost no speed."""
    longest, bare, carried, start = 0, False, 0, 0
    while start < len(data):
        end = min(start + window, len(data))
        if data[end - 1 : end + 1] == b"\r\n":
            end += 1  # a CRLF is never cut in two
        lines = data[start:end].split(b"\r\n")
        first = carried + len(lines[0])  # a line cut by the window's start goes on here
        longest = max(longest, first, max(map(len, lines)))
        carried = first if len(lines) == 1 else len(lines[-1])
        if not bare:  # what is left once every CRLF is taken out
            rest = b"".join(lines)
            bare = b"\r" in rest or b"\n" in rest
        start = end
    return longest, bare


def dot_stuffed(data: bytes) -> bytes:
    """``data`` (lines ending in CRLF) with a dot added to each line that starts with
    one (RFC 5321, section 4.5.2); ``data`` itself if none does."""
    if data[:1] == b".":
        data = b"." + data
    return data.replace(b"\r\n.", b"\r\n..") if _DOT_LINE.search(data) else data


def _refuse_8bit(line: bytes, allow_8bit: bool) -> bytes:
    if not allow_8bit and not line.isascii():
        raise UnsupportedByServer("the message has 8-bit data and the server does not offer 8BITMIME")
    return line


class CheckedLines:
    """Message lines that passed the checks of :func:`encode_line`, kept
    (in a list of its own: all ``str``, or all ``bytes`` of their own) and joined into
    octets only when asked.

    A batch checked up front therefore holds its callers' lines, not a second copy
    of every message as octets, and the joining is done when the message is sent.
    Make one with :func:`check_body`.

    :ivar size: octets of the joined lines, each ending in CRLF.
    :ivar ascii: no octet above 127.
    """

    __slots__ = ("_lines", "_text", "size", "ascii")

    def __init__(self, lines: Sequence[Line], text: bool, size: int, ascii: bool) -> None:
        self._lines = lines
        self._text = text  # every line is a str (else every line is bytes)
        self.size = size
        self.ascii = ascii

    def encode(self) -> bytes:
        """The lines joined, each ending in CRLF (not dot-stuffed); made anew each time."""
        if self._text:
            return _joined_text(self._lines)  # type: ignore[arg-type]
        return b"\r\n".join([*self._lines, b""])  # type: ignore[list-item]


def _joined_text(lines: Sequence[str]) -> bytes:
    """str lines joined, each ending in CRLF, as UTF-8 (:class:`UnicodeEncodeError` for
    a lone surrogate)."""
    return "\r\n".join(chain(lines, ("",))).encode("utf-8")


class LinesContent:
    """A header and lines, all checked before anything is sent.

    :param body: the lines, as :class:`CheckedLines` (joined when sent), or as
        bytes: joined, each ending in CRLF, not dot-stuffed.
    """

    def __init__(self, header: bytes, body: Union[bytes, CheckedLines]) -> None:
        self.header = header
        self._body = body

    @property
    def body(self) -> bytes:
        """The lines, each ending in CRLF, joined (not dot-stuffed)."""
        body = self._body
        return body.encode() if isinstance(body, CheckedLines) else body

    @property
    def lines(self) -> tuple[bytes, ...]:
        """The lines, each dot-stuffed and ending in CRLF."""
        return tuple(b"." + line + b"\r\n" if line[:1] == b"." else line + b"\r\n"
                     for line in self.body.split(b"\r\n")[:-1])

    @property
    def size(self) -> int:
        """Octets of the message, header included, without transparency dots (RFC 1870)."""
        body = self._body
        return len(self.header) + (body.size if isinstance(body, CheckedLines) else len(body))

    @property
    def eight_bit(self) -> bool:
        """True if a line holds octets above 127."""
        body = self._body
        return not (body.ascii if isinstance(body, CheckedLines) else body.isascii())

    def data_pieces(self, allow_8bit: bool = True) -> Iterator[bytes]:
        """Header and dot-stuffed lines."""
        yield self.header
        yield dot_stuffed(self.body)

    def bdat_pieces(self, allow_8bit: bool = True) -> Iterator[bytes]:
        """Header and lines as given."""
        yield self.header
        yield self.body


def encode_body(lines: Iterable[Line]) -> bytes:
    """Check message lines and join them, each ending in CRLF (no dot-stuffing).

    :raises InvalidMessageLine: as :func:`check_body`.
    """
    return check_body(lines).encode()


def check_body(lines: Iterable[Line]) -> CheckedLines:
    """Check message lines as :func:`encode_line` would, without joining them.

    The checks run over all the lines at once at C speed; only a bad message is
    walked line by line, to name the first bad line.

    :raises InvalidMessageLine: for CR, LF or NUL in a line, one over 998 octets, or
        a line that is neither str nor bytes.
    """
    given = list(lines)
    checked = _checked_lines(given)
    if checked is None:
        for number, line in enumerate(given, 1):
            encode_line(line, number)  # raises, naming the line
        raise InvalidMessageLine("a message line is not a str or bytes line")  # pragma: no cover
    return checked


def _checked_lines(lines: list[Line]) -> Optional[CheckedLines]:
    """``lines`` (a list nobody else holds) as :class:`CheckedLines` if every line
    passes the checks of :func:`encode_line`; ``None`` if any line is bad or not a
    line."""
    try:
        text = "".join(lines)  # type: ignore[arg-type]
    except TypeError:  # not all str
        return _checked_octet_lines(lines)
    if "\r" in text or "\n" in text or "\x00" in text:
        return None
    is_ascii = text.isascii()
    if is_ascii:  # characters are octets
        size = len(text) + 2 * len(lines)
        too_long = size > MAX_LINE_OCTETS and max(map(len, lines)) > MAX_LINE_OCTETS
    else:
        try:
            joined = _joined_text(lines)  # type: ignore[arg-type]
        except UnicodeEncodeError:  # a lone surrogate
            return None
        size = len(joined)
        too_long = size > MAX_LINE_OCTETS and longest_line(joined) > MAX_LINE_OCTETS
    return None if too_long else CheckedLines(lines, True, size, is_ascii)


def _checked_octet_lines(lines: list[Line]) -> Optional[CheckedLines]:
    """:func:`_checked_lines` for lines that are not all str: each made bytes first --
    a copy of its own unless it is exactly ``bytes``, so that what is checked is what
    is sent, whatever the caller's objects do later."""
    try:
        encoded = [_own_bytes(line) for line in lines]
    except (TypeError, UnicodeEncodeError):
        return None
    flat = b"".join(encoded)
    if b"\r" in flat or b"\n" in flat or b"\x00" in flat:
        return None
    size = len(flat) + 2 * len(encoded)
    if size > MAX_LINE_OCTETS and max(map(len, encoded)) > MAX_LINE_OCTETS:
        return None
    return CheckedLines(encoded, False, size, flat.isascii())


class StreamContent:
    """A checked header, and lines checked and encoded only as they are sent.

    The lines can be consumed once: a send that fails cannot be retried with the
    same content.
    """

    size = None
    eight_bit = None

    def __init__(self, header: bytes, lines: Iterable[Line]) -> None:
        self.header = header
        self._lines = iter(lines)
        self.consumed = False  # True once sending began: the lines cannot be sent again

    def _encoded(self, allow_8bit: bool) -> Iterator[bytes]:
        self.consumed = True
        for number, line in enumerate(self._lines, 1):
            yield _refuse_8bit(encode_line(line, number), allow_8bit)

    def data_pieces(self, allow_8bit: bool = True) -> Iterator[bytes]:
        """Header, then each line checked, encoded and dot-stuffed as it is reached."""
        yield self.header
        yield from self._encoded(allow_8bit)

    def bdat_pieces(self, allow_8bit: bool = True) -> Iterator[bytes]:
        """Header, then each line checked and encoded as it is reached."""
        yield self.header
        yield from map(_unstuffed, self._encoded(allow_8bit))


def file_lines(source: BinaryIO) -> Iterator[bytes]:
    """The lines of a binary file, without their ending (LF or CRLF)."""
    for line in source:
        if line.endswith(b"\r\n"):
            yield line[:-2]
        elif line.endswith(b"\n"):
            yield line[:-1]
        else:
            yield line


def _no_header_end(raw: bytes) -> str:
    """Why a raw message with no CRLF CRLF has no header, and what to do instead."""
    if _BARE_LF.search(raw):
        return ("a raw message must use '\\r\\n' line endings, and it holds a '\\n' without '\\r': "
                "every line must end in CRLF ('\\r\\n'), and the header must end in an empty line "
                "(CRLF CRLF), e.g. b'Subject: Hi\\r\\n\\r\\nbody\\r\\n'")
    return ("a raw message must have a header ending in an empty line (CRLF CRLF): add an empty "
            "line ('\\r\\n') after the header's last line, e.g. b'Subject: Hi\\r\\n\\r\\nbody\\r\\n'")


class RawContent:
    """A whole message (header, empty line, body) as one bytes-like object.

    It is checked with C-speed scans, 64 KB at a time -- CRLF line endings only,
    no NUL, no line over 998 octets -- and sent in slices of itself, so memory stays
    at about the size of the message.

    :raises InvalidHeader: if the header part is not a header.
    :raises InvalidMessageLine: for bare CR or LF, NUL, or an over-long line.
    """

    def __init__(self, data: Union[bytes, bytearray], header: bytes, body_start: int) -> None:
        self._raw = data
        self._data = memoryview(data)
        self.header = header
        self._body_start = body_start

    @classmethod
    def check(cls, data: Union[bytes, bytearray], encode_header: Callable[[bytes], bytes]) -> RawContent:
        """Check ``data`` and split off its header, checked with ``encode_header``. Data
        that is not exactly ``bytes`` (a bytearray) is copied first, so that nothing can
        change what was checked before it is sent."""
        if not isinstance(data, (bytes, bytearray)):
            raise InvalidMessageLine(f"a raw message must be bytes, not {type(data).__name__}")
        raw = _own_bytes(data)
        end = raw.find(b"\r\n\r\n")
        if raw.startswith(b"\r\n"):
            end = -2
        elif end < 0:
            raise InvalidHeader(_no_header_end(raw))
        header = encode_header(bytes(raw[: end + 4]))
        longest, bare = scan_lines(raw)
        if bare:
            raise InvalidMessageLine("the message holds a bare CR or LF; use '\\r\\n' line endings: "
                                     "every line must end in CRLF ('\\r\\n')")
        if b"\x00" in raw:
            raise InvalidMessageLine("the message holds a NUL byte")
        if longest > MAX_LINE_OCTETS:
            raise InvalidMessageLine(f"the message has a line longer than {MAX_LINE_OCTETS} octets")
        if not raw.endswith(b"\r\n"):
            raise InvalidMessageLine("a raw message must end in CRLF")
        return cls(raw, header, end + 4)

    @property
    def size(self) -> int:
        """Octets of the message, header included (RFC 1870)."""
        return len(self.header) + len(self._data) - self._body_start

    @property
    def eight_bit(self) -> bool:
        """True if the body holds octets above 127."""
        if self._raw.isascii():  # the common case, at C speed and without a copy
            return False
        return _EIGHT_BIT.search(self._raw, self._body_start) is not None

    def data_pieces(self, allow_8bit: bool = True) -> Iterator[bytes]:
        """The header, then slices of the body, with a dot added to each line that
        starts with one."""
        yield self.header
        raw, view, position = self._raw, self._data, self._body_start
        if raw[position : position + 1] == b".":
            yield b"."
        while position < len(raw):
            # A "\r\n." starting inside the slice ends at most 2 octets past it.
            line = _DOT_LINE.search(raw, position, position + RAW_SLICE + 2)
            found = -1 if line is None else line.start() - 1  # where its CRLF starts
            if found < 0 or found >= position + RAW_SLICE:
                end = min(position + RAW_SLICE, len(raw))
                yield view[position:end]  # type: ignore[misc]
                position = end
            else:
                yield view[position : found + 2]  # type: ignore[misc]
                yield b"."
                position = found + 2

    def bdat_pieces(self, allow_8bit: bool = True) -> Iterator[bytes]:
        """The header, then slices of the body as it is."""
        yield self.header
        view = self._data
        for offset in range(self._body_start, len(view), RAW_SLICE):
            yield view[offset : offset + RAW_SLICE]  # type: ignore[misc]
