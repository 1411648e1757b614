"""Units and linking, on ``zope.interface.registry.Components``.

A :class:`Unit` is Racket's unit: it *exports* one or more signatures (each an
interface, under an optional name) and *imports* others. :func:`link` is
``compound-unit``: it puts units into a fresh registry, and checks, before anything
runs, that

* no two units export the same signature under the same name (``registerUtility``
  alone would silently keep the last one),
* every import is exported by a linked unit or by a base registry,
* the units' imports form no cycle among themselves,
* every provider passes ``verifyObject`` and its signature's invariants.

Every unit is registered one way: its provider is a utility, under each slot it
exports, so ``registry.getUtility(ISMTP)`` works and every lookup -- zope's own and
:func:`invoke` -- follows zope.interface's resolution order over the bases, diamonds
included. A unit with imports receives an :class:`Imports` view of the registry it
was linked into. :func:`invoke` (and an :class:`Imports` lookup) through *another*
registry layered over that one -- a host application's, which replaces, say, the
transport -- gets the unit made anew over that registry, so it uses the host's
providers.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Optional, Union

from zope.interface import Invalid
from zope.interface.exceptions import Invalid as VerifyInvalid
from zope.interface.interface import InterfaceClass
from zope.interface.registry import Components
from zope.interface.verify import verifyObject

from .errors import ConflictingExports, ContractViolation, ImportCycle, MissingImport

__all__ = ["ALL", "Slot", "Unit", "Imports", "provide", "link", "invoke", "resolve", "resolve_all"]


ALL = "*"
"""The name of a :class:`Slot` that imports every named provider of a signature."""


@dataclass(frozen=True)
class Slot:
    """A place in a registry: a signature and a name (``""`` for the unnamed one).

    As an import, the name :data:`ALL` (``"*"``) asks for every named provider of the
    signature (at least one must exist), e.g. all SASL mechanisms.
    """

    interface: InterfaceClass
    name: str = ""

    def __str__(self) -> str:
        return self.interface.__name__ + (f"[{self.name!r}]" if self.name else "")


def _slot(value: Any) -> Slot:
    return value if isinstance(value, Slot) else Slot(value)


@dataclass(frozen=True)
class Unit:
    """A provider factory with declared imports and one or more exports.

    :param name: for error messages, e.g. ``"smtp@"``.
    :param exports: the interface (or :class:`Slot`) the unit provides, or a tuple of
        them: one provider serves each.
    :param factory: with no imports, called with no arguments; with imports, called
        with an :class:`Imports` view of the registry it is linked into (or invoked
        through).
    :param imports: the interfaces (or :class:`Slot` objects) the unit needs.
    """

    name: str
    exports: Any
    factory: Callable[..., Any]
    imports: tuple[Any, ...] = ()

    @property
    def export_slots(self) -> tuple[Slot, ...]:
        """The exports as :class:`Slot` objects."""
        exports = self.exports if isinstance(self.exports, tuple) else (self.exports,)
        return tuple(_slot(e) for e in exports)

    @property
    def export_slot(self) -> Slot:
        """The (first) export as a :class:`Slot`."""
        return self.export_slots[0]

    @property
    def import_slots(self) -> tuple[Slot, ...]:
        """The imports as :class:`Slot` objects."""
        return tuple(_slot(i) for i in self.imports)


def provide(interface: InterfaceClass, provider: Any, name: str = "") -> Unit:
    """A unit with no imports that exports an existing ``provider``."""
    return Unit(getattr(provider, "__name__", type(provider).__name__), Slot(interface, name), lambda: provider)


class Imports:
    """What a unit sees of the registry it is invoked through: its imports only."""

    def __init__(self, registry: Components, unit: Unit) -> None:
        self._registry = registry
        self._unit = unit
        self._allowed = frozenset(unit.import_slots)

    @property
    def registry(self) -> Components:
        """The registry the unit was invoked through."""
        return self._registry

    def __call__(self, interface: InterfaceClass, name: str = "") -> Any:
        """The provider of an imported signature."""
        slot = Slot(interface, name)
        if slot not in self._allowed:
            raise LookupError(f"unit {self._unit.name!r} does not import {slot}")
        return resolve(self._registry, interface, name)

    def all(self, interface: InterfaceClass) -> dict[str, Any]:
        """Every named provider of an interface imported as ``Slot(interface, ALL)``."""
        if Slot(interface, ALL) not in self._allowed:
            raise LookupError(f"unit {self._unit.name!r} does not import {Slot(interface, ALL)}")
        return resolve_all(self._registry, interface)


_UNITS: weakref.WeakKeyDictionary[Any, dict[Slot, Unit]] = weakref.WeakKeyDictionary()
"""For each registry's utility layer: the units with imports linked into it, by slot."""


