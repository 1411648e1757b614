"""Sending :class:`email.message.EmailMessage` objects.

The envelope comes from the headers unless given: the sender from ``Sender`` or
else ``From``, the recipients from ``To``, ``Cc`` and ``Bcc`` (each once, in that
order). ``Bcc`` is a recipient but never part of the data. The data is the message
serialised with CRLF line endings; SMTPUTF8 is asked for only when an address or a
header field needs it (an ASCII message is serialised as ASCII, with RFC 2047
encoded words where needed).
"""

from __future__ import annotations

import copy
import email.generator
import email.policy
import io
import re
from collections.abc import Iterable
from email.message import Message
from email.utils import getaddresses
from typing import Optional

from ..errors import InvalidArgument, InvalidHeader
from .commands import Envelope, prepare_raw_envelope

__all__ = ["check_fields", "envelope_of", "message_sender", "message_recipients"]

_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+")  # RFC 5322 ftext: printable ASCII but ':'
_UNFOLDED_BREAK = re.compile(r"\r\n(?![ \t])|\r(?![\n \t])|(?<!\r)\n(?![ \t])")  # a break not folding

_ASCII_POLICY = email.policy.SMTP.clone(max_line_length=998)
_UTF8_POLICY = email.policy.SMTPUTF8.clone(max_line_length=998)


def _addresses(message: Message, *fields: str) -> list[str]:
    values = [str(v) for field in fields for v in message.get_all(field, [])]
    return [address for _, address in getaddresses(values) if address]


def message_sender(message: Message) -> str:
    """The envelope sender a message's headers name: ``Sender``, else the first ``From``.

    :raises InvalidArgument: if there is neither.
    """
    for field in ("Sender", "From"):
        found = _addresses(message, field)
        if found:
            return found[0]
    raise InvalidArgument("the message has no Sender or From address; give from_")


def message_recipients(message: Message) -> list[str]:
    """Every address in ``To``, ``Cc`` and ``Bcc``, each once, in that order."""
    seen: dict[str, None] = {}
    for address in _addresses(message, "To", "Cc", "Bcc"):
        seen.setdefault(address, None)
    return list(seen)


def check_fields(message: Message) -> None:
    """Refuse a header field of ``message`` (or of any of its parts) whose name or
    value would make other lines: a CR or LF in a value must start a folded line
    (be followed by a space or a tab). Messages made with the ``compat32`` policy
    keep values as given, so a Subject set to ``"x\\r\\nBcc: evil@example.org"`` would
    otherwise add a field, or end the header early.

    :raises InvalidHeader: naming the field.
    """
    for part in message.walk():
        for name, value in part.raw_items():
            if not _FIELD_NAME.fullmatch(name):
                raise InvalidHeader(f"header field name {name!r} is not printable ASCII without ':' or spaces")
            if _UNFOLDED_BREAK.search(str(value)):
                raise InvalidHeader(
                    f"the {name} field holds a line break that is not folding (CR or LF not followed by a "
                    "space or tab): it would add a header field or end the header; remove the CR and LF")


def _serialised(message: Message, policy: email.policy.Policy) -> bytes:
    """``message`` as bytes under ``policy``: ``Message.as_bytes``'s work, done here
    because subclasses change its signature (Django's takes no ``policy``)."""
    buffer = io.BytesIO()
    email.generator.BytesGenerator(buffer, mangle_from_=False, policy=policy).flatten(message)
    return buffer.getvalue()


def envelope_of(message: Message, from_: Optional[str] = None, to: Optional[Iterable[str]] = None) -> Envelope:
    """A checked :class:`~smtpunit.core.commands.Envelope` for ``message``.

    :param from_: the envelope sender; from the headers if ``None``.
    :param to: the recipients; from the headers if ``None`` (Bcc included).
    :raises ValueError: if the envelope cannot be made or the data is not sendable
        (:func:`check_fields` first, so that no address is read from a forged field).
    """
    check_fields(message)
    sender = message_sender(message) if from_ is None else from_
    recipients = message_recipients(message) if to is None else list(to)
    data = copy.copy(message)
    del data["Bcc"]
    named = [sender, *recipients, *_addresses(data, "From", "Sender", "To", "Cc", "Reply-To")]
    utf8 = not all(isinstance(a, str) and a.isascii() for a in named)
    raw = _serialised(data, _UTF8_POLICY if utf8 else _ASCII_POLICY)
    if not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    return prepare_raw_envelope(sender, recipients, raw)
