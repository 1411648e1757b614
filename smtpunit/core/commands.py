"""Command building, input validation and message encoding (sans-IO).

Everything the client puts on the wire is built here, from checked input:

* addresses may not hold control characters, ``<``, ``>`` or whitespace, which would
  end the command early or smuggle parameters into it;
* the header must be a well-formed header ending in CRLF CRLF (or the empty header,
  a lone CRLF), with no bare CR or LF;
* message lines may not hold CR, LF or NUL, and are dot-stuffed on the way out.

All checks raise a subclass of :class:`ValueError` from :mod:`smtpunit.errors`.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO, Generic, Optional, TypeVar, Union, overload

from ..errors import InvalidAddress, InvalidArgument, InvalidHeader, InvalidMessageLine
from .content import (
    MAX_LINE_OCTETS,
    Content,
    LinesContent,
    RawContent,
    StreamContent,
    as_bytes,
    check_body,
    dot_stuffed,
    encode_line,
    file_lines,
    longest_line,
)
from .dsn import DSN

__all__ = [
    "Command",
    "Envelope",
    "Line",
    "MAX_LINE_OCTETS",
    "check_address",
    "check_credential",
    "check_ehlo_name",
    "check_port",
    "check_server_address",
    "encode_header",
    "smtputf8_refusal",
    "encode_lines",
    "prepare_envelope",
    "prepare_stream_envelope",
    "prepare_raw_envelope",
    "prepare_file_envelope",
    "ehlo",
    "lhlo",
    "starttls",
    "auth",
    "auth_response",
    "AUTH_CANCEL",
    "mail",
    "rcpt",
    "rset",
    "noop",
    "data",
    "quit",
    "END_OF_DATA",
]

Line = Union[str, bytes]
_T = TypeVar("_T")


_NOT_IN_ADDRESS = r"\x00-\x20\x7f-\x9f<>"  # with white space: they end a command or add parameters
_BAD_IN_ADDRESS = re.compile(rf"[{_NOT_IN_ADDRESS}]|\s")
_SAFE_ADDRESS = re.compile(rf"[^{_NOT_IN_ADDRESS}\s\ud800-\udfff]*")  # and no surrogate: encodable as UTF-8
_NAME = rb"[\x21-\x39\x3b-\x7e]+:"  # a field name and its colon
_FIELD_NAME = re.compile(_NAME)
# A header every line of which is a field or a continuation (not first), CRLF-ended,
# without NUL; the line-length bound is checked apart.
_WELL_FORMED_HEADER = re.compile(rb"%s[^\r\n\x00]*\r\n(?:(?:%s|[ \t])[^\r\n\x00]*\r\n)*\r\n" % (_NAME, _NAME))
_BAD_IN_NAME = re.compile(r"[\x00-\x20\x7f-\x9f]|\s")
# An address as a header writes it -- 'Name <addr>', '"Name" <addr>' or '<addr>' --
# for the error that says to give the bare address (the name may not hold controls).
_NAMED_ADDRESS = re.compile(r' *(?P<name>"(?:[^"\\\x00-\x1f\x7f]|\\[^\x00-\x1f\x7f])*"|[^"<>\x00-\x1f\x7f]*?) *'
                            r"<(?P<address>[^<>]*)> *")
# Where a header's lines do not end in CRLF: a CR without its LF, or an LF without its CR.
_BARE_CR_OR_LF = re.compile(rb"\r(?!\n)|(?<!\r)\n")
_CRLF_ADVICE = ("use '\\r\\n' line endings: each line of the header must end in CRLF ('\\r\\n'), "
                "and the header must end in an empty line (CRLF CRLF), e.g. 'Subject: Hi\\r\\n\\r\\n'")
# The header field that names the people whose addresses go in the envelope, by role.
_FIELD_OF_ROLE = {"sender": "From:", "recipient": "To: or Cc:"}
# Fields whose values are addresses: RFC 2047 encodes their display names, not all of them.
_ADDRESS_FIELDS = frozenset({"from", "sender", "reply-to", "to", "cc", "bcc",
                             "resent-from", "resent-sender", "resent-to", "resent-cc", "resent-bcc"})

END_OF_DATA = b".\r\n"


def _line_bytes(text: str) -> bytes:
    """A command line (or lines) as sent: UTF-8, ending in CRLF."""
    return (text + "\r\n").encode("utf-8")


class _made_once(Generic[_T]):
    """A property made when first read and kept in the instance's ``__dict__``: as
    ``functools.cached_property``, without the lock Python 3.11 takes on every first
    read (an envelope's are read once, on the path of every send)."""

    def __init__(self, make: Callable[[Any], _T]) -> None:
        self.make = make
        self.name = make.__name__
        self.__doc__ = make.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: Optional[type] = None) -> _made_once[_T]: ...

    @overload
    def __get__(self, instance: object, owner: Optional[type] = None) -> _T: ...

    def __get__(self, instance: Optional[object], owner: Optional[type] = None) -> Union[_T, _made_once[_T]]:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.make(instance)
        return value


