"""Delivery status notifications (RFC 3461): what to ask the server for, and how it
goes on MAIL and RCPT (sans-IO).

``DSN(notify=("SUCCESS", "FAILURE"), ret="HDRS", envid="order-1234")`` puts
``RET=HDRS ENVID=order-1234`` on ``MAIL FROM`` and ``NOTIFY=SUCCESS,FAILURE
ORCPT=rfc822;<address>`` on each ``RCPT TO``, when the server offers DSN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from ..errors import InvalidArgument

__all__ = ["DSN", "NOTIFY_KEYWORDS", "RET_VALUES", "xtext", "utf8_xtext"]

NOTIFY_KEYWORDS = ("SUCCESS", "FAILURE", "DELAY")
"""What ``NOTIFY`` may combine; ``NEVER`` stands alone."""

RET_VALUES = ("FULL", "HDRS")
"""What a failure notification returns: the whole message, or its header."""

ENVID_LIMIT = 100
"""The longest envelope identifier, in characters, before encoding (RFC 3461 4.4)."""


def xtext(text: str) -> str:
    """``text`` as RFC 3461 xtext: ``+``, ``=`` and what is not printable ASCII as ``+XX``.

    :raises InvalidArgument: ``text`` is not ASCII (use :func:`utf8_xtext`).
    """
    if not text.isascii():
        raise InvalidArgument(f"xtext is ASCII: {text!r} is not")
    return "".join(c if "!" <= c <= "~" and c not in "+=" else f"+{ord(c):02X}" for c in text)


def utf8_xtext(text: str) -> str:
    """``text`` as RFC 6533 utf-8-addr-xtext: what xtext must encode, and every
    non-ASCII character, as ``\\x{HEX}``."""
    return "".join(c if "!" <= c <= "~" and c not in "+=\\" else f"\\x{{{ord(c):X}}}" for c in text)


@dataclass(frozen=True)
class DSN:
    """The delivery status notifications to ask for.

    :ivar notify: when to notify, any of ``SUCCESS``, ``FAILURE``, ``DELAY``, or
        ``("NEVER",)``; ``None`` leaves it to the server (by default failures and delays).
    :ivar ret: ``"FULL"`` (the whole message) or ``"HDRS"`` (its header) in a failure
        notification; ``None`` leaves it to the server.
    :ivar envid: an identifier of the message that notifications carry back, at most
        100 printable ASCII characters.
    :ivar orcpt: give each recipient's address as its original recipient (``ORCPT``).
    :ivar required: a server that does not offer DSN refuses the message before
        ``MAIL`` (:class:`~smtpunit.errors.UnsupportedByServer`); with ``False``, the
        message goes without notifications.

    :raises InvalidArgument: (a ``ValueError``) for an unknown keyword, ``NEVER``
        with another, a ``ret`` other than ``FULL``/``HDRS``, or a bad ``envid``.
    """

    notify: Union[tuple[str, ...], str, None] = None
    ret: Optional[str] = None
    envid: Optional[str] = None
    orcpt: bool = True
    required: bool = True

    def __post_init__(self) -> None:
        notify = self.notify
        if notify is not None:
            words = (notify,) if isinstance(notify, str) else tuple(notify)
            if not words or not all(isinstance(word, str) for word in words):
                raise InvalidArgument(f"notify is a tuple of {', '.join(NOTIFY_KEYWORDS)} or ('NEVER',), "
                                      f"not {notify!r}")
            words = tuple(dict.fromkeys(word.upper() for word in words))
            unknown = [word for word in words if word not in (*NOTIFY_KEYWORDS, "NEVER")]
            if unknown:
                raise InvalidArgument(f"unknown NOTIFY keyword {unknown[0]!r}: use {', '.join(NOTIFY_KEYWORDS)} "
                                      "or NEVER")
            if "NEVER" in words and len(words) > 1:
                raise InvalidArgument("NOTIFY=NEVER cannot be combined with another keyword")
            object.__setattr__(self, "notify", words)
        if self.ret is not None:
            if not isinstance(self.ret, str) or self.ret.upper() not in RET_VALUES:
                raise InvalidArgument(f"ret is FULL or HDRS, not {self.ret!r}")
            object.__setattr__(self, "ret", self.ret.upper())
        if self.envid is not None:
            if not isinstance(self.envid, str) or not self.envid or len(self.envid) > ENVID_LIMIT:
                raise InvalidArgument(f"envid is 1 to {ENVID_LIMIT} characters, not {self.envid!r}")
            if not all(" " <= c <= "~" for c in self.envid):
                raise InvalidArgument(f"envid holds only printable ASCII, not {self.envid!r}")
        for name in ("orcpt", "required"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidArgument(f"{name} is True or False, not {getattr(self, name)!r}")

    def mail_parameters(self) -> tuple[str, ...]:
        """``RET`` and ``ENVID``, as asked."""
        parameters = []
        if self.ret is not None:
            parameters.append(f"RET={self.ret}")
        if self.envid is not None:
            parameters.append(f"ENVID={xtext(self.envid)}")
        return tuple(parameters)

    def rcpt_parameters(self, recipient: str) -> tuple[str, ...]:
        """``NOTIFY`` and ``ORCPT`` for ``recipient``, as asked."""
        parameters = []
        if self.notify is not None:
            parameters.append("NOTIFY=" + ",".join(self.notify))
        if self.orcpt:
            parameters.append(f"ORCPT=rfc822;{xtext(recipient)}" if recipient.isascii()
                              else f"ORCPT=utf-8;{utf8_xtext(recipient)}")
        return tuple(parameters)
