"""HTTP routes on aiohttp: /metrics, the status page, health, readiness and reload. Routes only:
what /metrics says comes from exposition.py, what the page says from statuspage.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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

_WRITE_SLICE = 1 << 20


async def metrics(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    parts, content_type = ctx.exposition.encode(request.headers.get("Accept", ""))
    body = b"".join(parts)
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