@dataclass(frozen=True)
class Command:
    """One command line: the bytes for the wire and a redacted form for people.

    :ivar wire: the command with its CRLF, as sent.
    :ivar display: the command as it may appear in logs and errors (no secrets).
    """

    wire: bytes
    display: str

    @classmethod
    def plain(cls, text: str) -> Command:
        """A command whose text holds no secret."""
        return cls(_line_bytes(text), text)


@dataclass(frozen=True)
class Envelope:
    """A checked message ready to send: envelope addresses and content.

    :ivar sender: the reverse-path (``""`` for the null sender).
    :ivar recipients: the forward-paths, in order.
    :ivar content: the data, as a :class:`~smtpunit.core.content.LinesContent`,
        :class:`~smtpunit.core.content.StreamContent` or :class:`~smtpunit.core.content.RawContent`.
    :ivar dsn: the delivery status notifications for this message
        (:class:`~smtpunit.core.dsn.DSN`), over those of the send's options; see
        :meth:`with_dsn`.
    """

    sender: str
    recipients: tuple[str, ...]
    content: Content
    dsn: Optional[DSN] = None

    def with_dsn(self, dsn: Optional[DSN]) -> Envelope:
        """This envelope asking for ``dsn`` (its own ``ENVID``, say), whatever the
        options of the session, pool or mailer that sends it ask for."""
        if dsn is not None and not isinstance(dsn, DSN):
            raise TypeError(f"dsn must be a smtpunit.DSN or None, not {dsn!r}")
        return dataclasses.replace(self, dsn=dsn)

    def __post_init__(self) -> None:
        # Checked here, so that no envelope -- however it was built -- can hold an
        # address that would put a bad command on the wire; kept as a tuple, so that
        # none can be added after.
        object.__setattr__(self, "recipients", _check_addresses(self.sender, self.recipients)[1])

    @_made_once
    def rcpt_commands(self) -> tuple[Command, ...]:
        """``RCPT TO`` for each recipient, made when first needed."""
        return tuple(map(_rcpt, self.recipients))  # checked with the envelope

    def dsn_over(self, default: Optional[DSN]) -> Optional[DSN]:
        """The notifications this message asks for: its own :attr:`dsn`, else ``default``
        (a send's options)."""
        return self.dsn if self.dsn is not None else default

    def rcpt_commands_for(self, dsn: Optional[DSN]) -> tuple[Command, ...]:
        """:attr:`rcpt_commands`, each asking for the notifications of ``dsn`` if any
        (give ``None`` to a server that does not offer DSN)."""
        if dsn is None:
            return self.rcpt_commands
        return tuple(rcpt_command(r, dsn.rcpt_parameters(r)) for r in self.recipients)

    def mail_command(self, parameters: Iterable[str] = ()) -> Command:
        """``MAIL FROM`` for the sender, with ESMTP ``parameters``."""
        return _mail(self.sender, tuple(parameters))  # checked with the envelope

    @_made_once
    def rcpt_wire(self) -> bytes:
        """The bytes of :attr:`rcpt_commands` in one piece, made without them."""
        return _line_bytes("\r\n".join(map(_rcpt_text, self.recipients)))

    def message_bytes(self) -> bytes:
        """The message as its recipients get it: header and body, CRLF line ends, no
        dot-stuffing (a streamed body is consumed)."""
        return b"".join(self.content.bdat_pieces(True))

    @property
    def header(self) -> bytes:
        """The header bytes, as sent."""
        return self.content.header

    @property
    def body(self) -> tuple[bytes, ...]:
        """The body lines, each dot-stuffed and ending in CRLF (a streamed body is
        consumed by asking)."""
        if isinstance(self.content, LinesContent):
            return self.content.lines
        data = b"".join(self.content.data_pieces(True))[len(self.content.header):]
        return tuple(line + b"\r\n" for line in data.split(b"\r\n")[:-1])

    @property
    def needs_smtputf8(self) -> bool:
        """True if an address or the header holds non-ASCII characters (RFC 6531)."""
        return not (self.header.isascii() and self.sender.isascii() and "".join(self.recipients).isascii())

    @property
    def eight_bit(self) -> Optional[bool]:
        """True if the body holds octets above 127 (it needs 8BITMIME); ``None`` if
        the body is streamed and not yet known."""
        return self.content.eight_bit

    @property
    def size(self) -> Optional[int]:
        """Octets of message data, header included; ``None`` for a streamed body."""
        return self.content.size


