"""Entry-point discovery, dotted paths and explicit configuration."""

from __future__ import annotations

import base64
import importlib
import textwrap
from importlib.metadata import entry_points

import pytest
from aiosmtpd.smtp import AuthResult
from conftest import HOST, RecordingHandler

import smtpunit
from smtpunit import errors
from smtpunit.interfaces import ISASLMechanism, ITLSUpgrader, ITransport
from smtpunit.providers import PlainMechanism, TCPTransport
from smtpunit.testing import MemoryServer, MemoryTransport
from smtpunit.units.discovery import _BUILTIN_ENTRY_POINTS, GROUPS, discover, load_dotted
from smtpunit.units.linking import resolve, resolve_all

HEADER = "Subject: discovery\r\n\r\n"


def test_builtins_are_registered_through_the_entry_points():
    for group in GROUPS:
        ours = {ep.name: ep.value for ep in entry_points(group=group) if ep.dist.metadata["Name"] == "smtpunit"}
        assert ours == _BUILTIN_ENTRY_POINTS[group], group


def test_default_registry_is_built_from_discovery():
    registry = smtpunit.default_registry()
    assert set(resolve_all(registry, ISASLMechanism)) >= {"PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "SCRAM-SHA-256"}
    assert isinstance(resolve(registry, ITransport), TCPTransport)
    assert resolve(registry, ITransport) is resolve(registry, ITransport, "tcp")


def write_distribution(root, name, entry_points_text, modules):
    info = root / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points_text))
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


MECHANISM = """
    from zope.interface import implementer
    from smtpunit.interfaces import ISASLExchange, ISASLMechanism

    @implementer(ISASLExchange)
    class _Exchange:
        def __init__(self, username, password):
            self.message = f"{username}:{password[::-1]}".encode()
        def initial_response(self):
            return self.message
        def respond(self, challenge):
            return self.message
        def finish(self):
            pass

    @implementer(ISASLMechanism)
    class XTest:
        name = "XTEST"
        def start(self, username, password):
            return _Exchange(username, password)

    class Broken:
        name = "BROKEN"
"""


@pytest.fixture
def third_party(tmp_path, monkeypatch):
    write_distribution(
        tmp_path,
        "smtpunit_xtest",
        """
        [smtpunit.sasl]
        XTEST = xtest_mechanism:XTest
        BROKEN = xtest_mechanism:Broken
        MISSING = xtest_nowhere:Nothing
        PLAIN = xtest_mechanism:XTest
        """,
        {"xtest_mechanism": MECHANISM},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    return tmp_path


def test_a_third_party_mechanism_is_discovered_and_its_problems_reported(third_party):
    found = discover()
    assert "XTEST" in found.names(ISASLMechanism)
    problems = {p.name: p.reason for p in found.problems}
    assert set(problems) == {"BROKEN", "MISSING", "PLAIN"}
    assert "ModuleNotFoundError" in problems["MISSING"]
    assert "already provided" in problems["PLAIN"]  # smtpunit's own PLAIN wins
    assert isinstance(resolve(smtpunit.default_registry(), ISASLMechanism, "PLAIN"), PlainMechanism)


def test_strict_discovery_raises_with_every_problem(third_party):
    with pytest.raises(errors.DiscoveryError) as caught:
        smtpunit.default_registry(strict=True)
    assert {p.name for p in caught.value.problems} == {"BROKEN", "MISSING", "PLAIN"}
    assert "xtest_nowhere" in str(caught.value)


def test_a_third_party_mechanism_is_used_against_a_real_server(third_party, start_server):
    seen = []

    class XTestHandler(RecordingHandler):
        async def auth_XTEST(self, smtp, args):  # aiosmtpd offers AUTH XTEST for this method
            seen.append(base64.b64decode(args[1]))
            return AuthResult(success=seen[-1] == b"alice:terces", auth_data="alice")

    server = start_server(auth=True, handler=XTestHandler())
    smtp = smtpunit.invoke(smtpunit.default_registry())
    smtp.smtp_send_message(HOST, "a@example.org", ["b@example.org"], HEADER, ["x"], server.port,
                           auth_user="alice", auth_passwd="secret", auth_mechanism="XTEST")
    assert seen == [b"alice:terces"]
    assert server.handler.messages[0].authenticated == "alice"


def test_explicit_transport_by_dotted_path_wins():
    registry = smtpunit.default_registry(transport="smtpunit.testing:MemoryTransport")
    assert isinstance(resolve(registry, ITransport), MemoryTransport)


def test_explicit_providers_win_over_discovery():
    server = MemoryServer()
    registry = smtpunit.default_registry(transport=MemoryTransport(server), tls="ssl")
    smtpunit.invoke(registry).smtp_send_message("mail.invalid", "a@example.org", ["b@example.org"], HEADER, ["x"])
    assert len(server.messages) == 1
    custom = PlainMechanism()
    registry = smtpunit.default_registry(sasl={"PLAIN": custom})
    assert resolve(registry, ISASLMechanism, "PLAIN") is custom
    assert isinstance(resolve(registry, ITLSUpgrader), smtpunit.providers.SSLContextTLS)


def test_configured_non_provider_is_a_contract_violation():
    with pytest.raises(errors.ContractViolation):
        smtpunit.default_registry(transport=object)


def test_configured_mechanism_with_the_wrong_name_is_refused():
    with pytest.raises(ValueError, match="calls itself"):
        smtpunit.default_registry(sasl={"LOGIN": PlainMechanism()})


@pytest.mark.parametrize("path, error", [("no_colon", ValueError), ("smtpunit_nowhere:x", ImportError),
                                         ("smtpunit.testing:Nothing", AttributeError)])
def test_load_dotted_errors(path, error):
    with pytest.raises(error):
        load_dotted(path)


def test_load_dotted_nested_attribute():
    assert load_dotted("smtpunit.providers:TCPTransport.connect") is TCPTransport.connect
