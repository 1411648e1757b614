"""SASL mechanisms for AUTH."""

from __future__ import annotations

from typing import Optional

from zope.interface import implementer

from ..interfaces import ISASLExchange, ISASLMechanism

__all__ = ["PlainMechanism"]


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
