"""The pieces of the full-stack test: Prometheus and Alertmanager processes on 127.0.0.1, their HTTP
APIs, and the webhook receiver Alertmanager notifies. Every wait is bounded."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL


def free_port() -> int:
    """A loopback port that was free a moment ago (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_until(check: Callable[[], Awaitable[bool]], within: float, what: str, interval: float = 0.1) -> float:
    """Poll `check` until it is true; return the time it took. Fails after `within` seconds."""
    started = time.monotonic()
    deadline = started + within
    while True:
        with contextlib.suppress(aiohttp.ClientError, OSError):
            if await check():
                return time.monotonic() - started
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f}s waiting for {what}")
        await asyncio.sleep(interval)


@dataclass
class Process:
    """A child process whose output goes to a log file (shown when a test fails)."""

    name: str
    argv: Sequence[str]
    log: Path
    proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("wb") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=asyncio.subprocess.STDOUT
            )

    def check_running(self) -> None:
        assert self.proc is not None
        if self.proc.returncode is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    async def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            async with asyncio.timeout(STOP_TIMEOUT):
                await proc.wait()


class PromAPI:
    """The few Prometheus HTTP API calls the tests make."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def _get(self, path: str, params: Mapping[str, str] | Sequence[tuple[str, str]] = ()) -> Any:
        async with self.session.get(self.base + path, params=params) as response:
            body = await response.json(content_type=None)
        if body.get("status") != "success":
            raise PromQueryError(
                f"{path} {dict(params) if isinstance(params, Mapping) else params}: "
                f"{body.get('errorType')}: {body.get('error')}"
            )
        return body["data"]

    async def ready(self) -> bool:
        async with self.session.get(self.base + "/-/ready") as response:
            return response.status == 200

    async def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = await self._get("/api/v1/query", params)
        result: list[dict[str, Any]] = data["result"] if data["resultType"] in ("vector", "matrix") else [data]
        return result

    async def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        data = await self._get("/api/v1/query_range", params)
        result: list[dict[str, Any]] = data["result"]
        return result

    async def label_values(self, label: str, match: str | None = None) -> list[str]:
        params = [("match[]", match)] if match else []
        values: list[str] = await self._get(f"/api/v1/label/{label}/values", params)
        return values

    async def alertmanagers(self) -> list[str]:
        data = await self._get("/api/v1/alertmanagers")
        return [a["url"] for a in data["activeAlertmanagers"]]

    async def targets_up(self, job: str) -> bool:
        data = await self._get("/api/v1/targets", {"state": "active"})
        targets = [t for t in data["activeTargets"] if t["labels"].get("job") == job]
        return bool(targets) and all(t["health"] == "up" for t in targets)

    async def rules(self) -> list[dict[str, Any]]:
        data = await self._get("/api/v1/rules")
        return [rule for group in data["groups"] for rule in group["rules"]]


class PromQueryError(AssertionError):
    """Prometheus refused a query (bad syntax, bad parameters)."""


@dataclass
class Notification:
    received_at: float  # Unix time
    receiver_path: str
    body: dict[str, Any]

    @property
    def status(self) -> str:
        return str(self.body.get("status"))

    def alerts(self, alertname: str, status: str | None = None) -> list[dict[str, Any]]:
        return [
            a
            for a in self.body.get("alerts", [])
            if a["labels"].get("alertname") == alertname and (status is None or a["status"] == status)
        ]


@dataclass
class Webhook:
    """Alertmanager's webhook receiver, inside the test: records every notification it gets."""

    notifications: list[Notification] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        async with self._changed:
            self.notifications.append(Notification(time.time(), request.path, body))
            self._changed.notify_all()
        return web.Response(text="ok\n")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{receiver}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server  # aiohttp keeps the asyncio server private; we need the bound port
        sockets = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1])

    def url(self, receiver: str) -> str:
        return f"http://127.0.0.1:{self.port}/{receiver}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(
        self, alertname: str, status: str, within: float, after: float = 0.0
    ) -> tuple[Notification, dict[str, Any]]:
        """The first notification received after Unix time `after` carrying `alertname` in `status`."""

        def found() -> tuple[Notification, dict[str, Any]] | None:
            for n in self.notifications:
                if n.received_at >= after and (alerts := n.alerts(alertname, status)):
                    return n, alerts[0]
            return None

        try:
            async with asyncio.timeout(within):
                async with self._changed:
                    await self._changed.wait_for(lambda: found() is not None)
        except TimeoutError:
            seen = [
                (n.receiver_path, n.status, [a["labels"]["alertname"] for a in n.body["alerts"]])
                for n in self.notifications
            ]
            raise AssertionError(
                f"no {status} {alertname} notification within {within:.0f}s; received: {seen}"
            ) from None
        result = found()
        assert result is not None
        return result
