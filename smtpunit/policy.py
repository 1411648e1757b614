"""The TLS policy: how, and whether, a connection is encrypted."""

from __future__ import annotations

import enum

__all__ = ["TLSPolicy"]


class TLSPolicy(str, enum.Enum):
    """How a connection is encrypted.

    ``NONE``
        Plaintext. Credentials are still refused to hosts not on this machine.
    ``STARTTLS``
        STARTTLS is required: a server that does not offer it, refuses it or fails
        the handshake gets no other command. The default whenever TLS is asked for.
    ``OPPORTUNISTIC``
        STARTTLS if the server offers it, plaintext if it does not or refuses it.
        Opt-in only: an attacker on the path can strip the offer and read everything.
    ``IMPLICIT``
        TLS from the first byte (SMTPS, port 465).
    """

    NONE = "none"
    STARTTLS = "starttls"
    OPPORTUNISTIC = "opportunistic"
    IMPLICIT = "implicit"
