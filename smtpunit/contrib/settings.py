"""The server settings the frameworks share, as a :class:`~smtpunit.Mailer`.

Django's ``EMAIL_*``, Flask-Mail's ``MAIL_*`` and pyramid_mailer's ``mail.*`` settings
all say the same things -- host, port, user, password, STARTTLS or implicit TLS, a
timeout, a client certificate -- under different names. :class:`ServerSettings` holds
them once; its :meth:`~ServerSettings.mailer` keeps smtpunit's defaults where the
frameworks' are weaker: TLS verifies the server's certificate and name, STARTTLS
asked for is required, and credentials never go in plaintext to a host that is not
on this machine (unless ``allow_insecure_auth=True`` is among the extra options).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import Message
from email.utils import formataddr
from typing import Any, Optional, Union

from zope.interface.registry import Components

from ..errors import InvalidArgument
from ..interfaces import IMailer
from ..mailer import Mailer
from ..providers import default_context
from ..units.lookup import invoke

__all__ = ["ServerSettings", "flag", "mailer_for", "sender", "with_default_sender"]


def flag(value: Union[str, bool, int, None], name: str) -> bool:
    """A setting that is on or off: a bool, 0/1, or text as ini files give it
    (``true``/``false``, ``yes``/``no``, ``on``/``off``, ``1``/``0``)."""
    if value is None:
        return False
    if isinstance(value, (bool, int)):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0", ""):
        return False
    raise InvalidArgument(f"{name} must be true or false, not {value!r}")


def sender(value: Union[str, tuple[str, str], list[str], None]) -> Optional[str]:
    """A default sender setting: an address, or a (name, address) pair as Flask-Mail
    and pyramid_mailer take it."""
    if isinstance(value, (tuple, list)):
        name, address = value
        return formataddr((name, address))
    return value or None


def with_default_sender(message: Message, default: Optional[str]) -> Message:
    """``message`` with ``default`` as its From if it has none: a copy, so that the
    caller's message stays as it was."""
    if message["From"] is not None or default is None:
        return message
    completed = copy.deepcopy(message)
    completed["From"] = default
    return completed


@dataclass(frozen=True)
class ServerSettings:
    """One server's settings, whatever framework they came from.

    :ivar certfile: a client certificate (PEM) to present, with its ``keyfile``.
    :ivar cafile: trust these CAs (PEM) instead of the system's, for a private CA.
    :ivar names: how the framework names ``use_tls`` and ``use_ssl``, for errors.
    """

    host: str = "localhost"
    port: int = 25
    username: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    use_tls: bool = False
    use_ssl: bool = False
    timeout: Optional[float] = None
    certfile: Optional[str] = None
    keyfile: Optional[str] = None
    cafile: Optional[str] = None
    names: tuple[str, str] = ("use_tls", "use_ssl")

    def mailer(self, **options: Any) -> Mailer:
        """A :class:`~smtpunit.Mailer` for these settings; ``options`` (keyword options
        of :class:`~smtpunit.Mailer`, such as ``pool_size`` or ``allow_insecure_auth``)
        add to them.

        :raises InvalidArgument: STARTTLS and implicit TLS both asked for.
        """
        if self.use_tls and self.use_ssl:
            raise InvalidArgument(f"{self.names[0]} and {self.names[1]} are mutually exclusive: STARTTLS on "
                                  "a plaintext port, or TLS from the first byte (port 465), not both")
        configured: dict[str, Any] = {}
        if self.use_tls or self.use_ssl:
            configured["tls_encode"] = (
                default_context(certfile=self.certfile, keyfile=self.keyfile, cafile=self.cafile)
                if self.certfile or self.cafile else True)
            configured["tls_policy"] = "implicit" if self.use_ssl else "starttls"
        if self.username and self.password:  # as the frameworks do: no AUTH without both
            configured.update(auth_user=self.username, auth_passwd=self.password)
        if self.timeout is not None:
            configured["timeout"] = self.timeout
        return Mailer(self.host, int(self.port), **{**configured, **options})


def mailer_for(url: Optional[str], server: ServerSettings, options: Mapping[str, Any],
               registry: Optional[Components] = None) -> Mailer:
    """The mailer a framework's configuration names: its connection URL if it has one,
    else its server settings; ``options`` (:class:`~smtpunit.Mailer` keyword options)
    add to either. Providers come from ``registry`` when given (else the registry in
    use)."""
    if url:
        return Mailer.from_url(url, registry=registry, **options)
    provider = {} if registry is None else {"provider": invoke(registry, IMailer)}
    return server.mailer(**provider, **options)
