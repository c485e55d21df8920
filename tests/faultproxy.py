"""A TCP proxy on 127.0.0.1 in front of a simulated router, to cause faults below SSH.

Modes: `pass` (forward both ways), `silent` (accept, then say nothing: no SSH banner), `reset`
(accept, read the client's first bytes, then reset the connection: the seed's
`kex_exchange_identification: read: Connection reset by peer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Literal

Mode = Literal["pass", "silent", "reset"]


class FaultProxy:
    def __init__(self, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.upstream_port = upstream_port
        self.host = host
        self.mode: Mode = "pass"
        self.accepted = 0
        self.broken = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, 0)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        # Resetting every socket ends every handler by itself (no cancel: asyncio's stream
        # callback would log the cancelled handler as an error).
        self.drop_all()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2)
        if self._server is not None:
            await self._server.wait_closed()

    def set_mode(self, mode: Mode, drop: bool = True) -> None:
        """Change how new connections are treated; `drop` also kills the current ones."""
        self.mode = mode
        if drop:
            self.drop_all()

    def drop_all(self) -> None:
        for writer in list(self._writers):
            _reset(writer)
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.add(writer)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            if self.mode == "silent":
                await reader.read()  # until the client gives up; we never answer
            elif self.mode == "reset":
                await reader.read(64)  # the client's identification string
                _reset(writer)
            else:
                await self._pipe(reader, writer)
        except (ConnectionError, OSError):
            self.broken += 1  # the exporter or the router hung up: that is what faults do
        finally:
            self._writers.discard(writer)
            self._tasks.discard(task)  # type: ignore[arg-type]
            writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.upstream_port)
        self._writers.add(up_writer)

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
            dst.close()

        try:
            await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))
        finally:
            self._writers.discard(up_writer)
            _reset(up_writer)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST instead of FIN (SO_LINGER 0), as a middlebox or a dying daemon does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
