"""SASL mechanisms for AUTH: PLAIN, LOGIN, CRAM-MD5, XOAUTH2 and SCRAM-SHA-256.

No error raised here ever holds the password or token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import stringprep
import unicodedata
from collections.abc import Callable
from typing import Optional

from zope.interface import implementer

from ..errors import SASLError
from ..interfaces import ISASLExchange, ISASLMechanism

__all__ = [
    "PlainMechanism",
    "LoginMechanism",
    "CramMD5Mechanism",
    "XOAuth2Mechanism",
    "ScramSHA256Mechanism",
    "saslprep",
]


# -- PLAIN (RFC 4616) ----------------------------------------------------------


@implementer(ISASLExchange)
class _PlainExchange:
    def __init__(self, message: bytes) -> None:
        self._message = message

    def initial_response(self) -> Optional[bytes]:
        return self._message

    def respond(self, challenge: bytes) -> bytes:
        # A server that ignored the initial response asks with an empty challenge.
        return self._message

    def finish(self) -> None:
        pass

    def __repr__(self) -> str:
        return "<PLAIN exchange>"


@implementer(ISASLMechanism)
class PlainMechanism:
    """``AUTH PLAIN`` (RFC 4616) as Racket sends it: the user name is both the
    authorization and the authentication identity, all UTF-8."""

    name = "PLAIN"

    def start(self, username: str, password: str) -> _PlainExchange:
        """Return an exchange whose initial response is ``user NUL user NUL password``."""
        return _PlainExchange(f"{username}\0{username}\0{password}".encode())


# -- LOGIN (draft-murchison-sasl-login) ------------------------------------------


@implementer(ISASLExchange)
class _LoginExchange:
    def __init__(self, username: bytes, password: bytes) -> None:
        self._answers = [username, password]

    def initial_response(self) -> Optional[bytes]:
        return None

    def respond(self, challenge: bytes) -> bytes:
        # The challenges ("Username:", "Password:") vary between servers: go by position.
        if not self._answers:
            raise SASLError("the server sent a third AUTH LOGIN challenge")
        return self._answers.pop(0)

    def finish(self) -> None:
        pass

    def __repr__(self) -> str:
        return "<LOGIN exchange>"


@implementer(ISASLMechanism)
class LoginMechanism:
    """``AUTH LOGIN``: the user name answers the first challenge, the password the second."""

    name = "LOGIN"

    def start(self, username: str, password: str) -> _LoginExchange:
        return _LoginExchange(username.encode(), password.encode())


# -- CRAM-MD5 (RFC 2195) ---------------------------------------------------------


@implementer(ISASLExchange)
class _CramMD5Exchange:
    def __init__(self, username: bytes, password: bytes) -> None:
        self._username = username
        self._password = password
        self._answered = False

    def initial_response(self) -> Optional[bytes]:
        return None

    def respond(self, challenge: bytes) -> bytes:
        if self._answered:
            raise SASLError("the server sent a second AUTH CRAM-MD5 challenge")
        self._answered = True
        digest = hmac.new(self._password, challenge, hashlib.md5).hexdigest()
        return self._username + b" " + digest.encode("ascii")

    def finish(self) -> None:
        pass

    def __repr__(self) -> str:
        return "<CRAM-MD5 exchange>"


@implementer(ISASLMechanism)
class CramMD5Mechanism:
    """``AUTH CRAM-MD5`` (RFC 2195): ``user SP hex(HMAC-MD5(password, challenge))``."""

    name = "CRAM-MD5"

    def start(self, username: str, password: str) -> _CramMD5Exchange:
        return _CramMD5Exchange(username.encode(), password.encode())


# -- XOAUTH2 (Google, Microsoft) --------------------------------------------------


@implementer(ISASLExchange)
class _XOAuth2Exchange:
    def __init__(self, message: bytes) -> None:
        self._message = message
        self._resent = False
        self._error_answered = False

    def initial_response(self) -> Optional[bytes]:
        return self._message

    def respond(self, challenge: bytes) -> bytes:
        if not challenge and not self._resent and not self._error_answered:
            self._resent = True  # the server ignored the initial response
            return self._message
        if self._error_answered:
            raise SASLError("the server sent one AUTH XOAUTH2 challenge too many")
        # The challenge is the JSON error; an empty answer asks for the final 5xx.
        self._error_answered = True
        return b""

    def finish(self) -> None:
        pass

    def __repr__(self) -> str:
        return "<XOAUTH2 exchange>"


@implementer(ISASLMechanism)
class XOAuth2Mechanism:
    """``AUTH XOAUTH2``: the password is an OAuth 2.0 bearer token.

    The initial response is ``user=<user> ^A auth=Bearer <token> ^A ^A``. When the
    token is refused the server sends a 334 with a base64 JSON error; the client
    answers with an empty line and the server then sends its final 5xx.
    """

    name = "XOAUTH2"

    def start(self, username: str, password: str) -> _XOAuth2Exchange:
        if "\x01" in username or "\x01" in password:
            raise SASLError("the XOAUTH2 user name and token must not contain ^A (U+0001)")
        return _XOAuth2Exchange(f"user={username}\x01auth=Bearer {password}\x01\x01".encode())


# -- SASLprep (RFC 4013) -----------------------------------------------------------

_PROHIBITED = (
    stringprep.in_table_c12,  # non-ASCII space (mapped away first, checked for completeness)
    stringprep.in_table_c21_c22,  # control characters
    stringprep.in_table_c3,  # private use
    stringprep.in_table_c4,  # non-character code points
    stringprep.in_table_c5,  # surrogates
    stringprep.in_table_c6,  # inappropriate for plain text
    stringprep.in_table_c7,  # inappropriate for canonical representation
    stringprep.in_table_c8,  # change display properties or deprecated
    stringprep.in_table_c9,  # tagging characters
)


def saslprep(text: str, *, allow_unassigned: bool = True, what: str = "string") -> str:
    """Prepare ``text`` with the SASLprep profile (RFC 4013) of stringprep (RFC 3454).

    :param allow_unassigned: True for "query" strings (what SCRAM asks for), False
        for "stored" strings.
    :param what: names the string in error messages, which never contain it.
    :raises SASLError: for a prohibited character or a bidirectional-text violation.
    """
    # 2.1 Mapping: non-ASCII spaces to SPACE, "commonly mapped to nothing" to nothing.
    mapped = "".join(" " if stringprep.in_table_c12(c) else c for c in text if not stringprep.in_table_b1(c))
    # 2.2 Normalization: NFKC, with the Unicode 3.2 tables stringprep is defined over.
    normalized = unicodedata.ucd_3_2_0.normalize("NFKC", mapped)
    # 2.3 Prohibited output, 2.5 unassigned code points.
    for c in normalized:
        if any(table(c) for table in _PROHIBITED):
            raise SASLError(f"SASLprep: the {what} contains a prohibited character")
        if not allow_unassigned and stringprep.in_table_a1(c):
            raise SASLError(f"SASLprep: the {what} contains an unassigned code point")
    # 2.4 Bidirectional characters (RFC 3454 section 6).
    if any(stringprep.in_table_d1(c) for c in normalized):
        if (any(stringprep.in_table_d2(c) for c in normalized)
                or not stringprep.in_table_d1(normalized[0]) or not stringprep.in_table_d1(normalized[-1])):
            raise SASLError(f"SASLprep: the {what} mixes right-to-left and left-to-right text")
    return normalized


# -- SCRAM-SHA-256 (RFC 5802, RFC 7677) --------------------------------------------

SCRAM_MIN_ITERATIONS = 4096
"""RFC 7677 section 4: fewer iterations than this are refused."""
SCRAM_MAX_ITERATIONS = 1_000_000
"""More iterations than this are refused, to bound the work a server can demand."""

_GS2_HEADER = "n,,"  # no channel binding, no authorization identity
_PRINTABLE_NONCE = re.compile(r"[\x21-\x2b\x2d-\x7e]+")
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_POSINT = re.compile(r"[1-9][0-9]{0,9}")
_EXTENSION = re.compile(r"[A-Za-z]=[^,]*")


def _escape_saslname(name: str) -> str:
    """RFC 5802 saslname: ``=`` becomes ``=3D`` and ``,`` becomes ``=2C``."""
    return name.replace("=", "=3D").replace(",", "=2C")


def _unescape_saslname(saslname: str) -> str:
    """The inverse of :func:`_escape_saslname`; refuses any other use of ``=`` or ``,``."""
    if "," in saslname or re.search(r"=(?!2C|3D)", saslname):
        raise SASLError("malformed saslname")
    return re.sub(r"=(2C|3D)", lambda m: "," if m.group(1) == "2C" else "=", saslname)


def _new_nonce() -> str:
    return secrets.token_urlsafe(24)  # 32 characters of [A-Za-z0-9_-]: printable, no ","


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _attributes(message: str, what: str) -> list[tuple[str, str]]:
    """Split a SCRAM message into (letter, value) pairs."""
    pairs = []
    for part in message.split(","):
        if len(part) < 2 or part[1] != "=" or not part[0].isascii() or not part[0].isalpha():
            raise SASLError(f"malformed SCRAM {what} message")
        pairs.append((part[0], part[2:]))
    return pairs


def _server_error(value: str) -> SASLError:
    shown = "".join(c for c in value[:100] if c.isprintable())
    return SASLError(f"the SCRAM server reported an error: {shown!r}")


@implementer(ISASLExchange)
class _ScramExchange:
    def __init__(self, username: str, password: str, nonce: str) -> None:
        self._nonce = nonce
        self._client_first_bare = f"n={_escape_saslname(username)},r={nonce}"
        self._password = password.encode()
        self._server_signature: Optional[bytes] = None
        self._step = 0
        self._resent = False
        self._verified = False

    def initial_response(self) -> Optional[bytes]:
        return (_GS2_HEADER + self._client_first_bare).encode()

    def respond(self, challenge: bytes) -> bytes:
        if self._step == 0 and not challenge and not self._resent:
            self._resent = True  # the server ignored the initial response
            return (_GS2_HEADER + self._client_first_bare).encode()
        try:
            message = challenge.decode("utf-8")
        except UnicodeDecodeError:
            raise SASLError("the SCRAM server sent a message that is not UTF-8") from None
        self._step += 1
        if self._step == 1:
            return self._client_final(message).encode()
        if self._step == 2:
            self._verify(message)
            return b""
        raise SASLError("the SCRAM server sent a challenge after its final message")

    def _client_final(self, server_first: str) -> str:
        attributes = _attributes(server_first, "server-first")
        if attributes[0][0] == "e":
            raise _server_error(attributes[0][1])
        if attributes[0][0] == "m":
            raise SASLError("the SCRAM server requires an extension this client does not support")
        if len(attributes) < 3 or [key for key, _ in attributes[:3]] != ["r", "s", "i"]:
            raise SASLError("malformed SCRAM server-first message (expected r=, s=, i=)")
        (_, nonce), (_, salt_b64), (_, iterations_text) = attributes[:3]
        if not (_PRINTABLE_NONCE.fullmatch(nonce) and nonce.startswith(self._nonce) and len(nonce) > len(self._nonce)):
            raise SASLError("the SCRAM server nonce does not extend the client nonce")
        if not salt_b64 or not _BASE64.fullmatch(salt_b64):
            raise SASLError("the SCRAM salt is not valid base64")
        salt = base64.b64decode(salt_b64)
        if not _POSINT.fullmatch(iterations_text):
            raise SASLError("the SCRAM iteration count is not a positive integer")
        iterations = int(iterations_text)
        if iterations < SCRAM_MIN_ITERATIONS:
            raise SASLError(f"the SCRAM iteration count {iterations} is below {SCRAM_MIN_ITERATIONS} (RFC 7677)")
        if iterations > SCRAM_MAX_ITERATIONS:
            raise SASLError(f"the SCRAM iteration count {iterations} is above {SCRAM_MAX_ITERATIONS}")

        without_proof = f"c={_b64(_GS2_HEADER.encode())},r={nonce}"
        auth_message = f"{self._client_first_bare},{server_first},{without_proof}".encode()
        salted = hashlib.pbkdf2_hmac("sha256", self._password, salt, iterations)
        client_key = _hmac(salted, b"Client Key")
        stored_key = hashlib.sha256(client_key).digest()
        client_signature = _hmac(stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, client_signature, strict=True))
        self._server_signature = _hmac(_hmac(salted, b"Server Key"), auth_message)
        return f"{without_proof},p={_b64(proof)}"

    def _verify(self, server_final: str) -> None:
        if self._server_signature is None:  # the server-first message was refused
            raise SASLError("the SCRAM exchange already failed")
        key, value = _attributes(server_final, "server-final")[0]
        if key == "e":
            raise _server_error(value)
        if key != "v" or not _BASE64.fullmatch(value):
            raise SASLError("malformed SCRAM server-final message")
        try:
            signature = base64.b64decode(value, validate=True)
        except binascii.Error:  # pragma: no cover - excluded by the pattern above
            raise SASLError("malformed SCRAM server-final message") from None
        if not hmac.compare_digest(signature, self._server_signature):
            raise SASLError("the SCRAM server signature is wrong: the server does not know the password")
        self._verified = True

    def finish(self) -> None:
        if not self._verified:
            raise SASLError("the server accepted SCRAM authentication without proving it knows the password")

    def __repr__(self) -> str:
        return "<SCRAM-SHA-256 exchange>"


@implementer(ISASLMechanism)
class ScramSHA256Mechanism:
    """``AUTH SCRAM-SHA-256`` (RFC 5802, RFC 7677), without channel binding.

    The password never crosses the wire and the server must prove it knows it: an
    exchange whose server signature is wrong or missing raises
    :class:`~smtpunit.errors.SASLError`.

    :param nonce_factory: returns the client nonce (printable ASCII without ``,``);
        by default 32 random characters from :mod:`secrets`. For tests.
    """

    name = "SCRAM-SHA-256"

    def __init__(self, nonce_factory: Optional[Callable[[], str]] = None) -> None:
        self._nonce_factory = nonce_factory or _new_nonce

    def start(self, username: str, password: str) -> _ScramExchange:
        nonce = self._nonce_factory()
        if not _PRINTABLE_NONCE.fullmatch(nonce):
            raise SASLError("the SCRAM client nonce must be printable ASCII without ','")
        prepared = saslprep(username, what="user name")
        if not prepared:
            raise SASLError("the SCRAM user name is empty after SASLprep")
        return _ScramExchange(prepared, saslprep(password, what="password"), nonce)
