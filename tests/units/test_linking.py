"""Units, linking and invoking: every seam swappable through the registry."""

from __future__ import annotations

import gc
import weakref

import pytest
from conftest import HOST, free_port
from zope.interface import Interface, implementer
from zope.interface.registry import Components
from zope.interface.verify import verifyObject

import smtpunit
from smtpunit import ISMTP, Unit, errors, invoke, link, provide
from smtpunit.interfaces import IAsyncTransport, IConnection, IMailer, ISASLMechanism, ITLSUpgrader, ITransport
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
from smtpunit.units.linking import ALL, Alias, Slot, resolve, resolve_all, unaliased
from smtpunit.units.smtp_unit import SMTPUnit

HEADER = "Subject: registry\r\n\r\n"
NOWHERE = free_port()  # on 127.0.0.1: a send that wrongly takes the TCP transport is refused there


def memory_registry(server: MemoryServer, *, bases=None):
    """smtp@ linked with an in-memory transport instead of TCP."""
    units = [smtpunit.smtp_unit, provide(ITransport, MemoryTransport(server)),
             provide(IAsyncTransport, AsyncTCPTransport()),
             Unit("tls@", ITLSUpgrader, SSLContextTLS), Unit("plain@", Slot(ISASLMechanism, "PLAIN"), PlainMechanism)]
    return link(*units)


@implementer(ITransport)
class LoggingTransport:
    """A wrapper unit's provider: imports ITransport, exports ITransport."""

    def __init__(self, imports, logged):
        self.imports = imports
        self.logged = logged

    def connect(self, host, port, timeout):
        self.logged.append(host)
        return self.imports(ITransport).connect(host, port, timeout)  # looked up now, in the bases


def logging_unit(logged):
    return Unit("logging@", ITransport, lambda imports: LoggingTransport(imports, logged), imports=(ITransport,))


def send_through(registry, *args):
    """Send through the ISMTP provider of ``registry`` (or the slot ``args`` name)."""
    return invoke(registry, *args).smtp_send_message(HOST, "a@example.org", ["b@example.org"], HEADER, ["x"], NOWHERE)


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


def test_linking_smtp_again_over_smtpunit_replaces_only_the_transport():
    base = smtpunit.default_registry()
    server = MemoryServer()
    registry = link(smtpunit.smtp_unit, provide(ITransport, MemoryTransport(server)), bases=(base,))
    send_through(registry)
    assert len(server.messages) == 1
    assert invoke(registry) is not invoke(base)
    assert isinstance(resolve(base, ITransport), TCPTransport)
    assert isinstance(resolve(registry, ITLSUpgrader), SSLContextTLS)  # still smtpunit's


def test_a_layer_over_smtpunit_does_not_rewire_the_smtp_linked_below_it():
    # Racket's static linking: smtp@ took its imports from the registry it was linked
    # into; a layer over it replacing the transport leaves it alone.
    base = smtpunit.default_registry()
    ignored, used = MemoryServer(), MemoryServer()
    host = Components("host", bases=(base,))
    host.registerUtility(MemoryTransport(ignored), ITransport)
    layered = link(provide(ITransport, MemoryTransport(ignored)), bases=(base,))
    base.registerUtility(MemoryTransport(used), ITransport)
    for registry in (host, layered):
        assert invoke(registry) is base.getUtility(ISMTP)
        send_through(registry)
    assert (len(ignored.messages), len(used.messages)) == (0, 2)


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
    with pytest.raises(LookupError, match="does not import"):
        seen["imports"](ITransport, "tcp")


def test_an_import_of_every_provider_or_of_an_emptied_slot_is_a_lookup_error():
    seen = {}

    def factory(imports):
        seen["imports"] = imports
        return MemoryTransport()

    registry = link(Unit("t@", Slot(ITransport, "mine"), factory, imports=(ITransport, Slot(ISASLMechanism, ALL))),
                    provide(ITransport, MemoryTransport()), provide(ISASLMechanism, PlainMechanism(), "PLAIN"))
    imports = seen["imports"]
    with pytest.raises(LookupError, match="names every provider"):
        imports(ISASLMechanism, ALL)
    registry.unregisterUtility(provided=ITransport)
    with pytest.raises(LookupError, match="no provider for ITransport"):
        imports(ITransport)


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


