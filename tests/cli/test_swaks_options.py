"""smtpunit send's swaks-like options: --server HOST:PORT, short flags, --protocol,
--socket, --sendmail, --quit-after, TLS options and --show-time-lapse."""

from __future__ import annotations

import stat

import pytest
from aiosmtpd.controller import UnixSocketController
from aiosmtpd.lmtp import LMTP
from conftest import HOST, RecordingHandler, _Controller, free_port

from smtpunit.cli.main import main


def send(*arguments: str) -> int:
    return main(["send", "--from", "a@example.org", "--to", "b@example.org", "--body", "x", *arguments])


def test_server_with_its_port(start_server):
    # Once: --server 127.0.0.1:34981 became 127.0.0.1:34981:25.
    server = start_server()
    assert send("--server", f"{HOST}:{server.port}") == 0
    assert main(["send", "-s", f"{HOST}:{server.port}", "-f", "a@example.org", "-t", "c@example.org",
                 "--body", "x"]) == 0
    assert [m.rcpt_tos for m in server.handler.messages] == [["b@example.org"], ["c@example.org"]]


@pytest.mark.parametrize("server, port, message", [
    ("127.0.0.1:1", "2", "name two ports"),
    ("127.0.0.1:http", None, "not a port number"),
    ("[::1]x", None, "write [IPv6]:PORT"),
    (None, None, "--server is required"),
])
def test_bad_server_arguments_are_usage_errors(capsys, server, port, message):
    arguments = ([] if server is None else ["--server", server]) + ([] if port is None else ["--port", port])
    assert send(*arguments) == 2
    assert message in capsys.readouterr().err


def test_an_ipv6_server_in_brackets(capsys):
    # Nothing listens there: the point is that [::1]:PORT is read as host ::1, port PORT.
    port = free_port()
    assert send("--server", f"[::1]:{port}", "--timeout", "2") == 3
    assert f"could not connect to ::1:{port}" in capsys.readouterr().err


def test_lmtp_protocol():
    class LMTPController(_Controller):
        def factory(self):
            return LMTP(self.handler, **self.SMTP_kwargs)

    class Handler(RecordingHandler):
        async def handle_DATA(self, server, session, envelope):
            await super().handle_DATA(server, session, envelope)
            return "250 2.1.5 delivered"

    handler = Handler()
    controller = LMTPController(handler, hostname=HOST, port=free_port())
    controller.start()
    try:
        assert send("--server", HOST, "--port", str(controller.port), "--protocol", "lmtp") == 0
    finally:
        controller.stop()
    assert handler.messages[0].rcpt_tos == ["b@example.org"]


def test_unix_socket(tmp_path):
    handler = RecordingHandler()
    path = tmp_path / "smtp.sock"
    controller = UnixSocketController(handler, unix_socket=str(path))
    controller.start()
    try:
        assert send("--socket", str(path)) == 0
    finally:
        controller.stop()
    assert handler.messages[0].rcpt_tos == ["b@example.org"]


def test_sendmail(tmp_path):
    program = tmp_path / "sendmail"
    program.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/argv\ncat > {tmp_path}/message\n')
    program.chmod(program.stat().st_mode | stat.S_IEXEC)
    assert send("--sendmail", str(program)) == 0
    assert (tmp_path / "argv").read_text() == "-i -f a@example.org -- b@example.org\n"
