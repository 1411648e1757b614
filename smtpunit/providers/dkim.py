"""DKIM signing (RFC 6376) with ``dkimpy``: an :class:`~smtpunit.interfaces.ISigner`.

::

    signer = smtpunit.DKIMSigner(selector="mail", domain="example.org", private_key=pem_bytes)
    smtpunit.send(server, sender, recipients, header, lines, 587, tls_encode=True, signer=signer)

Needs the ``dkim`` extra (``pip install 'smtpunit[dkim]'``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Union

from zope.interface import implementer

from ..errors import InvalidArgument
from ..interfaces import ISigner

__all__ = ["DEFAULT_HEADERS", "DKIMSigner"]

DEFAULT_HEADERS = ("From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To", "In-Reply-To", "References",
                   "MIME-Version", "Content-Type", "Content-Transfer-Encoding")
"""The header fields signed by default, those of them a message has."""


@implementer(ISigner)
class DKIMSigner:
    """Signs each message with a ``DKIM-Signature`` field.

    :param selector: the selector: the public key is at ``<selector>._domainkey.<domain>``.
    :param domain: the signing domain (``d=``).
    :param private_key: the RSA private key, PEM, as bytes or a path to the file.
    :param headers: the header fields to sign (``From`` always is).
    :param canonicalization: header and body canonicalization, ``relaxed/simple`` by default.
    :raises InvalidArgument: a missing or unreadable key, an empty selector or domain.
    :raises ImportError: ``dkimpy`` is not installed.
    """

    def __init__(self, selector: str, domain: str, private_key: Union[bytes, str, os.PathLike[str]],
                 headers: Iterable[str] = DEFAULT_HEADERS,
                 canonicalization: tuple[str, str] = ("relaxed", "simple")) -> None:
        try:
            import dkim
        except ImportError as exc:  # pragma: no cover
            raise ImportError("DKIMSigner needs dkimpy: pip install 'smtpunit[dkim]'") from exc
        self._dkim = dkim
        for name, value in (("selector", selector), ("domain", domain)):
            if not isinstance(value, str) or not value or not value.isascii() or any(c.isspace() for c in value):
                raise InvalidArgument(f"DKIMSigner {name} must be a non-empty ASCII name, not {value!r}")
        self.selector, self.domain = selector, domain
        if not isinstance(private_key, bytes):
            try:
                with open(private_key, "rb") as file:
                    private_key = file.read()
            except OSError as exc:
                raise InvalidArgument(f"cannot read the DKIM private key {os.fspath(private_key)!r}: {exc}") from None
        if b"PRIVATE KEY" not in private_key:
            raise InvalidArgument("the DKIM private key must be PEM (-----BEGIN ... PRIVATE KEY-----)")
        self._key = private_key
        self.headers = tuple(dict.fromkeys(["From", *headers]))
        self.canonicalization = canonicalization
        self.sign(b"From: key@check.invalid\r\n\r\n")  # a key dkimpy cannot use fails here, not at a send

    def sign(self, message: bytes) -> bytes:
        """The ``DKIM-Signature`` field for ``message``, ending in CRLF; only the
        fields of :attr:`headers` the message has are signed."""
        present = {line.split(b":", 1)[0].strip().lower()
                   for line in message.split(b"\r\n\r\n", 1)[0].split(b"\r\n") if line[:1] not in (b" ", b"\t")}
        headers = [name.encode() for name in self.headers if name.lower().encode() in present]
        try:
            field: bytes = self._dkim.sign(
                message, self.selector.encode(), self.domain.encode(), self._key, include_headers=headers,
                canonicalize=tuple(c.encode() for c in self.canonicalization), linesep=b"\r\n")
        except self._dkim.DKIMException as exc:
            raise InvalidArgument(f"cannot DKIM-sign with this key or message: {exc}") from None
        return field

    def __repr__(self) -> str:
        return f"DKIMSigner(selector={self.selector!r}, domain={self.domain!r})"  # never the key
