"""HTTP routes on aiohttp: /metrics, the status page, health, readiness and reload. Routes only:
what /metrics says comes from exposition.py, what the page says from statuspage.py."""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

from ..exposition import Exposition
from ..join import ClusterView
from .statuspage import render_status_page

Reloader = Callable[[], Awaitable[tuple[bool, str]]]


@dataclass(frozen=True, slots=True)
class HttpContext:
    exposition: Exposition
    views: Callable[[], list[ClusterView]]
    ready: Callable[[], bool]
    reload: Reloader
    telemetry_path: str = "/metrics"


CONTEXT = web.AppKey("context", HttpContext)
# Extra response headers (web config `http_server_config.headers`), put on the request by a
# middleware and added to every response, streamed ones included, just before its head is sent.
RESPONSE_HEADERS = web.RequestKey("response_headers", dict[str, str])

_WRITE_SLICE = 256 * 1024  # one slice above the transport's high-water mark per stalled client
# /metrics bodies held at once (10 MB each at 10,000 groups), per client address and in all: a
# flood of requests waits for a slot (at most _SLOT_WAIT_SECONDS) instead of each holding a body,
# and one address that stops reading (until the guard's write-stall deadline) cannot take the
# slots of Prometheus, which scrapes from another address.
METRICS_SLOTS = 16
METRICS_SLOTS_PER_CLIENT = 2
_SLOT_WAIT_SECONDS = 10.0
_GZIP_MIN_BYTES = 1024
_GZIP_OFF_LOOP_BYTES = 256 * 1024  # above this, compress in a thread (zlib releases the GIL)


class _Slots:
    def __init__(self, total: int, per_client: int) -> None:
        self._total = asyncio.Semaphore(total)
        self._per_client = per_client
        self._clients: dict[str, tuple[asyncio.Semaphore, int]] = {}  # semaphore, users

    @contextlib.asynccontextmanager
    async def hold(self, client: str) -> AsyncIterator[None]:
        own, users = self._clients.get(client) or (asyncio.Semaphore(self._per_client), 0)
        self._clients[client] = (own, users + 1)
        try:
            async with own, self._total:
                yield
        finally:
            own, users = self._clients[client]
            if users == 1:
                del self._clients[client]  # nothing kept for addresses that are gone
            else:
                self._clients[client] = (own, users - 1)


_SLOTS = web.AppKey("metrics_slots", _Slots)


def accepts_gzip(header: str) -> bool:
    """True if Accept-Encoding allows gzip (`gzip`, `x-gzip` or `*`, with a q-value above 0)."""
    allowed = False
    for item in header.split(","):
        coding, _, params = item.strip().partition(";")
        coding = coding.strip().lower()
        if coding not in ("gzip", "x-gzip", "*"):
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if coding == "*" and allowed:
            continue  # an explicit gzip entry wins over the wildcard
        allowed = q > 0
        if coding != "*":
            return allowed
    return allowed


def _gzip(body: bytes) -> bytes:
    # Level 1: at 10 MB of exposition text it is several times faster than the default level and
    # still shrinks the body about tenfold (label sets repeat); the scrape's latency matters more.
    compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return compressor.compress(body) + compressor.flush()


async def metrics(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    async with contextlib.AsyncExitStack() as stack:
        try:
            async with asyncio.timeout(_SLOT_WAIT_SECONDS):
                await stack.enter_async_context(request.app[_SLOTS].hold(request.remote or ""))
        except TimeoutError:
            return web.Response(status=503, text="Too many concurrent scrapes.\n", headers={"Retry-After": "1"})
        return await _write_metrics(request, ctx)
    raise AssertionError("unreachable")  # mypy: the stack does not swallow exceptions


async def _write_metrics(request: web.Request, ctx: HttpContext) -> web.StreamResponse:
    parts, content_type = ctx.exposition.encode(request.headers.get("Accept", ""))
    body = b"".join(parts)
    del parts  # only one copy of the text is held while a slow client reads it
    headers = {"Content-Type": content_type, "Vary": "Accept-Encoding"}
    if len(body) >= _GZIP_MIN_BYTES and accepts_gzip(request.headers.get("Accept-Encoding", "")):
        body = await asyncio.to_thread(_gzip, body) if len(body) > _GZIP_OFF_LOOP_BYTES else _gzip(body)
        headers["Content-Encoding"] = "gzip"
    stream = web.StreamResponse(headers=headers)
    stream.content_length = len(body)
    await stream.prepare(request)
    if request.method == "HEAD":
        # The head says what GET would send; a body here would be read as the next response.
        await stream.write_eof()
        return stream
    # Written in slices, so the transport's buffer never holds a second copy of the body; every
    # write above aiohttp's 64 KiB threshold waits in drain() while the client is not reading.
    # The last slice goes through write_eof(), which always drains: write_eof() without data
    # returns at once, and a body under 64 KiB written with write() alone would never wait.
    view = memoryview(body)
    last = max(0, len(body) - _WRITE_SLICE)
    for start in range(0, last, _WRITE_SLICE):
        await stream.write(view[start : min(start + _WRITE_SLICE, last)])
    await stream.write_eof(bytes(view[last:]))
    return stream


async def status(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    html = render_status_page(ctx.views(), ctx.telemetry_path)
    return web.Response(text=html, content_type="text/html", charset="utf-8")


async def healthy(_: web.Request) -> web.Response:
    return web.Response(text="Healthy.\n")


async def ready(request: web.Request) -> web.Response:
    if request.app[CONTEXT].ready():
        return web.Response(text="Ready.\n")
    return web.Response(status=503, text="Not ready: the first poll round has not finished.\n")


async def reload(request: web.Request) -> web.Response:
    await request.read()  # no body is expected; reading enforces client_max_size (413) on one
    ok, message = await request.app[CONTEXT].reload()
    return web.Response(status=200 if ok else 500, text=message.rstrip("\n") + "\n")


async def _extra_headers(request: web.Request, response: web.StreamResponse) -> None:
    extra = request.get(RESPONSE_HEADERS)
    if extra:
        response.headers.update(extra)


def build_app(ctx: HttpContext, middlewares: list[Middleware] | None = None) -> web.Application:
    # Small limits: nothing here takes a request body, so big ones are refused early.
    app = web.Application(client_max_size=64 * 1024, middlewares=middlewares or [])
    app[CONTEXT] = ctx
    app[_SLOTS] = _Slots(METRICS_SLOTS, METRICS_SLOTS_PER_CLIENT)
    app.on_response_prepare.append(_extra_headers)
    app.router.add_get(ctx.telemetry_path, metrics)
    if ctx.telemetry_path != "/":
        app.router.add_get("/", status)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_post("/-/reload", reload)
    return app
