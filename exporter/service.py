"""The running exporter: poller + registry + HTTP server, with reload and clean shutdown."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import time
from collections.abc import Sequence
from pathlib import Path

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry, Gauge, GCCollector, PlatformCollector, ProcessCollector

from .collector import VrrpCollector
from .config import Config, Shard, load_config, permission_warnings
from .errors import ConfigError
from .exposition import Exposition
from .poller import Poller, Transport
from .watchmetrics import WatchCollector
from .web import guard as webserver
from .web.http import HttpContext, build_app

log = structlog.get_logger("exporter.service")

# Longest a reload may spend reading and validating the file. The loader's own bounds keep a worst
# case near 2 s; a slower load means a stuck disk or a bug, and the old config should keep running.
RELOAD_LOAD_TIMEOUT_SECONDS = 10.0


def parse_listen_address(value: str) -> tuple[str | None, int]:
    """`:9798`, `0.0.0.0:9798`, `[::1]:9798`, `localhost:0` -> (host or None for all, port)."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"invalid listen address {value!r}: expected host:port, e.g. :9798 or 127.0.0.1:9798")
    host = host.strip("[]")
    return (host or None), int(port_text)


SD_LISTEN_FDS_START = 3  # sd_listen_fds(3): the first socket passed by systemd


def systemd_sockets() -> list[socket.socket]:
    """The listening sockets of systemd socket activation (LISTEN_PID must be this process).

    The variables are removed afterwards, as sd_listen_fds(1) does, so children do not take them."""
    pid, count = os.environ.pop("LISTEN_PID", ""), os.environ.pop("LISTEN_FDS", "")
    os.environ.pop("LISTEN_FDNAMES", None)
    if not pid.isdigit() or int(pid) != os.getpid() or not count.isdigit() or int(count) < 1:
        raise ValueError("--web.systemd-socket: no socket activation file descriptors found (LISTEN_FDS/LISTEN_PID)")
    sockets = []
    for fd in range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + int(count)):
        sock = socket.socket(fileno=fd)
        sock.setblocking(False)
        sockets.append(sock)
    return sockets


def warn_permissions(config: Config) -> None:
    for warning in permission_warnings(config):
        log.warning("secret_file_permissions", problem=warning)