def _provider(registry: Components, slot: Slot, found: Any) -> Any:
    """``found``, the provider zope's lookup gives for ``slot`` through ``registry``,
    made anew over ``registry`` if a unit with imports made it over another layer."""
    for layer in _untyped(registry).utilities.ro:  # zope.interface's resolution order
        if layer.registered((), slot.interface, slot.name) is not None:  # the layer the lookup took
            unit = _UNITS.get(layer, {}).get(slot)
            if unit is None or layer is _untyped(registry).utilities:
                return found
            return unit.factory(Imports(registry, unit))
    return found  # pragma: no cover -- found came from one of these layers


def resolve(registry: Components, interface: InterfaceClass, name: str = "") -> Any:
    """The provider of ``interface`` (under ``name``) as seen through ``registry``
    (zope.interface's lookup: the registry, then its bases in resolution order).

    :raises LookupError: if no layer of the registry has it.
    """
    found = _untyped(registry).queryUtility(interface, name, _MISSING)
    if found is _MISSING:
        raise LookupError(f"no provider for {Slot(interface, name)}")
    return _provider(registry, Slot(interface, name), found)


def resolve_all(registry: Components, interface: InterfaceClass) -> dict[str, Any]:
    """Every named provider of ``interface`` seen through ``registry``, by name.

    For each name the registry's lookup decides; the unnamed provider is not included.
    """
    return {name: _provider(registry, Slot(interface, name), found)
            for name, found in sorted(_untyped(registry).getUtilitiesFor(interface)) if name}


_MISSING = object()


def _untyped(registry: Components) -> Any:
    """``registry`` seen untyped: zope.interface's hints take interfaces for classes."""
    return registry


def _satisfied(registry: Components, slot: Slot) -> bool:
    if slot.name == ALL:
        return any(name for name, _ in _untyped(registry).getUtilitiesFor(slot.interface))
    return _untyped(registry).queryUtility(slot.interface, slot.name, _MISSING) is not _MISSING


def _verify(unit: Unit, provider: Any) -> None:
    for slot in unit.export_slots:
        try:
            verifyObject(slot.interface, provider)
            slot.interface.validateInvariants(provider)
        except (VerifyInvalid, Invalid) as exc:
            raise ContractViolation(f"unit {unit.name!r} does not honour {slot}: {exc}") from exc


def _in_dependency_order(units: Iterable[Unit]) -> list[Unit]:
    """``units``, each after the linked units it imports from.

    :raises ImportCycle: naming the units whose imports go round in a cycle.
    """
    units = list(units)

    def exporters(unit: Unit) -> list[Unit]:
        return [other for other in units for imported in unit.import_slots for slot in other.export_slots
                if other is not unit and slot.interface is imported.interface
                and (imported.name == ALL or imported.name == slot.name)]

    ordered: list[Unit] = []
    state: dict[int, str] = {}

    def visit(unit: Unit, path: list[Unit]) -> None:
        if state.get(id(unit)) == "done":
            return
        if state.get(id(unit)) == "visiting":
            cycle = path[path.index(unit):] + [unit]
            raise ImportCycle("the imports of linked units go round in a cycle: "
                              + " -> ".join(u.name for u in cycle))
        state[id(unit)] = "visiting"
        for exporter in exporters(unit):
            visit(exporter, [*path, unit])
        state[id(unit)] = "done"
        ordered.append(unit)

    for unit in units:
        visit(unit, [])
    return ordered


