"""The listening socket in front of aiohttp, with the limits aiohttp lacks.

aiohttp has no deadline for receiving a request's headers, so a client that sends a byte every few
seconds (slowloris) holds its connection forever; enough of them exhaust file descriptors while
Prometheus waits. This guard, per connection:
- closes it when a request does not arrive in full within `header_timeout` (also the second and
  later requests of a kept-alive connection: the clock starts at their first byte);
- refuses a request head larger than `max_header_bytes` (431, then close) before aiohttp buffers
  it: aiohttp only bounds each line and the number of headers (128 x 8 KiB = 1 MiB per request);
- caps pipelining: at most `MAX_PIPELINED` parsed requests wait for their turn;
- aborts it when the client stops reading a response for `write_stall_timeout` (the response's
  buffers are released, and the slot it held for /metrics, see http.py);
and refuses connections beyond `max_connections`, or beyond `max_per_client` from one address,
so one host cannot lock Prometheus out.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

log = structlog.get_logger("exporter.web")

HEADER_TIMEOUT_SECONDS = 10.0
MAX_CONNECTIONS = 512
MAX_CONNECTIONS_PER_CLIENT = 64
MAX_HEADER_BYTES = 16 * 1024
MAX_PIPELINED = 4
WRITE_STALL_TIMEOUT_SECONDS = 30.0
KEEPALIVE_TIMEOUT_SECONDS = 75.0  # idle time between requests, as Go's net/http default
# Passed to aiohttp's RequestHandler: with the guard's total bound these keep a parsed head small.
MAX_LINE_SIZE, MAX_FIELD_SIZE, MAX_HEADERS = 8190, 8190, 64

_HEAD_END = b"\r\n\r\n"

PeerCheck = Callable[[dict[str, Any] | None], bool]


class ServerContext(ssl.SSLContext):
    """An SSL context that can also judge the verified client certificate (the toolkit's
    client_allowed_sans): OpenSSL verified the chain; this checks who it names."""

    peer_check: PeerCheck | None = None


_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 32\r\n\r\n"
    b"Request header fields too large\n"
)


class _Limits:
    def __init__(
        self,
        header_timeout: float,
        max_connections: int,
        max_per_client: int,
        max_header_bytes: int,
        write_stall_timeout: float,
    ) -> None:
        self.header_timeout = header_timeout
        self.max_connections = max_connections
        self.max_per_client = max_per_client
        self.max_header_bytes = max_header_bytes
        self.write_stall_timeout = write_stall_timeout
        self.active = 0
        self.per_client: dict[str, int] = {}
        self.refused = 0  # connections refused by either cap (tests and logs read it)


class _Guard(asyncio.Protocol):
    """Wraps one aiohttp RequestHandler and enforces the limits above."""

    def __init__(self, inner: RequestHandler, limits: _Limits) -> None:
        self._inner = inner
        self._limits = limits
        self._transport: asyncio.Transport | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._stall: asyncio.TimerHandle | None = None
        self._admitted = False
        self._refused = False
        self._client = ""
        self._head_bytes = 0  # bytes of the request head being received, 0 between requests
        self._handled = 0  # requests whose handler returned

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # a stream server hands out stream transports
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self._client = str(peer[0]) if isinstance(peer, tuple) else ""
        limits = self._limits
        if limits.active >= limits.max_connections or limits.per_client.get(self._client, 0) >= limits.max_per_client:
            limits.refused += 1
            transport.abort()
            return
        context = transport.get_extra_info("sslcontext")
        check = context.peer_check if isinstance(context, ServerContext) else None
        if check is not None and not check(transport.get_extra_info("peercert")):
            transport.abort()  # a certificate the CA signed, but for someone not allowed here
            return
        self._admitted = True
        limits.active += 1
        limits.per_client[self._client] = limits.per_client.get(self._client, 0) + 1
        # aiohttp queues up to 32 parsed requests per connection (a module constant); fewer suffice
        # for pipelining and bound what one connection holds while its client does not read.
        self._inner._max_msg_queue_size = MAX_PIPELINED
        self._inner._msg_queue_resume_size = MAX_PIPELINED // 2
        # Count the requests whose handler has not returned yet: while one runs, incoming bytes
        # may be its body, which aiohttp bounds itself (client_max_size).
        handler = self._inner._request_handler
        if handler is not None:

            async def tracked(request: BaseRequest) -> StreamResponse:
                try:
                    return await handler(request)
                finally:
                    self._handled += 1

            self._inner._request_handler = tracked
        self._inner.connection_made(transport)
        self._arm()

    def _idle(self) -> bool:
        """Every request received has been handled: incoming bytes can only be a new request head."""
        return self._handled >= self._inner._request_count

    def data_received(self, data: bytes) -> None:
        if not self._admitted or self._refused:
            return
        if self._idle() or self._head_bytes > 0:
            # The head being received ends at the first blank line (or goes on past this chunk).
            end = data.find(_HEAD_END)
            size = self._head_bytes + (len(data) if end < 0 else end + len(_HEAD_END))
            if size > self._limits.max_header_bytes:
                self._refuse()  # before aiohttp sees (and buffers) the bytes
                return
            counting = end < 0
        else:
            counting = False
        # aiohttp counts complete request heads in `_request_count` (a stable attribute since 3.x).
        before = self._inner._request_count
        self._inner.data_received(data)
        if self._inner._request_count > before:
            self._disarm()  # a full request arrived; between requests keepalive_timeout rules
            # What follows in this chunk may be a body or the next pipelined head: not counted
            # (aiohttp's per-line and header-count limits bound the latter).
            self._head_bytes = 0
        else:
            if counting:
                self._head_bytes += len(data)
            if self._deadline is None:
                self._arm()  # the first bytes of the next request: it must complete in time

    def _refuse(self) -> None:
        self._refused = True
        self._disarm()
        if self._transport is None:
            return
        peer = self._transport.get_extra_info("peername")
        # One debug line, like aiohttp's own malformed requests (exporter.log.MalformedRequestFilter).
        log.debug(
            "malformed_http_request",
            remote=peer[0] if isinstance(peer, tuple) else str(peer),
            error=f"request head over {self._limits.max_header_bytes} bytes: 431 Request Header Fields Too Large",
        )
        if self._idle():
            self._transport.write(_TOO_LARGE)
            self._transport.close()  # sends the 431 first
        else:
            self._transport.abort()  # a response is being written: a 431 would interleave with it

    def eof_received(self) -> None:
        if self._admitted:
            self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None
        if self._admitted:
            self._admitted = False
            self._limits.active -= 1
            left = self._limits.per_client[self._client] - 1
            if left:
                self._limits.per_client[self._client] = left
            else:
                del self._limits.per_client[self._client]
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        # The transport's buffer is above its high-water mark: aiohttp's writer waits in drain()
        # until resume_writing. A client that never reads would hold that wait (and the body
        # behind it) forever, so the wait has a deadline.
        if self._admitted:
            self._inner.pause_writing()
            loop = asyncio.get_running_loop()
            self._stall = loop.call_later(self._limits.write_stall_timeout, self._stalled)

    def resume_writing(self) -> None:
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None
        if self._admitted:
            self._inner.resume_writing()

    def _stalled(self) -> None:
        self._stall = None
        if self._transport is not None:
            self._transport.abort()

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


class Listener:
    """The limits shared by every socket one exporter listens on (the caps are per process)."""

    def __init__(
        self,
        handler_factory: Callable[[], RequestHandler],
        header_timeout: float = HEADER_TIMEOUT_SECONDS,
        max_connections: int = MAX_CONNECTIONS,
        max_per_client: int = MAX_CONNECTIONS_PER_CLIENT,
        max_header_bytes: int = MAX_HEADER_BYTES,
        write_stall_timeout: float = WRITE_STALL_TIMEOUT_SECONDS,
    ) -> None:
        self._factory = handler_factory
        self.limits = _Limits(header_timeout, max_connections, max_per_client, max_header_bytes, write_stall_timeout)

    def _protocol(self) -> _Guard:
        return _Guard(self._factory(), self.limits)

    async def listen(self, host: str | None, port: int, ssl_context: ssl.SSLContext | None = None) -> asyncio.Server:
        """Listen on host:port (all interfaces for None)."""
        return await asyncio.get_running_loop().create_server(
            self._protocol,
            host,
            port,
            ssl=ssl_context,
            ssl_handshake_timeout=self.limits.header_timeout if ssl_context is not None else None,
            backlog=128,
            reuse_address=True,
        )

    async def adopt(self, sock: socket.socket, ssl_context: ssl.SSLContext | None = None) -> asyncio.Server:
        """Serve on a socket already listening (systemd socket activation)."""
        return await asyncio.get_running_loop().create_server(
            self._protocol,
            sock=sock,
            ssl=ssl_context,
            ssl_handshake_timeout=self.limits.header_timeout if ssl_context is not None else None,
        )


async def listen(
    handler_factory: Callable[[], RequestHandler],
    host: str | None,
    port: int,
    ssl_context: ssl.SSLContext | None = None,
    header_timeout: float = HEADER_TIMEOUT_SECONDS,
    max_connections: int = MAX_CONNECTIONS,
) -> asyncio.Server:
    """Listen on host:port (all interfaces for None) and hand connections to aiohttp."""
    return await Listener(handler_factory, header_timeout, max_connections).listen(host, port, ssl_context)
