"""The registries installed for the whole process (test doubles), innermost last.

:func:`smtpunit.units.lookup.installed` is how they are installed; every send, Pool,
Mailer and open session consults :func:`installed_registry`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Optional

from zope.interface.registry import Components

from ..interfaces import ISMTP
from .contract import MailProvider, as_mailer
from .linking import resolve

__all__ = ["installed", "installed_mailer", "installed_registry", "is_installed"]

_installed: list[Components] = []  # innermost last


@contextlib.contextmanager
def installed(registry: Components) -> Iterator[Components]:
    """Install ``registry`` for the whole process for a block: every send in a thread,
    executor or task whose context has no :data:`~smtpunit.units.lookup.current_registry`
    of its own goes through it, and so does every :class:`~smtpunit.pool.Pool`,
    :class:`~smtpunit.Mailer` and session, even one made before. smtpunit's pytest
    plugin installs its test doubles this way."""
    _installed.append(registry)
    try:
        yield registry
    finally:
        _installed.remove(registry)


def installed_registry() -> Optional[Components]:
    """The registry installed for the process (the innermost), if any."""
    innermost = _installed[-1:]  # one read: another thread may be uninstalling it
    return innermost[0] if innermost else None


def installed_mailer(unless: Optional[Components] = None) -> Optional[MailProvider]:
    """The mail provider of the registry installed for the process, if one is (and is
    not ``unless``: the one a session opened under, say)."""
    registry = installed_registry()
    return None if registry is None or registry is unless else as_mailer(resolve(registry, ISMTP))


def is_installed(registry: Components) -> bool:
    """True if ``registry`` is installed for the process now."""
    return any(registry is double for double in _installed[:])