def test_a_unit_importing_what_it_exports_gets_the_bases_provider():
    server, later = MemoryServer(), MemoryServer()
    base = link(provide(ITransport, MemoryTransport(server)), bases=(smtpunit.default_registry(),))
    logged = []
    registry = link(logging_unit(logged), smtpunit.smtp_unit, bases=(base,))  # no cycle: the import is base's
    host = Components("host", bases=(registry,))
    assert isinstance(resolve(host, ITransport), LoggingTransport)
    for through in (registry, host):  # once it recursed without end through a host
        send_through(through)
    assert logged == [HOST] * 2 and len(server.messages) == 2
    base.registerUtility(MemoryTransport(later), ITransport)  # an in-place change of the base reaches it
    send_through(host)
    assert len(logged) == 3 and (len(server.messages), len(later.messages)) == (2, 1)


def test_a_unit_importing_all_of_a_signature_it_exports_under_a_name_gets_the_bases_one():
    @implementer(ISASLMechanism)
    class Wrapped:
        name = "PLAIN"

        def __init__(self, imports):
            self.imports = imports

        def start(self, username, password):
            return self.imports.all(ISASLMechanism)["PLAIN"].start(username, password)

    registry = link(Unit("wrapped@", Slot(ISASLMechanism, "PLAIN"), Wrapped, imports=(Slot(ISASLMechanism, ALL),)),
                    bases=(smtpunit.default_registry(),))
    wrapped = resolve(registry, ISASLMechanism, "PLAIN")
    assert isinstance(wrapped, Wrapped) and set(resolve_all(registry, ISASLMechanism)) >= {"PLAIN", "LOGIN"}
    seen = wrapped.imports.all(ISASLMechanism)
    assert isinstance(seen["PLAIN"], PlainMechanism) and set(seen) >= {"PLAIN", "LOGIN"}
    plain = PlainMechanism().start("user", "secret").initial_response()
    assert wrapped.start("user", "secret").initial_response() == plain


# -- one registration: zope's own lookup ------------------------------------------------------


def every_slot(*registries):
    return sorted({(r.provided, r.name) for registry in registries for r in registry.registeredUtilities()},
                  key=lambda slot: (slot[0].__name__, slot[1]))


def test_every_unit_is_a_utility_so_zope_finds_the_smtp_unit():
    registry = smtpunit.default_registry()
    smtp = registry.getUtility(ISMTP)
    assert isinstance(smtp, SMTPUnit) and smtp is registry.getUtility(IMailer) is invoke(registry)
    lmtp = registry.getUtility(ISMTP, "lmtp")
    assert lmtp is registry.getUtility(IMailer, "lmtp") is invoke(registry, ISMTP, "lmtp")
    assert lmtp.lmtp and not smtp.lmtp
    assert registry.getUtility(ITransport, "tcp") is resolve(registry, ITransport)
    assert smtpunit.smtp_unit.export_slots == (Slot(ISMTP), Slot(IMailer))
    assert smtpunit.smtp_unit.export_slot == Slot(ISMTP)
    assert isinstance(invoke(smtpunit.smtp_unit), SMTPUnit)  # a bare unit: its first export


