"""The built-in units and the default linked registry.

===================  ===============================  =====================
unit                 exports                          imports
===================  ===============================  =====================
``smtp@``            ``ISMTP``                        ``ITransport``, ``ITLSUpgrader``, ``ISASLMechanism['*']``
``tcp@``             ``ITransport``                   --
``tls@``             ``ITLSUpgrader``                 --
``sasl-plain@``      ``ISASLMechanism['PLAIN']``      --
===================  ===============================  =====================
"""

from __future__ import annotations

import functools

from zope.interface.registry import Components

from .interfaces import ISMTP, ISASLMechanism, ITLSUpgrader, ITransport
from .providers.sasl import CramMD5Mechanism, LoginMechanism, PlainMechanism, ScramSHA256Mechanism, XOAuth2Mechanism
from .providers.tcp import TCPTransport
from .providers.tls import SSLContextTLS
from .registry import ALL, Slot, Unit, link
from .sender import SMTPUnit

__all__ = ["smtp_unit", "lmtp_unit", "default_units", "default_registry"]

smtp_unit = Unit(
    "smtp@",
    exports=ISMTP,
    factory=SMTPUnit,
    imports=(ITransport, ITLSUpgrader, Slot(ISASLMechanism, ALL)),
)
"""Racket's ``smtp@``: exports ``ISMTP`` and imports the three seams."""

lmtp_unit = Unit(
    "lmtp@",
    exports=Slot(ISMTP, "lmtp"),
    factory=functools.partial(SMTPUnit, lmtp=True),
    imports=smtp_unit.imports,
)
"""``smtp@`` speaking LMTP (RFC 2033): ``invoke(registry, ISMTP, "lmtp")``."""


def default_units() -> tuple[Unit, ...]:
    """``smtp@`` and the built-in providers of what it imports."""
    return (
        smtp_unit,
        lmtp_unit,
        Unit("tcp@", ITransport, TCPTransport),
        Unit("tls@", ITLSUpgrader, SSLContextTLS),
        Unit("sasl-plain@", Slot(ISASLMechanism, "PLAIN"), PlainMechanism),
        Unit("sasl-login@", Slot(ISASLMechanism, "LOGIN"), LoginMechanism),
        Unit("sasl-cram-md5@", Slot(ISASLMechanism, "CRAM-MD5"), CramMD5Mechanism),
        Unit("sasl-xoauth2@", Slot(ISASLMechanism, "XOAUTH2"), XOAuth2Mechanism),
        Unit("sasl-scram-sha-256@", Slot(ISASLMechanism, "SCRAM-SHA-256"), ScramSHA256Mechanism),
    )


def default_registry() -> Components:
    """A new registry with the default units linked; change it freely."""
    return link(*default_units(), name="smtpunit.default")
