"""Signing a message before it is sent (sans-IO): the signer's header fields go before
the header, computed over the bytes the recipients get."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidArgument
from .commands import Envelope, prepare_raw_envelope
from .content import LinesContent, RawContent

__all__ = ["check_signable", "signed"]


def check_signable(envelope: Envelope) -> None:
    """Refuse, before anything is sent, an envelope whose content cannot be signed.

    :raises InvalidArgument: the content is streamed.
    """
    if not isinstance(envelope.content, (LinesContent, RawContent)):
        raise InvalidArgument("a streamed message cannot be signed: it is read once, as it is sent, and the "
                              "signature must cover all of it first; give the message as bytes or lines")


def signed(envelope: Envelope, signer: Any) -> Envelope:
    """``envelope`` with the fields ``signer`` (an :class:`~smtpunit.interfaces.ISigner`)
    makes over its message put before its header.

    :raises InvalidArgument: the content is streamed (it can be read only once, and a
        signature needs all of it before the first byte goes out), or the signer's
        fields are not header fields.
    """
    check_signable(envelope)
    message = envelope.message_bytes()
    fields = signer.sign(message)
    if not isinstance(fields, bytes) or not fields.endswith(b"\r\n") or b"\r\n\r\n" in fields:
        raise InvalidArgument(f"the signer {signer!r} must return header fields as bytes ending in CRLF")
    return prepare_raw_envelope(envelope.sender, envelope.recipients, fields + message).with_dsn(envelope.dsn)
