"""Racket's ``net/head`` for Python: parse and build RFC 822 message headers.

A *header* is a str (or bytes) of CRLF-terminated fields followed by an empty
line, so it ends in CRLF CRLF; the empty header is a lone CRLF
(:data:`empty_header`). A field is ``Name: value``; a value may go on over
continuation lines, each starting with a space or a tab. For example::

    >>> h = insert_field("To", "a@example.com", empty_header)
    >>> h = insert_field("From", "me@example.com", h)
    >>> h
    'From: me@example.com\\r\\nTo: a@example.com\\r\\n\\r\\n'
    >>> extract_field("to", h)
    'a@example.com'
    >>> extract_all_fields(replace_field("To", None, h))
    [('From', 'me@example.com')]

Every function gives the results that Racket's gives for the same input, down
to its quirks: folded values come back with their CRLF and leading whitespace
(they are not unfolded), a continuation line that holds a colon can be taken for
a new field, and :func:`extract_addresses` parses with Racket's few regular
expressions rather than the RFC 5322 grammar. It follows Racket's current
``net/head``, which skips spaces *and tabs* after a field's colon (Racket 8.7 and
older skipped only spaces; racket/racket#4508). Where Racket accepts bytes as
well as strings (the functions that take a header), these do too and give back
the type they were given; str and bytes cannot be mixed in one call.

Bad input raises :class:`~smtpunit.errors.InvalidHeader` (a header) or
:class:`~smtpunit.errors.InvalidAddress` (an address), both :class:`ValueError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import AnyStr, Literal, Optional, Union, overload

from .errors import InvalidAddress, InvalidHeader

__all__ = [
    "AddressForm",
    "append_headers",
    "assemble_address_field",
    "data_lines_to_data",
    "empty_header",
    "extract_addresses",
    "extract_all_fields",
    "extract_field",
    "insert_field",
    "remove_field",
    "replace_field",
    "standard_message_header",
    "validate_header",
]

empty_header = "\r\n"
"""The empty header: a lone CRLF (``"\\r\\n"``), the start for building one up."""

AddressForm = Literal["name", "address", "full", "all"]
"""What :func:`extract_addresses` returns for each address (Racket's symbols)."""

_CRLF = "\r\n"


# Racket's regular expressions, translated: "." matches a newline there (hence
# re.DOTALL), "$" only at the very end (hence \Z), and "^" at the search start.
# Bytes are handled as the Latin-1 str with the same code points, which the same
# expressions match in the same places (Racket's byte regexps agree, case
# folding included).

# A line that starts a field: a name (possibly empty) of anything but blanks,
# controls \x01-\x1a and the double quote, then a colon.
_FIELD_LINE = re.compile(r'[^ \t\n\r\v:\x01-\x1a"]*:')
# A continuation line.
_CONTINUATION = re.compile(r"[ \t\v]")
# Where the value of a field ends: CRLF and what looks like the next field's name.
_NEXT_FIELD = re.compile(r'\r\n[^: \r\n"]*:')
# Any field, for extract_all_fields (a looser name: it may hold blanks).
_ANY_FIELD = re.compile(r'(?:^|\r\n)(?P<name>[^\r\n:"]*):[ \t]*')
_NON_LATIN_1 = re.compile(r"[^\x00-\xff]")
_BARE_LF = re.compile(r"(?<!\r)\n")  # an LF without its CR, named in the error of a header without CRLF

_BLANKS = " \t\n\r\v"  # Racket's "blank" class; note that it leaves out \f
_RE_ALL_BLANK = re.compile(r"[ \t\n\r\v]*\Z")
_RE_QUOTED = re.compile(r'"[^"]*"')
_RE_PARENED = re.compile(r"[(][^)]*[)]")
_RE_COMMA_SEPARATED = re.compile(r"([^,]*),(.*)", re.DOTALL)
_RE_QUOTED_NAME = re.compile(r'[ \t\n\r\v]*("[^"]*")(.*)', re.DOTALL)
_RE_PARENED_NAME = re.compile(r"(.*)[(]([^)]*)[)][ \t\n\r\v]*\Z", re.DOTALL)
_RE_SIMPLE_NAME = re.compile(r"[ \t\n\r\v]*([^ \t\n\r\v].*)(<.*>)[ \t\n\r\v]*\Z", re.DOTALL)
_RE_NORMAL_NAME = re.compile(r"[ \t\n\r\v]*<([^>]*)>[ \t\n\r\v]*")
_RE_DOUBLE_LESS = re.compile(r"<.*<", re.DOTALL)
_RE_DOUBLE_GREATER = re.compile(r">.*>", re.DOTALL)
_RE_BAD_CHARS = re.compile(r'[,"()<>]')

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # indexed by datetime.weekday()
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_FOLD_AT = 72  # assemble_address_field starts a new line once a line would reach this length


def _text(who: str, *values: str | bytes) -> list[str]:
    """``values`` as str (bytes read as Latin-1); TypeError if they mix str and bytes."""
    if all(isinstance(v, str) for v in values):
        return list(values)  # type: ignore[arg-type]
    if all(isinstance(v, bytes) for v in values):
        return [v.decode("latin-1") for v in values]  # type: ignore[union-attr]
    kinds = ", ".join(type(v).__name__ for v in values)
    raise TypeError(f"{who}: arguments must be all str or all bytes, not {kinds}")


def _like(template: AnyStr, text: str) -> AnyStr:
    """``text`` as the type of ``template`` (Latin-1 for bytes)."""
    if isinstance(template, bytes):
        return text.encode("latin-1")
    return text


def _case_variants(char: str) -> set[str]:
    """The characters that ``char`` matches case-insensitively in a Racket regexp.

    Racket matches a character, its simple upper case, its simple lower case and
    its simple case folding (Unicode's one-character mappings; Python's str
    methods give the full ones, so a mapping to several characters falls back).
    """
    upper = char.upper()
    if len(upper) != 1:
        upper = char.title() if len(char.title()) == 1 else char
    lower = char.lower()
    if len(lower) != 1:
        lower = "i" if char == "\u0130" else char  # the one character whose full lower case is longer
    folded = char.casefold()
    if len(folded) != 1:
        folded = lower
    return {char, upper, lower, folded}


def _field_start(field: str) -> re.Pattern[str]:
    """Where ``field`` starts in a header: at its start or after a CRLF, in any case.

    The named group ``field`` spans the name, the colon and the spaces or tabs
    after it; the match ends where the value begins.
    """
    literal = "".join(
        "[" + "".join(re.escape(c) for c in sorted(variants)) + "]" if len(variants) > 1 else re.escape(char)
        for char, variants in ((char, _case_variants(char)) for char in field)
    )
    return re.compile("(?:^|\r\n)(?P<field>" + literal + ":[ \t]*)")


def _strip_end_of_header(rest: str) -> str:
    """``rest`` without a final CRLF CRLF: the tail of the last field's value."""
    return rest[:-4] if rest.endswith(_CRLF + _CRLF) else rest


def _missing_crlf(text: str, at_end: bool) -> str:
    """What to do about a header that lacks a CRLF: its empty line (``at_end``), or
    the end of a line."""
    if _BARE_LF.search(text):
        return ("it holds a '\\n' without '\\r'; use '\\r\\n' line endings: each line must end in "
                "CRLF ('\\r\\n') and the header in an empty line (CRLF CRLF), e.g. 'Subject: Hi\\r\\n\\r\\n'")
    if at_end:
        return ("a header must end in an empty line, so in CRLF CRLF: add '\\r\\n' after its last "
                "line, e.g. 'Subject: Hi\\r\\n\\r\\n' (the empty header is '\\r\\n' alone)")
    return "each line must end in '\\r\\n', and the header in an empty line (CRLF CRLF), e.g. 'Subject: Hi\\r\\n\\r\\n'"


def validate_header(header: str | bytes) -> None:
    """Check that ``header`` is a header, as Racket's ``validate-header`` does.

    Each line must start a field (a name without blanks, controls \\x01-\\x1a or
    ``"``, then a colon) or continue one (start with a space, tab or vertical
    tab), and end in CRLF; the last line must be empty. A str must also hold
    only Latin-1 characters. Nothing else is checked: a field name may be empty,
    and a line may hold a bare CR or LF.

    :param header: the header, str or bytes.
    :raises InvalidHeader: with ``missing ending CRLF`` (and what to do: end each
        line in ``"\\r\\n"`` and the header in an empty line), ``ill-formed header at``
        (and the rest of the header) or ``non-Latin-1 character`` in the message.
    :raises TypeError: if ``header`` is neither str nor bytes.
    """
    (text,) = _text("validate_header", header)
    if isinstance(header, str):
        bad = _NON_LATIN_1.search(text)
        if bad:
            raise InvalidHeader(f"validate_header: non-Latin-1 character in string: {bad.group()!r}")
    offset, length = 0, len(text)
    while True:
        if offset + 2 == length and text[offset:] == _CRLF:
            return None
        if offset == length:
            raise InvalidHeader(f"validate_header: missing ending CRLF: {_missing_crlf(text, True)}")
        if _FIELD_LINE.match(text, offset) or _CONTINUATION.match(text, offset):
            end = text.find(_CRLF, offset)
            if end < 0:
                raise InvalidHeader(f"validate_header: missing ending CRLF: {_missing_crlf(text, False)}")
            offset = end + 2
        else:
            raise InvalidHeader(f"validate_header: ill-formed header at {header[offset:]!r}")


def extract_field(field: AnyStr, header: AnyStr) -> Optional[AnyStr]:
    """The value of the first field named ``field`` in ``header``, or ``None``.

    The name is matched case-insensitively and without its colon. The value
    starts after the colon and any spaces or tabs, and runs up to the next line
    that looks like a field; a folded value keeps its CRLFs and the whitespace
    that starts its continuation lines (``"field is\\r\\n continued"``), as in
    Racket.

    :param field: the field name, such as ``"Subject"``.
    :param header: the header to search, of the same type as ``field``.
    :returns: the value, of the same type as ``header``, or ``None`` if no field
        has that name.
    :raises TypeError: if ``field`` and ``header`` are not both str or both bytes.
    """
    name, text = _text("extract_field", field, header)
    start = _field_start(name).search(text)
    if start is None:
        return None
    rest = text[start.end():]
    following = _NEXT_FIELD.search(rest)
    return _like(header, rest[: following.start()] if following else _strip_end_of_header(rest))


def replace_field(field: AnyStr, value: Optional[AnyStr], header: AnyStr) -> AnyStr:
    """``header`` with the first field named ``field`` replaced by ``field: value``.

    The new field takes the old one's place; if there is none, it goes in front
    (see :func:`insert_field`). A ``value`` of ``None`` removes the field instead
    (Racket's ``#f``); an empty value does not. The name is matched
    case-insensitively, and the new field is spelled as ``field`` is.

    :param field: the field name, without its colon.
    :param value: the new value, ``None`` to remove the field. It is not folded
        or checked: it may hold continuation lines (``"a\\r\\n b"``).
    :param header: the header, of the same type as ``field``.
    :returns: the new header, of the same type as ``header``.
    :raises TypeError: if the arguments mix str and bytes.
    """
    name, text, new = _text("replace_field", field, header, header if value is None else value)
    start = _field_start(name).search(text)
    if start is None:
        return header if value is None else insert_field(field, value, header)
    rest = text[start.end():]
    following = _NEXT_FIELD.search(rest)
    after = rest[following.start() + 2:] if following else _CRLF
    if value is not None:
        after = f"{name}: {new}{_CRLF}{after}"
    return _like(header, text[: start.start("field")] + after)


def remove_field(field: AnyStr, header: AnyStr) -> AnyStr:
    """``header`` without the first field named ``field`` (matched in any case).

    :param field: the field name, without its colon.
    :param header: the header, of the same type as ``field``.
    :returns: the new header; ``header`` itself if no field has that name.
    :raises TypeError: if ``field`` and ``header`` are not both str or both bytes.
    """
    return replace_field(field, None, header)


def insert_field(field: AnyStr, value: AnyStr, header: AnyStr) -> AnyStr:
    """``header`` with the field ``field: value`` put in front of its fields.

    Nothing is checked, as in Racket: the value goes in as it is, so a value
    holding CRLF must fold (go on with a space or tab) to keep the header valid.

    :param field: the field name, without its colon.
    :param value: the field value.
    :param header: the header, of the same type as ``field`` and ``value``.
    :returns: ``field + ": " + value + CRLF + header``.
    :raises TypeError: if the arguments mix str and bytes.
    """
    name, new, text = _text("insert_field", field, value, header)
    return _like(header, f"{name}: {new}{_CRLF}{text}")


def append_headers(first: AnyStr, second: AnyStr) -> AnyStr:
    """The fields of ``first`` followed by those of ``second``, in one header.

    This drops the last two characters of ``first`` (its empty line) and adds
    ``second``; neither header is checked.

    :param first: a header.
    :param second: a header, of the same type.
    :returns: the combined header.
    :raises InvalidHeader: if ``first`` is shorter than two characters.
    :raises TypeError: if the headers are not both str or both bytes.
    """
    _text("append_headers", first, second)
    if len(first) > 1:
        return first[:-2] + second
    raise InvalidHeader(f"append_headers: first argument is not a header: {first!r}")


def extract_all_fields(header: AnyStr) -> list[tuple[AnyStr, AnyStr]]:
    """Every field in ``header`` as ``(name, value)`` pairs, in order.

    Names keep their spelling; values are as :func:`extract_field` gives them.
    Text before the first line that looks like a field is skipped; a header
    with no field gives an empty list.

    :param header: the header, str or bytes.
    :returns: the pairs, each of the same type as ``header``.
    :raises TypeError: if ``header`` is neither str nor bytes.
    """
    (text,) = _text("extract_all_fields", header)
    fields: list[tuple[AnyStr, AnyStr]] = []
    position = 0
    while True:
        found = _ANY_FIELD.search(text, position)
        if found is None:
            return fields
        name, start = _like(header, found.group("name")), found.end()
        following = _NEXT_FIELD.search(text, start)
        if following is None:
            fields.append((name, _like(header, _strip_end_of_header(text[start:]))))
            return fields
        fields.append((name, _like(header, text[start: following.start()])))
        position = following.start()


def _rfc2822_date(when: Optional[datetime]) -> str:
    """``when`` (default: now) as Racket's ``date->string`` writes it in ``'rfc2822`` format.

    The day of the month is not padded (``Sun, 5 Jan 2025 09:03:07 +0100``).
    """
    if when is None:
        when = datetime.now().astimezone()
    elif when.utcoffset() is None:
        when = when.astimezone()  # naive: local time, as Racket's seconds->date
    offset = when.utcoffset()
    delta = int(offset.total_seconds()) if offset is not None else 0

    def quotient(a: int, b: int) -> int:  # Racket's quotient truncates toward zero
        return -(-a // b) if a < 0 else a // b

    hours = abs(quotient(delta, 3600))
    minutes = quotient(delta, 60) % 60
    sign = "-" if delta < 0 else "+"
    return (
        f"{_WEEKDAYS[when.weekday()]}, {when.day} {_MONTHS[when.month - 1]} {when.year} "
        f"{when.hour:02d}:{when.minute:02d}:{when.second:02d} {sign}{hours:02d}{minutes:02d}"
    )


def _address_list(addresses: Iterable[str], what: str) -> list[str]:
    if isinstance(addresses, (str, bytes)):
        raise TypeError(f"{what} must be a list of addresses, not a single {type(addresses).__name__}")
    return list(addresses)


def standard_message_header(
    from_: str,
    to: Iterable[str],
    cc: Iterable[str],
    bcc: Iterable[str],
    subject: str,
    *,
    date: Optional[datetime] = None,
) -> str:
    """A header with From, To, CC, Subject and Date, as Racket's builds it.

    The fields come in that order: ``From``, ``To`` (left out when ``to`` is
    empty), ``CC`` (left out when ``cc`` is empty), ``Subject`` and ``Date``.
    ``bcc`` is accepted and ignored: blind copies are not named in the header.
    Address lists are joined by :func:`assemble_address_field`; nothing is
    checked or encoded, so the values should be single-line ASCII. A non-ASCII
    value goes into the header as it is, and such a header can only be sent to a
    server that offers SMTPUTF8; for any other, encode the value per RFC 2047 first
    (``email.header.Header(subject, "utf-8").encode()`` for the subject,
    ``email.utils.formataddr((name, address))`` for an address with a display
    name), or send an :class:`email.message.EmailMessage` with ``send_message``,
    which does so.

    :param from_: the ``From`` value, such as ``'Jo <jo@example.com>'``.
    :param to: the ``To`` addresses.
    :param cc: the ``CC`` addresses.
    :param bcc: the blind-copy addresses (not put in the header).
    :param subject: the ``Subject`` value.
    :param date: the ``Date`` to write; the current time by default, and a naive
        datetime is taken as local time. It is written as Racket writes it, the
        day unpadded: ``Sun, 5 Jan 2025 09:03:07 +0100``.
    :returns: the header, ending in CRLF CRLF.
    :raises TypeError: if an address list is a single str.
    """
    tos, ccs = _address_list(to, "to"), _address_list(cc, "cc")
    _address_list(bcc, "bcc")
    header = insert_field("Subject", subject, insert_field("Date", _rfc2822_date(date), empty_header))
    if ccs:
        header = insert_field("CC", assemble_address_field(ccs), header)
    if tos:
        header = insert_field("To", assemble_address_field(tos), header)
    return insert_field("From", from_, header)


def data_lines_to_data(lines: Iterable[str]) -> str:
    """``lines`` joined into one folded field value: CRLF and a tab between lines.

    :param lines: the lines of the value.
    :returns: for example ``"one\\r\\n\\ttwo"`` for ``["one", "two"]``, and ``""``
        for no lines.
    """
    return "\r\n\t".join(lines)


def _simple_address(text: str, orig: str) -> str:
    """``text`` without blanks around it; an error if it holds , " ( ) < or >."""
    if _RE_BAD_CHARS.search(text):
        raise InvalidAddress(f"extract_addresses: cannot parse address: {orig}")
    return text.strip(_BLANKS)


def _angle_address(text: str, orig: str) -> str:
    """The address inside the first ``<...>`` in ``text``."""
    if _RE_DOUBLE_LESS.search(text) or _RE_DOUBLE_GREATER.search(text):
        raise InvalidAddress(f"extract_addresses: too many angle brackets: {text}")
    found = _RE_NORMAL_NAME.search(text)
    if found is None:
        raise InvalidAddress(f"extract_addresses: cannot parse address: {orig}")
    return _simple_address(found.group(1), orig)


def _one_address(orig: str) -> tuple[str, str, str]:
    """``(name, address, full)`` for one address, with Racket's rules in Racket's order."""

    def parse(text: str) -> tuple[str, str, str]:
        found = _RE_PARENED_NAME.match(text)
        if found:  # "address (comment)": the comment is the name
            comment = found.group(2)
            name, address, full = parse(found.group(1))
            return (comment if name == address else name), address, f"{full} ({comment})"
        found = _RE_QUOTED_NAME.match(text)
        if found:  # '"name" <address>': the name keeps its quotes
            name, address = found.group(1), _angle_address(found.group(2), text)
            return name, address, f"{name} <{address}>"
        found = _RE_SIMPLE_NAME.match(text)
        if found:  # "name <address>"
            name, address = found.group(1).rstrip(_BLANKS), _angle_address(found.group(2), text)
            return name, address, f"{name} <{address}>"
        if "<" in text or ">" in text:
            address = _angle_address(text, orig)
        else:
            address = _simple_address(text, orig)
        return address, address, address

    return parse(orig)


@overload
def extract_addresses(line: Optional[str], form: Literal["name", "address", "full"]) -> list[str]: ...


@overload
def extract_addresses(line: Optional[str], form: Literal["all"]) -> list[tuple[str, str, str]]: ...


def extract_addresses(
    line: Optional[str], form: AddressForm
) -> Union[list[str], list[tuple[str, str, str]]]:
    """The addresses in a comma-separated address field, as Racket's parses them.

    Commas inside double quotes or parentheses do not separate. Each address is
    one of ``address``, ``<address>``, ``name <address>``, ``"name" <address>``
    or ``address (name)``. Racket's quirks are kept: a quoted name keeps its
    quotes, groups (``team: a, b;``) are not understood, an empty item between
    two commas gives an empty address, and a trailing comma is ignored.

    :param line: the field value, such as ``extract_field("To", header)``;
        ``None`` or a blank string gives an empty list.
    :param form: what to return for each address: ``"name"`` (the display name,
        or the address when there is none), ``"address"`` (the bare address),
        ``"full"`` (``name <address>`` or ``address (comment)``) or ``"all"``
        (the tuple ``(name, address, full)``).
    :returns: one item per address, in order.
    :raises ValueError: if ``form`` is not one of the four.
    :raises InvalidAddress: for an address Racket cannot parse (a stray ``,``,
        ``"``, ``(``, ``)``, ``<`` or ``>``, or two pairs of angle brackets).
    """
    if form not in ("name", "address", "full", "all"):
        raise ValueError(f"extract_addresses: form must be 'name', 'address', 'full' or 'all', not {form!r}")
    triples: list[tuple[str, str, str]] = []
    rest = line
    while rest is not None and not _RE_ALL_BLANK.match(rest):
        prefix, text = "", rest
        while True:
            quoted, parened = _RE_QUOTED.search(text), _RE_PARENED.search(text)
            group = quoted if parened is None or (quoted is not None and quoted.start() < parened.start()) else parened
            comma = text.find(",")
            if group is not None and comma >= 0 and group.start() < comma < group.end():
                # The comma is inside quotes or parentheses: keep it and look further.
                prefix, text = prefix + text[: group.end()], text[group.end():]
                continue
            split = _RE_COMMA_SEPARATED.match(text)
            if split is None:
                triples.append(_one_address(prefix + text))
                rest = None
            else:
                triples.append(_one_address(prefix + split.group(1)))
                rest = split.group(2)
            break
    if form == "all":
        return triples
    index = ("name", "address", "full").index(form)
    return [triple[index] for triple in triples]


def assemble_address_field(addresses: Iterable[str]) -> str:
    """``addresses`` joined by ``", "`` into one field value, folded as Racket folds it.

    An address that would take the line to 72 characters or more starts a new
    line instead: ``",\\r\\n\\t"`` separates it. The count starts at the first
    address, so the field name is not counted.

    :param addresses: the addresses (each any form :func:`extract_addresses` reads).
    :returns: the value; ``""`` for no addresses.
    :raises TypeError: if ``addresses`` is a single str.
    """
    items = _address_list(addresses, "addresses")
    if not items:
        return ""
    assembled, length = items[0], len(items[0])
    for address in items[1:]:
        if length + len(address) >= _FOLD_AT:
            assembled, length = f"{assembled},\r\n\t{address}", len(address)
        else:
            assembled, length = f"{assembled}, {address}", length + len(address) + 2
    return assembled
