"""A TCP proxy on 127.0.0.1 that adds latency and counts round trips.

Each direction is forwarded by its own pair of tasks: a reader that stamps every
chunk with ``arrival + delay`` and queues it, and a writer that sends the chunks in
order once they are due. Chunks in flight in one direction never hold up the other
direction, so a request/reply round trip costs ``2 * delay`` however much is queued.

A round trip is counted each time the client sends after the proxy has delivered
server data to it since the client's previous send: the client waited for the
server. The greeting -> EHLO step counts as one.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Optional


class _Connection:
    """Counters of one proxied connection."""

    def __init__(self) -> None:
        self.server_spoke = False  # server data delivered since the client last sent
        self.round_trips = 0

    def client_sent(self) -> None:
        if self.server_spoke:
            self.round_trips += 1
            self.server_spoke = False

    def server_delivered(self) -> None:
        self.server_spoke = True


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float,
                on_read: Callable[[], None], on_written: Callable[[], None]) -> None:
    """Forward ``reader`` to ``writer``, each chunk ``delay`` seconds after it arrived."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def read_side() -> None:
        while True:
            try:
                data = await reader.read(256 * 1024)
            except ConnectionError:
                data = b""
            if data:
                on_read()
            queue.put_nowait((loop.time() + delay, data))
            if not data:
                return

    async def write_side() -> None:
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                try:
                    if writer.can_write_eof():
                        writer.write_eof()
                except OSError:  # the peer is gone already
                    pass
                return
            writer.write(data)
            on_written()
            await writer.drain()

    await asyncio.gather(read_side(), write_side())


class Proxy:
    """The proxy, running on an event loop in a background thread.

    :param target_port: the server's port on 127.0.0.1.
    :param delay: seconds added to each direction (0 to only count).
    """

    def __init__(self, target_port: int, delay: float = 0.0) -> None:
        self.target_port = target_port
        self.delay = delay
        self.port = 0
        self.connections: list[_Connection] = []
        self.active = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: Optional[asyncio.base_events.Server] = None

    def start(self) -> Proxy:
        """Listen on a free port of 127.0.0.1 (:attr:`port`)."""
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result()
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _listen(self) -> asyncio.base_events.Server:
        return await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1000)

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        counters = _Connection()
        self.connections.append(counters)
        self.active += 1
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            try:
                await asyncio.gather(
                    _pump(client_reader, server_writer, self.delay, counters.client_sent, lambda: None),
                    _pump(server_reader, client_writer, self.delay, lambda: None, counters.server_delivered),
                )
            finally:
                server_writer.close()
        except OSError:  # a peer went away: the conversation is over either way
            pass
        except asyncio.CancelledError:  # the proxy is stopping
            pass
        finally:
            client_writer.close()
            self.active -= 1

    def reset(self, delay: Optional[float] = None) -> None:
        """Forget the counted connections; optionally change the delay for new ones."""
        self.connections = []
        if delay is not None:
            self.delay = delay

    def round_trips(self, settle: float = 3.0) -> tuple[int, int]:
        """``(connections, round trips)`` since :meth:`reset`, once all connections ended."""
        future = asyncio.run_coroutine_threadsafe(self._idle(settle), self._loop)
        future.result()
        return len(self.connections), sum(c.round_trips for c in self.connections)

    async def _idle(self, settle: float) -> None:
        deadline = asyncio.get_running_loop().time() + settle
        while self.active and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)

    def stop(self) -> None:
        """Close the listener and every proxied connection, stop and close the loop."""
        if self._server is not None:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __enter__(self) -> Proxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