def link(*units: Unit, bases: Iterable[Components] = (), name: str = "smtpunit") -> Components:
    """Link ``units`` into a new registry layered over ``bases``: Racket's
    ``compound-unit``. The result is a registry like any other, so it may serve as a
    base of a further link (a compound unit linked into a larger one).

    :raises ConflictingExports: two units export the same slot.
    :raises MissingImport: an import is exported by no unit and no base.
    :raises ImportCycle: the units' imports go round in a cycle.
    :raises ContractViolation: a provider fails ``verifyObject`` or an invariant.
    """
    registry = Components(name, bases=tuple(bases))
    exporters: dict[Slot, Unit] = {}
    for unit in units:
        for slot in unit.export_slots:
            if slot in exporters:
                raise ConflictingExports(
                    f"units {exporters[slot].name!r} and {unit.name!r} both export {slot}"
                )
            exporters[slot] = unit
    ordered = _in_dependency_order(units)
    imported = [unit for unit in ordered if unit.imports]
    for unit in ordered:
        if not unit.imports:
            _register(registry, unit, unit.factory())
    for unit in imported:  # every import is checked before any factory that may use one runs
        for slot in unit.import_slots:
            if not (_satisfied(registry, slot) or _exported_by(imported, slot)):
                raise MissingImport(
                    f"unit {unit.name!r} imports {slot}, which no linked unit or base exports"
                )
    units_here = _UNITS.setdefault(_untyped(registry).utilities, {})
    for unit in imported:
        units_here.update(dict.fromkeys(unit.export_slots, unit))
        _register(registry, unit, unit.factory(Imports(registry, unit)))
    return registry


def _exported_by(units: Iterable[Unit], slot: Slot) -> bool:
    return any(s.interface is slot.interface and (slot.name in (ALL, s.name)) for u in units for s in u.export_slots)


def _register(registry: Components, unit: Unit, provider: Any) -> None:
    _verify(unit, provider)
    for slot in unit.export_slots:
        registry.registerUtility(provider, slot.interface, slot.name)


def invoke(
    registry: Union[Components, Unit], interface: Optional[InterfaceClass] = None, name: str = ""
) -> Any:
    """Racket's ``invoke-unit``: the provider of ``interface`` (default ``ISMTP``)
    under ``name``, as seen through ``registry``.

    ``registry`` may also be a :class:`Unit`, as in Racket's ``(invoke-unit smtp@)``:
    the unit is linked over a new default registry
    (:func:`smtpunit.units.default_registry`), whose providers fill its imports, and
    its export is returned (``interface`` and ``name`` default to the unit's export).
    So ``invoke(smtp_unit)`` is the SMTP client with the default transports, TLS and
    SASL mechanisms.

    :raises TypeError: ``registry`` is neither a registry nor a unit.
    :raises MissingImport: a unit imports a signature the default registry does not
        export: link it with a provider of that signature first, and invoke the result.
    :raises LookupError: the registry has no provider of ``interface``.
    """
    if isinstance(registry, Unit):
        slot = registry.export_slot
        registry = _link_over_defaults(registry)
        if interface is None:
            interface, name = slot.interface, slot.name
    elif not isinstance(registry, Components):
        raise TypeError(
            "invoke takes a registry (a zope.interface.registry.Components, as link() and "
            f"default_registry() return) or a Unit, not {registry!r}"
        )
    if interface is None:
        from .interfaces import ISMTP

        interface = ISMTP
    return resolve(registry, interface, name)


def _link_over_defaults(unit: Unit) -> Components:
    """``unit`` linked into a registry layered over a new default registry."""
    from .units import default_registry

    try:
        return link(unit, bases=(default_registry(),), name=f"invoke {unit.name}")
    except MissingImport as exc:
        raise MissingImport(
            f"{exc}; to invoke unit {unit.name!r}, link it with the units it imports first "
            "and invoke the registry: invoke(link(unit, ..., bases=(default_registry(),)))"
        ) from None
