"""The built-in units and the default linked registry.

======================  ========================================  ==============================================
unit                    exports                                   imports
======================  ========================================  ==============================================
``smtp@``               ``ISMTP``, ``IMailer``                    ``ITransport``, ``IAsyncTransport``,
                                                                  ``ITLSUpgrader``, ``ISASLMechanism['*']``
``lmtp@``               ``ISMTP['lmtp']``, ``IMailer['lmtp']``    the same
``itransport@``         ``ITransport``                            ``ITransport['tcp']`` (or as configured)
``iasynctransport@``    ``IAsyncTransport``                       ``IAsyncTransport['tcp']`` (or as configured)
``itlsupgrader@``       ``ITLSUpgrader``                          ``ITLSUpgrader['ssl']`` (or as configured)
(entry points)          ``ITransport['tcp']``,                    nothing
                        ``ITLSUpgrader['ssl']``,
                        ``ISASLMechanism['PLAIN']``, ...
======================  ========================================  ==============================================

Every provider but the ``ISMTP`` units comes from the entry points
(:mod:`smtpunit.units.discovery`), smtpunit's own included. The unnamed
``ITransport``, ``IAsyncTransport`` and ``ITLSUpgrader`` are
:class:`~smtpunit.units.linking.Alias` objects of the named ones: they follow an
in-place change of the named slot.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Optional

from zope.interface import Invalid
from zope.interface.interface import InterfaceClass
from zope.interface.registry import Components

from ..errors import ContractViolation
from ..interfaces import ISMTP, IAsyncTransport, IMailer, ISASLMechanism, ITLSUpgrader, ITransport
from .discovery import Discovery, discover, make_provider
from .linking import ALL, Slot, Unit, alias, link
from .smtp_unit import SMTPUnit

__all__ = ["smtp_unit", "lmtp_unit", "default_units", "default_registry"]

smtp_unit = Unit(
    "smtp@",
    exports=(ISMTP, IMailer),
    factory=SMTPUnit,
    imports=(ITransport, IAsyncTransport, ITLSUpgrader, Slot(ISASLMechanism, ALL)),
)
"""Racket's ``smtp@``: exports ``ISMTP`` and ``IMailer`` (one provider, an
:class:`~smtpunit.units.smtp_unit.SMTPUnit`) and imports the seams.

``invoke(smtp_unit)`` links it over :func:`default_registry` and returns the client.
To give it other imports, link it again:
``link(smtp_unit, provide(ITransport, transport), bases=(default_registry(),))``."""

lmtp_unit = Unit(
    "lmtp@",
    exports=(Slot(ISMTP, "lmtp"), Slot(IMailer, "lmtp")),
    factory=functools.partial(SMTPUnit, lmtp=True),
    imports=smtp_unit.imports,
)
"""``smtp@`` speaking LMTP (RFC 2033): ``invoke(registry, ISMTP, "lmtp")``, or
``invoke(lmtp_unit)`` with the default providers."""


def _default_slot(interface: InterfaceClass, choice: Any, found: Discovery) -> Unit:
    """The unit filling the unnamed slot of ``interface``: an alias of a discovered
    provider named ``choice``, or ``choice`` itself (a provider or a dotted path)."""
    label = f"{interface.__name__.lower()}@"
    if isinstance(choice, str) and choice in found.names(interface):
        return alias(label, interface, choice)
    return Unit(label, interface, functools.partial(_configured, interface, choice))


def _configured(interface: InterfaceClass, choice: Any, name: str = "") -> Any:
    try:
        return make_provider(interface, choice, name)
    except Invalid as exc:
        raise ContractViolation(f"configured {interface.__name__} {choice!r} is not a provider: {exc}") from exc


def default_units(
    *,
    transport: Any = "tcp",
    async_transport: Any = "tcp",
    tls: Any = "ssl",
    sasl: Optional[Mapping[str, Any]] = None,
    strict: bool = False,
) -> tuple[Unit, ...]:
    """``smtp@``, ``lmtp@`` and the providers found through entry points.

    Explicit configuration wins over discovery:

    :param transport: the default transport: the name of a discovered one
        (``"tcp"``, ``"smtps"``), a dotted path ``"package.module:object"``, or a provider.
    :param async_transport: the default asyncio transport, likewise (``"tcp"``).
    :param tls: the default STARTTLS upgrader, likewise (``"ssl"``).
    :param sasl: mechanisms by name (providers or dotted paths) that replace or add
        to the discovered ones.
    :param strict: raise :class:`~smtpunit.errors.DiscoveryError` if any entry point fails.
    """
    found = discover(strict=strict)
    overrides = {Slot(ISASLMechanism, name): target for name, target in (sasl or {}).items()}
    units = [u for u in found.units if overrides.keys().isdisjoint(u.export_slots)]
    units += [Unit(f"configured {slot}", slot, functools.partial(_configured, ISASLMechanism, target, slot.name))
              for slot, target in overrides.items()]
    return (
        smtp_unit,
        lmtp_unit,
        _default_slot(ITransport, transport, found),
        _default_slot(IAsyncTransport, async_transport, found),
        _default_slot(ITLSUpgrader, tls, found),
        *units,
    )


def default_registry(**config: Any) -> Components:
    """A new registry with the default units linked; change it freely.

    Its ``smtp@`` and ``lmtp@`` look their imports up in it at each call: a provider
    registered in place, ``registry.registerUtility(transport, ITransport)`` (or under
    a named slot: ``registry.registerUtility(transport, ITransport, "tcp")`` reaches
    the unnamed alias of ``"tcp"``), is used from then on, also when ``ISMTP`` is
    invoked through a registry layered over this one.

    Takes the keyword arguments of :func:`default_units`.
    """
    return link(*default_units(**config), name="smtpunit.default")
