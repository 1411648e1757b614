"""SMTP replies and the incremental, strict reply parser (sans-IO).

The parser takes bytes as they arrive, in any split, and yields whole
:class:`Reply` objects. It enforces the RFC 5321 reply grammar strictly:

* every line ends in CRLF (a bare LF or CR is an error);
* every line starts with exactly three digits (first 2-5, second 0-5), followed by
  a space, a hyphen or the end of the line -- ``2500`` is not read as ``250``;
* every line of a multi-line reply carries the same code;
* the text is UTF-8;
* a line, and a reply, are bounded in size.

Any violation raises :class:`~smtpunit.errors.SMTPProtocolError`; after that the
parser refuses further input, since the stream can no longer be trusted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, AnyStr, Optional

from ..errors import InvalidArgument, SMTPConnectionClosed, SMTPProtocolError

__all__ = ["Reply", "ReplyParser", "redact", "sanitize"]

DEFAULT_MAX_LINE_LENGTH = 4096  # octets, CRLF included (RFC 5321 asks servers for 512)
DEFAULT_MAX_REPLY_LINES = 512

_WELL_FORMED = re.compile(rb"([2-5][0-5][0-9])(?:([ -])([^\r\n]*))?\r\n")
_ENHANCED = re.compile(r"([245])\.([0-9]{1,3})\.([0-9]{1,3})(?: |$)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TLS_RECORD_TYPES = b"\x14\x15\x16\x17"  # the first byte of a TLS record; then 0x03, the version

# Short single-line replies, by their wire bytes. Servers repeat the same few
# ("250 2.1.5 Ok") on every message, and a Reply is immutable, so each is parsed once
# and shared. Lines that never come again ("queued as <id>") fill it up; then it is
# emptied and the repeated ones come back at once.
_KNOWN_REPLIES: dict[bytes, Reply] = {}
_KNOWN_REPLIES_LIMIT = 1024
_KNOWN_REPLY_OCTETS = 128  # longer lines are not kept: at most about 128 KB in all

# The last group of n single-line replies taken at once, by n, for the whole process:
# its wire bytes, its longest line (CRLF included) and its replies. Servers such as
# Postfix answer every pipelined envelope of n commands with the same bytes ("250
# 2.1.0 Ok", "250 2.1.5 Ok", ..., "354 ..."), so the group is recognised with one
# comparison; groups that vary miss, and are kept for nothing.
_KNOWN_GROUPS: dict[int, tuple[bytes, int, tuple[Reply, ...]]] = {}
_KNOWN_GROUPS_LIMIT = 64
_KNOWN_GROUP_OCTETS = 4096  # larger groups are not kept: 256 KB of bytes at most, and their replies

# Multi-line replies of short lines, by their first line: their wire bytes, their
# longest line (CRLF included) and the reply. A server gives the same EHLO reply to
# every connection, so it is recognised with one comparison instead of parsed line
# by line.
_KNOWN_LONG_REPLIES: dict[bytes, tuple[bytes, int, Reply]] = {}
_KNOWN_LONG_REPLIES_LIMIT = 64


def sanitize(text: str, limit: int = 300) -> str:
    """Make server-controlled text safe to show in an error or a log line.

    Control characters are escaped (``\\x1b``), and the text is cut at ``limit``.
    """
    cleaned = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return cleaned if len(cleaned) <= limit else cleaned[:limit] + "..."


SHORTEST_SECRET = 4
"""Secrets shorter than this are not looked for in server text: they would match
ordinary text (a password ``0`` in ``2.0.0``) and protect little anyway."""


def redact(text: AnyStr, secrets: Iterable[str]) -> AnyStr:
    """``text`` with each of ``secrets`` (longest first, so that none is left in
    part; those of :data:`SHORTEST_SECRET` characters or more) replaced by
    ``****``: for server text that may echo the credentials."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= SHORTEST_SECRET:
            if isinstance(text, str):
                text = text.replace(secret, "****")
            else:
                text = text.replace(secret.encode("utf-8"), b"****")
    return text


