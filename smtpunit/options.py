"""The options of every send, as one frozen object checked once at the public call.

:class:`SendOptions` holds what the keyword options of :func:`smtpunit.smtp_send_message`,
:func:`smtpunit.connect`, :class:`smtpunit.Pool` and :mod:`smtpunit.aio` say. The
public function that takes them builds it with :meth:`SendOptions.of`, which refuses
a misspelled option (``TypeError`` naming the function and the closest option) or an
ill-typed one (``TypeError``), and a bad value (:class:`~smtpunit.errors.InvalidArgument`),
before anything is connected; providers and test doubles get the object as it is.
:class:`SendKeywords` spells the options out for type checkers.
"""

from __future__ import annotations

import difflib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Optional, TypedDict, Union

from .core.commands import Envelope, check_credential
from .core.dsn import DSN
from .core.policy import TLSPolicy
from .core.retry import Retry
from .core.signing import signed
from .errors import InvalidArgument
from .interfaces import IAsyncTransport, ISigner, ITLSUpgrader, ITransport

__all__ = ["SendKeywords", "SendOptions", "Timeouts"]


@dataclass(frozen=True)
class Timeouts:
    """Bounds, in seconds, on every wait of a conversation.

    :ivar connect: making the connection.
    :ivar reply: each reply to a command (and the greeting).
    :ivar data_end: the reply to the final ``.``; servers may scan the message first.
    :ivar tls_handshake: the STARTTLS handshake.
    """

    connect: float = 30.0
    reply: float = 120.0
    data_end: float = 600.0
    tls_handshake: float = 30.0

    def __post_init__(self) -> None:
        for name in _FIELDS:
            object.__setattr__(self, name, _seconds(getattr(self, name), f"Timeouts.{name}"))

    @classmethod
    def coerce(cls, value: Union[Timeouts, float, int, None]) -> Timeouts:
        """Accept a :class:`Timeouts`, ``None`` (the defaults) or one number for all."""
        if value is None:
            return _DEFAULT_TIMEOUTS
        if isinstance(value, Timeouts):
            return value
        seconds = _seconds(value, "timeout", "a Timeouts or ")
        return cls(seconds, seconds, seconds, seconds)


MAX_SECONDS = 365 * 24 * 3600.0
"""The longest bound a wait may have: a year (sockets refuse much longer ones)."""


