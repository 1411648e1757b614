"""A Django email backend::

    EMAIL_BACKEND = "smtpunit.contrib.django.EmailBackend"

It reads Django's ``EMAIL_HOST``, ``EMAIL_PORT``, ``EMAIL_HOST_USER``,
``EMAIL_HOST_PASSWORD``, ``EMAIL_USE_TLS``, ``EMAIL_USE_SSL``, ``EMAIL_TIMEOUT``,
``EMAIL_SSL_CERTFILE`` and ``EMAIL_SSL_KEYFILE`` -- or one connection URL, the setting ``SMTPUNIT_URL``
(``SMTPUNIT_URL = os.environ.get("SMTPUNIT_URL")`` to take it from the environment) -- and
``SMTPUNIT_OPTIONS``, a dict of further :class:`~smtpunit.Mailer` options
(``{"pool_size": 8}``, ``{"allow_insecure_auth": True}``). Arguments given to
``get_connection()`` win over the settings, as with Django's own SMTP backend.

``send_messages`` sends its list over one pipelined session and returns how many
were sent. Every message is checked before the first byte: with ``fail_silently``
off, a bad one raises and nothing is sent; on, it is left out. Django's
``EmailMessage`` and ``EmailMultiAlternatives`` go as they are: attachments,
alternatives, Bcc recipients in the envelope only, non-ASCII headers. Backends with
the same settings share one :class:`~smtpunit.Mailer`, whose pooled connection
outlives a request.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from email.utils import parseaddr
from typing import Any, Optional

try:
    from django.conf import settings
    from django.core.mail.backends.base import BaseEmailBackend
    from django.core.mail.message import EmailMessage, sanitize_address
except ImportError as exc:  # pragma: no cover
    raise ImportError("smtpunit.contrib.django needs Django: pip install 'smtpunit[django]'") from exc

from ..core.commands import Envelope
from ..core.results import SendResult
from ..core.verbs import envelope_of_message
from ..errors import SMTPError, SMTPInputError
from ..mailer import Mailer
from ..units.contract import MailSession
from .settings import ServerSettings, mailer_for

__all__ = ["EmailBackend"]

_MAILERS: dict[Any, Mailer] = {}  # by their settings: a pool each, shared by the backends
_MAILERS_LIMIT = 16  # then the oldest is closed: settings rarely change in a process
_MAILERS_LOCK = threading.Lock()


def _shared_mailer(key: Any, make: Any) -> Mailer:
    with _MAILERS_LOCK:
        mailer = _MAILERS.get(key)
        if mailer is None:
            mailer = _MAILERS[key] = make()
            if len(_MAILERS) > _MAILERS_LIMIT:
                _MAILERS.pop(next(iter(_MAILERS))).close()
        return mailer


class EmailBackend(BaseEmailBackend):  # type: ignore[misc]
    """Sends Django's email through smtpunit. Takes the arguments of Django's
    ``django.core.mail.backends.smtp.EmailBackend``.

    :ivar mailer: the :class:`~smtpunit.Mailer` it sends through.
    """

    def __init__(self, host: Optional[str] = None, port: Optional[int] = None, username: Optional[str] = None,
                 password: Optional[str] = None, use_tls: Optional[bool] = None, fail_silently: bool = False,
                 use_ssl: Optional[bool] = None, timeout: Optional[float] = None, ssl_keyfile: Optional[str] = None,
                 ssl_certfile: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        given = (host, port, username, password, use_tls, use_ssl, timeout, ssl_keyfile, ssl_certfile)
        url = getattr(settings, "SMTPUNIT_URL", None) if all(value is None for value in given) else None
        options = dict(getattr(settings, "SMTPUNIT_OPTIONS", None) or {})
        server = ServerSettings(
            host=settings.EMAIL_HOST if host is None else host,
            port=settings.EMAIL_PORT if port is None else port,
            username=settings.EMAIL_HOST_USER if username is None else username,
            password=settings.EMAIL_HOST_PASSWORD if password is None else password,
            use_tls=settings.EMAIL_USE_TLS if use_tls is None else use_tls,
            use_ssl=settings.EMAIL_USE_SSL if use_ssl is None else use_ssl,
            timeout=settings.EMAIL_TIMEOUT if timeout is None else timeout,
            certfile=settings.EMAIL_SSL_CERTFILE if ssl_certfile is None else ssl_certfile,
            keyfile=settings.EMAIL_SSL_KEYFILE if ssl_keyfile is None else ssl_keyfile,
            names=("EMAIL_USE_TLS", "EMAIL_USE_SSL"),
        )
        key = (url, server, repr(sorted(options.items())))  # the server's password is in its equality
        self.mailer = _shared_mailer(key, lambda: mailer_for(url, server, options))
        self._lent: Optional[AbstractContextManager[MailSession]] = None
        self._session: Optional[MailSession] = None

    def open(self) -> bool:
        """Hold a session until :meth:`close` (Django's ``with connection:``); True if
        this call took it, False if one was held already (or, failing silently, none
        could be had)."""
        if self._session is not None:
            return False
        lent = self.mailer.connect()
        try:
            self._session = lent.__enter__()
        except (SMTPError, OSError):
            if not self.fail_silently:
                raise
            return False
        self._lent = lent
        return True

    def close(self) -> None:
        """Give the held session back (it stays pooled for the next send)."""
        lent, self._lent, self._session = self._lent, None, None
        if lent is not None:
            lent.__exit__(None, None, None)

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        """Send ``email_messages`` over one pipelined session; return how many were sent.

        :raises smtpunit.errors.SMTPError: unless ``fail_silently``: a bad message
            (before anything is sent), or the first that was not sent.
        """
        envelopes = self._envelopes(email_messages)
        if not envelopes:
            return 0
        try:
            outcomes = self._send(envelopes)
        except (SMTPError, OSError):
            if not self.fail_silently:
                raise
            return 0
        failures = [outcome for outcome in outcomes if not isinstance(outcome, SendResult)]
        if failures and not self.fail_silently:
            raise failures[0]
        return len(outcomes) - len(failures)

    def _send(self, envelopes: list[Envelope]) -> list[Any]:
        if self._session is not None:
            return list(self._session.send_envelopes(envelopes))
        return self.mailer.send_envelopes(envelopes)  # paced and retried as the options say

    def _envelopes(self, email_messages: Sequence[EmailMessage]) -> list[Envelope]:
        """Each message with recipients, checked; all of them before the first is sent."""
        checked = []
        for message in email_messages:
            if not message.recipients():
                continue  # as Django's SMTP backend: nothing to send
            try:
                checked.append(_envelope(message))
            except (SMTPInputError, ValueError):
                if not self.fail_silently:
                    raise
        return checked


def _envelope(message: EmailMessage) -> Envelope:
    """The envelope of a Django message: its sender and every recipient (Bcc too),
    each as Django's SMTP backend writes it (the domain in IDNA), and its MIME message."""
    encoding = message.encoding or settings.DEFAULT_CHARSET
    sender = parseaddr(sanitize_address(message.from_email, encoding))[1]
    recipients = [parseaddr(sanitize_address(address, encoding))[1] for address in message.recipients()]
    return envelope_of_message(message.message(), sender, recipients)
