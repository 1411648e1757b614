"""Units and linking, on ``zope.interface.registry.Components``.

A :class:`Unit` is Racket's unit: it *exports* one signature (an interface, under
an optional name) and *imports* others. :func:`link` is ``compound-unit``: it puts
units into a fresh registry, and checks, before anything runs, that

* no two units export the same signature under the same name (``registerUtility``
  alone would silently keep the last one),
* every import is exported by a linked unit or by a base registry,
* the units' imports do not go round in a cycle among themselves,
* every provider passes ``verifyObject`` and its signature's invariants.

:func:`invoke` is ``invoke-unit``: it returns the provider of a signature, from a
registry or, given a unit, after linking it over the default registry.

A unit with no imports is a value: its provider is made once and registered as a
utility. A unit with imports is a function of the registry it is invoked through: it
is registered as an adapter of that registry and receives an :class:`Imports` view
of it. So when a host application layers its own registry over smtpunit's
(``Components(bases=(smtpunit_registry,))``) and replaces, say, the transport, the
``ISMTP`` provider invoked through the host's registry uses the host's transport.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Optional

from zope.interface import Invalid
from zope.interface.exceptions import Invalid as VerifyInvalid
from zope.interface.interface import InterfaceClass
from zope.interface.interfaces import IComponents
from zope.interface.registry import Components
from zope.interface.verify import verifyObject

from ..errors import ConflictingExports, ContractViolation, ImportCycle, MissingImport

__all__ = ["ALL", "Slot", "Unit", "Imports", "provide", "link", "resolve", "resolve_all"]


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
    """A provider factory with declared imports and one export.

    :param name: for error messages, e.g. ``"smtp@"``.
    :param exports: the interface (or :class:`Slot`) the unit provides.
    :param factory: with no imports, called with no arguments; with imports, called
        with an :class:`Imports` view of the registry it is invoked through.
    :param imports: the interfaces (or :class:`Slot` objects) the unit needs.
    """

    name: str
    exports: Any
    factory: Callable[..., Any]
    imports: tuple[Any, ...] = ()

    @property
    def export_slot(self) -> Slot:
        """The export as a :class:`Slot`."""
        return _slot(self.exports)

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


def _layers(registry: Components) -> Iterator[Components]:
    """The registry and its bases, nearest first, each once (C3-like, depth-first)."""
    seen: set[int] = set()
    pending = [registry]
    while pending:
        layer = pending.pop(0)
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        yield layer
        pending[0:0] = list(layer.__bases__)


def _registries(layer: Components) -> Any:
    """``layer`` seen untyped: its ``utilities``/``adapters`` registries and its
    ``registered*`` generators are missing from zope.interface's type hints."""
    return layer


def _lookup(registry: Components, slot: Slot) -> Optional[Callable[[], Any]]:
    """A thunk making the provider of ``slot`` as seen through ``registry``, or None.

    The nearest layer that has the slot wins, whether it holds a plain utility
    (``registerUtility``) or a unit with imports (an adapter of the registry).
    """
    for layer in _layers(registry):
        utility = _registries(layer).utilities.registered((), slot.interface, slot.name)
        if utility is not None:
            return lambda: utility
        factory = _registries(layer).adapters.registered((IComponents,), slot.interface, slot.name)
        if factory is not None:
            return lambda: factory(registry)
    return None


def resolve(registry: Components, interface: InterfaceClass, name: str = "") -> Any:
    """The provider of ``interface`` (under ``name``) as seen through ``registry``.

    :raises LookupError: if no layer of the registry has it.
    """
    make = _lookup(registry, Slot(interface, name))
    if make is None:
        raise LookupError(f"no provider for {Slot(interface, name)}")
    return make()


def resolve_all(registry: Components, interface: InterfaceClass) -> dict[str, Any]:
    """Every named provider of ``interface`` seen through ``registry``, by name.

    For each name the nearest layer wins; the unnamed provider is not included.
    """
    found: dict[str, Any] = {}
    for layer in _layers(registry):
        names = {r.name for r in _registries(layer).registeredUtilities() if r.provided is interface}
        names |= {r.name for r in _registries(layer).registeredAdapters()
                  if r.provided is interface and tuple(r.required) == (IComponents,)}
        for name in sorted(names - found.keys() - {""}):
            found[name] = resolve(registry, interface, name)
    return found


def _satisfied(registry: Components, slot: Slot) -> bool:
    if slot.name == ALL:
        return bool(resolve_all(registry, slot.interface))
    return _lookup(registry, slot) is not None


def _verify(unit: Unit, provider: Any) -> None:
    slot = unit.export_slot
    try:
        verifyObject(slot.interface, provider)
        slot.interface.validateInvariants(provider)
    except (VerifyInvalid, Invalid) as exc:
        raise ContractViolation(f"unit {unit.name!r} does not honour {slot}: {exc}") from exc


def link(*units: Unit, bases: Iterable[Components] = (), name: str = "smtpunit") -> Components:
    """Link ``units`` into a new registry layered over ``bases``.

    :raises ConflictingExports: two units export the same slot.
    :raises MissingImport: an import is exported by no unit and no base.
    :raises ImportCycle: the units' imports go round in a cycle among themselves.
    :raises ContractViolation: a provider fails ``verifyObject`` or an invariant.
    """
    _check_no_cycle(units)
    registry = Components(name, bases=tuple(bases))
    exporters: dict[Slot, Unit] = {}
    for unit in units:
        slot = unit.export_slot
        if slot in exporters:
            raise ConflictingExports(
                f"units {exporters[slot].name!r} and {unit.name!r} both export {slot}"
            )
        exporters[slot] = unit
    for unit in units:
        slot = unit.export_slot
        if unit.imports:
            registry.registerAdapter(
                _adapter(unit), (IComponents,), slot.interface, slot.name
            )
        else:
            provider = unit.factory()
            _verify(unit, provider)
            registry.registerUtility(provider, slot.interface, slot.name)
    for unit in units:
        for imported in unit.import_slots:
            if not _satisfied(registry, imported):
                raise MissingImport(
                    f"unit {unit.name!r} imports {imported}, which no linked unit or base exports"
                )
    for unit in units:
        if unit.imports:
            _verify(unit, resolve(registry, unit.export_slot.interface, unit.export_slot.name))
    return registry


def _check_no_cycle(units: Iterable[Unit]) -> None:
    """Raise :class:`ImportCycle`, naming the units, if the imports of ``units`` go
    round among themselves (a unit importing a slot another of them exports; an
    ``ALL`` import, any named export of the signature). A unit may import what it
    replaces: its own export comes from a base."""
    units = list(units)

    def exporters(unit: Unit) -> list[Unit]:
        return [other for other in units if other is not unit
                for imported in unit.import_slots
                if other.export_slot.interface is imported.interface
                and (other.export_slot.name == imported.name
                     or (imported.name == ALL and other.export_slot.name != ""))]

    done: set[int] = set()

    def visit(unit: Unit, path: list[Unit]) -> None:
        if any(step is unit for step in path):
            cycle = [*path[[id(step) for step in path].index(id(unit)):], unit]
            raise ImportCycle("the imports of linked units go round in a cycle: "
                              + " -> ".join(u.name for u in cycle))
        if id(unit) in done:
            return
        for exporter in exporters(unit):
            visit(exporter, [*path, unit])
        done.add(id(unit))

    for unit in units:
        visit(unit, [])


def _adapter(unit: Unit) -> Callable[[Components], Any]:
    def make(registry: Components) -> Any:
        return unit.factory(Imports(registry, unit))

    make.__name__ = f"unit {unit.name}"
    return make
