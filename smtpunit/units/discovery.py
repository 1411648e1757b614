"""Finding providers: entry points, dotted paths, and the problems met on the way.

Five entry-point groups name providers, each entry's name being its slot name:

=============================  =================================================  ===========================
group                          signature                                          smtpunit's own entries
=============================  =================================================  ===========================
``smtpunit.transports``        :class:`~smtpunit.interfaces.ITransport`           ``tcp``, ``smtps``
``smtpunit.async_transports``  :class:`~smtpunit.interfaces.IAsyncTransport`      ``tcp``
``smtpunit.tls``               :class:`~smtpunit.interfaces.ITLSUpgrader`         ``ssl``
``smtpunit.sasl``              :class:`~smtpunit.interfaces.ISASLMechanism`       ``PLAIN``, ``LOGIN``, ...
``smtpunit.schemes``           :class:`~smtpunit.interfaces.IURLScheme`           ``smtp``, ``smtps``, ``lmtp``,
                                                                                  ``smtp+unix``, ``lmtp+unix``,
                                                                                  ``sendmail``, ``console``,
                                                                                  ``file``
=============================  =================================================  ===========================

An entry point refers (``module:attribute``) to a provider, or to a class or
function of no arguments that makes one. smtpunit registers its built-ins through
the same groups. A third-party package adds, say, a SASL mechanism with::

    [options.entry_points]
    smtpunit.sasl =
        X-EXAMPLE = example_package.sasl:ExampleMechanism

An entry point that fails to load, to build or to verify is reported as a
:class:`Problem` with its name and the reason (and logged on the
``smtpunit.units.discovery`` logger); with ``strict=True``, :func:`discover` raises
:class:`~smtpunit.errors.DiscoveryError` instead.
"""

from __future__ import annotations

import functools
import importlib
import logging
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Optional

from zope.interface import Invalid
from zope.interface.interface import InterfaceClass
from zope.interface.verify import verifyObject

from ..errors import DiscoveryError
from ..interfaces import IAsyncTransport, ISASLMechanism, ITLSUpgrader, ITransport, IURLScheme
from .linking import Slot, Unit

__all__ = ["GROUPS", "Problem", "Discovery", "discover", "load_dotted", "make_provider"]

log = logging.getLogger("smtpunit.units.discovery")

GROUPS: dict[str, InterfaceClass] = {
    "smtpunit.transports": ITransport,
    "smtpunit.async_transports": IAsyncTransport,
    "smtpunit.tls": ITLSUpgrader,
    "smtpunit.sasl": ISASLMechanism,
    "smtpunit.schemes": IURLScheme,
}
"""Each entry-point group and the signature its entries provide."""

# What smtpunit's own distribution declares in these groups; used only when its
# metadata is absent (running from a source tree that was never installed).
_BUILTIN_ENTRY_POINTS = {
    "smtpunit.transports": {
        "tcp": "smtpunit.providers.tcp:TCPTransport",
        "smtps": "smtpunit.providers.tls:ImplicitTLSTransport",
    },
    "smtpunit.async_transports": {"tcp": "smtpunit.providers.async_tcp:AsyncTCPTransport"},
    "smtpunit.tls": {"ssl": "smtpunit.providers.tls:SSLContextTLS"},
    "smtpunit.sasl": {
        "PLAIN": "smtpunit.providers.sasl:PlainMechanism",
        "LOGIN": "smtpunit.providers.sasl:LoginMechanism",
        "CRAM-MD5": "smtpunit.providers.sasl:CramMD5Mechanism",
        "XOAUTH2": "smtpunit.providers.sasl:XOAuth2Mechanism",
        "SCRAM-SHA-256": "smtpunit.providers.sasl:ScramSHA256Mechanism",
    },
    "smtpunit.schemes": {
        name: f"smtpunit.units.schemes:{name.replace('+', '_')}"
        for name in ("smtp", "smtps", "lmtp", "smtp+unix", "lmtp+unix", "sendmail", "console", "file")
    },
}


@dataclass(frozen=True)
class Problem:
    """An entry point that could not be used, and why."""

    group: str
    name: str
    value: str
    reason: str

    def __str__(self) -> str:
        return f"{self.group}: {self.name} = {self.value}: {self.reason}"


