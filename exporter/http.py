"""HTTP endpoints on aiohttp: /metrics, the status page, health, readiness and reload."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from .statuspage import render_status_page
from .verdict import ClusterView

Reloader = Callable[[], Awaitable[tuple[bool, str]]]


@dataclass(frozen=True, slots=True)
class HttpContext:
    registry: CollectorRegistry
    views: Callable[[], list[ClusterView]]
    ready: Callable[[], bool]
    reload: Reloader
    telemetry_path: str = "/metrics"


CONTEXT = web.AppKey("context", HttpContext)


async def metrics(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encoder(ctx.registry)
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


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
