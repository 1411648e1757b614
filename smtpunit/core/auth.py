"""SASL authentication (RFC 4954) inside the conversation (sans-IO).

:class:`Credentials` choose a mechanism from what the server offers;
:func:`authenticate` runs the AUTH exchange: it answers at most a bounded number of
334 challenges, cancels with ``*`` when a challenge cannot be answered, and lets the
mechanism check the server's proof (SCRAM) after 235.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any, Optional

from ..errors import SASLError, SMTPAuthenticationError, SMTPProtocolError, UnsupportedByServer
from . import commands
from .actions import Action, Channel, exchange
from .capabilities import Capabilities

__all__ = ["DEFAULT_AUTH_PREFERENCE", "Credentials", "authenticate"]

DEFAULT_AUTH_PREFERENCE = ("SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN")
"""The order in which mechanisms are tried when the caller names none: mechanisms
that never reveal the password first. XOAUTH2 takes a token, not a password, so it
is used only when named."""


NAMED_ONLY = frozenset({"XOAUTH2"})
"""Mechanisms never chosen automatically: XOAUTH2 sends the password as a bearer token."""


@dataclass(frozen=True)
class Credentials:
    """A user name and password (or token) for AUTH, and the SASL mechanisms to use.

    :ivar mechanisms: the mechanisms the client has, by name.
    :ivar requested: the mechanism the caller named, or ``None`` to choose from the
        server's AUTH list by :attr:`preference`.

    The password never appears in the repr.
    """

    username: str
    password: str
    mechanisms: Mapping[str, Any]  # name -> ISASLMechanism provider
    requested: Optional[str] = None
    preference: tuple[str, ...] = DEFAULT_AUTH_PREFERENCE

    def __repr__(self) -> str:
        return (f"Credentials(username={self.username!r}, password='****', "
                f"mechanisms={sorted(self.mechanisms)!r}, requested={self.requested!r})")

    def choose(self, capabilities: Capabilities) -> Any:
        """The mechanism to use with a server that advertised ``capabilities``.

        A named mechanism is used if the server offers it (or advertises no AUTH at
        all); otherwise the first of :attr:`preference`, then of the others, that
        both sides have. A server without AUTH gets PLAIN, as Racket sends.

        :raises UnsupportedByServer: if the two sides share no mechanism.
        """
        offered = capabilities.auth_mechanisms
        if self.requested is not None:
            if offered and self.requested not in offered:
                raise UnsupportedByServer(
                    f"the server does not offer AUTH {self.requested} (it offers {', '.join(offered)})", "auth")
            return self.mechanisms[self.requested]
        if not offered:
            offered = ("PLAIN",)
        ranked = [*self.preference, *sorted(set(self.mechanisms) - set(self.preference) - NAMED_ONLY)]
        for name in ranked:
            if name in offered and name in self.mechanisms:
                return self.mechanisms[name]
        raise UnsupportedByServer(
            f"no SASL mechanism in common: the server offers {', '.join(offered)}, "
            f"the client has {', '.join(sorted(self.mechanisms))}", "auth")


def authenticate(
    channel: Channel, credentials: Credentials, capabilities: Capabilities, max_challenges: int
) -> Generator[Action, Any, None]:
    """Run AUTH with the mechanism ``credentials`` choose for ``capabilities``.

    :raises SMTPAuthenticationError: the server refused (any code but 235).
    :raises SASLError: a challenge the mechanism rejected, or no proof from the server.
    :raises SMTPProtocolError: more than ``max_challenges`` challenges, or one that is not base64.
    """
    mechanism = credentials.choose(capabilities)
    session = mechanism.start(credentials.username, credentials.password)
    initial = session.initial_response()
    channel.hide(credentials.password, *_base64(credentials.password.encode("utf-8"), initial))
    command = commands.auth(mechanism.name, initial)
    reply = yield from exchange(channel, command, "auth")
    challenges = 0
    while reply.code == 334:
        challenges += 1
        try:
            if challenges > max_challenges:
                raise SMTPProtocolError(f"more than {max_challenges} AUTH challenges")
            challenge = base64.b64decode(reply.text.encode("ascii"), validate=True)
            answer = session.respond(challenge)
        except (SMTPProtocolError, SASLError, binascii.Error, UnicodeEncodeError, ValueError) as exc:
            yield from exchange(channel, commands.AUTH_CANCEL, "auth")
            if isinstance(exc, (SMTPProtocolError, SASLError)):
                raise
            raise SMTPProtocolError(f"the server sent an AUTH challenge that cannot be answered: {exc}") from exc
        channel.hide(*_base64(answer))
        reply = yield from exchange(channel, commands.auth_response(answer), "auth")
    if reply.code != 235:
        raise SMTPAuthenticationError(reply, command.display, "auth")
    session.finish()


def _base64(*data: Optional[bytes]) -> tuple[str, ...]:
    """Each of ``data`` as sent in AUTH: base64 text."""
    return tuple(base64.b64encode(item).decode("ascii") for item in data if item)
