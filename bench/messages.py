"""The test messages: the same content in each client's natural input form.

smtpunit takes a header and a list of body lines (``str``, as in the README); smtplib
and aiosmtplib take the whole message as ``bytes``. Both describe the same octets.
"""

from __future__ import annotations

from dataclasses import dataclass

SENDER = "sender@example.org"
LINE_CHARS = 76  # body line length, CRLF excluded


def recipients(count: int) -> list[str]:
    """``count`` distinct recipient addresses."""
    return [f"rcpt{i}@example.org" for i in range(count)]


def header_for(rcpts: list[str]) -> str:
    """A small, well-formed header ending in an empty line."""
    return (
        f"From: <{SENDER}>\r\n"
        f"To: <{rcpts[0]}>\r\n"
        "Subject: smtpunit benchmark\r\n"
        "Message-ID: <bench@example.org>\r\n"
        "\r\n"
    )


def body_lines(octets: int) -> list[str]:
    """Body lines (without CRLF) adding up to about ``octets`` on the wire."""
    lines = []
    remaining = octets
    number = 0
    while remaining > 2:
        width = min(LINE_CHARS, remaining - 2)
        lines.append(f"{number:08d}".ljust(width, "x")[:width])
        remaining -= width + 2
        number += 1
    return lines


@dataclass(frozen=True)
class BenchMessage:
    """One message in every form the clients want.

    :ivar header: the header (``str``, ending in CRLF CRLF).
    :ivar lines: the body lines (``str``, no CRLF).
    :ivar raw: header and body as one ``bytes``, CRLF line ends.
    :ivar recipients: the envelope recipients.
    """

    header: str
    lines: list[str]
    raw: bytes
    recipients: list[str]

    @property
    def body_octets(self) -> int:
        """Octets of the body alone (what ``smtp-source -l`` takes)."""
        return len(self.raw) - len(self.header)


def make_message(size: int, rcpt_count: int) -> BenchMessage:
    """A message of ``size`` octets (header included) for ``rcpt_count`` recipients."""
    rcpts = recipients(rcpt_count)
    header = header_for(rcpts)
    lines = body_lines(size - len(header))
    raw = header.encode("ascii") + "".join(line + "\r\n" for line in lines).encode("ascii")
    return BenchMessage(header, lines, raw, rcpts)


def write_big_message(path: str, size: int) -> int:
    """Write a message of about ``size`` octets to ``path`` without holding it in memory.

    :returns: the exact number of octets written.
    """
    header = header_for(recipients(1)).encode("ascii")
    line = (b"0123456789" * 8)[:LINE_CHARS] + b"\r\n"
    block = line * 4096
    written = 0
    with open(path, "wb") as out:
        out.write(header)
        written += len(header)
        while written + len(block) <= size:
            out.write(block)
            written += len(block)
        while written + len(line) <= size:
            out.write(line)
            written += len(line)
    return written
