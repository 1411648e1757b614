"""pytest fixtures for code that sends mail with smtpunit.

Installed with smtpunit, the plugin loads itself (the ``pytest11`` entry point
``smtpunit``; disable it with ``-p no:smtpunit``). Every fixture is function-scoped:
no test sees another's registry, outbox or server.

* ``smtp_registry`` -- a fresh :func:`smtpunit.default_registry`, installed as
  :data:`smtpunit.current_registry` for the test and restored after it. Its
  ``smtp@`` is linked into it, so a provider the test registers there
  (``smtp_registry.registerUtility(transport, ITransport)``) carries the sends.
* ``smtp_outbox`` -- an :class:`~smtpunit.testing.outbox.Outbox` linked as the
  ``ISMTP`` (and ``IMailer``) of a registry layered over ``smtp_registry`` and
  installed as the current registry: ``smtpunit.smtp_send_message(...)`` anywhere in
  the code under test lands in the outbox.
* ``smtp_memory_server`` -- a :class:`~smtpunit.testing.memory.MemoryServer`:
  ``smtp@`` and ``lmtp@`` are linked again over ``smtp_registry`` with its
  :class:`~smtpunit.testing.memory.MemoryTransport`, and that registry is installed:
  the real client runs, with no network.
* ``scripted_smtp_server`` -- a factory: ``scripted_smtp_server(script, **options)``
  returns a started :class:`~smtpunit.testing.scripted.ScriptedServer`; each is closed
  after the test, and a script mismatch fails the test (as an error at teardown).
* ``replay_smtp_server`` -- likewise, ``replay_smtp_server(conversation, tls_context=None)``
  returns a started :class:`~smtpunit.testing.replay.ReplayServer`.

``smtp_outbox`` and ``smtp_memory_server`` each install their own registry; a test
uses one of them. It is installed for the whole process, not only the test's context:
a send from any thread, executor or asyncio task, and from a
:class:`~smtpunit.pool.Pool`, a :class:`~smtpunit.Mailer` or a session made before the
test (at import time), reaches the double. While it is, a real SMTP connection (TCP, a Unix socket, asyncio) or a run
of sendmail is refused (:class:`~smtpunit.errors.RealConnectionRefused`) and fails the
test, even if the code under test swallows the error; mark a test
``@pytest.mark.smtpunit_real_connections`` to allow them. Everything is restored
after the test.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from zope.interface.registry import Components

from ..interfaces import ISMTP, IAsyncTransport, IMailer, ITransport
from ..providers import guard
from ..units.builtin import default_registry, lmtp_unit, smtp_unit
from ..units.linking import link, provide
from ..units.lookup import current_registry, installed
from .memory import AsyncMemoryTransport, MemoryServer, MemoryTransport
from .outbox import Outbox
from .replay import ReplayServer
from .scripted import ScriptedServer

__all__ = ["smtp_registry", "smtp_outbox", "smtp_memory_server", "scripted_smtp_server", "replay_smtp_server"]


@pytest.fixture
def smtp_registry() -> Iterator[Components]:
    """A fresh default registry, installed as ``smtpunit.current_registry`` for the test."""
    registry = default_registry()
    with current_registry.parameterize(registry):
        yield registry


@pytest.fixture
def smtp_outbox(request: pytest.FixtureRequest, smtp_registry: Components) -> Iterator[Outbox]:
    """An :class:`~smtpunit.testing.outbox.Outbox` that every module-level send of the
    test goes to."""
    outbox = Outbox()
    registry = link(provide((ISMTP, IMailer), outbox), bases=(smtp_registry,), name="smtp_outbox")
    with _installed_for_the_test(request, registry, "smtp_outbox"):
        yield outbox


@pytest.fixture
def smtp_memory_server(request: pytest.FixtureRequest, smtp_registry: Components) -> Iterator[MemoryServer]:
    """A :class:`~smtpunit.testing.memory.MemoryServer` that every module-level send of
    the test reaches, through the real client, with no network."""
    server = MemoryServer()
    # The units are linked again so that their transports are this registry's: the
    # blocking and the asyncio one, so that no send of the test reaches the network.
    registry = link(smtp_unit, lmtp_unit, provide(ITransport, MemoryTransport(server)),
                    provide(IAsyncTransport, AsyncMemoryTransport(server)), bases=(smtp_registry,),
                    name="smtp_memory_server")
    with _installed_for_the_test(request, registry, "smtp_memory_server"):
        yield server


REAL_CONNECTIONS = "smtpunit_real_connections"
"""The marker that lets a test with a double installed open real SMTP connections."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{REAL_CONNECTIONS}: let a test with smtpunit's doubles installed "
                                       "open real SMTP connections (they fail the test otherwise)")


@contextlib.contextmanager
def _installed_for_the_test(request: pytest.FixtureRequest, registry: Components, fixture: str) -> Iterator[None]:
    """``registry`` current for the test, installed for the whole process (every thread,
    executor, task and Pool), and real connections refused while it is, unless marked."""
    with current_registry.parameterize(registry), installed(registry):
        if request.node.get_closest_marker(REAL_CONNECTIONS):
            yield
            return
        with guard.refusing(f"the {fixture} fixture is installed (mark the test "
                            f"@pytest.mark.{REAL_CONNECTIONS} to allow it)") as attempts:
            yield
        if attempts:
            pytest.fail(f"{len(attempts)} real connection attempt(s) during the test: " + "; ".join(attempts),
                        pytrace=False)


def _servers(factory: Callable[..., ScriptedServer]) -> Iterator[Callable[..., Any]]:
    servers: list[ScriptedServer] = []

    def start(*args: Any, **kwargs: Any) -> Any:
        server = factory(*args, **kwargs)
        servers.append(server)
        return server

    yield start
    errors: list[BaseException] = []
    for server in servers:
        try:
            server.close()
        except BaseException as exc:  # noqa: BLE001 -- close them all, then report
            errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture
def scripted_smtp_server() -> Iterator[Callable[..., ScriptedServer]]:
    """Start :class:`~smtpunit.testing.scripted.ScriptedServer` objects:
    ``scripted_smtp_server(script)`` or ``scripted_smtp_server(scripts=[...], timeout=...)``.
    They are closed after the test; the first script mismatch is raised then."""
    yield from _servers(ScriptedServer)


@pytest.fixture
def replay_smtp_server() -> Iterator[Callable[..., ReplayServer]]:
    """Start :class:`~smtpunit.testing.replay.ReplayServer` objects:
    ``replay_smtp_server(conversation_or_path, tls_context=None)``. They are closed
    after the test; a replay mismatch is raised then."""
    yield from _servers(ReplayServer)
