"""Which provider serves a call: Racket's ``invoke-unit``, and the current registry
the module functions, :class:`~smtpunit.Pool` and :mod:`smtpunit.aio` invoke from."""

from __future__ import annotations

import functools
from typing import Any, Optional, Union

from zope.interface.interface import InterfaceClass
from zope.interface.registry import Components

from ..core.parameters import Parameter
from ..errors import MissingImport
from ..interfaces import ISMTP
from .builtin import default_registry
from .contract import MailProvider, as_mailer
from .installation import installed, installed_mailer, installed_registry, is_installed
from .linking import Unit, link, resolve

__all__ = ["invoke", "current_registry", "current_unit", "current_mailer", "installed", "installed_mailer",
           "installed_registry", "registry_in_use", "configuration_registry", "configured_mailer"]


def invoke(
    registry: Union[Components, Unit], interface: Optional[InterfaceClass] = None, name: str = ""
) -> Any:
    """Racket's ``invoke-unit``: the provider of ``interface`` (default ``ISMTP``)
    under ``name``, as seen through ``registry`` -- what zope.interface's
    ``registry.getUtility(interface, name)`` returns (an
    :class:`~smtpunit.units.linking.Alias` followed to its target), whichever way the
    registry is layered. A unit with imports got them from the registry it was linked
    into, which may be a base of ``registry``.

    ``registry`` may also be a :class:`Unit`, as in Racket's ``(invoke-unit smtp@)``:
    the unit is linked over a new default registry
    (:func:`smtpunit.units.builtin.default_registry`), whose providers fill its imports, and
    its export is returned (``interface`` and ``name`` default to the unit's first
    export). So ``invoke(smtp_unit)`` is the SMTP client with the default transports,
    TLS and SASL mechanisms.

    :raises TypeError: ``registry`` is neither a registry nor a unit.
    :raises MissingImport: a unit imports a signature the default registry does not
        export: link it with a provider of that signature first, and invoke the result.
    :raises LookupError: the registry has no provider of ``interface``.
    """
    if isinstance(registry, Unit):
        slot = registry.export_slot
        registry = _link_over_defaults(registry)
        if interface is None:
            interface, name = slot.interface, name or slot.name
    elif not isinstance(registry, Components):
        raise TypeError(
            "invoke takes a registry (a zope.interface.registry.Components, as link() and "
            f"default_registry() return) or a Unit, not {registry!r}"
        )
    if interface is None:
        interface = ISMTP
    return resolve(registry, interface, name)


def _link_over_defaults(unit: Unit) -> Components:
    """``unit`` linked into a registry layered over a new default registry."""
    try:
        return link(unit, bases=(default_registry(),), name=f"invoke {unit.name}")
    except MissingImport as exc:
        raise MissingImport(
            f"{exc}; to invoke unit {unit.name!r}, link it with the units it imports first "
            "and invoke the registry: invoke(link(unit, ..., bases=(default_registry(),)))"
        ) from None


current_registry: Parameter[Optional[Components]] = Parameter("current_registry", None)
"""The registry the module-level functions invoke ``ISMTP`` from; ``None`` (the
default) means a default registry made once. Parameterize it to route every send in
a block -- a test, a request -- through other units::

    with smtpunit.current_registry.parameterize(my_registry):
        smtpunit.smtp_send_message(...)   # uses my_registry's ISMTP
"""


@functools.cache
def _default_registry() -> Components:
    return default_registry()


@functools.cache
def _default_unit() -> Any:
    return invoke(_default_registry())


def registry_in_use() -> Components:
    """The registry a send made now would use: the :data:`current_registry` of this
    context, else the one :func:`installed` for the process, else a default registry
    made once."""
    registry = current_registry()
    if registry is None:
        registry = installed_registry()
    return _default_registry() if registry is None else registry


def configuration_registry() -> Components:
    """The registry an object configured now (a :class:`~smtpunit.Pool`, a
    :class:`~smtpunit.Mailer`) takes its providers from: the one in use, unless that is
    a registry :func:`installed` for the process -- a test's double, which gets the
    object's sends anyway while installed and must not keep them after -- and then
    the default one."""
    registry = registry_in_use()
    return _default_registry() if is_installed(registry) else registry


def configured_mailer() -> MailProvider:
    """The mail provider of :func:`configuration_registry`."""
    return as_mailer(invoke(configuration_registry()))


def current_unit() -> Any:
    """The ``ISMTP`` provider of the current registry: the one parameterized in this
    context, else the one :func:`installed` for the process, else the default."""
    registry = current_registry()
    if registry is None:
        registry = installed_registry()
    return _default_unit() if registry is None else invoke(registry)


def current_mailer() -> MailProvider:
    """The current registry's ``ISMTP`` provider as a mail provider
    (:func:`~smtpunit.units.contract.as_mailer`): every verb works through it."""
    return as_mailer(current_unit())
