"""ESMTP capabilities, as advertised in the EHLO reply (sans-IO)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Optional

from .reply import Reply

__all__ = ["Capabilities"]


@dataclass(frozen=True)
class Capabilities:
    """What the server said it supports.

    Keywords are matched case-insensitively (RFC 5321 section 4.1.1.1); each maps
    to the tuple of its parameters.
    """

    greeting: str = ""
    extensions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Read-only: one object is shared by every session that heard the same EHLO.
        object.__setattr__(self, "extensions", MappingProxyType(dict(self.extensions)))

    @classmethod
    def from_ehlo_reply(cls, reply: Reply) -> Capabilities:
        """Parse a 250 EHLO reply: the first line greets, each later line is a keyword.

        A server says the same on every connection: the same lines give the same
        (shared, frozen) object, parsed once."""
        known = _PARSED.get(reply.lines) if cls is Capabilities else None
        if known is not None:
            return known
        extensions: dict[str, tuple[str, ...]] = {}
        for line in reply.lines[1:]:
            words = line.split()
            if words:
                extensions[words[0].upper()] = tuple(words[1:])
        capabilities = cls(reply.lines[0] if reply.lines else "", extensions)
        if cls is Capabilities:
            if len(_PARSED) >= _PARSED_LIMIT:
                _PARSED.clear()
            _PARSED[reply.lines] = capabilities
        return capabilities

    def supports(self, keyword: str) -> bool:
        """True if ``keyword`` (any case) was advertised."""
        return keyword.upper() in self.extensions

    def parameters(self, keyword: str) -> tuple[str, ...]:
        """The parameters advertised with ``keyword``; empty if none or absent."""
        return self.extensions.get(keyword.upper(), ())

    @property
    def auth_mechanisms(self) -> tuple[str, ...]:
        """The SASL mechanisms of the AUTH keyword, upper-cased."""
        return tuple(m.upper() for m in self.parameters("AUTH"))

    @property
    def size_limit(self) -> Optional[int]:
        """The SIZE limit in octets, ``None`` if absent or unlimited (``SIZE 0``)."""
        params = self.parameters("SIZE")
        if params and params[0].isascii() and params[0].isdigit() and int(params[0]) > 0:
            return int(params[0])
        return None


_PARSED: dict[tuple[str, ...], Capabilities] = {}  # by the EHLO reply's lines
_PARSED_LIMIT = 64  # then emptied: a process talks to few servers
