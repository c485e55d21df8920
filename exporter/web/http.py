"""HTTP endpoints on aiohttp: /metrics, the status page, health, readiness and reload."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from ..collector import VrrpCollector
from ..join import ClusterView
from .statuspage import render_status_page

Reloader = Callable[[], Awaitable[tuple[bool, str]]]


@dataclass(frozen=True, slots=True)
class FastMetrics:
    """/metrics without prometheus_client's per-sample formatting (about 1 s at 10,000 groups):
    `collector` writes its own text (VrrpCollector.render), `rest` is encoded as usual."""

    collector: VrrpCollector
    rest: CollectorRegistry  # everything else the registry holds, in the same order


@dataclass(frozen=True, slots=True)
class HttpContext:
    registry: CollectorRegistry
    views: Callable[[], list[ClusterView]]
    ready: Callable[[], bool]
    reload: Reloader
    telemetry_path: str = "/metrics"
    fast: FastMetrics | None = None  # same bytes as encoding `registry`


CONTEXT = web.AppKey("context", HttpContext)

# Name escapings (asked for in the Accept header) that leave legacy names such as ours unchanged;
# under another one (`dots`) the fast path would print unescaped names, so the registry is encoded.
_PLAIN_NAMES = ("underscores", "allow-utf-8", "values")
_WRITE_SLICE = 1 << 20


async def metrics(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    escaping = content_type.partition("escaping=")[2] or "underscores"
    if ctx.fast is None or escaping not in _PLAIN_NAMES:
        response = web.Response(body=encoder(ctx.registry))
        response.headers["Content-Type"] = content_type
        return response
    openmetrics = content_type.startswith("application/openmetrics-text")
    body = b"".join([*ctx.fast.collector.render_parts(openmetrics), encoder(ctx.fast.rest)])
    # 10 MB at 10,000 groups: written in slices, so the socket's send buffer never holds a second
    # copy of it (15 MiB less peak RSS at 1,000 routers, docs/performance.md).
    stream = web.StreamResponse(headers={"Content-Type": content_type})
    stream.content_length = len(body)
    await stream.prepare(request)
    view = memoryview(body)
    for start in range(0, len(body), _WRITE_SLICE):
        await stream.write(view[start : start + _WRITE_SLICE])
    await stream.write_eof()
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


def build_app(ctx: HttpContext, middlewares: list[Middleware] | None = None) -> web.Application:
    # Small limits: nothing here takes a request body, so big ones are refused early.
    app = web.Application(client_max_size=64 * 1024, middlewares=middlewares or [])
    app[CONTEXT] = ctx
    app.router.add_get(ctx.telemetry_path, metrics)
    if ctx.telemetry_path != "/":
        app.router.add_get("/", status)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_post("/-/reload", reload)
    return app