def smtputf8_refusal(envelope: Envelope) -> str:
    """The message of the :class:`~smtpunit.errors.UnsupportedByServer` raised when
    ``envelope`` needs SMTPUTF8 (RFC 6531) and the server does not offer it: what is
    not ASCII -- the first such address, else the first such header field -- and
    what to send instead."""
    for role, address in (("sender", envelope.sender), *(("recipient", r) for r in envelope.recipients)):
        if not address.isascii():
            return (f"the {role} address {address!r} is not ASCII and the server does not offer "
                    "SMTPUTF8, which such an address needs: give an ASCII address (a non-ASCII "
                    "domain can be written in its IDNA form, 'xn--...')")
    field = _first_non_ascii_field(envelope.header)
    if field.lower() in _ADDRESS_FIELDS:
        how = ("encode each non-ASCII display name per RFC 2047, e.g. with "
               "email.utils.formataddr(('Name', 'addr@example.org'))")
    else:
        how = "encode its value per RFC 2047, e.g. with email.header.Header(value, 'utf-8').encode()"
    what = f"the header's {field} field" if field else "the header"
    return (f"{what} is not ASCII and the server does not offer SMTPUTF8: {how}; "
            "or send an email.message.EmailMessage with send_message, which encodes its header fields")


def _first_non_ascii_field(header: bytes) -> str:
    """The name of the first field of ``header`` that holds a non-ASCII octet, in its
    value or a continuation line of it; ``""`` if there is none."""
    name = ""
    for line in header.split(b"\r\n"):
        if line[:1] not in (b" ", b"\t"):
            name = line.partition(b":")[0].decode("utf-8", "replace")
        if not line.isascii():
            return name
    return ""


# -- checks ----------------------------------------------------------------------


def check_address(address: object, role: str, *, allow_empty: bool = False) -> str:
    """Return ``address`` if it is safe to put between ``<`` and ``>``.

    :param role: ``"sender"`` or ``"recipient"``, named in the error.
    :param allow_empty: accept ``""`` (the null reverse-path of bounces).
    :raises InvalidAddress: for control characters, ``<``, ``>``, whitespace or ``""``.
    """
    if not isinstance(address, str):
        raise InvalidAddress(f"{role} address must be a str, not {type(address).__name__}")
    if not address and not allow_empty:
        raise InvalidAddress(f"{role} address is empty")
    bad = _BAD_IN_ADDRESS.search(address)
    if bad:
        raise InvalidAddress(
            _header_form_advice(address, role, allow_empty)
            or f"{role} address {address!r} holds {bad.group()!r}, which could end the "
            "command or smuggle parameters into it"
        )
    if not _is_utf8_encodable(address):
        raise InvalidAddress(f"{role} address {address!r} cannot be encoded as UTF-8")
    return address


