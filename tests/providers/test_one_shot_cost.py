"""The one-shot's per-call set-up, made cheaper, behaves as before: an address is
connected to without name resolution, options without credentials are shared, and
options with them never are."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from conftest import HOST, PASSWORD, USER, free_port

import smtpunit
from smtpunit import errors
from smtpunit.core.policy import TLSPolicy
from smtpunit.options import SendOptions
from smtpunit.providers import TCPTransport
from smtpunit.providers.tcp import SocketConnection
from smtpunit.units import smtp_unit
from smtpunit.units.lookup import current_unit

HEADER = "Subject: cost\r\n\r\n"


def send(port: int, server: str = HOST, **options: Any) -> smtpunit.SendResult:
    return smtpunit.smtp_send_message(server, "a@example.org", ["b@example.org"], HEADER, ["hi"], port, **options)


def refuse_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on, ``getaddrinfo`` fails the test if it is asked anything."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"getaddrinfo{args} for an address")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_an_ipv4_address_is_connected_to_without_name_resolution(start_server, monkeypatch):
    server = start_server()
    refuse_resolution(monkeypatch)
    connection = TCPTransport().connect(HOST, server.port, 5.0)
    try:
        assert connection.loopback  # told by the address, as the peer would tell it
        assert connection.socket.getpeername()[0] == HOST
        assert connection.socket.gettimeout() == 5.0
        assert connection.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        connection.close()
    send(server.port)
    assert len(server.handler.messages) == 1


def test_an_ipv6_address_is_connected_to_without_name_resolution(monkeypatch):
    refuse_resolution(monkeypatch)
    try:
        listener = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with listener:
        connection = TCPTransport().connect("::1", listener.getsockname()[1], 5.0)
        connection.close()
    assert connection.loopback and connection.socket.family == socket.AF_INET6


@pytest.mark.parametrize("name", ["localhost", "127.1"])  # "127.1" is no address inet_pton reads
def test_a_name_is_still_resolved(start_server, monkeypatch, name):
    server = start_server()
    asked: list[str] = []
    resolve = socket.getaddrinfo

    def recording(host: str, *args: Any, **kwargs: Any) -> Any:
        asked.append(host)
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording)
    try:
        send(server.port, server=name)
    except errors.SMTPTransportError:  # "localhost" may be ::1 alone, where nothing listens
        pass
    assert asked == [name]


def test_a_refused_connection_to_an_address_is_a_transport_error(monkeypatch):
    port = free_port()
    refuse_resolution(monkeypatch)
    with pytest.raises(errors.SMTPTransportError, match=f"could not connect to {HOST}:{port}") as caught:
        send(port)
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


def test_a_refused_connection_leaves_no_socket_open(monkeypatch):
    made: list[socket.socket] = []
    real = socket.socket

    class Kept(real):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(socket, "socket", Kept)
    with pytest.raises(ConnectionRefusedError):
        TCPTransport().connect(HOST, free_port(), 5.0)
    assert made and all(sock.fileno() == -1 for sock in made)


def test_options_without_credentials_are_shared_between_sends(start_server):
    server = start_server()
    unit = current_unit()
    options = SendOptions.of("send", {})
    first, second = (unit._plan(HOST, server.port, options).options for _ in range(2))
    assert first is second
    assert first.credentials is None and first.starttls is TLSPolicy.NONE
    with smtpunit.smtp_sending_server.parameterize("other.example.org"):
        assert unit._plan(HOST, server.port, options).options.ehlo_name == "other.example.org"


def test_options_with_credentials_are_never_kept(start_server):
    server = start_server(auth=True)
    send(server.port, auth_user=USER, auth_passwd=PASSWORD)
    assert server.handler.messages[0].authenticated == USER
    kept = list(smtp_unit._SHARED_OPTIONS.values())
    assert all(options.credentials is None for options in kept)
    assert PASSWORD not in repr(kept)


def test_a_socket_s_timeout_follows_each_bound_asked_for(monkeypatch):
    """The socket is reconfigured when the bound (to a tenth of a second, rounded up)
    changes, and only then."""
    near, far = socket.socketpair()
    with near, far:
        connection = SocketConnection(near, "localhost", loopback=True)
        settings: list[float] = []
        monkeypatch.setattr(connection, "socket", type("Spy", (), {
            "settimeout": lambda self, value: (settings.append(value), near.settimeout(value)),
            "send": lambda self, data: near.send(data), "fileno": lambda self: near.fileno()})())
        for bound in (5.0, 5.0, 4.95, 4.95, 7.0, 5.0):
            connection.send(b"x", bound)
        assert settings == [5.0, 7.0, 5.0] and near.gettimeout() == 5.0
