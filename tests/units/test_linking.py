"""Units, linking and invoking: every seam swappable through the registry."""

from __future__ import annotations

import pytest
from zope.interface import implementer
from zope.interface.registry import Components
from zope.interface.verify import verifyObject

import smtpunit
from smtpunit import ISMTP, Unit, errors, invoke, link, provide
from smtpunit.interfaces import IAsyncTransport, IConnection, ISASLMechanism, ITLSUpgrader, ITransport
from smtpunit.providers import (
    CallableTLS,
    ImplicitTLSTransport,
    PlainMechanism,
    SocketConnection,
    SSLContextTLS,
    TCPTransport,
)
from smtpunit.providers.async_tcp import AsyncTCPTransport
from smtpunit.testing import (
    Expect,
    ExpectData,
    MemoryServer,
    MemoryTransport,
    Outbox,
    Recorder,
    Reply,
    ScriptedServer,
    accept_envelope,
    standard_session,
)
from smtpunit.units.linking import Slot, resolve

HEADER = "Subject: registry\r\n\r\n"


def memory_registry(server: MemoryServer, *, bases=None):
    """smtp@ linked with an in-memory transport instead of TCP."""
    units = [smtpunit.smtp_unit, provide(ITransport, MemoryTransport(server)),
             provide(IAsyncTransport, AsyncTCPTransport()),
             Unit("tls@", ITLSUpgrader, SSLContextTLS), Unit("plain@", Slot(ISASLMechanism, "PLAIN"), PlainMechanism)]
    return link(*units)


def test_the_smtp_module_is_the_default_unit():
    assert verifyObject(ISMTP, smtpunit.smtp)
    assert smtpunit.ISMTP is smtpunit.interfaces.ISMTP


@pytest.mark.parametrize(
    "interface, provider",
    [
        (ISMTP, invoke(smtpunit.default_registry())),
        (ISMTP, Outbox()),
        (ITransport, TCPTransport()),
        (ITransport, ImplicitTLSTransport()),
        (ITransport, MemoryTransport()),
        (ITransport, Recorder().transport(TCPTransport())),
        (ITLSUpgrader, SSLContextTLS()),
        (ITLSUpgrader, CallableTLS(lambda sock, server_hostname: sock)),
        (ITLSUpgrader, Recorder().tls(SSLContextTLS())),
        (ISASLMechanism, PlainMechanism()),
        (IConnection, MemoryServer().open("memory.invalid")),
        (IConnection, Recorder().transport(MemoryTransport()).connect("h", 25, 1.0)),
    ],
)
def test_every_provider_and_double_verifies(interface, provider):
    assert verifyObject(interface, provider)
    interface.validateInvariants(provider)


def test_socket_connection_verifies():
    import socket

    left, right = socket.socketpair()
    with left, right:
        assert verifyObject(IConnection, SocketConnection(left, "localhost"))


def test_default_registry_is_fresh_each_time():
    first, second = smtpunit.default_registry(), smtpunit.default_registry()
    assert first is not second
    first.registerUtility(MemoryTransport(), ITransport)
    assert isinstance(resolve(second, ITransport), TCPTransport)


def test_swapped_transport_sends_without_network():
    server = MemoryServer()
    smtp = invoke(memory_registry(server))
    smtp.smtp_send_message("mail.invalid", "a@example.org", ["b@example.org"], HEADER, ["hello", ".x"])
    (message,) = server.messages
    assert (message.sender, message.recipients) == ("a@example.org", ("b@example.org",))
    assert message.data == b"Subject: registry\r\n\r\nhello\r\n.x\r\n"
    assert bytes(server.received) == (
        b"EHLO localhost\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"
        b"Subject: registry\r\n\r\nhello\r\n..x\r\n.\r\nQUIT\r\n"
    )


def test_whole_ismtp_swapped_for_an_outbox():
    outbox = Outbox()
    smtp = invoke(link(provide(ISMTP, outbox)))
    assert smtp is outbox
    smtp.smtp_send_message("mail.invalid", "a@example.org", ["b@example.org"], HEADER, [".dot", b"raw"])
    (message,) = outbox.messages
    assert message.lines == (b".dot", b"raw") and message.server == "mail.invalid"


