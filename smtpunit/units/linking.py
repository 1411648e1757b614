"""Units and linking, on ``zope.interface.registry.Components``.

A :class:`Unit` is Racket's unit: it *exports* one or more signatures (each an
interface, under an optional name) and *imports* others. :func:`link` is
``compound-unit``: it puts units into a fresh registry, and checks, before any unit
with imports is made, that

* no two units export the same signature under the same name (``registerUtility``
  alone would silently keep the last one),
* every import is exported by a linked unit or by a base registry,
* the units' imports do not go round in a cycle among themselves,
* every provider passes ``verifyObject`` and the invariants of each signature it exports.

Every unit is registered one way: :func:`link` makes its provider and registers it
with ``registerUtility`` under each slot it exports. Every lookup -- :func:`resolve`,
:func:`resolve_all`, :class:`Imports`, :func:`~smtpunit.units.lookup.invoke` -- is
zope.interface's own (``queryUtility``, ``getUtilitiesFor``), so it agrees with
``registry.getUtility`` however registries are layered, diamonds included.

Linking is static, as in Racket: a unit's imports come from the registry it was
linked into, not from a registry it is later looked up through. They are looked up
there at each call, though, so a provider registered in place on that registry or on
one of its bases (``registry.registerUtility(transport, ITransport)``) is used from
then on. An import of a slot the unit exports itself (a wrapper of what a base
exports) is looked up in the registry's bases. To give a unit of a base registry
other imports, link it again over that registry together with them::

    link(smtp_unit, provide(ITransport, my_transport), bases=(default_registry(),))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Optional, Union

from zope.interface import Invalid, directlyProvides
from zope.interface.exceptions import Invalid as VerifyInvalid
from zope.interface.interface import InterfaceClass
from zope.interface.registry import Components
from zope.interface.verify import verifyObject

from ..errors import ConflictingExports, ContractViolation, ImportCycle, MissingImport

__all__ = ["ALL", "Slot", "Unit", "Imports", "Alias", "provide", "alias", "link", "resolve", "resolve_all",
           "unaliased"]


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


def _serves(export: Slot, imported: Slot) -> bool:
    """Whether a provider registered under ``export`` is found by a lookup of
    ``imported`` in the same registry (zope.interface finds providers of extending
    interfaces too)."""
    if not export.interface.isOrExtends(imported.interface):
        return False
    return export.name == imported.name or (imported.name == ALL and export.name != "")


@dataclass(frozen=True)
class Unit:
    """A provider factory with declared imports and one or more exports.

    :param name: for error messages, e.g. ``"smtp@"``.
    :param exports: the interface (or :class:`Slot`) the unit provides, or a tuple of
        them: its one provider is registered under each, e.g. ``(ISMTP, IMailer)``.
    :param factory: with no imports, called with no arguments; with imports, called
        with an :class:`Imports` view of the registry the unit is linked into.
    :param imports: the interfaces (or :class:`Slot` objects) the unit needs.
    :raises TypeError: an export is neither an interface nor a :class:`Slot`.
    :raises ValueError: no export, an export named :data:`ALL`, or one given twice.
    """

    name: str
    exports: Any
    factory: Callable[..., Any]
    imports: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        slots = self.export_slots
        for slot in slots:
            if not isinstance(slot.interface, InterfaceClass):
                raise TypeError(f"unit {self.name!r} exports {slot.interface!r}, which is no interface")
        if not slots or any(slot.name == ALL for slot in slots) or len(set(slots)) != len(slots):
            raise ValueError(f"unit {self.name!r} must export distinct slots, none named {ALL!r}: {self.exports!r}")

    @property
    def export_slots(self) -> tuple[Slot, ...]:
        """The exports as :class:`Slot` objects, in the order given."""
        exports = self.exports if isinstance(self.exports, tuple) else (self.exports,)
        return tuple(_slot(e) for e in exports)

    @property
    def export_slot(self) -> Slot:
        """The first export as a :class:`Slot` (a unit's only one, usually): what
        ``invoke(unit)`` returns."""
        return self.export_slots[0]

    @property
    def import_slots(self) -> tuple[Slot, ...]:
        """The imports as :class:`Slot` objects."""
        return tuple(_slot(i) for i in self.imports)


def _own(exports: tuple[Slot, ...], imported: Slot) -> bool:
    """Whether a unit exporting ``exports`` exports the slot it imports as ``imported``
    itself: such an import comes from the bases of the registry the unit is linked into."""
    return any(_serves(export, imported) for export in exports)


def provide(interface: Union[InterfaceClass, tuple[InterfaceClass, ...]], provider: Any, name: str = "") -> Unit:
    """A unit with no imports that exports an existing ``provider``, under ``name``:
    of ``interface``, or of each interface of a tuple (``provide((ISMTP, IMailer), outbox)``)."""
    interfaces = interface if isinstance(interface, tuple) else (interface,)
    exports = tuple(Slot(i, name) for i in interfaces)
    return Unit(getattr(provider, "__name__", type(provider).__name__),
                exports if len(exports) > 1 else exports[0], lambda: provider)


_MISSING = object()


def _query(registry: Components, slot: Slot) -> Any:
    """zope.interface's lookup of ``slot`` through ``registry``, or ``_MISSING``."""
    return _untyped(registry).queryUtility(slot.interface, slot.name, _MISSING)


def _untyped(registry: Components) -> Any:
    """``registry`` seen untyped: zope.interface's hints take interfaces for classes."""
    return registry


class Imports:
    """What a unit sees of the registry it was linked into: its imports only, each
    looked up at the call (never kept), so an in-place change of the registry or of
    its bases is seen at once."""

    def __init__(self, registry: Components, unit: Unit) -> None:
        self._registry = registry
        self._unit = unit
        self._allowed = frozenset(unit.import_slots)
        self._exports = unit.export_slots
        # Each imported slot of one provider, by (interface, name): whether it comes
        # from the bases (the unit exports it itself). Known at linking, used at each call.
        self._from_bases = {(slot.interface, slot.name): _own(self._exports, slot)
                            for slot in self._allowed if slot.name != ALL}
        self._below: Optional[Components] = None

    @property
    def registry(self) -> Components:
        """The registry the unit was linked into."""
        return self._registry

    def __call__(self, interface: InterfaceClass, name: str = "") -> Any:
        """The provider of an imported signature, now (an :class:`Alias` followed)."""
        return unaliased(self._held(interface, name))

    def all(self, interface: InterfaceClass) -> dict[str, Any]:
        """Every named provider of an interface imported as ``Slot(interface, ALL)``,
        by name; a name the unit exports itself is the bases' provider of it."""
        self._checked(Slot(interface, ALL))
        found = {name: provider for name, provider in resolve_all(self._registry, interface).items()
                 if not _own(self._exports, Slot(interface, name))}
        if _own(self._exports, Slot(interface, ALL)):
            found.update((name, provider) for name, provider in resolve_all(self._bases(), interface).items()
                         if _own(self._exports, Slot(interface, name)))
        return dict(sorted(found.items(), key=lambda item: item[0]))

    def available(self, slot: Slot) -> bool:
        """Whether an imported slot has a provider now (for :data:`ALL`: at least one)."""
        self._checked(slot)
        if slot.name == ALL:
            return bool(self.all(slot.interface))
        return _query(self._source(slot), slot) is not _MISSING

    def _held(self, interface: InterfaceClass, name: str) -> Any:
        """What the registry holds for the imported slot ``(interface, name)`` now (an
        alias not followed)."""
        from_bases = self._from_bases.get((interface, name))
        if from_bases is None:
            self._one(Slot(interface, name))  # raises: not imported, or every provider asked for
        registry: Any = self._bases() if from_bases else self._registry
        found = registry.queryUtility(interface, name, _MISSING)
        if found is _MISSING:
            raise LookupError(f"no provider for {Slot(interface, name)}")
        return found

    def _checked(self, slot: Slot) -> Slot:
        if slot not in self._allowed:
            raise LookupError(f"unit {self._unit.name!r} does not import {slot}")
        return slot

    def _one(self, slot: Slot) -> Slot:
        if slot.name == ALL:
            raise LookupError(f"{slot} names every provider: ask imports.all({slot.interface.__name__})")
        return self._checked(slot)

    def _source(self, slot: Slot) -> Components:
        return self._bases() if _own(self._exports, slot) else self._registry

    def _bases(self) -> Components:
        """A registry with nothing of its own over the linked registry's bases: zope's
        lookup through it is the linked registry's lookup without its own layer."""
        bases = self._registry.__bases__
        if self._below is None or self._below.__bases__ != bases:
            self._below = Components(f"{self._registry.__name__} (bases)", bases=bases)
        return self._below


class Alias:
    """A provider standing for the provider of another slot of the same signature.

    It provides the signature, and every attribute read on it is read at that moment
    on the provider the other slot holds in the registry the alias was linked into
    (through :class:`Imports`): so ``registry.registerUtility(transport, ITransport,
    "tcp")`` changes what an alias of ``ITransport['tcp']`` does. :func:`resolve`,
    :func:`resolve_all` and :class:`Imports` return the provider an alias stands for
    (:func:`unaliased`); ``registry.getUtility`` returns the alias itself. Made by the
    units :func:`alias` returns.
    """

    def __init__(self, imports: Imports, target: Slot) -> None:
        self._alias_imports = imports
        self._alias_target = target
        directlyProvides(self, target.interface)

    def __getattr__(self, attribute: str) -> Any:
        # Dunders stay the alias's own (zope's declarations, copy, pickle), and so
        # does its state, which may be missing while it is being built.
        if attribute.startswith("__") or attribute.startswith("_alias_"):
            raise AttributeError(attribute)
        try:
            target = unaliased(self)
        except LookupError as exc:  # hasattr() and getattr(..., default) must still work
            raise AttributeError(f"{attribute}: {exc}") from exc
        return getattr(target, attribute)

    def __setattr__(self, attribute: str, value: Any) -> None:
        # A setting is the target's, as every reading is: an alias keeps only its own state.
        if attribute.startswith("_alias_") or attribute.startswith("__"):
            object.__setattr__(self, attribute, value)
        else:
            setattr(unaliased(self), attribute, value)

    def _alias_step(self) -> Any:
        """What the slot this alias stands for holds now (maybe another alias)."""
        target = self._alias_target
        return self._alias_imports._held(target.interface, target.name)

    def __repr__(self) -> str:
        return f"<Alias of {self._alias_target} in {self._alias_imports.registry!r}>"


def alias(name: str, export: Any, target: str) -> Unit:
    """A unit named ``name`` exporting ``export`` (an interface or a :class:`Slot`)
    whose provider is an :class:`Alias` of the slot named ``target`` of the same
    interface: ``alias("itransport@", ITransport, "tcp")``."""
    exported = _slot(export)
    slot = Slot(exported.interface, target)
    return Unit(name, exported, lambda imports: Alias(imports, slot), imports=(slot,))


def unaliased(provider: Any) -> Any:
    """The provider ``provider`` stands for: an :class:`Alias`'s target, now; any
    other provider itself.

    :raises LookupError: an alias stands for an empty slot, or aliases go round.
    """
    seen: list[Alias] = []
    while type(provider) is Alias:
        if provider in seen:  # by identity: an alias has no __eq__ of its own
            raise LookupError("aliases go round in a cycle: " + " -> ".join(str(a._alias_target) for a in seen))
        seen.append(provider)
        provider = provider._alias_step()
    return provider


def resolve(registry: Components, interface: InterfaceClass, name: str = "") -> Any:
    """The provider of ``interface`` (under ``name``) as seen through ``registry``:
    zope.interface's ``queryUtility`` (the registry, then its bases in zope's
    resolution order), an :class:`Alias` followed to its target.

    :raises LookupError: if no layer of the registry has it.
    """
    found = _query(registry, Slot(interface, name))
    if found is _MISSING:
        raise LookupError(f"no provider for {Slot(interface, name)}")
    return unaliased(found)


def resolve_all(registry: Components, interface: InterfaceClass) -> dict[str, Any]:
    """Every named provider of ``interface`` seen through ``registry``, by name:
    zope.interface's ``getUtilitiesFor``, aliases followed; the unnamed provider is
    not included."""
    found = sorted(_untyped(registry).getUtilitiesFor(interface), key=lambda item: item[0])
    return {name: unaliased(provider) for name, provider in found if name}


def _verify(unit: Unit, provider: Any) -> None:
    for slot in unit.export_slots:
        try:
            verifyObject(slot.interface, provider)
            slot.interface.validateInvariants(provider)
        except (VerifyInvalid, Invalid) as exc:
            raise ContractViolation(f"unit {unit.name!r} does not honour {slot}: {exc}") from exc


def link(*units: Unit, bases: Iterable[Components] = (), name: str = "smtpunit") -> Components:
    """Link ``units`` into a new registry layered over ``bases``: Racket's
    ``compound-unit``. Each unit's provider is made now and registered as a utility
    under each slot it exports; a unit with imports gets an :class:`Imports` view of
    the new registry. The result is a registry like any other: a base of a further
    ``link``, or of a host application's registry.

    :raises ConflictingExports: two units export the same slot.
    :raises MissingImport: an import is exported by no unit and no base.
    :raises ImportCycle: the units' imports go round in a cycle among themselves.
    :raises ContractViolation: a provider fails ``verifyObject`` or an invariant.
    """
    ordered = _in_import_order(units)
    _check_exports(units)
    registry = Components(name, bases=tuple(bases))
    views = {id(unit): Imports(registry, unit) for unit in units if unit.imports}
    for unit in ordered:
        if not unit.imports:
            _register(registry, unit, unit.factory())
    for unit in units:  # every import is checked before any factory that may use one runs
        for imported in unit.import_slots:
            if not (views[id(unit)].available(imported) or _exporters_of(imported, unit, units)):
                raise MissingImport(
                    f"unit {unit.name!r} imports {imported}, which no linked unit or base exports"
                )
    for unit in ordered:
        if unit.imports:
            _register(registry, unit, unit.factory(views[id(unit)]))
    return registry


def _check_exports(units: Iterable[Unit]) -> None:
    exporters: dict[Slot, Unit] = {}
    for unit in units:
        for slot in unit.export_slots:
            if slot in exporters:
                raise ConflictingExports(
                    f"units {exporters[slot].name!r} and {unit.name!r} both export {slot}"
                )
            exporters[slot] = unit


def _register(registry: Components, unit: Unit, provider: Any) -> None:
    _verify(unit, provider)
    for slot in unit.export_slots:
        registry.registerUtility(provider, slot.interface, slot.name, event=False)  # a host's subscribers: not ours


def _exporters_of(imported: Slot, unit: Unit, units: Iterable[Unit]) -> list[Unit]:
    """The units other than ``unit`` that ``unit``'s import ``imported`` comes from:
    none if ``unit`` exports that slot itself (it comes from the bases)."""
    if _own(unit.export_slots, imported):
        return []
    return [other for other in units if other is not unit
            and any(_serves(export, imported) for export in other.export_slots)]


def _in_import_order(units: Iterable[Unit]) -> list[Unit]:
    """``units``, each after the units it imports from (so a factory may use its
    imports at once).

    :raises ImportCycle: naming the units, if their imports go round among themselves
        (a unit importing a slot another of them exports; an ``ALL`` import, any
        named export of the signature). A unit may import what it replaces: its own
        export comes from a base.
    """
    units = list(units)
    ordered: list[Unit] = []
    done: set[int] = set()

    def visit(unit: Unit, path: list[Unit]) -> None:
        if any(step is unit for step in path):
            cycle = [*path[[id(step) for step in path].index(id(unit)):], unit]
            raise ImportCycle("the imports of linked units go round in a cycle: "
                              + " -> ".join(u.name for u in cycle))
        if id(unit) in done:
            return
        for imported in unit.import_slots:
            for exporter in _exporters_of(imported, unit, units):
                visit(exporter, [*path, unit])
        done.add(id(unit))
        ordered.append(unit)

    for unit in units:
        visit(unit, [])
    return ordered
