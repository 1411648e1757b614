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

from zope.interface.registry import Components

from .interfaces import ISMTP, ISASLMechanism, ITLSUpgrader, ITransport
from .providers.sasl import PlainMechanism
from .providers.tcp import TCPTransport
from .providers.tls import SSLContextTLS
from .registry import ALL, Slot, Unit, link
from .sender import SMTPUnit

__all__ = ["smtp_unit", "default_units", "default_registry"]

smtp_unit = Unit(
    "smtp@",
    exports=ISMTP,
    factory=SMTPUnit,
    imports=(ITransport, ITLSUpgrader, Slot(ISASLMechanism, ALL)),
)
"""Racket's ``smtp@``: exports ``ISMTP`` and imports the three seams."""


def default_units() -> tuple[Unit, ...]:
    """``smtp@`` and the built-in providers of what it imports."""
    return (
        smtp_unit,
        Unit("tcp@", ITransport, TCPTransport),
        Unit("tls@", ITLSUpgrader, SSLContextTLS),
        Unit("sasl-plain@", Slot(ISASLMechanism, "PLAIN"), PlainMechanism),
    )


def default_registry() -> Components:
    """A new registry with the default units linked; change it freely."""
    return link(*default_units(), name="smtpunit.default")
