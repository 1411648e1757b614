"""SendmailSMTP, the net/sendmail way: the message piped to Postfix's sendmail command."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
from conftest import program
from postfix import HOSTNAME, PostfixInstance
from postfix import postfix as postfix_fixture  # noqa: F401
from zope.interface.verify import verifyClass, verifyObject

import smtpunit
from smtpunit import DSN, Retry
from smtpunit.errors import (
    InvalidAddress,
    InvalidHeader,
    InvalidMessageLine,
    SMTPInputError,
    SMTPOutcomeUnknown,
)
from smtpunit.providers.sendmail import SendmailError, SendmailSMTP

LINES = ["First line", ".", ".leading dot", "..", "", "ünïcødé", "y" * 998, "last"]


def header_for(sender: str, recipient: str, subject: str) -> str:
    """A complete header, so Postfix's cleanup adds nothing to it."""
    return (f"From: <{sender}>\r\nTo: <{recipient}>\r\nSubject: {subject}\r\n"
            "Date: Fri, 03 Jan 2025 12:00:00 +0000\r\n"
            f"Message-ID: <{subject.replace(' ', '-')}@sendmail.smtpunit.test>\r\n\r\n")


def expected(header: str, lines: list[str]) -> bytes:
    return header.encode() + b"".join(line.encode() + b"\r\n" for line in lines)


@pytest.fixture
def sendmail(postfix: PostfixInstance) -> SendmailSMTP:
    return SendmailSMTP(postfix.sendmail_path, extra_args=postfix.sendmail_args, timeout=20)


@pytest.fixture
def loud(tmp_path: Path) -> Path:
    """A sendmail that leaves a mark when it runs: to prove it never did."""
    return program(tmp_path, "loud-sendmail", 'touch "$0.ran"\necho "I should never run" >&2\nexit 99\n')


# -- the contract ----------------------------------------------------------------------


def test_provides_ismtp() -> None:
    assert verifyClass(smtpunit.ISMTP, SendmailSMTP)
    assert verifyObject(smtpunit.ISMTP, SendmailSMTP())
    assert verifyObject(smtpunit.ISMTP, SendmailSMTP("/usr/sbin/sendmail", ("-C", "/etc/postfix"), 5))
    assert SendmailSMTP.smtp_sending_end_of_message is smtpunit.smtp_sending_end_of_message
    assert SendmailSMTP.smtp_sending_server is smtpunit.smtp_sending_server


def test_exported_from_providers() -> None:
    from smtpunit import providers

    assert providers.SendmailSMTP is SendmailSMTP
    assert providers.SendmailError is SendmailError
    assert issubclass(SendmailError, smtpunit.errors.SMTPTransportError)