@pytest.mark.parametrize("order", ["BC", "CB"])
def test_invoke_and_resolve_agree_with_zope_on_a_diamond(order):
    top = smtpunit.default_registry()
    left, right = MemoryServer(), MemoryServer()
    sides = {"B": link(provide(ITransport, MemoryTransport(left)), bases=(top,), name="B"),
             "C": link(provide(ITransport, MemoryTransport(right)), bases=(top,), name="C")}
    bases = tuple(sides[side] for side in order)
    plain = Components("D", bases=bases)
    linked = link(smtpunit.smtp_unit, bases=bases, name="D linked")
    for diamond in (plain, linked):
        slots = every_slot(top, *bases, diamond)
        assert len(slots) > 10
        for interface, name in slots:
            provider = diamond.getUtility(interface, name)
            assert resolve(diamond, interface, name) is unaliased(provider)
            assert invoke(diamond, interface, name) is unaliased(provider)
            if not isinstance(provider, Alias):
                assert resolve(diamond, interface, name) is provider
        named = {name: unaliased(p) for name, p in diamond.getUtilitiesFor(ISASLMechanism) if name}
        assert resolve_all(diamond, ISASLMechanism) == named
        assert invoke(diamond) is diamond.getUtility(ISMTP)
        assert resolve(diamond, ITransport) is sides[order[0]].getUtility(ITransport)  # zope's C3 order
    assert plain.getUtility(ISMTP) is top.getUtility(ISMTP)  # linked into the top: the top's imports
    assert linked.getUtility(ISMTP) is not top.getUtility(ISMTP)
    send_through(linked)
    near, far = (left, right) if order == "BC" else (right, left)
    assert (len(near.messages), len(far.messages)) == (1, 0)


class IGreeter(Interface):
    def greet():
        """Say hello."""


class IFarewell(Interface):
    def leave():
        """Say goodbye."""


@implementer(IGreeter, IFarewell)
class Both:
    def greet(self):
        return "hello"

    def leave(self):
        return "bye"


def test_a_unit_may_export_several_signatures():
    registry = link(Unit("both@", (IGreeter, Slot(IFarewell, "polite")), Both))
    both = registry.getUtility(IGreeter)
    assert isinstance(both, Both) and both is registry.getUtility(IFarewell, "polite") is invoke(registry, IGreeter)
    assert registry.queryUtility(IFarewell) is None  # only the slots exported
    assert registry.getUtility(IFarewell, "polite").leave() == "bye"


def test_conflicts_are_found_per_exported_slot():
    both = Unit("both@", (IGreeter, Slot(IFarewell, "polite")), Both)
    with pytest.raises(errors.ConflictingExports, match=r"'both@' and 'Both' both export IFarewell\['polite'\]"):
        link(both, provide(IFarewell, Both(), "polite"))
    link(both, provide(IFarewell, Both()))  # another name: no conflict


def test_every_exported_signature_is_verified():
    @implementer(IGreeter)
    class GreeterOnly:
        def greet(self):
            return "hello"

    with pytest.raises(errors.ContractViolation, match="does not honour IFarewell"):
        link(Unit("half@", (IGreeter, IFarewell), GreeterOnly))

    @implementer(IGreeter, ISASLMechanism)
    class LowerCase:
        name = "plain"

        def greet(self):
            return "hello"

        def start(self, username, password):
            raise NotImplementedError

    with pytest.raises(errors.ContractViolation, match="upper-case"):
        link(Unit("lower@", (IGreeter, Slot(ISASLMechanism, "PLAIN")), LowerCase))


@pytest.mark.parametrize("exports, error", [((), ValueError), ((IGreeter, IGreeter), ValueError),
                                            (Slot(IGreeter, ALL), ValueError), ("IGreeter", TypeError)])
def test_a_unit_must_export_distinct_slots(exports, error):
    with pytest.raises(error):
        Unit("bad@", exports, Both)


# -- late binding: imports looked up at each call, in the registry linked into ----------------


@pytest.mark.parametrize("name", ["", "tcp"])  # "": replaces the alias; "tcp": what the alias stands for
def test_a_transport_registered_in_place_is_used_by_smtp_also_through_layers(name):
    registry = smtpunit.default_registry()
    smtp = invoke(registry)
    host = Components("host", bases=(registry,))
    outboxed = link(provide((ISMTP, IMailer), Outbox()), bases=(registry,))
    with pytest.raises(errors.SMTPTransportError, match="could not connect"):
        send_through(host)  # the TCP transport, refused on a closed port of 127.0.0.1
    server = MemoryServer()
    registry.registerUtility(MemoryTransport(server), ITransport, name)  # after smtp@ used its imports
    smtp.smtp_send_message(HOST, "a@example.org", ["b@example.org"], HEADER, ["x"], NOWHERE)
    send_through(host)
    assert len(server.messages) == 2
    assert isinstance(resolve(host, ITransport), MemoryTransport)
    with pytest.raises(errors.SMTPReplyError):  # the memory server speaks no LMTP, but it is reached
        send_through(outboxed, ISMTP, "lmtp")
    assert bytes(server.received).endswith(b"LHLO localhost\r\nQUIT\r\n")


