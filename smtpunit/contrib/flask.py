"""A Flask extension, in the manner of Flask-Mail::

    from smtpunit.contrib.flask import Mail

    mail = Mail(app)            # or mail = Mail(); mail.init_app(app)
    mail.send(email_message)    # an email.message.EmailMessage

    with mail.record_messages() as outbox:
        client.post("/signup")
        assert outbox[0]["Subject"] == "Welcome"

It reads Flask-Mail's configuration keys -- ``MAIL_SERVER``, ``MAIL_PORT``,
``MAIL_USE_TLS``, ``MAIL_USE_SSL``, ``MAIL_USERNAME``, ``MAIL_PASSWORD``,
``MAIL_DEFAULT_SENDER``, ``MAIL_SUPPRESS_SEND`` -- or one connection URL,
``SMTPUNIT_URL``, and ``SMTPUNIT_OPTIONS``, a dict of further :class:`~smtpunit.Mailer`
options. In testing mode (``app.testing``, as it is at each send), unless
``MAIL_SUPPRESS_SEND`` says otherwise, nothing is sent; messages are still recorded.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.message import Message
from typing import Optional

try:
    from flask import Flask, current_app
except ImportError as exc:  # pragma: no cover
    raise ImportError("smtpunit.contrib.flask needs Flask: pip install 'smtpunit[flask]'") from exc

from ..core.commands import Envelope
from ..core.results import Outcome, SendResult
from ..core.verbs import envelope_of_message
from ..mailer import Mailer
from .settings import ServerSettings, flag, mailer_for, sender, with_default_sender

__all__ = ["Mail"]

EXTENSION = "smtpunit"
"""The key of the extension's state in ``app.extensions``."""


@dataclass(frozen=True)
class _State:
    mailer: Mailer
    default_sender: Optional[str]


class Mail:
    """smtpunit for a Flask application (or several, with :meth:`init_app`)."""

    def __init__(self, app: Optional[Flask] = None) -> None:
        self.app = app
        self._recorders: list[list[Message]] = []
        self._lock = threading.Lock()
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Configure the extension for ``app`` from its configuration."""
        config = app.config
        server = ServerSettings(
            host=config.get("MAIL_SERVER", "localhost"),
            port=int(config.get("MAIL_PORT", 25)),
            username=config.get("MAIL_USERNAME"),
            password=config.get("MAIL_PASSWORD"),
            use_tls=flag(config.get("MAIL_USE_TLS"), "MAIL_USE_TLS"),
            use_ssl=flag(config.get("MAIL_USE_SSL"), "MAIL_USE_SSL"),
            timeout=config.get("MAIL_TIMEOUT"),
            names=("MAIL_USE_TLS", "MAIL_USE_SSL"),
        )
        mailer = mailer_for(config.get("SMTPUNIT_URL"), server, config.get("SMTPUNIT_OPTIONS") or {})
        app.extensions[EXTENSION] = _State(mailer, sender(config.get("MAIL_DEFAULT_SENDER")))

    @property
    def mailer(self) -> Mailer:
        """The current application's :class:`~smtpunit.Mailer`."""
        return self._state().mailer

    def send(self, message: Message) -> Optional[SendResult]:
        """Send ``message`` (an :class:`email.message.EmailMessage`; its envelope from
        its headers, Bcc included and not sent) and return its result; ``None`` when
        sending is suppressed. ``MAIL_DEFAULT_SENDER`` fills in a missing From (on a
        copy: the message given is left as it is).

        :raises smtpunit.errors.SMTPError: what stopped it (bad input before anything is sent).
        """
        state = self._state()
        (envelope,) = self._prepare([message], state)
        return None if self._suppressed() else state.mailer.send_envelope(envelope)

    def send_many(self, messages: Iterable[Message]) -> list[Optional[Outcome]]:
        """Send several messages over one pipelined session; per message, in order, its
        result or the error that stopped it (``None`` each when suppressed). Every
        message is checked before anything is sent."""
        state = self._state()
        envelopes = self._prepare(messages, state)
        if self._suppressed():
            return [None] * len(envelopes)
        return list(state.mailer.send_envelopes(envelopes))

    @contextlib.contextmanager
    def record_messages(self) -> Iterator[list[Message]]:
        """Collect every message sent in the block (suppressed or not), as Flask-Mail's
        ``record_messages`` does."""
        outbox: list[Message] = []
        with self._lock:
            self._recorders.append(outbox)
        try:
            yield outbox
        finally:
            with self._lock:
                self._recorders.remove(outbox)

    def _app(self) -> Flask:
        return self.app if self.app is not None else current_app

    def _suppressed(self) -> bool:
        """``MAIL_SUPPRESS_SEND`` (by default ``app.testing``), read at each send: a
        test may turn testing on after the extension was set up."""
        app = self._app()
        return flag(app.config.get("MAIL_SUPPRESS_SEND", app.testing), "MAIL_SUPPRESS_SEND")

    def _state(self) -> _State:
        app = self._app()
        try:
            return app.extensions[EXTENSION]  # type: ignore[no-any-return]
        except KeyError:
            raise RuntimeError("smtpunit's Mail is not set up for this application: call mail.init_app(app)") from None

    def _prepare(self, messages: Iterable[Message], state: _State) -> list[Envelope]:
        """The messages' envelopes, all checked; then the messages are recorded."""
        ready = [with_default_sender(message, state.default_sender) for message in messages]
        envelopes = [envelope_of_message(message, None, None) for message in ready]
        with self._lock:
            for outbox in self._recorders:
                outbox.extend(ready)
        return envelopes
