"""The TLS policy (how, and whether, a connection is encrypted) and what counts as
this machine for the plaintext-credentials guard."""

from __future__ import annotations

import enum
import functools
import ipaddress
from typing import Union

from ..errors import InvalidArgument, SMTPSecurityError

__all__ = ["TLSPolicy", "is_loopback_name", "refuse_plaintext_credentials"]


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

    @property
    def promises_tls(self) -> bool:
        """True if the connection is to be encrypted before any command but EHLO."""
        return self in (TLSPolicy.STARTTLS, TLSPolicy.IMPLICIT)

    @classmethod
    def resolve(cls, tls_policy: Union[TLSPolicy, str, None], tls_encode: object) -> TLSPolicy:
        """The policy asked for; by default STARTTLS whenever ``tls_encode`` is given.

        :raises InvalidArgument: for an unknown policy, or ``"none"`` with ``tls_encode``.
        """
        if tls_policy is None:
            return cls.NONE if tls_encode is None or tls_encode is False else cls.STARTTLS
        try:
            policy = cls(tls_policy)
        except ValueError:
            raise InvalidArgument(f"tls_policy must be one of {[p.value for p in cls]}, not {tls_policy!r}") from None
        if policy is cls.NONE and tls_encode not in (None, False):
            raise InvalidArgument("tls_policy 'none' contradicts tls_encode")
        return policy


@functools.lru_cache(maxsize=256)
def is_loopback_name(host: str) -> bool:
    """True if ``host`` names this machine: ``localhost`` or a loopback address
    (127.0.0.0/8, ``::1``, bracketed or with a zone).

    Credentials may go in plaintext only to such a name, however the connection was
    made: a tunnel or port forward ends on this machine, but the server is elsewhere.
    """
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False


def refuse_plaintext_credentials(credentials: bool, *, secure: bool, local: bool, allowed: bool) -> None:
    """The one rule for credentials: raise :class:`~smtpunit.errors.SMTPSecurityError`
    if there are ``credentials`` and the connection is not (or will not be) ``secure``,
    the server is not ``local`` (on this machine, by name and connection), and the
    caller has not ``allowed`` plaintext (``allow_insecure_auth``)."""
    if credentials and not (secure or local or allowed):
        raise SMTPSecurityError(
            "refusing to send credentials over plaintext to a host that is not on this "
            "machine; use TLS, or pass allow_insecure_auth=True"
        )
