"""``config.include("smtpunit.contrib.pyramid.testing")``: the application's mailer
sends to an :class:`~smtpunit.testing.Outbox` (``get_mailer(request).outbox``)
instead of a server, after the same checks, at the same moments (a transaction's
messages when it commits)."""

from __future__ import annotations

from typing import Any

from ...mailer import Mailer
from ...testing import Outbox
from ..settings import sender
from . import IPyramidMailer, TransactionalMailer

__all__ = ["OutboxMailer", "includeme"]


class OutboxMailer(TransactionalMailer):
    """A :class:`~smtpunit.contrib.pyramid.TransactionalMailer` whose messages go to
    :attr:`outbox`."""

    def __init__(self, default_sender: Any = None) -> None:
        self.outbox = Outbox()
        super().__init__(Mailer("localhost", provider=self.outbox), default_sender)


def includeme(config: Any) -> None:
    """Register an :class:`OutboxMailer` as the application's mailer."""
    mailer = OutboxMailer(sender(config.get_settings().get("mail.default_sender")))
    config.registry.registerUtility(mailer, IPyramidMailer)