@pytest.mark.parametrize("bad", [
    {"path": ""}, {"path": "/usr/sbin/send\0mail"}, {"extra_args": "-C /etc/postfix"},
    {"extra_args": ("-C", 5)}, {"timeout": 0}, {"timeout": -1}, {"timeout": True}, {"timeout": "60"},
])
def test_constructor_checks_its_arguments(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SendmailSMTP(**bad)  # type: ignore[arg-type]


def test_command_line() -> None:
    unit = SendmailSMTP("/opt/sendmail", ("-C", "/etc/pf"))
    envelope = smtpunit.core.commands.prepare_envelope("-oQ/tmp", ["-X/tmp/log", "b@x"], "\r\n", [])
    assert unit.argv(envelope) == ["/opt/sendmail", "-C", "/etc/pf", "-i", "-f", "-oQ/tmp", "--", "-X/tmp/log", "b@x"]
    null = smtpunit.core.commands.prepare_envelope("", ["b@x"], "\r\n", [])
    assert unit.argv(null)[-4:] == ["-f", "<>", "--", "b@x"]


# -- delivery through the private Postfix ------------------------------------------------


def test_delivers_the_exact_message(postfix: PostfixInstance, sendmail: SendmailSMTP) -> None:
    sender, rcpt = "pipe@example.org", postfix.address("sendmail")
    header = header_for(sender, rcpt, "piped")

    result = sendmail.smtp_send_message("ignored.invalid", sender, [rcpt], header, LINES, 1)

    assert [(r.address, r.reply.code) for r in result.recipients] == [(rcpt, 250)]
    assert result.reply.code == 250 and result.reply.enhanced_status == "2.0.0"
    [delivery] = postfix.messages(to=rcpt)
    assert delivery.original() == expected(header, LINES)
    assert delivery.sender == sender
    assert delivery.recipient == rcpt
    assert "from userid 0" in delivery.received[0]  # came through sendmail/pickup, not smtpd


def test_bytes_lines_every_recipient_and_the_null_sender(postfix: PostfixInstance, sendmail: SendmailSMTP) -> None:
    first, second = postfix.address("pipe-many"), postfix.address("pipe-many")
    header = header_for("mailer-daemon@example.org", first, "null sender").encode()

    sendmail.smtp_send_message("x", "", [first, second], header, [b"\xff raw bytes", b"."])

    for rcpt in (first, second):
        [delivery] = postfix.messages(to=rcpt)
        assert delivery.sender == ""
        assert delivery.body == b"\xff raw bytes\r\n.\r\n"


def test_a_large_message_is_fed_without_deadlock(postfix: PostfixInstance, sendmail: SendmailSMTP) -> None:
    rcpt = postfix.address("pipe-large")
    header = header_for("big@example.org", rcpt, "large")
    lines = [f"{n:06d} " + "z" * 900 for n in range(3000)]  # about 2.7 MB, far beyond a pipe's buffer

    sendmail.smtp_send_message("x", "big@example.org", [rcpt], header, lines)

    [delivery] = postfix.messages(to=rcpt, timeout=20)
    assert delivery.original() == expected(header, lines)


def test_linked_as_the_whole_ismtp(postfix: PostfixInstance) -> None:
    unit = smtpunit.invoke(smtpunit.link(smtpunit.provide(
        smtpunit.ISMTP, SendmailSMTP(postfix.sendmail_path, extra_args=postfix.sendmail_args))))
    assert isinstance(unit, SendmailSMTP)
    rcpt = postfix.address("pipe-linked")
    header = header_for("linked@example.org", rcpt, "linked")

    unit.smtp_send_message("smtp.example.invalid", "linked@example.org", [rcpt], header, LINES, port_no=587,
                           auth_user="ignored", auth_passwd="ignored", tls_encode=True)

    [delivery] = postfix.messages(to=rcpt)
    assert delivery.original() == expected(header, LINES)


def test_send_message_star_closes_the_connection(postfix: PostfixInstance, sendmail: SendmailSMTP) -> None:
    ours, theirs = socket.socketpair()
    rcpt = postfix.address("pipe-star")
    with ours, theirs:
        sendmail.smtp_send_message_star(ours, "star@example.org", [rcpt], header_for("star@example.org", rcpt, "s"),
                                        ["star"])
        assert ours.fileno() == -1
        assert theirs.recv(10) == b""  # nothing was ever written to it
    [delivery] = postfix.messages(to=rcpt)
    assert delivery.body == b"star\r\n"


def test_send_message_star_closes_the_connection_on_bad_input(loud: Path) -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs, pytest.raises(InvalidAddress):
        SendmailSMTP(loud).smtp_send_message_star(ours, "a@x", ["b\r\n@x"], "\r\n", ["x"])
    assert ours.fileno() == -1
    assert not Path(f"{loud}.ran").exists()


# -- options cannot be injected --------------------------------------------------------


def test_a_sender_that_looks_like_an_option_is_a_sender(postfix: PostfixInstance, sendmail: SendmailSMTP) -> None:
    """With ``-C/nonexistent`` read as an option, sendmail would fail: no such config."""
    rcpt = postfix.address("pipe-dash")

    sendmail.smtp_send_message("x", "-C/nonexistent", [rcpt], header_for("s@example.org", rcpt, "dash"), ["x"])

    [delivery] = postfix.messages(to=rcpt)
    assert delivery.sender == f"-C/nonexistent@{HOSTNAME}"  # Postfix qualified it, as any local name


def test_a_recipient_that_looks_like_an_option_is_a_recipient(postfix: PostfixInstance,
                                                                 sendmail: SendmailSMTP) -> None:
    """After ``--`` it is an address; Postfix refuses a leading ``-`` (allow_min_user=no)
    and bounces it to the sender, instead of failing on ``-C/nonexistent``."""
    sender = postfix.address("pipe-bounce")
    bad = "-C/nonexistent@smtpunit.test"

    sendmail.smtp_send_message("x", sender, [bad], header_for(sender, bad, "dash rcpt"), ["x"])

    [bounce] = postfix.messages(to=sender)
    assert bounce.sender == ""
    assert b"bad address syntax" in bounce.raw


def test_a_comma_cannot_smuggle_recipients(loud: Path) -> None:
    with pytest.raises(InvalidAddress, match="list of addresses"):
        SendmailSMTP(loud).smtp_send_message("x", "a@x", ["victim@x,bcc@evil.example"], "\r\n", ["x"])
    with pytest.raises(InvalidAddress):
        SendmailSMTP(loud).smtp_send_message("x", "a@x,b@y", ["victim@x"], "\r\n", ["x"])
    assert not Path(f"{loud}.ran").exists()


# -- bad input never starts sendmail -------------------------------------------------------


@pytest.mark.parametrize(("sender", "to", "header", "lines", "error"), [
    ("a@x\r\nRCPT TO:<evil@x>", ["b@x"], "\r\n", ["x"], InvalidAddress),
    ("a@x", ["b@x\n"], "\r\n", ["x"], InvalidAddress),
    ("a@x", ["b@x", "c@x\r"], "\r\n", ["x"], InvalidAddress),
    ("a@x", ["b x@x"], "\r\n", ["x"], InvalidAddress),
    ("a@x", ["<b@x>"], "\r\n", ["x"], InvalidAddress),
    ("a@x", [], "\r\n", ["x"], SMTPInputError),
    ("a@x", "b@x", "\r\n", ["x"], SMTPInputError),
    ("a@x", ["b@x"], "Subject: no blank line\r\n", ["x"], InvalidHeader),
    ("a@x", ["b@x"], "Subject: x\nBcc: evil@x\r\n\r\n", ["x"], InvalidHeader),
    ("a@x", ["b@x"], "\r\n", ["one\r\n.\r\nMAIL FROM:<x>"], InvalidMessageLine),
    ("a@x", ["b@x"], "\r\n", ["nul\0"], InvalidMessageLine),
    ("a@x", ["b@x"], "\r\n", "not a list of lines", InvalidMessageLine),
])
def test_bad_input_raises_before_sendmail_starts(loud: Path, sender: str, to: list[str], header: str,
                                                 lines: list[str], error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        SendmailSMTP(loud).smtp_send_message("x", sender, to, header, lines)
    assert isinstance(caught.value, ValueError)
    assert not Path(f"{loud}.ran").exists()


def test_bad_input_never_calls_end_of_message(loud: Path) -> None:
    calls = []
    with smtpunit.smtp_sending_end_of_message.parameterize(lambda: calls.append(1)), pytest.raises(ValueError):
        SendmailSMTP(loud).smtp_send_message("x", "a@x", ["b@x"], "\r\n", ["bad\n"])
    assert calls == []


# -- failures ------------------------------------------------------------------------------


def test_missing_program(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-sendmail"
    with pytest.raises(SendmailError, match="no-such-sendmail") as caught:
        SendmailSMTP(missing).smtp_send_message("x", "a@x", ["b@x"], "\r\n", ["x"])
    assert caught.value.returncode is None
    assert "No such file" in str(caught.value)


def test_program_that_is_not_executable(tmp_path: Path) -> None:
    path = tmp_path / "not-executable"
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o600)  # no x bit at all: not even root may run it
    with pytest.raises(SendmailError, match="cannot run"):
        SendmailSMTP(path).smtp_send_message("x", "a@x", ["b@x"], "\r\n", ["x"])


def test_sendmail_that_fails_reports_its_stderr(postfix: PostfixInstance) -> None:
    unit = SendmailSMTP(postfix.sendmail_path, extra_args=("-C", "/nonexistent"))
    with pytest.raises(SendmailError) as caught:
        unit.smtp_send_message("x", "a@example.org", [postfix.address("never")], "\r\n", ["x"])
    error = caught.value
    assert error.returncode == 75  # EX_TEMPFAIL
    assert "/nonexistent/main.cf" in error.stderr
    assert "/nonexistent/main.cf" in str(error)
    assert "75" in str(error)
    assert error.argv[:3] == (postfix.sendmail_path, "-C", "/nonexistent")


def test_non_zero_exit_of_any_program(tmp_path: Path) -> None:
    path = program(tmp_path, "refusing", 'cat >/dev/null\necho "550 5.1.1 <b@x>: no such user" >&2\nexit 67\n')
    with pytest.raises(SendmailError) as caught:
        SendmailSMTP(path).smtp_send_message("x", "a@x", ["b@x"], "\r\n", ["x"])
    assert caught.value.returncode == 67
    assert "no such user" in caught.value.stderr
    assert "no such user" in str(caught.value)


def test_exiting_without_reading_the_message_is_an_error(tmp_path: Path) -> None:
    path = program(tmp_path, "lazy", "exit 0\n")
    with pytest.raises(SendmailError, match="before reading the whole message"):
        SendmailSMTP(path).smtp_send_message("x", "a@x", ["b@x"], "\r\n", ["w" * 900] * 2000)


def test_a_background_child_holding_the_pipes_does_not_block(tmp_path: Path) -> None:
    """Some sendmails leave a delivery process behind with their stdout/stderr open."""
    path = program(tmp_path, "forking", 'cat >/dev/null\nsleep 30 &\necho $! > "$0.child"\nexit 0\n')
    started = time.monotonic()
    try:
        result = SendmailSMTP(path, timeout=10).smtp_send_message("x", "a@x", ["b@x"], "\r\n", ["x"])
    finally:
        child = Path(f"{path}.child")
        if child.exists():
            os.kill(int(child.read_text()), 9)
    assert time.monotonic() - started < 3
    assert result.accepted == ("b@x",)


def test_a_timeout_after_the_whole_message_kills_sendmail_and_leaves_the_outcome_unknown(tmp_path: Path) -> None:
    path = program(tmp_path, "slow", 'cat >/dev/null\necho $$ > "$0.pid"\nexec sleep 30\n')
    started = time.monotonic()
    with pytest.raises(SMTPOutcomeUnknown, match="may or may not have queued it"):
        SendmailSMTP(path, timeout=0.5).smtp_send_message("x", "a@x", ["b@x"], "\r\n", ["x"],
                                                          retry=Retry(attempts=3, backoff=0.01))
    assert time.monotonic() - started < 5  # and not retried: once handed over, it may be queued
    pid = int(Path(f"{path}.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_timeout_option_per_call(tmp_path: Path) -> None:
    path = program(tmp_path, "slow", "exec sleep 30\n")
    started = time.monotonic()
    with pytest.raises(SMTPOutcomeUnknown):  # the message fits the pipe: handed over, maybe read
        SendmailSMTP(path).smtp_send_message("x", "a@x", ["b@x"], "\r\n", ["x"], timeout=0.3)
    assert time.monotonic() - started < 5


# -- the end-of-message procedure ------------------------------------------------------------


def test_end_of_message_is_called_after_the_message(postfix: PostfixInstance, sendmail: SendmailSMTP) -> None:
    rcpt = postfix.address("pipe-eom")
    calls = []
    with smtpunit.smtp_sending_end_of_message.parameterize(lambda: calls.append(postfix.queued())):
        sendmail.smtp_send_message("x", "eom@example.org", [rcpt], header_for("eom@example.org", rcpt, "eom"), ["x"])
    assert len(calls) == 1
    postfix.messages(to=rcpt)


def test_end_of_message_that_raises_delivers_nothing(postfix: PostfixInstance, sendmail: SendmailSMTP) -> None:
    rcpt = postfix.address("pipe-abort")

    def abort() -> None:
        raise KeyboardInterrupt("changed my mind")

    with smtpunit.smtp_sending_end_of_message.parameterize(abort), pytest.raises(KeyboardInterrupt):
        sendmail.smtp_send_message("x", "abort@example.org", [rcpt], header_for("abort@example.org", rcpt, "abort"),
                                   LINES)

    postfix.assert_nothing_delivered(rcpt, settle=1.0)


def test_delivery_status_notifications_go_as_sendmails_options(tmp_path: Path) -> None:
    path = program(tmp_path, "argv", 'echo "$@" > "$0.argv"\ncat >/dev/null\n')
    SendmailSMTP(path).smtp_send_message("x", "a@x", ["b@x"], "\r\n", ["x"],
                                         dsn=DSN(notify=("SUCCESS", "DELAY"), ret="HDRS", envid="id 1"))
    assert Path(f"{path}.argv").read_text() == "-N success,delay -R hdrs -V id 1 -i -f a@x -- b@x\n"
