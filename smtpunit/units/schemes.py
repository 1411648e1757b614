"""The connection URL schemes smtpunit provides (:class:`~smtpunit.interfaces.IURLScheme`).

==========================================  ==================================================================
URL                                         sends
==========================================  ==================================================================
``smtp://[user[:password]@]host[:port]``    SMTP, port 587, STARTTLS required (``?tls=opportunistic`` or
                                            ``?tls=none`` to relax it)
``smtps://...``                             SMTP over TLS from the first byte, port 465
``lmtp://...``                              LMTP (RFC 2033), port 24, STARTTLS required unless relaxed
``smtp+unix:///path/to.sock``               SMTP over a Unix socket, no TLS unless ``?tls=starttls``
``lmtp+unix:///path/to.sock``               LMTP over a Unix socket, likewise
``sendmail:///path/to/sendmail``            the local ``sendmail`` program (``sendmail://``: /usr/sbin/sendmail)
``console://``                              nowhere: each message is printed to stdout
``file:///some/dir``                        nowhere: each message is written to the directory
==========================================  ==================================================================

Every network scheme takes ``?timeout=`` (seconds for every wait) and
``?auth_mechanism=`` (a SASL mechanism); user and password are percent-decoded. The
``smtp``, ``smtps`` and ``lmtp`` send through the registry's ``IMailer``
(``IMailer['lmtp']``), so a registry that links its own ``smtp@`` gets its URLs too;
the Unix socket schemes link ``smtp@`` or ``lmtp@`` again with transports to the
socket, blocking and asyncio, over the registry (a compound unit), so that an
installed test double's transport still wins. Each scheme is
registered through the ``smtpunit.schemes`` entry-point group, where a plugin adds
its own (:mod:`smtpunit.units.discovery`).
"""

from __future__ import annotations

from typing import Any

from zope.interface import implementer
from zope.interface.registry import Components

from ..core.policy import TLSPolicy
from ..interfaces import IAsyncTransport, IMailer, ITransport, IURLScheme
from ..providers.local import ConsoleMailer, FileMailer
from ..providers.sendmail import DEFAULT_SENDMAIL, DEFAULT_TIMEOUT, SendmailSMTP
from ..providers.unix import AsyncUnixSocketTransport, UnixSocketTransport
from .builtin import lmtp_unit, smtp_unit
from .linking import Unit, link, provide, resolve
from .urls import Endpoint, MailURL

__all__ = ["NetworkScheme", "SocketScheme", "console", "file", "lmtp", "lmtp_unix", "sendmail", "smtp",
           "smtp_unix", "smtps"]

_TLS_OPTIONS: dict[str, dict[str, Any]] = {
    "starttls": {"tls_encode": True},
    "opportunistic": {"tls_encode": True, "tls_policy": TLSPolicy.OPPORTUNISTIC},
    "none": {"tls_policy": TLSPolicy.NONE},
    "implicit": {"tls_encode": True, "tls_policy": TLSPolicy.IMPLICIT},  # a scheme's, never a URL's choice
}
_TLS_CHOICES = ("starttls", "opportunistic", "none")


