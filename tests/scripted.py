"""A scripted socket server on 127.0.0.1, for what real servers will not do on demand."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


class Peer:
    """The server's end of one connection, with line helpers."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.received = b""

    def say(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buffer += chunk
            self.received += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def until_end_of_data(self) -> None:
        while True:
            if self.line() == b".":
                return

    def standard_start(self, extensions: tuple[bytes, ...] = ()) -> None:
        """Greet, and answer EHLO with these extensions."""
        self.say(b"220 scripted ESMTP\r\n")
        self.line()
        lines = [b"scripted", *extensions]
        self.say(b"".join(b"250" + (b" " if i == len(lines) - 1 else b"-") + x + b"\r\n" for i, x in enumerate(lines)))


class ScriptedServer:
    """Runs ``script(peer)`` for each connection, in a thread."""

    def __init__(self, script: Callable[[Peer], None]) -> None:
        self.script = script
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.peers: list[Peer] = []
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            sock, _ = self.listener.accept()
        except OSError:
            return
        peer = Peer(sock)
        self.peers.append(peer)
        with sock:
            try:
                self.script(peer)
            except (EOFError, OSError):
                pass
            except BaseException as exc:  # noqa: BLE001 -- reported to the test
                self.errors.append(exc)

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=10)