def _seconds(value: object, name: str, alternative: str = "") -> float:
    """``value`` as a bound in seconds: a number above zero and at most a year."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= MAX_SECONDS:
        return float(value)
    raise InvalidArgument(
        f"{name} must be {alternative}a number of seconds above 0 and at most {MAX_SECONDS:,.0f} (a year), "
        f"not {value!r}")


_FIELDS = tuple(field.name for field in fields(Timeouts))
_DEFAULT_TIMEOUTS = Timeouts()  # frozen: one for every call that gives none


class SendKeywords(TypedDict, total=False):
    """The keyword options of the send verbs, for type checkers
    (``**options: Unpack[SendKeywords]``); see :class:`SendOptions` for each."""

    auth_user: Optional[str]
    auth_passwd: Optional[str]
    auth_mechanism: Optional[str]
    tcp_connect: Any
    tls_encode: Any
    tls_policy: Union[TLSPolicy, str, None]
    timeout: Union[Timeouts, float, None]
    allow_insecure_auth: bool
    partial_delivery: bool
    chunking: Optional[bool]
    dsn: Optional[DSN]
    retry: Optional[Retry]
    signer: Any


@dataclass(frozen=True)
class SendOptions:
    """How to send, checked.

    :ivar auth_user: authenticate as this user (with :attr:`auth_passwd`), or not at all.
    :ivar auth_passwd: the password or token; never shown in the repr.
    :ivar auth_mechanism: the SASL mechanism to use; ``None``: the strongest both sides have.
    :ivar tcp_connect: how to connect: ``None`` (the registry's transport), an
        :class:`~smtpunit.interfaces.ITransport` (or, for asyncio, an
        :class:`~smtpunit.interfaces.IAsyncTransport`), or a procedure ``connect(host, port)``.
    :ivar tls_encode: ``None``/``False``, ``True`` (the registry's TLS provider), an
        ``ssl.SSLContext``, an :class:`~smtpunit.interfaces.ITLSUpgrader` or a procedure.
    :ivar tls_policy: the :class:`~smtpunit.core.policy.TLSPolicy`, resolved: STARTTLS
        whenever ``tls_encode`` is given and no policy is named.
    :ivar timeout: the :class:`~smtpunit.options.Timeouts`.
    :ivar allow_insecure_auth: credentials may go in plaintext to a remote host.
    :ivar partial_delivery: send to the accepted recipients when others are refused.
    :ivar chunking: use BDAT when offered; ``None``: the entry point's default (off for
        the one-shot, whose bytes stay Racket's; on for sessions).
    :ivar dsn: the delivery status notifications to ask for, a :class:`~smtpunit.core.dsn.DSN`
        (every message of a session, pool or mailer the same).
    :ivar signer: signs each message before it is sent (an
        :class:`~smtpunit.interfaces.ISigner`, such as a ``smtpunit.DKIMSigner``).
    :ivar retry: retry a message that failed in a way that may pass
        (:class:`~smtpunit.core.retry.Retry`): the one-message verbs, ``send_many``, a
        Pool's and a Mailer's sends; a session opened with ``connect`` does not retry.
    """

    auth_user: Optional[str] = None
    auth_passwd: Optional[str] = field(default=None, repr=False)
    auth_mechanism: Optional[str] = None
    tcp_connect: Any = None
    tls_encode: Any = None
    tls_policy: Union[TLSPolicy, str, None] = None
    timeout: Union[Timeouts, float, None] = None
    allow_insecure_auth: bool = False
    partial_delivery: bool = False
    chunking: Optional[bool] = None
    dsn: Optional[DSN] = None
    retry: Optional[Retry] = None
    signer: Any = None
    given: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    """The options the caller gave a value other than the default."""

    def __post_init__(self) -> None:
        for names, types, expected in _TYPES:
            for name in names:
                value = getattr(self, name)
                if not isinstance(value, types):
                    shown = type(value).__name__ if name in _SECRET else repr(value)  # never the password
                    raise TypeError(f"option {name} must be {expected}, not {shown}")
        if (self.auth_user is None) != (self.auth_passwd is None):
            raise InvalidArgument("auth_user and auth_passwd go together")
        if self.auth_user is not None and self.auth_passwd is not None:
            check_credential(self.auth_user, "auth_user")
            check_credential(self.auth_passwd, "auth_passwd")
        if not _is_transport(self.tcp_connect):
            raise TypeError("tcp_connect must be None, an ITransport, an IAsyncTransport or a procedure "
                            f"connect(host, port), not {self.tcp_connect!r}")
        if self.signer is not None and not ISigner.providedBy(self.signer):
            raise TypeError(f"signer must be an ISigner (such as a smtpunit.DKIMSigner) or None, not {self.signer!r}")
        if not _is_tls(self.tls_encode):
            raise TypeError("tls_encode must be None, True, False, an ssl.SSLContext, an ITLSUpgrader or a "
                            f"procedure, not {self.tls_encode!r}")
        object.__setattr__(self, "tls_policy", TLSPolicy.resolve(self.tls_policy, self.tls_encode))
        object.__setattr__(self, "timeout", Timeouts.coerce(self.timeout))

    @property
    def policy(self) -> TLSPolicy:
        """:attr:`tls_policy`, typed as what it is once checked."""
        assert isinstance(self.tls_policy, TLSPolicy)
        return self.tls_policy

    @property
    def timeouts(self) -> Timeouts:
        """:attr:`timeout`, typed as what it is once checked."""
        assert isinstance(self.timeout, Timeouts)
        return self.timeout

    @property
    def has_credentials(self) -> bool:
        """True if the send authenticates."""
        return self.auth_user is not None

    @classmethod
    def of(cls, caller: str, keywords: Mapping[str, Any], **defaults: Any) -> SendOptions:
        """The options ``keywords`` give to the public function ``caller``, over
        ``defaults`` (an entry point's own, such as ``chunking=True``).

        :raises TypeError: naming ``caller``, for an option no send takes or a value
            of the wrong type.
        :raises InvalidArgument: for a bad value.
        """
        # The same options come again and again (a loop of sends): checked once, kept
        # (unless they hold a password).
        # Plain values are keyed with their type (1 is not True), objects by identity
        # (kept alive by the entry, so the identity stays theirs).
        key = (tuple(defaults.items()), tuple((n, type(v), v if type(v) in _BY_VALUE else id(v))
                                              for n, v in keywords.items()))
        known = _CHECKED.get(key)
        if known is not None:
            return known
        for name in keywords:
            if name not in _KNOWN:
                close = difflib.get_close_matches(name, _NAMES, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise TypeError(f"{caller}() got an unexpected keyword argument {name!r}{hint}")
        given = {name: value for name, value in keywords.items() if value is not None or name not in defaults}
        try:
            options = cls(**{**defaults, **given},
                          given=frozenset(name for name, value in given.items() if value != _DEFAULTS[name]))
        except TypeError as exc:
            raise TypeError(f"{caller}(): {exc}") from None
        if options.auth_passwd is None:  # a password is not kept beyond its call
            if len(_CHECKED) >= _CHECKED_LIMIT:
                _CHECKED.clear()
            _CHECKED[key] = options
        return options

    def prepared(self, envelope: Envelope) -> Envelope:
        """``envelope`` as it goes out: signed by :attr:`signer`, if any. A mail provider
        that sends by other means than the SMTP unit calls it on each envelope.

        :raises InvalidArgument: the envelope cannot be signed (a streamed message).
        """
        return envelope if self.signer is None else signed(envelope, self.signer)

    def replace(self, **changes: Any) -> SendOptions:
        """These options with ``changes``, checked again."""
        current = {f.name: getattr(self, f.name) for f in fields(self)}
        return SendOptions(**{**current, **changes, "given": self.given | changes.keys()})


_NAMES = tuple(f.name for f in fields(SendOptions) if f.name != "given")
_KNOWN = frozenset(_NAMES)
_CHECKED: dict[Any, SendOptions] = {}  # options checked before, by their keywords
_CHECKED_LIMIT = 64  # then emptied: few distinct option sets recur in a process
_BY_VALUE = frozenset({type(None), bool, int, float, str, TLSPolicy, Timeouts, DSN, Retry})
_DEFAULTS = {f.name: f.default for f in fields(SendOptions)}
_SECRET = frozenset({"auth_passwd"})
_TYPES = (  # the options whose type is checked plainly: their names, types, and what to say
    (("auth_user", "auth_passwd", "auth_mechanism"), (str, type(None)), "a str or None"),
    (("allow_insecure_auth", "partial_delivery"), bool, "True or False"),
    (("chunking",), (bool, type(None)), "True, False or None"),
    (("dsn",), (DSN, type(None)), "a smtpunit.DSN or None"),
    (("retry",), (Retry, type(None)), "a smtpunit.Retry or None"),
)


def _is_transport(value: object) -> bool:
    return value is None or ITransport.providedBy(value) or IAsyncTransport.providedBy(value) or callable(value)


def _is_tls(value: object) -> bool:
    return (value is None or isinstance(value, (bool, ssl.SSLContext)) or ITLSUpgrader.providedBy(value)
            or callable(value))
