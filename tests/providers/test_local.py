"""The development providers: console:// prints each message, file:// writes it."""

from __future__ import annotations

import email
import email.policy
import io
import json
from email.message import EmailMessage

import pytest

import smtpunit
from smtpunit import errors
from smtpunit.providers import local
from smtpunit.providers.local import SEPARATOR, ConsoleMailer, FileMailer
from smtpunit.testing.conformance import check_mailer


def message() -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Bcc"] = "a@example.org", "b@example.org", "hidden@example.org"
    mail["Subject"] = "Grüße"
    mail.set_content(".a line that starts with a dot\n")
    return mail


def test_the_console_prints_the_envelope_and_the_message_as_sent(capsys):
    result = smtpunit.Mailer.from_url("console://").send_message(message())
    printed = capsys.readouterr().out
    envelope, _, text = printed.partition("\n\n")
    assert envelope == "MAIL FROM:<a@example.org>\nRCPT TO:<b@example.org>, <hidden@example.org>"
    assert text.endswith(f"\n{SEPARATOR}\n")
    parsed = email.message_from_string(text.removesuffix(f"{SEPARATOR}\n"), policy=email.policy.default)
    assert parsed["Subject"] == "Grüße" and "Bcc" not in parsed
    assert parsed.get_content() == ".a line that starts with a dot\n"  # not dot-stuffed
    assert result.accepted == ("b@example.org", "hidden@example.org")


def test_the_console_writes_to_a_given_stream_and_escapes_bytes_that_are_not_utf8():
    stream = io.StringIO()
    ConsoleMailer(stream).smtp_send_message("ignored", "a@example.org", ["b@example.org"],
                                            b"Subject: raw\r\n\r\n", [b"caf\xe9"])
    assert "caf\\xe9\n" in stream.getvalue()


def test_a_file_per_message_with_its_envelope_beside_it(tmp_path):
    directory = tmp_path / "new" / "mail"  # made when needed
    mailer = smtpunit.Mailer.from_url(f"file://{directory}")
    result = mailer.send_message(message())
    (written,) = directory.glob("*.eml")
    assert result.reply.text == f"2.0.0 written to {written}"
    parsed = email.message_from_bytes(written.read_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == "Grüße" and "Bcc" not in parsed and b"\r\n" in written.read_bytes()
    envelope = json.loads(written.with_suffix(".json").read_text())
    assert envelope == {"sender": "a@example.org", "recipients": ["b@example.org", "hidden@example.org"]}
    mailer.send_many([("a@example.org", ["b@example.org"], "Subject: n\r\n\r\n", [str(n)]) for n in range(3)])
    assert len(list(directory.glob("*.eml"))) == len(list(directory.glob("*.json"))) == 4
    assert not list(directory.glob("*.part"))


def test_a_file_that_cannot_be_written_is_an_error_and_leaves_nothing(tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a directory")
    with pytest.raises(errors.SMTPTransportError, match="could not write the message"):
        FileMailer(blocked / "mail").send("x", "a@example.org", ["b@example.org"], "Subject: x\r\n\r\n", ["x"])
    assert list(tmp_path.iterdir()) == [blocked]


def test_when_the_envelope_cannot_be_written_the_message_is_not_left_either(tmp_path, monkeypatch):
    write = local._write_whole

    def failing(path, data):
        if path.endswith(".json"):
            raise OSError(28, "No space left on device")
        write(path, data)

    monkeypatch.setattr(local, "_write_whole", failing)
    with pytest.raises(errors.SMTPTransportError, match="No space left"):
        FileMailer(tmp_path).send("x", "a@example.org", ["b@example.org"], "Subject: x\r\n\r\n", ["x"])
    assert list(tmp_path.iterdir()) == []


def test_a_directory_must_be_a_path():
    with pytest.raises(errors.InvalidArgument):
        FileMailer("")


def test_the_console_serves_every_entry_point():
    stream = io.StringIO()
    check_mailer(ConsoleMailer(stream))
    assert stream.getvalue().count(SEPARATOR) == 52


def test_files_serve_every_entry_point(tmp_path):
    check_mailer(FileMailer(tmp_path))
    assert len(list(tmp_path.glob("*.eml"))) == 52