def test_an_alias_follows_its_named_slot_at_each_call():
    registry = smtpunit.default_registry()
    unnamed = registry.getUtility(ITransport)
    assert isinstance(unnamed, Alias) and ITransport.providedBy(unnamed) and verifyObject(ITransport, unnamed)
    assert unaliased(unnamed) is registry.getUtility(ITransport, "tcp")
    server = MemoryServer()
    registry.registerUtility(MemoryTransport(server), ITransport, "tcp")
    assert isinstance(resolve(registry, ITransport), MemoryTransport)
    assert unnamed.connect(HOST, NOWHERE, 1.0).server_hostname == HOST  # forwarded
    assert server.connections == 1


def test_aliases_going_round_are_a_lookup_error():
    registry = smtpunit.default_registry()
    registry.registerUtility(registry.getUtility(ITransport), ITransport, "tcp")
    with pytest.raises(LookupError, match=r"aliases go round in a cycle: ITransport\['tcp'\]"):
        resolve(registry, ITransport)


def test_an_alias_of_an_empty_slot_has_no_attributes_rather_than_raising():
    registry = smtpunit.default_registry()
    unnamed = registry.getUtility(ITransport)
    registry.unregisterUtility(provided=ITransport, name="tcp")
    assert not hasattr(unnamed, "connect")
    assert getattr(unnamed, "connect", None) is None
    with pytest.raises(AttributeError, match="no provider for ITransport\\['tcp'\\]"):
        _ = unnamed.connect


def test_a_setting_on_an_alias_is_its_targets():
    registry = smtpunit.default_registry()
    unnamed, named = registry.getUtility(ITLSUpgrader), registry.getUtility(ITLSUpgrader, "ssl")
    unnamed.flag = "set through the alias"
    assert named.flag == "set through the alias" and "flag" not in vars(unnamed)


def test_an_all_slot_is_asked_for_with_all():
    seen = []

    def factory(imports):
        with pytest.raises(LookupError, match=r"imports.all\(ISASLMechanism\)"):
            imports(ISASLMechanism, ALL)
        seen.append(sorted(imports.all(ISASLMechanism)))
        return MemoryTransport()

    link(Unit("sasl user@", Slot(ITransport, "user"), factory, imports=(Slot(ISASLMechanism, ALL),)),
         bases=(smtpunit.default_registry(),))
    assert seen and "PLAIN" in seen[0]


def test_invoking_a_unit_honours_the_name_asked_for():
    unit = Unit("both@", (Slot(ITransport, "a"), Slot(ITransport, "b")), lambda: MemoryTransport())
    assert isinstance(invoke(unit, ITransport, "b"), MemoryTransport)
    with pytest.raises(LookupError, match=r"ITransport\['c'\]"):
        invoke(unit, name="c")


def test_linking_tells_no_event_subscriber_of_the_host():
    import zope.event

    heard = []
    zope.event.subscribers.append(heard.append)
    try:
        link(provide(ITransport, MemoryTransport(), "quiet"), bases=(smtpunit.default_registry(),))
    finally:
        zope.event.subscribers.remove(heard.append)
    assert heard == []


def test_linked_registries_and_their_providers_are_collected():
    base = smtpunit.default_registry()
    refs = []
    for _ in range(200):
        registry = link(smtpunit.smtp_unit, logging_unit([]), bases=(base,))
        wrapper = resolve(Components("host", bases=(registry,)), ITransport)
        wrapper.imports(ITransport)  # the wrapper's view of the bases is made
        refs += [weakref.ref(registry), weakref.ref(invoke(registry)), weakref.ref(wrapper)]
        refs.append(weakref.ref(smtpunit.default_registry()))
    del registry, wrapper
    gc.collect()
    assert [ref for ref in refs if ref() is not None] == []