class Exporter:
    def __init__(
        self,
        config: Config,
        config_path: Path | None = None,
        transport: Transport | None = None,
        shard: Shard | None = None,
    ):
        self.shard = shard
        if shard is not None:
            config = shard.select(config)
        warn_permissions(config)
        self.config_path = config_path
        self.poller = Poller(config, transport=transport)
        self.views = self.poller.views
        collector = VrrpCollector(self.views)
        rest = CollectorRegistry()  # everything but the VRRP series, which /metrics renders itself
        rest.register(WatchCollector(self.poller.watch_status))
        # What client_python's default registry exposes (process_*, python_info, python_gc_*),
        # on our own registry: process_* is what dashboards and alerts on any exporter expect.
        ProcessCollector(registry=rest)
        PlatformCollector(registry=rest)
        GCCollector(registry=rest)
        self.registry = CollectorRegistry()  # all of /metrics, in this order
        self.registry.register(collector)
        self.registry.register(rest)
        self.exposition = Exposition(self.registry, collector, rest)
        self._reload_ok = Gauge(
            "vrrp_exporter_config_last_reload_successful",
            "1 if the last configuration (re)load succeeded, else 0 (the previous config keeps running).",
            registry=rest,
        )
        self._reload_time = Gauge(
            "vrrp_exporter_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration (re)load.",
            registry=rest,
        )
        self._reload_ok.set(1)
        self._reload_time.set(time.time())
        self._reload_lock = asyncio.Lock()
        self._pending_load: asyncio.Future[Config] | None = None
        self._runner: web.AppRunner | None = None
        self._servers: list[asyncio.Server] = []
        self.listener: webserver.Listener | None = None
        self.bound: list[tuple[str, int]] = []

    @property
    def config(self) -> Config:
        return self.poller.config

    def _load(self, path: Path) -> Config:
        """Read and validate the file (runs in a worker thread: parsing must not stall scrapes)."""
        config = load_config(path)
        return self.shard.select(config) if self.shard is not None else config

    async def _load_off_loop(self, path: Path) -> Config:
        """`_load` in a thread, bounded in time. A thread cannot be killed: one that overruns keeps
        the next reload waiting for it rather than piling up another."""
        if self._pending_load is not None and not self._pending_load.done():
            raise ConfigError([f"{path}: the previous load of this file has not finished yet; try again later"])
        future = asyncio.get_running_loop().run_in_executor(None, self._load, path)
        # Retrieve the outcome even if nobody awaits it any more (after a timeout), so asyncio does
        # not log "exception was never retrieved" for a reload already reported as failed.
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._pending_load = future
        try:
            async with asyncio.timeout(RELOAD_LOAD_TIMEOUT_SECONDS):
                return await asyncio.shield(future)
        except TimeoutError:
            raise ConfigError(
                [f"{path}: reading and validating took longer than {RELOAD_LOAD_TIMEOUT_SECONDS:g}s; not applied"]
            ) from None

    def _reload_failed(self, problems: list[str]) -> tuple[bool, str]:
        self._reload_ok.set(0)
        log.error("config_reload_failed", file=str(self.config_path), problems="; ".join(problems))
        return False, "config reload failed, previous config still running:\n" + "\n".join(problems)

    async def reload(self) -> tuple[bool, str]:
        """Re-read the config file. A bad file is logged and the running config stays."""
        if self.config_path is None:
            return False, "no config file to reload (started without --config.file)"
        async with self._reload_lock:
            try:
                config = await self._load_off_loop(self.config_path)
            except ConfigError as exc:
                return self._reload_failed(exc.problems)
            except Exception as exc:
                # The loader reports bad input as ConfigError; anything else is a bug in loading or
                # validation. Whatever it is, the contract holds: the old config keeps running, the
                # gauge says 0, one log line says why (not an HTTP 500 with the gauge stuck at 1).
                return self._reload_failed([f"internal error while loading: {type(exc).__name__}: {exc}"])
            self._reload_ok.set(1)
            self._reload_time.set(time.time())
            warn_permissions(config)
            if config == self.poller.config:
                log.info("config_reload_unchanged", file=str(self.config_path))
                return True, "config unchanged"
            await self.poller.reload(config)
            log.info(
                "config_reloaded",
                file=str(self.config_path),
                clusters=len(config.clusters),
                routers=sum(len(c.routers) for c in config.clusters),
            )
            return True, "config reloaded"

    def app(self, telemetry_path: str = "/metrics", middlewares: list[Middleware] | None = None) -> web.Application:
        ctx = HttpContext(
            exposition=self.exposition,
            views=self.views.clusters,
            ready=self.views.ready,
            reload=self.reload,
            telemetry_path=telemetry_path,
        )
        return build_app(ctx, middlewares)

    async def start(
        self,
        listen_address: str | Sequence[str],
        telemetry_path: str = "/metrics",
        ssl_context: ssl.SSLContext | None = None,
        middlewares: list[Middleware] | None = None,
        header_timeout: float = webserver.HEADER_TIMEOUT_SECONDS,
        systemd_socket: bool = False,
    ) -> None:
        """Serve on every listen address (exporter-toolkit's repeatable `--web.listen-address`),
        or on the sockets systemd passed (`--web.systemd-socket`: LISTEN_FDS, from fd 3)."""
        addresses = [listen_address] if isinstance(listen_address, str) else list(listen_address)
        parsed = [parse_listen_address(address) for address in addresses]
        inherited = systemd_sockets() if systemd_socket else []
        self._runner = web.AppRunner(
            self.app(telemetry_path, middlewares),
            access_log=None,
            shutdown_timeout=2.0,
            keepalive_timeout=webserver.KEEPALIVE_TIMEOUT_SECONDS,
            max_line_size=webserver.MAX_LINE_SIZE,
            max_field_size=webserver.MAX_FIELD_SIZE,
            max_headers=webserver.MAX_HEADERS,
        )
        await self._runner.setup()
        assert self._runner.server is not None
        # One set of limits for every socket: the connection caps are per process.
        self.listener = webserver.Listener(self._runner.server, header_timeout)
        try:
            if systemd_socket:
                for sock in inherited:
                    self._servers.append(await self.listener.adopt(sock, ssl_context))
            else:
                for host, port in parsed:
                    self._servers.append(await self.listener.listen(host, port, ssl_context))
        except BaseException:
            for server in self._servers:
                server.close()
            self._servers.clear()
            raise
        self.bound = [(s.getsockname()[0], s.getsockname()[1]) for srv in self._servers for s in srv.sockets]
        self.poller.start()
        log.info(
            "exporter_started",
            listen=",".join(f"{h}:{p}" for h, p in self.bound),
            systemd_socket=systemd_socket,
            telemetry_path=telemetry_path,
            clusters=len(self.config.clusters),
            routers=sum(len(c.routers) for c in self.config.clusters),
        )

    @property
    def port(self) -> int:
        return self.bound[0][1]

    async def stop(self) -> None:
        await self.poller.stop()
        for server in self._servers:
            server.close()
        self._servers.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        log.info("exporter_stopped")
