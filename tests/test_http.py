"""HTTP endpoints with aiohttp's test client, against an exporter whose routers refuse connections."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from exporter.config import load_config
from exporter.service import Exporter, parse_listen_address


def closed_port() -> int:
    """A loopback port with nothing listening (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(path: Path, routers: list[str], poll: str = "500ms") -> Path:
    lines = [
        f"poll_interval: {poll}",
        "timeout: 400ms",
        f"ssh: {{known_hosts: {path.parent / 'kh'}}}",
        "clusters:",
        "  - name: lab",
        "    routers:",
    ]
    lines += [f"      - {{name: {r}, address: 127.0.0.1, port: {closed_port()}}}" for r in routers]
    (path.parent / "kh").write_text("")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[TestClient, Exporter, Path]]:  # type: ignore[type-arg]
    path = write_config(tmp_path / "c.yml", ["r1", "r2"])
    exporter = Exporter(load_config(path), path)
    client = TestClient(TestServer(exporter.app()))
    await client.start_server()
    exporter.poller.start()
    try:
        yield client, exporter, path
    finally:
        await exporter.poller.stop()
        await client.close()


async def wait_ready(client: TestClient) -> None:  # type: ignore[type-arg]
    async with asyncio.timeout(10):
        while (await client.get("/-/ready")).status != 200:
            await asyncio.sleep(0.05)


async def test_endpoints(client: tuple[TestClient, Exporter, Path]) -> None:  # type: ignore[type-arg]
    http, _, _ = client
    assert (await http.get("/-/healthy")).status == 200
    await wait_ready(http)
    resp = await http.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await resp.text()
    assert 'vrrp_router_up{router="r1",vrrp_cluster="lab"} 0.0' in text
    assert 'vrrp_poll_errors_total{reason="connect",router="r1",vrrp_cluster="lab"}' in text
    assert "vrrp_exporter_config_last_reload_successful 1.0" in text
    om = await http.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert om.headers["Content-Type"].startswith("application/openmetrics-text")
    page = await http.get("/")
    body = await page.text()
    assert page.status == 200 and "Cluster lab" in body and "r1 (down: connect" in body
    assert (await http.get("/-/reload")).status == 405
    assert (await http.post("/metrics")).status == 405


async def test_reload_good_and_bad(client: tuple[TestClient, Exporter, Path]) -> None:  # type: ignore[type-arg]
    http, exporter, path = client
    await wait_ready(http)
    write_config(path, ["r1", "r3"])
    resp = await http.post("/-/reload")
    assert resp.status == 200, await resp.text()
    await exporter.poller.wait_next_round()
    text = await (await http.get("/metrics")).text()
    assert 'router="r3"' in text and 'router="r2"' not in text  # removed router's series are gone

    path.write_text("clusters:\n  - name: lab\n    routers:\n      - {name: r1}\n")
    resp = await http.post("/-/reload")
    assert resp.status == 500
    assert "clusters[0].routers[0].address: field required" in await resp.text()
    text = await (await http.get("/metrics")).text()
    assert "vrrp_exporter_config_last_reload_successful 0.0" in text
    assert 'router="r3"' in text  # the old config keeps running


async def test_ready_only_after_first_round(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.yml", ["r1"])
    exporter = Exporter(load_config(path), path)
    async with TestClient(TestServer(exporter.app())) as http:
        assert (await http.get("/-/ready")).status == 503
        await exporter.poller.poll_once()
        assert (await http.get("/-/ready")).status == 200
    await exporter.poller.stop()


def test_listen_address_parsing() -> None:
    assert parse_listen_address(":9798") == (None, 9798)
    assert parse_listen_address("127.0.0.1:0") == ("127.0.0.1", 0)
    assert parse_listen_address("[::1]:9798") == ("::1", 9798)
    for bad in ("9798", "host:", "host:99999", "host:x"):
        with pytest.raises(ValueError, match="invalid listen address"):
            parse_listen_address(bad)
