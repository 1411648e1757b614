"""Connection URLs: ``smtp://user:password@host:port?tls=opportunistic``.

:meth:`MailURL.parse` splits a URL and percent-decodes its user, password and path;
:func:`endpoint` hands it to the provider of :class:`~smtpunit.interfaces.IURLScheme`
registered under its scheme, which says what it names: an :class:`Endpoint`. A URL
is never shown with its password: not in a repr, an error or a log line
(:func:`redact`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import parse_qsl, unquote, urlsplit

from zope.interface.interfaces import ComponentLookupError
from zope.interface.registry import Components

from ..errors import InvalidArgument
from ..interfaces import IURLScheme

__all__ = ["HIDDEN", "Endpoint", "MailURL", "endpoint", "redact", "schemes"]


HIDDEN = "(a URL not shown: it may hold a password)"
"""What :func:`redact` shows of text with an ``@`` that is no ``scheme://`` URL."""


def redact(url: str) -> str:
    """``url`` with its password, if any, shown as ``***``: everything from the first
    ``:`` after ``//`` to the last ``@`` goes. Safe on text that is not a URL: text
    with an ``@`` but no ``//`` (``smtp:me:secret@host``) is not shown at all."""
    scheme, slashes, rest = url.partition("//")
    if not slashes:
        return HIDDEN if "@" in url else url
    at = rest.rfind("@")
    if at < 0 or ":" not in rest[:at]:
        return url
    return f"{scheme}//{rest[:rest.index(':')]}:***@{rest[at + 1:]}"


def _refusal(shown: str) -> str:
    """Why ``urlsplit`` refuses a URL, asked of its redacted form ``shown``: its message
    quotes the part it stumbled on, which may be a piece of the password."""
    try:
        urlsplit(shown)
    except ValueError as exc:
        return str(exc)
    return "percent-encode the user and the password (a '[' or ']' in them, say)"


@dataclass(frozen=True)
class MailURL:
    """A parsed connection URL.

    :ivar scheme: lower-case (``"smtp"``, ``"smtp+unix"``).
    :ivar host: the host name or address (an IPv6 address without brackets); ``""``
        when the URL has none.
    :ivar port: the port, or ``None`` for the scheme's default.
    :ivar user: the percent-decoded user, or ``None``.
    :ivar password: the percent-decoded password, or ``None``; never shown.
    :ivar path: the percent-decoded path (``""`` for none).
    :ivar query: the query's parameters, each given once.
    """

    scheme: str
    host: str = ""
    port: Optional[int] = None
    user: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    path: str = ""
    query: Mapping[str, str] = field(default_factory=dict)
    text: str = field(default="", repr=False, compare=False)
    """The URL as given, for :meth:`redacted`."""

    @classmethod
    def parse(cls, url: str) -> MailURL:
        """Split ``url``.

        :raises InvalidArgument: it is not a URL with a scheme, its port is no port,
            a query parameter is given twice or is malformed, or it has a fragment.
        """
        if not isinstance(url, str):
            raise InvalidArgument(f"a connection URL is a str, not {type(url).__name__}")
        shown = redact(url)
        try:
            parts = urlsplit(url)
        except ValueError:
            raise InvalidArgument(f"{shown} is not a usable connection URL: {_refusal(shown)}") from None
        if parts.netloc and "@" in parts.path + parts.query + parts.fragment:
            # Else a piece of the password may pass for the port, and be shown as one.
            raise InvalidArgument(f"{shown}: percent-encode '/', '?', '#' and '@' in the user and the password")
        try:
            port = parts.port
            pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
        except ValueError as exc:
            raise InvalidArgument(f"{shown} is not a usable connection URL: {redact(str(exc))}") from None
        if not parts.scheme or "//" not in url:
            raise InvalidArgument(f"{shown} is not a connection URL (scheme://...), such as smtp://host:587")
        if parts.fragment:
            raise InvalidArgument(f"{shown}: a connection URL has no #fragment")
        query = dict(pairs)
        if len(query) != len(pairs):
            raise InvalidArgument(f"{shown}: a query parameter is given twice")
        return cls(
            scheme=parts.scheme.lower(),
            host=parts.hostname or "",
            port=port,
            user=None if parts.username is None else unquote(parts.username),
            password=None if parts.password is None else unquote(parts.password),
            path=unquote(parts.path),
            query=query,
            text=url,
        )

    def redacted(self) -> str:
        """The URL as given, its password shown as ``***``."""
        return redact(self.text)

    def __str__(self) -> str:
        return self.redacted()

    def fail(self, problem: str) -> InvalidArgument:
        """The error for this URL: ``problem``, after the URL without its password."""
        return InvalidArgument(f"{self.redacted()}: {problem}")

    def check_query(self, allowed: tuple[str, ...]) -> None:
        """Refuse a query parameter not in ``allowed``."""
        unknown = sorted(set(self.query) - set(allowed))
        if unknown:
            known = ", ".join(allowed) if allowed else "none"
            raise self.fail(f"unknown query parameter {unknown[0]!r} for {self.scheme}:// (known: {known})")

    def seconds(self, name: str) -> Optional[float]:
        """The query parameter ``name`` as a number of seconds, if given."""
        if name not in self.query:
            return None
        try:
            value = float(self.query[name])
        except ValueError:
            value = math.nan
        if not 0 < value < math.inf:
            raise self.fail(f"{name} must be a number of seconds above 0, not {self.query[name]!r}")
        return value

    def credentials(self) -> dict[str, str]:
        """``auth_user`` and ``auth_passwd`` from the URL, for those it has.

        :raises InvalidArgument: the user is empty (``smtp://:password@host``).
        """
        if self.user == "":
            raise self.fail("the user is empty: smtp://user:password@host")
        given = {"auth_user": self.user, "auth_passwd": self.password}
        return {name: value for name, value in given.items() if value is not None}


@dataclass(frozen=True)
class Endpoint:
    """What a connection URL names: where and how a :class:`~smtpunit.Mailer` sends.

    :ivar provider: the mail provider (:class:`~smtpunit.interfaces.IMailer`, or a
        provider of ``smtp^`` alone).
    :ivar server: the server address given to it.
    :ivar port: the port given to it.
    :ivar options: keyword options of the send verbs (:class:`~smtpunit.options.SendKeywords`),
        checked by the Mailer with those its caller adds.
    """

    provider: Any
    server: str
    port: int
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)


def schemes(registry: Components) -> tuple[str, ...]:
    """The URL schemes ``registry`` knows, sorted."""
    return tuple(sorted(name for name, _ in registry.getUtilitiesFor(IURLScheme)))


def endpoint(url: MailURL, registry: Components) -> Endpoint:
    """What ``url`` names, as the provider of its scheme in ``registry`` says.

    :raises InvalidArgument: no provider serves the scheme, or it cannot use the URL.
    """
    try:
        scheme = registry.getUtility(IURLScheme, url.scheme)
    except ComponentLookupError:
        raise url.fail(f"no provider of the {url.scheme!r} scheme (known: {', '.join(schemes(registry))})") from None
    return scheme.endpoint(url, registry)  # type: ignore[no-any-return,no-untyped-call]