def test_host_registry_layered_over_smtpunit_replaces_only_the_transport():
    base = smtpunit.default_registry()
    host = Components("host", bases=(base,))
    server = MemoryServer()
    host.registerUtility(MemoryTransport(server), ITransport)
    invoke(host).smtp_send_message("mail.invalid", "a@example.org", ["b@example.org"], HEADER, ["x"])
    assert len(server.messages) == 1
    assert isinstance(resolve(base, ITransport), TCPTransport)
    assert isinstance(resolve(host, ITLSUpgrader), SSLContextTLS)  # still smtpunit's


def test_linked_layer_over_a_base_overrides_the_transport():
    server = MemoryServer()
    layered = link(provide(ITransport, MemoryTransport(server)), bases=(smtpunit.default_registry(),))
    invoke(layered).smtp_send_message("mail.invalid", "a@example.org", ["b@example.org"], HEADER, ["x"])
    assert len(server.messages) == 1


def test_two_providers_for_one_slot_conflict():
    with pytest.raises(errors.ConflictingExports, match="ITransport"):
        link(provide(ITransport, TCPTransport()), provide(ITransport, MemoryTransport()))


def test_named_slots_do_not_conflict_with_each_other():
    @implementer(ISASLMechanism)
    class Login:
        name = "LOGIN"

        def start(self, username, password):
            raise NotImplementedError

    registry = link(provide(ISASLMechanism, PlainMechanism(), "PLAIN"), provide(ISASLMechanism, Login(), "LOGIN"))
    assert resolve(registry, ISASLMechanism, "LOGIN").name == "LOGIN"


def test_missing_import_is_named():
    with pytest.raises(errors.MissingImport, match="ITLSUpgrader"):
        link(smtpunit.smtp_unit, provide(ITransport, TCPTransport()), provide(IAsyncTransport, AsyncTCPTransport()),
             provide(ISASLMechanism, PlainMechanism(), "PLAIN"))


def test_import_satisfied_by_a_base_registry():
    base = link(provide(ITLSUpgrader, SSLContextTLS()), provide(ISASLMechanism, PlainMechanism(), "PLAIN"),
                provide(IAsyncTransport, AsyncTCPTransport()))
    registry = link(smtpunit.smtp_unit, provide(ITransport, MemoryTransport()), bases=(base,))
    assert verifyObject(ISMTP, invoke(registry))


def test_provider_missing_a_method_is_a_contract_violation():
    @implementer(ITransport)
    class Broken:
        pass

    with pytest.raises(errors.ContractViolation, match="ITransport"):
        link(provide(ITransport, Broken()))


def test_provider_not_declaring_the_interface_is_a_contract_violation():
    class Undeclared:
        def connect(self, host, port, timeout):
            raise OSError

    with pytest.raises(errors.ContractViolation):
        link(provide(ITransport, Undeclared()))


def test_invariant_is_checked_when_linking():
    @implementer(ISASLMechanism)
    class LowerCase:
        name = "plain"

        def start(self, username, password):
            raise NotImplementedError

    with pytest.raises(errors.ContractViolation, match="upper-case"):
        link(provide(ISASLMechanism, LowerCase(), "PLAIN"))


def test_unit_sees_only_what_it_imports():
    seen = {}

    @implementer(ISMTP)
    class Spy(smtpunit.units.smtp_unit.SMTPUnit):
        def __init__(self, imports):
            super().__init__(imports)
            seen["imports"] = imports

    registry = link(
        Unit("spy@", ISMTP, Spy, imports=(ITransport,)),
        provide(ITransport, MemoryTransport()),
        provide(ITLSUpgrader, SSLContextTLS()),
    )
    invoke(registry)
    assert isinstance(seen["imports"](ITransport), MemoryTransport)
    with pytest.raises(LookupError, match="does not import"):
        seen["imports"](ITLSUpgrader)