def _header_form_advice(address: str, role: str, allow_empty: bool) -> Optional[str]:
    """What to give instead of ``address`` if it is written as in a header
    (``Name <addr>``, ``"Name" <addr>`` or ``<addr>``); ``None`` otherwise."""
    found = _NAMED_ADDRESS.fullmatch(address)
    if found is None:
        return None
    name, bare = found.group("name"), found.group("address")
    if not bare:
        if allow_empty and not name:
            return f"{role} address {address!r} is in angle brackets: the null sender is the empty string ''"
        return None
    if not _SAFE_ADDRESS.fullmatch(bare):
        return None  # the address itself is bad: the error names what is wrong with it
    if not name:
        return (f"{role} address {address!r} is in angle brackets: the envelope takes a bare address, "
                f"such as {bare!r} (the brackets are added when it is sent)")
    field = _FIELD_OF_ROLE.get(role, "")
    return (f"{role} address {address!r} holds a display name: the envelope takes a bare address, "
            f"such as {bare!r}; a display name belongs in the header"
            + (f"'s {field} field" if field else ""))


def check_credential(value: object, what: str) -> str:
    """Return ``value`` if it can be a user name or password: a str without CR, LF
    or NUL. The error names ``what``, never the value."""
    if not isinstance(value, str):
        raise InvalidArgument(f"{what} must be a str, not {type(value).__name__}")
    if any(c in value for c in "\r\n\0"):
        raise InvalidArgument(f"{what} holds CR, LF or NUL")
    return value


def check_ehlo_name(name: object) -> str:
    """Return ``name`` if it can follow ``EHLO``: non-empty, no whitespace or control."""
    if not isinstance(name, str) or not name or _BAD_IN_NAME.search(name) or not _is_utf8_encodable(name):
        raise InvalidArgument(
            f"the sending server name must be a non-empty str with no whitespace or "
            f"control characters, not {name!r}"
        )
    return name


def check_server_address(server: object) -> str:
    """Return ``server`` if it is a plausible host name or address."""
    if not isinstance(server, str) or not server or _BAD_IN_NAME.search(server):
        raise InvalidArgument(f"server address must be a non-empty host name, not {server!r}")
    return server