def _conversation_options(url: MailURL, tls: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    """The keyword options of a URL that names a conversation: its TLS (``?tls=``, else
    ``tls``), timeout, SASL mechanism and credentials."""
    url.check_query(allowed)
    chosen = url.query.get("tls", tls)
    if "tls" in url.query and chosen not in _TLS_CHOICES:
        raise url.fail(f"tls must be one of {', '.join(_TLS_CHOICES)}, not {chosen!r}")
    options = dict(_TLS_OPTIONS[chosen])
    timeout = url.seconds("timeout")
    if timeout is not None:
        options["timeout"] = timeout
    if "auth_mechanism" in url.query:
        options["auth_mechanism"] = url.query["auth_mechanism"]
    return {**options, **url.credentials()}


@implementer(IURLScheme)
class NetworkScheme:
    """``scheme://[user[:password]@]host[:port]``: the registry's mail provider named
    ``mailer`` (``""``: SMTP, ``"lmtp"``), to ``port`` by default, with ``tls`` unless
    the URL says otherwise (if ``tls_choice``)."""

    def __init__(self, mailer: str, port: int, tls: str, tls_choice: bool = True) -> None:
        self.mailer, self.port, self.tls = mailer, port, tls
        self.parameters = ("tls", "timeout", "auth_mechanism") if tls_choice else ("timeout", "auth_mechanism")

    def endpoint(self, url: MailURL, registry: Components) -> Endpoint:
        """The server of ``url``, through the registry's mail provider."""
        if not url.host:
            raise url.fail(f"a {url.scheme}:// URL names a host: {url.scheme}://host[:port]")
        if url.path not in ("", "/"):
            raise url.fail(f"a {url.scheme}:// URL has no path")
        options = _conversation_options(url, self.tls, self.parameters)
        port = self.port if url.port is None else url.port
        return Endpoint(resolve(registry, IMailer, self.mailer), url.host, port, options)

    def __repr__(self) -> str:
        return f"NetworkScheme({self.mailer!r}, {self.port}, {self.tls!r})"


@implementer(IURLScheme)
class SocketScheme:
    """``scheme://[user[:password]@][host]/path/to.sock``: ``unit`` (``smtp@`` or
    ``lmtp@``) linked with transports to the Unix socket at the path, blocking and
    asyncio, over the registry; the host (``localhost`` if none) is the name TLS
    would verify. No TLS unless ``?tls=starttls``."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit

    def endpoint(self, url: MailURL, registry: Components) -> Endpoint:
        """The socket of ``url``, through ``unit`` linked with its transports."""
        if not url.path.strip("/"):
            raise url.fail(f"a {url.scheme}:// URL names the socket: {url.scheme}:///path/to.sock")
        if url.port is not None:
            raise url.fail("a Unix socket has no port")
        options = _conversation_options(url, "none", ("tls", "timeout", "auth_mechanism"))
        linked = link(self.unit, provide(ITransport, UnixSocketTransport(url.path)),
                      provide(IAsyncTransport, AsyncUnixSocketTransport(url.path)), bases=(registry,),
                      name=f"{self.unit.name} over {url.path}")
        return Endpoint(resolve(linked, self.unit.export_slot.interface, self.unit.export_slot.name),
                        url.host or "localhost", 25, options)

    def __repr__(self) -> str:
        return f"SocketScheme({self.unit.name})"


@implementer(IURLScheme)
class _Sendmail:
    """``sendmail:///path/to/sendmail`` (``sendmail://``: the usual place), ``?timeout=``."""

    def endpoint(self, url: MailURL, registry: Components) -> Endpoint:
        _local(url, ("timeout",))
        timeout = url.seconds("timeout")
        program = SendmailSMTP(url.path if url.path.strip("/") else DEFAULT_SENDMAIL,
                               timeout=DEFAULT_TIMEOUT if timeout is None else timeout)
        return Endpoint(program, "localhost", 25)


@implementer(IURLScheme)
class _Console:
    """``console://``: each message printed to stdout."""

    def endpoint(self, url: MailURL, registry: Components) -> Endpoint:
        _local(url, ())
        if url.path not in ("", "/"):
            raise url.fail("console:// has no path")
        return Endpoint(ConsoleMailer(), "localhost", 25)


@implementer(IURLScheme)
class _File:
    """``file:///some/dir``: each message written to the directory."""

    def endpoint(self, url: MailURL, registry: Components) -> Endpoint:
        _local(url, ())
        if not url.path.strip("/"):
            raise url.fail("file:// names a directory: file:///some/dir")
        return Endpoint(FileMailer(url.path), "localhost", 25)


def _local(url: MailURL, allowed: tuple[str, ...]) -> None:
    """Refuse what a URL sending on this machine cannot have: a server, credentials."""
    if url.host or url.port is not None or url.user is not None:
        raise url.fail(f"{url.scheme}:// sends on this machine: it has no host, port or user "
                       f"(three slashes before a path: {url.scheme}:///...)")
    url.check_query(allowed)


smtp = NetworkScheme("", 587, "starttls")
smtps = NetworkScheme("", 465, "implicit", tls_choice=False)
lmtp = NetworkScheme("lmtp", 24, "starttls")
smtp_unix = SocketScheme(smtp_unit)
lmtp_unix = SocketScheme(lmtp_unit)
sendmail = _Sendmail()
console = _Console()
file = _File()
