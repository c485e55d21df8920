"""Reloads (issue 15): every failure keeps the old config with the gauge at 0 and one log line, and
loading runs off the event loop, bounded in time, so scrapes go on during a slow reload."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import structlog
from aiohttp.test_utils import TestClient, TestServer

from exporter import service
from exporter.config import Config, load_config
from exporter.service import Exporter

Client = TestClient  # type: ignore[type-arg]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(path: Path, routers: list[str], ssh: str = "") -> Path:
    (path.parent / "kh").write_text("")
    lines = [
        "poll_interval: 500ms",
        "timeout: 400ms",
        f"ssh: {{known_hosts: {path.parent / 'kh'}{ssh}}}",
        "clusters:",
        "  - name: lab",
        "    routers:",
    ]
    lines += [f"      - {{name: {r}, address: 127.0.0.1, port: {closed_port()}}}" for r in routers]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[Client, Exporter, Path]]:
    path = write_config(tmp_path / "c.yml", ["r1"])
    exporter = Exporter(load_config(path), path)
    client = TestClient(TestServer(exporter.app()))
    await client.start_server()
    exporter.poller.start()
    try:
        yield client, exporter, path
    finally:
        await exporter.poller.stop()
        await client.close()


async def gauge(http: Client) -> str:
    text = await (await http.get("/metrics")).text()
    (line,) = [x for x in text.splitlines() if x.startswith("vrrp_exporter_config_last_reload_successful ")]
    return line.split()[1]


async def test_readme_style_ssh_keys_reload(running: tuple[Client, Exporter, Path]) -> None:
    http, exporter, path = running
    write_config(path, ["r1", "r2"], ssh=", keepalive_interval: 15s")
    resp = await http.post("/-/reload")
    assert resp.status == 200, await resp.text()
    assert [t.keepalive_interval for t in exporter.poller.runtime.all_targets()] == [15.0, 15.0]
    assert await gauge(http) == "1.0"


async def test_missing_key_file_refused_on_reload(running: tuple[Client, Exporter, Path]) -> None:
    http, exporter, path = running
    before = exporter.config
    write_config(path, ["r1", "r2"], ssh=f", private_key: {path.parent / 'no_such_key'}")
    with structlog.testing.capture_logs() as logs:
        resp = await http.post("/-/reload")
    assert resp.status == 500
    assert "clusters[0].routers[0].ssh.private_key: file not found" in await resp.text()
    assert exporter.config is before
    assert await gauge(http) == "0.0"
    assert [e["event"] for e in logs if e["event"].startswith("config_reload")] == ["config_reload_failed"]


@pytest.mark.parametrize("text", ["clusters: [", "port: true\n", "a: &a [*a]\nclusters: []\n"])
async def test_bad_yaml_refused_on_reload(running: tuple[Client, Exporter, Path], text: str) -> None:
    http, exporter, path = running
    before = exporter.config
    path.write_text(text)
    resp = await http.post("/-/reload")
    assert resp.status == 500 and "previous config still running" in await resp.text()
    assert exporter.config is before and await gauge(http) == "0.0"


async def test_unexpected_error_in_loading_keeps_old_config(
    running: tuple[Client, Exporter, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    http, exporter, _ = running
    before = exporter.config

    def broken(path: Path) -> Config:
        raise RuntimeError("a bug in validation")

    monkeypatch.setattr(service, "load_config", broken)
    with structlog.testing.capture_logs() as logs:
        ok, message = await exporter.reload()
    assert not ok and "internal error while loading: RuntimeError: a bug in validation" in message
    assert exporter.config is before and await gauge(http) == "0.0"
    failed = [e for e in logs if e["event"] == "config_reload_failed"]
    assert len(failed) == 1 and "RuntimeError" in failed[0]["problems"]


def slow_loader(seconds: float, started: threading.Event | None = None) -> Callable[[Path], Config]:
    def load(path: Path) -> Config:
        if started is not None:
            started.set()
        time.sleep(seconds)  # blocks its thread, as a big file's parse would
        return load_config(path)

    return load


async def test_scrapes_answer_during_a_slow_reload(
    running: tuple[Client, Exporter, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    http, exporter, path = running
    write_config(path, ["r1", "r2"])
    started = threading.Event()
    monkeypatch.setattr(service, "load_config", slow_loader(1.5, started))
    reload = asyncio.create_task(exporter.reload())
    while not started.is_set():
        await asyncio.sleep(0.01)
    slowest = 0.0
    for _ in range(5):
        t0 = time.perf_counter()
        resp = await http.get("/metrics")
        assert resp.status == 200
        await resp.read()
        slowest = max(slowest, time.perf_counter() - t0)
        await asyncio.sleep(0.05)
    assert not reload.done()  # the scrapes really ran while the load was in progress
    assert slowest < 0.5, f"a scrape took {slowest:.2f}s during the reload"
    assert await reload == (True, "config reloaded")


async def test_reload_bounded_in_time(running: tuple[Client, Exporter, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    http, exporter, path = running
    before = exporter.config
    monkeypatch.setattr(service, "RELOAD_LOAD_TIMEOUT_SECONDS", 0.2)
    monkeypatch.setattr(service, "load_config", slow_loader(1.0))
    t0 = time.perf_counter()
    ok, message = await exporter.reload()
    assert time.perf_counter() - t0 < 0.6
    assert not ok and "took longer than 0.2s; not applied" in message
    assert exporter.config is before and await gauge(http) == "0.0"
    # The overrunning thread cannot be killed: the next reload says so instead of piling up another.
    ok, message = await exporter.reload()
    assert not ok and "has not finished yet" in message
    await asyncio.sleep(1.0)
    monkeypatch.setattr(service, "load_config", load_config)
    write_config(path, ["r1", "r2"])
    assert await exporter.reload() == (True, "config reloaded")
    assert await gauge(http) == "1.0"