@dataclass(frozen=True)
class Reply:
    """One complete SMTP reply.

    :ivar code: the three-digit reply code.
    :ivar lines: the text of each line, without the code and separator.
    """

    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        """The reply text, lines joined with newlines."""
        return "\n".join(self.lines)

    @property
    def enhanced_status(self) -> Optional[str]:
        """The RFC 3463 enhanced status code (``"2.1.5"``) if the reply starts with one.

        Only a code whose class matches the reply's first digit counts.
        """
        match = _ENHANCED.match(self.lines[0]) if self.lines else None
        if match and match.group(1) == str(self.code // 100):
            return ".".join(match.groups())
        return None

    @property
    def is_positive(self) -> bool:
        """True for 2xx and 3xx replies."""
        return self.code < 400

    def redacted(self, secrets: Iterable[str]) -> Reply:
        """This reply with ``secrets`` replaced by ``****`` in its text (see :func:`redact`)."""
        lines = tuple(redact(line, secrets) for line in self.lines)
        return self if lines == self.lines else Reply(self.code, lines)

    def summary(self) -> str:
        """The code and text on one line, sanitized for logs and error messages."""
        return sanitize(f"{self.code} {' / '.join(self.lines)}".rstrip())


class ReplyParser:
    """Turns bytes from the server into :class:`Reply` objects.

    Feed it with :meth:`feed`; take replies with :meth:`next_reply` until it
    returns ``None`` (or several at once with :meth:`next_replies`).
    :attr:`has_pending_input` says whether bytes are buffered that do not yet form a
    reply (or form one nobody has taken).

    :param max_line_length: octets a line may have, CRLF included (at least 5).
    :param max_reply_lines: lines a reply may have (at least 1).
    :raises smtpunit.errors.InvalidArgument: for smaller limits, which no reply fits.
    """

    def __init__(
        self,
        max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
        max_reply_lines: int = DEFAULT_MAX_REPLY_LINES,
    ) -> None:
        if max_line_length < 5 or max_reply_lines < 1:  # "250\r\n" is one line of 5 octets
            raise InvalidArgument("a reply parser needs room for one line of at least 5 octets")
        self.max_line_length = max_line_length
        self.max_reply_lines = max_reply_lines
        self._buffer = bytearray()
        self._pos = 0
        self._code: Optional[int] = None  # code of the multi-line reply in progress
        self._lines: list[str] = []
        self._broken = False
        self._started = False
        self.secrets: tuple[str, ...] = ()  # quoted server text shows these as ****

    @property
    def has_pending_input(self) -> bool:
        """True if bytes were received that no taken reply accounts for."""
        return self._pos < len(self._buffer) or self._code is not None

    def feed(self, data: bytes) -> None:
        """Add bytes received from the server."""
        if self._broken:
            raise SMTPProtocolError("the reply stream is already broken")
        if not self._started and data:
            self._started = True
            if data[0] in _TLS_RECORD_TYPES and data[1:2] == b"\x03":
                raise self._fail("the server speaks TLS from its first byte (implicit TLS, as on port 465): "
                                 "use tls_policy='implicit'")
        if self._pos and self._pos == len(self._buffer):
            self._buffer.clear()
            self._pos = 0
        self._buffer += data

    def feed_eof(self, phase: str) -> None:
        """The server closed the connection while a reply was awaited in ``phase``.

        :raises SMTPProtocolError: if it closed in the middle of a reply.
        :raises SMTPConnectionClosed: otherwise.
        """
        if self.has_pending_input:
            raise self._fail(f"the server closed the connection in the middle of a reply ({phase})")
        raise SMTPConnectionClosed(f"the server closed the connection while the client waited ({phase})", phase)

    def next_reply(self) -> Optional[Reply]:
        """Return the next complete reply, or ``None`` if more bytes are needed."""
        if self._code is None and not self._broken and self._pos < len(self._buffer):
            reply = self._known_reply(self._pos)  # the common case: a reply seen before, whole
            if reply is not None:
                self._drop_taken()
                return reply
        replies = self.next_replies(1)
        return replies[0] if replies else None

    def next_replies(self, limit: int) -> list[Reply]:
        """Up to ``limit`` complete replies, in order: fewer if more bytes are needed."""
        if self._broken:
            raise SMTPProtocolError("the reply stream is already broken")
        buffer, start = self._buffer, self._pos
        known = _KNOWN_GROUPS.get(limit) if limit > 1 and self._code is None else None
        if known is not None and known[1] <= self.max_line_length and buffer.startswith(known[0], start):
            self._pos = start + len(known[0])
            replies = list(known[2])
        else:
            replies = self._take_replies(limit)
            if limit > 1 and len(replies) == limit and self._pos - start <= _KNOWN_GROUP_OCTETS:
                _remember_group(bytes(buffer[start : self._pos]), replies)
        self._drop_taken()
        return replies

    def _drop_taken(self) -> None:
        """Keep the buffer from growing without bound: drop what replies were taken from."""
        if self._pos > 65536:
            del self._buffer[: self._pos]
            self._pos = 0

    def _take_replies(self, limit: int) -> list[Reply]:
        """Up to ``limit`` replies parsed line by line (the way of any group not known)."""
        buffer = self._buffer
        replies: list[Reply] = []
        begin = -1  # where the reply under way began, if in this call
        while len(replies) < limit and self._pos < len(buffer):
            start = self._pos
            if self._code is None:
                begin = start
                reply = self._known_reply(start)
                if reply is not None:
                    replies.append(reply)
                    continue
            # The common case, a well-formed line, in one regex match on the buffer;
            # anything else (a partial line, an error) goes the careful way.
            match = _WELL_FORMED.match(buffer, start)
            if match is None or match.end() - start > self.max_line_length:
                line = self._next_line()
                if line is None:
                    break
                reply = self._add_line(line)
            else:
                self._pos = match.end()
                reply = self._take_match(match)
                if reply is not None and len(reply.lines) > 1 and begin >= 0:
                    _remember_long_reply(bytes(buffer[begin : self._pos]), reply)
            if reply is not None:
                replies.append(reply)
        return replies

    def _known_reply(self, start: int) -> Optional[Reply]:
        """The reply seen before that begins at ``start``, taken, if the buffer holds all
        of it and it is within this parser's limits: known by its first line's bytes,
        without parsing."""
        buffer = self._buffer
        end = buffer.find(b"\n", start, start + _KNOWN_REPLY_OCTETS) + 1
        if not end or end - start > self.max_line_length:
            return None
        first_line = bytes(buffer[start:end])
        reply = _KNOWN_REPLIES.get(first_line)
        if reply is not None:
            self._pos = end
            return reply
        known = _KNOWN_LONG_REPLIES.get(first_line)
        if known is None:
            return None
        wire, longest, reply = known
        if (longest > self.max_line_length or len(reply.lines) > self.max_reply_lines
                or not buffer.startswith(wire, start)):
            return None
        self._pos = start + len(wire)
        return reply

    def _take_match(self, match: re.Match[bytes]) -> Optional[Reply]:
        """Take a well-formed line; remember it if it is a whole reply."""
        code, separator, text = match.groups()
        try:
            reply = self._take(int(code), separator, text.decode("utf-8") if text else "")
        except UnicodeDecodeError:
            raise self._fail(f"reply line is not UTF-8: {sanitize(repr(redact(bytes(text), self.secrets)))}") from None
        line = match.group()
        if reply is not None and len(reply.lines) == 1 and len(line) <= _KNOWN_REPLY_OCTETS:
            _keep(_KNOWN_REPLIES, _KNOWN_REPLIES_LIMIT, line, reply)
        return reply

    def _fail(self, message: str) -> SMTPProtocolError:
        self._broken = True
        return SMTPProtocolError(message)

    def _next_line(self) -> Optional[bytes]:
        buffer = self._buffer
        end = buffer.find(b"\n", self._pos)
        if end < 0:
            if len(buffer) - self._pos > self.max_line_length:
                raise self._fail(f"reply line longer than {self.max_line_length} octets")
            return None
        if end - self._pos + 1 > self.max_line_length:
            raise self._fail(f"reply line longer than {self.max_line_length} octets")
        if end == self._pos or buffer[end - 1] != 0x0D:
            raise self._fail("reply line ends in a bare LF, not CRLF")
        line = bytes(buffer[self._pos : end - 1])
        self._pos = end + 1
        return line

    def _add_line(self, raw: bytes) -> Optional[Reply]:
        if b"\r" in raw:
            raise self._fail("reply line holds a bare CR")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self._fail(f"reply line is not UTF-8: {sanitize(repr(redact(raw, self.secrets)))}") from None
        if not _is_reply_code(line):
            raise self._fail(f"malformed reply line: {sanitize(redact(line, self.secrets))!r}")
        return self._take(int(line[:3]), line[3:4].encode(), line[4:])

    def _take(self, code: int, separator: Optional[bytes], text: str) -> Optional[Reply]:
        """Add one checked line; the reply, if it was the last line of one."""
        if self._code is not None and code != self._code:
            raise self._fail(
                f"multi-line reply changed its code from {self._code} to {code}"
            )
        self._lines.append(text)
        if len(self._lines) > self.max_reply_lines:
            raise self._fail(f"reply longer than {self.max_reply_lines} lines")
        if separator == b"-":
            self._code = code
            return None
        lines, self._lines, self._code = tuple(self._lines), [], None
        return Reply(code, lines)


def _remember_group(wire: bytes, replies: list[Reply]) -> None:
    """Keep ``wire`` as the group of ``len(replies)`` replies, if it is made of short
    single-line replies only (as the cache of single replies keeps): then the same
    bytes, taken from where no reply is under way, give the same replies. A group whose
    first reply began in an earlier call has a reply of two lines or more, so it is
    not kept."""
    lines, longest = _lines_of(wire)
    if len(lines) == len(replies) and all(len(reply.lines) == 1 for reply in replies) \
            and longest <= _KNOWN_REPLY_OCTETS:
        _keep(_KNOWN_GROUPS, _KNOWN_GROUPS_LIMIT, len(replies), (wire, longest, tuple(replies)))


def _remember_long_reply(wire: bytes, reply: Reply) -> None:
    """Keep the multi-line ``reply`` taken from ``wire`` if all its lines are short."""
    lines, longest = _lines_of(wire)
    if len(lines) == len(reply.lines) and longest <= _KNOWN_REPLY_OCTETS and len(wire) <= _KNOWN_GROUP_OCTETS:
        _keep(_KNOWN_LONG_REPLIES, _KNOWN_LONG_REPLIES_LIMIT, lines[0] + b"\r\n", (wire, longest, reply))


def _lines_of(wire: bytes) -> tuple[list[bytes], int]:
    """The lines of ``wire`` (replies, each line ending in CRLF), and the longest's
    octets with its CRLF."""
    lines = wire.split(b"\r\n")[:-1]
    return lines, max(map(len, lines), default=0) + 2


def _keep(cache: dict[Any, Any], limit: int, key: Any, value: Any) -> None:
    """Keep ``value`` under ``key``, emptying ``cache`` first once it holds ``limit``
    entries: what recurs is back at once, what never does goes in bulk."""
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value


def _is_reply_code(line: str) -> bool:
    return (
        len(line) >= 3
        and line[0] in "2345"
        and line[1] in "012345"
        and line[2] in "0123456789"
        and (len(line) == 3 or line[3] in " -")
    )
