"""smtpunit: Racket's ``net/smtp`` for Python, as pluggable units.

Send a message with :func:`smtp_send_message`; swap how it connects, encrypts or
authenticates by linking your own providers (:func:`link`, :func:`invoke`).
"""

from . import errors
from .capabilities import Capabilities
from .driver import Timeouts
from .errors import *  # noqa: F401,F403 -- the error tree is public API
from .interfaces import (
    ISMTP,
    IAsyncConnection,
    IAsyncTransport,
    IConnection,
    IMailer,
    ISASLExchange,
    ISASLMechanism,
    ITLSUpgrader,
    ITransport,
)
from .parameters import Parameter
from .policy import TLSPolicy
from .pool import Pool
from .protocol import RecipientResult, SendResult
from .registry import ALL, Imports, Slot, Unit, invoke, link, provide, resolve, resolve_all
from .reply import Reply
from .sender import SMTPUnit
from .session import Session
from .smtp import (
    connect,
    current_registry,
    send_envelope,
    send_message,
    smtp_send_message,
    smtp_send_message_star,
    smtp_sending_end_of_message,
    smtp_sending_server,
)
from .units import default_registry, default_units, lmtp_unit, smtp_unit

__version__ = "0.1.0"

__all__ = [
    "ALL",
    "Capabilities",
    "IAsyncConnection",
    "IAsyncTransport",
    "IConnection",
    "IMailer",
    "ISASLExchange",
    "ISASLMechanism",
    "ISMTP",
    "ITLSUpgrader",
    "ITransport",
    "Imports",
    "Parameter",
    "Pool",
    "RecipientResult",
    "Reply",
    "SMTPUnit",
    "SendResult",
    "Session",
    "TLSPolicy",
    "Slot",
    "Timeouts",
    "Unit",
    "connect",
    "current_registry",
    "default_registry",
    "default_units",
    "invoke",
    "link",
    "lmtp_unit",
    "provide",
    "resolve",
    "resolve_all",
    "send_envelope",
    "send_message",
    "smtp_send_message",
    "smtp_send_message_star",
    "smtp_sending_end_of_message",
    "smtp_sending_server",
    "smtp_unit",
    *errors.__all__,
]
