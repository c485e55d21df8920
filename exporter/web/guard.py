"""The listening socket in front of aiohttp, with the limits aiohttp lacks.

aiohttp has no deadline for receiving a request's headers, so a client that sends a byte every few
seconds (slowloris) holds its connection forever; enough of them exhaust file descriptors while
Prometheus waits. This guard closes a connection whose request does not arrive in full within
`header_timeout`, and refuses connections beyond `max_connections`.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable

from aiohttp.web_protocol import RequestHandler

HEADER_TIMEOUT_SECONDS = 10.0
MAX_CONNECTIONS = 512
KEEPALIVE_TIMEOUT_SECONDS = 75.0  # idle time between requests, as Go's net/http default


class _Guard(asyncio.Protocol):
    """Wraps one aiohttp RequestHandler and enforces the header deadline."""

    def __init__(self, inner: RequestHandler, limits: _Limits) -> None:
        self._inner = inner
        self._limits = limits
        self._transport: asyncio.Transport | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # a stream server hands out stream transports
        self._transport = transport
        if self._limits.active >= self._limits.max_connections:
            transport.abort()
            return
        self._admitted = True
        self._limits.active += 1
        self._inner.connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if not self._admitted:
            return
        # aiohttp counts complete request heads in `_request_count` (a stable attribute since 3.x).
        before = self._inner._request_count
        self._inner.data_received(data)
        if self._inner._request_count > before:
            self._disarm()  # a full request arrived; between requests keepalive_timeout rules
        elif self._deadline is None:
            self._arm()  # the first bytes of the next request: it must complete in time

    def eof_received(self) -> None:
        if self._admitted:
            self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._admitted:
            self._limits.active -= 1
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._admitted:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._admitted:
            self._inner.resume_writing()

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(self._limits.header_timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self._transport is not None:
            self._transport.abort()


class _Limits:
    def __init__(self, header_timeout: float, max_connections: int) -> None:
        self.header_timeout = header_timeout
        self.max_connections = max_connections
        self.active = 0


async def listen(
    handler_factory: Callable[[], RequestHandler],
    host: str | None,
    port: int,
    ssl_context: ssl.SSLContext | None = None,
    header_timeout: float = HEADER_TIMEOUT_SECONDS,
    max_connections: int = MAX_CONNECTIONS,
) -> asyncio.Server:
    """Listen on host:port (all interfaces for None) and hand connections to aiohttp."""
    limits = _Limits(header_timeout, max_connections)
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: _Guard(handler_factory(), limits),
        host,
        port,
        ssl=ssl_context,
        ssl_handshake_timeout=header_timeout if ssl_context is not None else None,
        backlog=128,
        reuse_address=True,
    )
