"""Pyramid, whose registry is a ``zope.interface`` ``Components`` as smtpunit's are::

    config.include("smtpunit.contrib.pyramid")

    from smtpunit.contrib.pyramid import get_mailer
    mailer = get_mailer(request)
    mailer.send(email_message)               # at the commit of the current transaction
    mailer.send_immediately(email_message)   # now

The mailer is built from the settings: ``smtpunit.url`` (a connection URL), or
pyramid_mailer's ``mail.host``, ``mail.port``, ``mail.username``, ``mail.password``,
``mail.tls``, ``mail.ssl``, ``mail.certfile``, ``mail.keyfile`` (and
``smtpunit.cafile``, to trust a private CA instead of the system's); and
``mail.default_sender``, which fills in a missing From. Its providers are looked up
in the application's registry first, then in smtpunit's: a mail provider
(:class:`~smtpunit.interfaces.IMailer`) or a URL scheme
(:class:`~smtpunit.interfaces.IURLScheme`) the application registers there before
the include is used.

``send`` checks the message at once (bad input raises there). Through a mailer from
``get_mailer(request)`` with ``pyramid_tm`` active, it joins the request's
transaction (``request.tm``, whichever transaction manager pyramid_tm was set up
with): the transaction's messages go over one pipelined session after it commits,
and are dropped if it aborts. A failure then can no longer reach the view: it is
logged on the ``smtpunit.contrib.pyramid`` logger, with the recipients. Without a
request transaction (no pyramid_tm, or a mailer from the registry), ``send`` sends at
once, never into a transaction nobody commits; ``mailer.bound(manager)`` joins the
transactions of another manager, such as ``transaction.manager`` in a script.

``config.include("smtpunit.contrib.pyramid.testing")`` registers a mailer whose
messages go to an :class:`~smtpunit.testing.Outbox` (``get_mailer(request).outbox``),
as pyramid_mailer's testing include does.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from email.message import Message
from typing import Any, Optional, Union

from zope.interface import Interface, implementer
from zope.interface.registry import Components

from ...core.commands import Envelope
from ...core.results import Outcome, SendResult
from ...core.verbs import envelope_of_message
from ...errors import SMTPError
from ...mailer import Mailer
from ...units.lookup import configuration_registry
from ..settings import ServerSettings, flag, mailer_for, sender, with_default_sender

__all__ = ["IPyramidMailer", "TransactionalMailer", "get_mailer", "includeme", "mailer_from_settings"]

log = logging.getLogger("smtpunit.contrib.pyramid")


class IPyramidMailer(Interface):
    """The mailer :func:`includeme` registers in the application's registry."""


@implementer(IPyramidMailer)
class TransactionalMailer:
    """Sends through ``mailer``, when the current transaction of
    ``transaction_manager`` commits, or at once without one.

    :param mailer: the :class:`~smtpunit.Mailer` that sends.
    :param default_sender: the From of a message that has none.
    :param transaction_manager: a ``transaction`` manager (``request.tm``,
        ``transaction.manager``) whose current transaction ``send`` joins; ``None``:
        send at once.
    """

    def __init__(self, mailer: Mailer, default_sender: Optional[str] = None, transaction_manager: Any = None
                 ) -> None:
        self.mailer = mailer
        self.default_sender = default_sender
        self.transaction_manager = transaction_manager

    def bound(self, transaction_manager: Any) -> TransactionalMailer:
        """This mailer (the same kind, the same sends), joining the transactions of
        ``transaction_manager``."""
        joined = copy.copy(self)
        joined.transaction_manager = transaction_manager
        return joined

    def send(self, message: Message) -> Optional[SendResult]:
        """Send ``message`` when the current transaction commits (``None`` now), or at
        once without a transaction manager (its result).

        :raises smtpunit.errors.SMTPInputError: the message cannot be sent, at once.
        """
        envelope = self._envelope(message)
        if self.transaction_manager is None:
            return self.mailer.send_envelope(envelope)
        current = self.transaction_manager.get()
        try:
            pending: list[Envelope] = current.data(self.mailer)
        except KeyError:
            pending = []
            current.set_data(self.mailer, pending)
            current.addAfterCommitHook(self._after_commit, args=(pending,))
        pending.append(envelope)
        return None

    def send_immediately(self, message: Message) -> SendResult:
        """Send ``message`` now, whatever the transaction does.

        :raises smtpunit.errors.SMTPError: what stopped it.
        """
        return self.mailer.send_envelope(self._envelope(message))

    def _envelope(self, message: Message) -> Envelope:
        return envelope_of_message(with_default_sender(message, self.default_sender), None, None)

    def _after_commit(self, committed: bool, pending: list[Envelope]) -> None:
        if not committed:
            return  # the transaction failed at its commit: its messages go with it
        outcomes: list[Union[Outcome, BaseException]]
        try:
            outcomes = list(self.mailer.send_envelopes(pending))
        except (SMTPError, OSError) as exc:
            outcomes = [exc] * len(pending)
        for envelope, outcome in zip(pending, outcomes, strict=True):
            if not isinstance(outcome, SendResult):
                log.error("a message committed with its transaction was not sent to %s: %s",
                          ", ".join(envelope.recipients), outcome)


def mailer_from_settings(settings: Mapping[str, Any], registry: Optional[Components] = None) -> TransactionalMailer:
    """The mailer the settings describe, its providers looked up in ``registry`` first
    (then in the registry a send would use)."""
    lookup = Components("smtpunit for an application",
                        bases=(configuration_registry(),) if registry is None else (registry, configuration_registry()))
    server = ServerSettings(
        host=settings.get("mail.host") or "localhost",
        port=int(settings.get("mail.port") or 25),
        username=settings.get("mail.username"),
        password=settings.get("mail.password"),
        use_tls=flag(settings.get("mail.tls"), "mail.tls"),
        use_ssl=flag(settings.get("mail.ssl"), "mail.ssl"),
        certfile=settings.get("mail.certfile"),
        keyfile=settings.get("mail.keyfile"),
        cafile=settings.get("smtpunit.cafile"),
        names=("mail.tls", "mail.ssl"),
    )
    mailer = mailer_for(settings.get("smtpunit.url"), server, {}, lookup)
    return TransactionalMailer(mailer, sender(settings.get("mail.default_sender")))


def includeme(config: Any) -> None:
    """``config.include("smtpunit.contrib.pyramid")``: register the settings' mailer."""
    mailer = mailer_from_settings(config.get_settings(), config.registry)
    config.registry.registerUtility(mailer, IPyramidMailer)


def get_mailer(request: Any) -> Any:
    """The application's mailer: from a request, joining its transaction when
    ``pyramid_tm`` gave it one (``request.tm``); from a registry, as registered."""
    registry = getattr(request, "registry", request)
    mailer = registry.getUtility(IPyramidMailer)
    manager = getattr(request, "tm", None)
    return mailer if manager is None else mailer.bound(manager)