def check_port(port: object) -> int:
    """Return ``port`` if it is an int in 0-65535."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InvalidArgument(f"port must be an int from 0 to 65535, not {port!r}")
    return port


def _is_utf8_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return False
    return True


def encode_header(header: Line) -> bytes:
    """Check ``header`` and return its bytes (UTF-8 for a str).

    A header is a sequence of fields, each ``name: value`` on a line of its own
    (continuation lines start with a space or tab), ending in an empty line; the
    empty header is a lone CRLF.

    :raises InvalidHeader: if it is not such a header.
    """
    raw = as_bytes(header, "header", InvalidHeader)
    if raw == b"\r\n":
        return raw
    well_formed = _WELL_FORMED_HEADER.fullmatch(raw) is not None
    if not (well_formed and (len(raw) <= MAX_LINE_OCTETS or longest_line(raw) <= MAX_LINE_OCTETS)):
        _refuse_header(raw)
    # Dot-stuff a field name that starts with "." (RFC 5321 section 4.5.2), as body lines are.
    return dot_stuffed(raw)


def _refuse_header(raw: bytes) -> None:
    """Raise :class:`InvalidHeader` naming what is wrong with ``raw`` (line by line)
    and, where it can, what to do instead."""
    bare = _BARE_CR_OR_LF.search(raw)
    if bare:
        number = raw.count(b"\r\n", 0, bare.start()) + 1
        what = "'\\n' (LF without CR)" if bare.group() == b"\n" else "'\\r' (CR without LF)"
        raise InvalidHeader(f"header line {number} has a bare {what}; {_CRLF_ADVICE}")
    if not raw.endswith(b"\r\n\r\n"):
        fix = "add '\\r\\n' after its last line" if raw.endswith(b"\r\n") else "end it in '\\r\\n\\r\\n'"
        raise InvalidHeader(f"header must end in an empty line (CRLF CRLF): {fix}, e.g. "
                            "'Subject: Hi\\r\\n\\r\\n'; the empty header is '\\r\\n' alone")
    if b"\x00" in raw:
        raise InvalidHeader("header holds a NUL byte")
    for number, line in enumerate(raw[:-4].split(b"\r\n"), 1):
        if len(line) > MAX_LINE_OCTETS:
            raise InvalidHeader(f"header line {number} is longer than {MAX_LINE_OCTETS} octets")
        if line[:1] in (b" ", b"\t"):
            if number == 1:
                raise InvalidHeader("header starts with a continuation line")
        elif not _FIELD_NAME.match(line):
            raise InvalidHeader(f"header line {number} is not a 'Name: value' field: {line[:60]!r}")
    raise InvalidHeader("header is not well-formed")  # pragma: no cover -- a line above is named


def encode_lines(lines: Iterable[Line]) -> tuple[bytes, ...]:
    """Check message lines and return them dot-stuffed, each ending in CRLF.

    :raises InvalidMessageLine: for CR, LF or NUL in a line, or one over 998 octets.
    """
    _refuse_single(lines)
    return tuple(encode_line(line, number) for number, line in enumerate(lines, 1))


def _refuse_single(lines: object) -> None:
    if isinstance(lines, (str, bytes, bytearray)):
        raise InvalidMessageLine("message must be an iterable of lines, not a single str or bytes")


def _check_addresses(sender: object, recipients: Iterable[object]) -> tuple[str, tuple[str, ...]]:
    """The sender and the recipients (a list of at least one), checked."""
    if isinstance(recipients, (str, bytes)):
        raise InvalidArgument("recipients must be a list of addresses, not a single string")
    checked = tuple(check_address(recipient, "recipient") for recipient in recipients)
    if not checked:
        raise InvalidArgument("no recipients")
    return check_address(sender, "sender", allow_empty=True), checked


def prepare_envelope(
    sender: object, recipients: Iterable[object], header: Line, message: Iterable[Line]
) -> Envelope:
    """Check everything about one message; nothing is sent here. The lines are
    kept (a list of the envelope's own, each line that is not exactly a str or bytes
    copied as bytes) and joined into octets when sent."""
    _refuse_single(message)
    content = LinesContent(encode_header(header), check_body(message))
    return Envelope(sender, recipients, content)  # type: ignore[arg-type]  # the Envelope checks them


def prepare_stream_envelope(
    sender: object, recipients: Iterable[object], header: Line, lines: Iterable[Line]
) -> Envelope:
    """Like :func:`prepare_envelope`, but the lines are checked and encoded as they
    are sent, in bounded memory. A bad line met while sending aborts the
    connection before the data ends, so the server delivers nothing."""
    _refuse_single(lines)
    content = StreamContent(encode_header(header), lines)
    return Envelope(sender, recipients, content)  # type: ignore[arg-type]  # the Envelope checks them


def prepare_raw_envelope(sender: object, recipients: Iterable[object], data: Union[bytes, bytearray]) -> Envelope:
    """An envelope for a complete message given as bytes: header, empty line, body,
    every line ending in CRLF. It is checked at once, a 64 KB window at a time; bytes
    are never copied whole, a bytearray is (so that nothing changes what was checked).

    :raises InvalidHeader: if the header part is not a header.
    :raises InvalidMessageLine: for a bare CR or LF, NUL, or a line over 998 octets.
    """
    checked = _check_addresses(sender, recipients)  # before a scan of what may be a big message
    return Envelope(*checked, RawContent.check(data, encode_header))


def prepare_file_envelope(sender: object, recipients: Iterable[object], source: BinaryIO,
                          max_header_octets: int = 1024 * 1024) -> Envelope:
    """An envelope for a complete message read from a binary file (LF or CRLF line
    endings): the header is read and checked now, the body streamed while sending.

    :raises InvalidHeader: if the file does not start with a header and an empty line.
    """
    checked = _check_addresses(sender, recipients)  # before anything is read from the file
    lines = file_lines(source)
    header_lines = []
    size = 0
    for line in lines:
        if not line:
            break
        size += len(line) + 2
        if size > max_header_octets:
            raise InvalidHeader(f"the header is longer than {max_header_octets} octets")
        header_lines.append(line + b"\r\n")
    else:
        raise InvalidHeader("the file has no empty line after its header")
    header = encode_header(b"".join(header_lines) + b"\r\n")
    return Envelope(*checked, StreamContent(header, lines))


# -- commands --------------------------------------------------------------------


@functools.lru_cache(maxsize=64)  # a process greets with few names
def ehlo(name: str) -> Command:
    """``EHLO <name>``."""
    return Command.plain(f"EHLO {name}")


@functools.lru_cache(maxsize=64)
def lhlo(name: str) -> Command:
    """``LHLO <name>`` (LMTP)."""
    return Command.plain(f"LHLO {name}")


def starttls() -> Command:
    """``STARTTLS``."""
    return Command.plain("STARTTLS")


def auth(mechanism: str, initial_response: Optional[bytes]) -> Command:
    """``AUTH <mechanism> [<base64 initial response>]``; the response is redacted."""
    if initial_response is None:
        return Command.plain(f"AUTH {mechanism}")
    encoded = base64.b64encode(initial_response).decode("ascii") or "="
    return Command(f"AUTH {mechanism} {encoded}\r\n".encode("ascii"), f"AUTH {mechanism} ****")


def auth_response(response: bytes) -> Command:
    """One base64 line answering a 334 challenge; redacted."""
    return Command(base64.b64encode(response) + b"\r\n", "****")


AUTH_CANCEL = Command.plain("*")


def mail(sender: str, parameters: Iterable[str] = ()) -> Command:
    """``MAIL FROM:<sender>`` with optional ESMTP parameters (the address checked
    again here, whoever built the envelope)."""
    return _mail(check_address(sender, "sender", allow_empty=True), tuple(parameters))


@functools.lru_cache(maxsize=256)  # a process sends from few senders, with few sets of parameters
def _mail(sender: str, parameters: tuple[str, ...]) -> Command:
    return Command.plain(" ".join((f"MAIL FROM:<{sender}>", *parameters)))


def rcpt(recipient: str) -> Command:
    """``RCPT TO:<recipient>`` (the address checked again here)."""
    return _rcpt(check_address(recipient, "recipient"))


def _rcpt(recipient: str) -> Command:
    return Command.plain(_rcpt_text(recipient))


def rcpt_command(recipient: str, parameters: Iterable[str]) -> Command:
    """``RCPT TO`` for an envelope's recipient (checked with it), with ESMTP ``parameters``."""
    return Command.plain(" ".join((_rcpt_text(recipient), *parameters)))


def _rcpt_text(recipient: str) -> str:
    return f"RCPT TO:<{recipient}>"


def rset() -> Command:
    """``RSET``."""
    return Command.plain("RSET")


def noop() -> Command:
    """``NOOP``."""
    return Command.plain("NOOP")


def data() -> Command:
    """``DATA``."""
    return Command.plain("DATA")


def quit() -> Command:
    """``QUIT``."""
    return Command.plain("QUIT")
