"""smtpunit: Racket's ``net/smtp`` for Python, as pluggable units.

Send a message with :func:`smtp_send_message` (or :func:`send`); send many over one
connection with :func:`connect`, :func:`send_many` or a :class:`Pool`; configure once with a
:class:`Mailer` (``Mailer.from_url("smtp://user:password@host")``); use
:mod:`smtpunit.aio` under asyncio. Swap how mail is sent, connected, encrypted or
authenticated by linking your own units (:func:`link`, :func:`invoke`; the whole
framework is in :mod:`smtpunit.units`, the signatures in :mod:`smtpunit.interfaces`).
Every error is in :mod:`smtpunit.errors`; the ones a sender decides on are here too.

The layers, top to bottom: this facade (:mod:`smtpunit.smtp`, :mod:`smtpunit.aio`,
:mod:`smtpunit.pool`, :mod:`smtpunit.mailer`); the unit framework (:mod:`smtpunit.units`); the drivers
(:mod:`smtpunit.drivers`); the sans-IO core (:mod:`smtpunit.core`); and the providers
(:mod:`smtpunit.providers`). Test doubles are in :mod:`smtpunit.testing`.
"""

from .core.dsn import DSN
from .core.policy import TLSPolicy
from .core.results import RecipientResult, SendResult
from .core.retry import Retry
from .drivers.blocking import Session
from .errors import (
    RecipientsRefused,
    SMTPConnectionClosed,
    SMTPError,
    SMTPInputError,
    SMTPOutcomeUnknown,
    SMTPReplyError,
    SMTPSecurityError,
    SMTPTimeout,
)
from .interfaces import ISMTP
from .mailer import Mailer
from .options import Timeouts
from .pool import Pool
from .providers.dkim import DKIMSigner
from .smtp import (
    connect,
    send,
    send_envelope,
    send_many,
    send_message,
    smtp_send_message,
    smtp_send_message_star,
    smtp_sending_end_of_message,
    smtp_sending_server,
)
from .units.builtin import default_registry, smtp_unit
from .units.linking import Unit, link, provide
from .units.lookup import current_registry, invoke

__version__ = "0.1.0"

__all__ = [
    # sending: Racket's net/smtp and the verbs every entry point shares
    "smtp_send_message",
    "smtp_send_message_star",
    "send",
    "send_message",
    "send_envelope",
    "send_many",
    "connect",
    "Mailer",
    "Session",
    "Pool",
    "SendResult",
    "RecipientResult",
    "TLSPolicy",
    "Timeouts",
    "DSN",
    "Retry",
    "DKIMSigner",
    # Racket parameters
    "smtp_sending_server",
    "smtp_sending_end_of_message",
    "current_registry",
    # units: Racket's smtp^ and smtp@, linking and invoking
    "ISMTP",
    "Unit",
    "link",
    "provide",
    "invoke",
    "smtp_unit",
    "default_registry",
    # the errors a sender decides on (all of them: smtpunit.errors)
    "SMTPError",
    "SMTPInputError",
    "SMTPReplyError",
    "RecipientsRefused",
    "SMTPConnectionClosed",
    "SMTPOutcomeUnknown",
    "SMTPTimeout",
    "SMTPSecurityError",
]
