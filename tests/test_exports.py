"""The public API: a curated root, pinned, and the same verbs at every entry point."""

from __future__ import annotations

import inspect
import types

import pytest

import smtpunit
import smtpunit.aio
from smtpunit.drivers.aio import AsyncSession
from smtpunit.providers.sendmail import SendmailSMTP
from smtpunit.testing import Outbox
from smtpunit.units.contract import MailProvider, OneShotSession, ThreadedAsyncSession
from smtpunit.units.smtp_unit import SMTPUnit

ROOT = {
    "smtp_send_message", "smtp_send_message_star", "send", "send_message", "send_envelope", "send_many",
    "connect", "Mailer", "Session", "Pool", "SendResult", "RecipientResult", "TLSPolicy", "Timeouts",
    "DSN", "Retry", "DKIMSigner",
    "smtp_sending_server", "smtp_sending_end_of_message", "current_registry",
    "ISMTP", "Unit", "link", "provide", "invoke", "smtp_unit", "default_registry",
    "SMTPError", "SMTPInputError", "SMTPReplyError", "RecipientsRefused", "SMTPConnectionClosed",
    "SMTPOutcomeUnknown", "SMTPTimeout", "SMTPSecurityError",
}


def test_the_root_exports_exactly_the_curated_names():
    assert set(smtpunit.__all__) == ROOT
    assert len(smtpunit.__all__) == len(ROOT) <= 35


def test_the_root_holds_no_other_public_name():
    public = {name for name, value in vars(smtpunit).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType)}
    assert public == ROOT


def test_every_error_is_in_the_errors_module():
    for name in smtpunit.errors.__all__:
        assert issubclass(getattr(smtpunit.errors, name), Exception)
    assert {name for name in ROOT if name.startswith("SMTP") or name == "RecipientsRefused"} <= set(
        smtpunit.errors.__all__)


SEND_VERBS = ("send", "send_message", "send_envelope", "send_many")


@pytest.mark.parametrize("where", [smtpunit, smtpunit.aio, smtpunit.Pool, smtpunit.Mailer, MailProvider, SMTPUnit,
                                   SendmailSMTP, Outbox], ids=lambda w: getattr(w, "__name__", repr(w)))
def test_sending_verbs_and_connect_are_everywhere_a_connection_is_made(where):
    for verb in (*SEND_VERBS, "connect"):
        assert callable(getattr(where, verb, None)), f"{where.__name__} has no {verb}"


@pytest.mark.parametrize("where", [MailProvider, SMTPUnit, SendmailSMTP, Outbox], ids=lambda w: w.__name__)
def test_mail_providers_have_every_verb_for_asyncio_too(where):
    for verb in (*SEND_VERBS, "connect", "smtp_send_message"):
        assert inspect.iscoroutinefunction(getattr(where, f"{verb}_async")), f"{where.__name__}.{verb}_async"


def test_a_mailer_has_every_verb_for_asyncio_too():
    for verb in (*SEND_VERBS, "connect"):
        assert inspect.iscoroutinefunction(getattr(smtpunit.Mailer, f"{verb}_async")), verb


@pytest.mark.parametrize("session", [smtpunit.Session, OneShotSession], ids=lambda s: s.__name__)
def test_sessions_have_the_sending_verbs(session):
    # A session is a connection already made: it has every verb but connect.
    for verb in SEND_VERBS:
        assert callable(getattr(session, verb)), verb


@pytest.mark.parametrize("session", [AsyncSession, ThreadedAsyncSession], ids=lambda s: s.__name__)
def test_asyncio_sessions_have_the_sending_verbs_as_coroutines(session):
    for verb in SEND_VERBS:
        assert inspect.iscoroutinefunction(getattr(session, verb)), verb


@pytest.mark.parametrize("verb", SEND_VERBS + ("connect", "smtp_send_message"))
def test_the_aio_verbs_are_coroutines(verb):
    assert inspect.iscoroutinefunction(getattr(smtpunit.aio, verb))


def parameters(function) -> list[tuple[str, object]]:
    """A callable's parameters by name and kind, ``self`` left out."""
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values() if p.name != "self"]


@pytest.mark.parametrize("verb", (*SEND_VERBS, "connect", "smtp_send_message"))
def test_a_verb_takes_the_same_arguments_at_every_entry_point_that_connects(verb):
    expected = parameters(getattr(smtpunit, verb))
    if verb == "smtp_send_message":  # Racket's keywords, spelled out at the module: compare the rest
        expected = [p for p in expected if p[1] is inspect.Parameter.POSITIONAL_OR_KEYWORD]
        assert parameters(getattr(smtpunit.aio, verb))[-1][0] == "options"
        expected.append(("options", inspect.Parameter.VAR_KEYWORD))
    assert parameters(getattr(smtpunit.aio, verb)) == expected
    assert parameters(getattr(MailProvider, verb)) == expected
    assert parameters(getattr(MailProvider, f"{verb}_async")) == expected


@pytest.mark.parametrize("verb", SEND_VERBS)
def test_a_session_verb_takes_the_same_arguments_on_every_kind_of_session(verb):
    expected = parameters(getattr(smtpunit.Session, verb))
    for where in (AsyncSession, OneShotSession, ThreadedAsyncSession, smtpunit.Pool, smtpunit.Mailer):
        assert parameters(getattr(where, verb)) == expected, where.__name__
    # a configured mailer's asyncio forms take what its blocking verbs take
    assert parameters(getattr(smtpunit.Mailer, f"{verb}_async")) == expected