def test_resolve_of_an_absent_slot_is_a_lookup_error():
    with pytest.raises(LookupError, match="ITransport"):
        resolve(Components(), ITransport)


def test_current_registry_routes_the_module_functions():
    outbox = Outbox()
    with smtpunit.current_registry.parameterize(link(provide(ISMTP, outbox))):
        smtpunit.smtp_send_message("mail.invalid", "a@example.org", ["b@example.org"], HEADER, ["routed"])
    assert [m.lines for m in outbox.messages] == [(b"routed",)]
    assert smtpunit.current_registry() is None


def test_invoking_a_bare_unit_links_it_with_the_default_providers(start_server):
    smtp = invoke(smtpunit.smtp_unit)  # Racket: (define-values/invoke-unit smtp@ ...)
    assert isinstance(smtp, smtpunit.units.smtp_unit.SMTPUnit) and not smtp.lmtp
    assert verifyObject(ISMTP, smtp)
    server = start_server()
    smtp.smtp_send_message("127.0.0.1", "a@example.org", ["b@example.org"], HEADER, ["bare unit"], server.port)
    assert [m.rcpt_tos for m in server.handler.messages] == [["b@example.org"]]


def test_invoking_the_bare_lmtp_unit_speaks_lmtp():
    lmtp = invoke(smtpunit.units.builtin.lmtp_unit)
    assert isinstance(lmtp, smtpunit.units.smtp_unit.SMTPUnit) and lmtp.lmtp
    script = [*standard_session(hello=b"LHLO"), *accept_envelope(), ExpectData(),
              Reply(b"250 2.0.0 <b@example.org> delivered"), Expect(b"QUIT"), Reply(b"221 bye")]
    with ScriptedServer(script) as server:
        lmtp.smtp_send_message("127.0.0.1", "a@example.org", ["b@example.org"], HEADER, ["x"], server.port)
    assert server.peers[0].lines[0] == b"LHLO localhost"


def test_invoking_a_bare_unit_may_name_another_slot_of_its_registry():
    assert isinstance(invoke(smtpunit.smtp_unit, ITransport), TCPTransport)


def test_invoking_a_unit_whose_imports_the_defaults_lack_says_to_link_it_first():
    needy = Unit("needy@", ISMTP, smtpunit.units.smtp_unit.SMTPUnit, imports=(Slot(ITransport, "nowhere"),))
    with pytest.raises(errors.MissingImport, match=r"ITransport\['nowhere'\].*link it with the units it imports"):
        invoke(needy)


@pytest.mark.parametrize("argument", [smtpunit.smtp, "smtp@", None, ISMTP])
def test_invoke_refuses_what_is_neither_a_registry_nor_a_unit(argument):
    with pytest.raises(TypeError, match="invoke takes a registry .* or a Unit"):
        invoke(argument)


def test_an_import_cycle_is_reported_by_the_units_names():
    from zope.interface import Interface

    class IA(Interface):
        pass

    class IB(Interface):
        pass

    a = smtpunit.Unit("a@", IA, lambda imports: imports(IB), imports=(IB,))
    b = smtpunit.Unit("b@", IB, lambda imports: imports(IA), imports=(IA,))
    with pytest.raises(smtpunit.errors.ImportCycle, match="a@ -> b@ -> a@"):
        link(a, b)  # it recursed without end before


def test_a_unit_importing_what_it_replaces_is_no_cycle():
    server = MemoryServer()
    base = link(provide(ITransport, MemoryTransport(server)), bases=(smtpunit.default_registry(),))
    logged = []

    @implementer(ITransport)
    class Logging:
        def __init__(self, imports):
            self.inner = imports.registry.__bases__[0].getUtility(ITransport)

        def connect(self, host, port, timeout):
            logged.append(host)
            return self.inner.connect(host, port, timeout)

    registry = link(smtpunit.Unit("logging@", ITransport, Logging, imports=(ITransport,)), bases=(base,))
    invoke(registry).smtp_send_message("mail.invalid", "a@example.org", ["b@example.org"], HEADER, ["x"])
    assert logged == ["mail.invalid"] and len(server.messages) == 1