@dataclass(frozen=True)
class Discovery:
    """What :func:`discover` found: one unit per usable entry point, and the problems."""

    units: tuple[Unit, ...]
    problems: tuple[Problem, ...]

    def names(self, interface: InterfaceClass) -> tuple[str, ...]:
        """The slot names found for ``interface``."""
        return tuple(u.export_slot.name for u in self.units if u.export_slot.interface is interface)


def load_dotted(path: str) -> Any:
    """The object named by ``"package.module:attribute"`` (the attribute may be dotted).

    :raises ImportError: if the module cannot be imported.
    :raises AttributeError: if it has no such attribute.
    :raises ValueError: if ``path`` has no ``:``.
    """
    module_name, colon, attribute = path.partition(":")
    if not colon or not module_name or not attribute:
        raise ValueError(f"a dotted path looks like 'package.module:object', not {path!r}")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    return target


def make_provider(interface: InterfaceClass, target: Any, name: str = "") -> Any:
    """Turn ``target`` into a verified provider of ``interface``.

    ``target`` is a provider, a dotted path to one, or a class or function of no
    arguments that makes one. A SASL mechanism must carry the ``name`` it is
    registered under.

    :raises Exception: whatever loading or building raised; ``zope.interface.Invalid``
        if the result does not honour ``interface``; ``ValueError`` for a name mismatch.
    """
    if isinstance(target, str):
        target = load_dotted(target)
    provider = target if interface.providedBy(target) else target()
    verifyObject(interface, provider)
    interface.validateInvariants(provider)
    if interface is ISASLMechanism and name and provider.name != name:
        raise ValueError(f"the mechanism calls itself {provider.name!r}, not {name!r}")
    return provider


def _entry_points(group: str) -> list[EntryPoint]:
    found = sorted(entry_points(group=group), key=lambda ep: (_distribution(ep) != "smtpunit", _distribution(ep)))
    if not any(_distribution(ep) == "smtpunit" for ep in found):
        found = [EntryPoint(name, value, group) for name, value in _BUILTIN_ENTRY_POINTS[group].items()] + found
    return found


def _distribution(entry_point: EntryPoint) -> str:
    dist = getattr(entry_point, "dist", None)
    return str(dist.metadata["Name"]) if dist is not None else "smtpunit"


def discover(strict: bool = False, groups: Optional[Iterable[str]] = None) -> Discovery:
    """Load every provider declared in the entry-point :data:`GROUPS`.

    When two distributions declare the same name in a group, the first (smtpunit's
    own, then by distribution name) is used and the other reported. What is found
    is remembered for as long as ``sys.path`` stays the same.

    :param strict: raise :class:`~smtpunit.errors.DiscoveryError` on any problem.
    :param groups: look only in these groups.
    """
    return _discover(strict, tuple(groups if groups is not None else GROUPS), tuple(sys.path))


@functools.lru_cache(maxsize=8)
def _discover(strict: bool, groups: tuple[str, ...], path: tuple[str, ...]) -> Discovery:
    units: list[Unit] = []
    problems: list[Problem] = []
    for group in groups:
        interface = GROUPS[group]
        seen: dict[str, str] = {}
        for entry in _entry_points(group):
            if entry.name in seen:
                problems.append(Problem(group, entry.name, entry.value, f"name already provided by {seen[entry.name]}"))
                continue
            try:
                provider = make_provider(interface, entry.value, entry.name)
            except (Exception, Invalid) as exc:  # noqa: BLE001 -- any failure of third-party code is reported
                problems.append(Problem(group, entry.name, entry.value, f"{type(exc).__name__}: {exc}"))
                continue
            seen[entry.name] = entry.value
            units.append(Unit(f"{entry.name} ({entry.value})", Slot(interface, entry.name), _constant(provider)))
    for problem in problems:
        log.warning("skipped provider %s", problem)
    if strict and problems:
        raise DiscoveryError("providers failed to load:\n" + "\n".join(f"  {p}" for p in problems), tuple(problems))
    return Discovery(tuple(units), tuple(problems))


def _constant(provider: Any) -> Any:
    return lambda: provider
