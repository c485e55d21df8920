"""HTTP server limits: slow clients (slowloris), oversized requests, connection cap."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from exporter.config import parse_config
from exporter.service import Exporter

CONFIG = (
    "ssh: {insecure_ignore_host_key: true}\nclusters: [{name: c, routers: [{name: r, address: 127.0.0.1, port: 1}]}]\n"
)


@pytest.fixture
async def exporter() -> AsyncIterator[Exporter]:
    exporter = Exporter(parse_config(CONFIG))
    await exporter.start("127.0.0.1:0", header_timeout=0.5)
    try:
        yield exporter
    finally:
        await exporter.stop()


async def _closed_by_server(reader: asyncio.StreamReader) -> bool:
    try:
        return await reader.read(1) == b""
    except ConnectionResetError:
        return True


async def test_slow_clients_are_cut_and_scrapes_still_answer(exporter: Exporter) -> None:
    slow = []
    for _ in range(50):
        reader, writer = await asyncio.open_connection("127.0.0.1", exporter.port)
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never finishes the headers
        slow.append((reader, writer))
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", exporter.port)  # says nothing
    async with aiohttp.ClientSession() as session:
        started = time.monotonic()
        async with session.get(f"http://127.0.0.1:{exporter.port}/metrics") as response:
            assert response.status == 200
        print(f"scrape with 51 slow clients attached: {(time.monotonic() - started) * 1000:.1f} ms")
    async with asyncio.timeout(5):
        for _, writer in slow:
            writer.write(b"X-Slow: 1\r\n")  # trickling does not extend the deadline
        results = await asyncio.gather(*(_closed_by_server(r) for r, _ in slow), _closed_by_server(idle_reader))
    assert all(results)
    for _, writer in [*slow, (idle_reader, idle_writer)]:
        writer.close()


async def test_keepalive_connection_survives_between_requests(exporter: Exporter) -> None:
    async with aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{exporter.port}/-/healthy"
        assert (await session.get(url)).status == 200
        await asyncio.sleep(1.0)  # longer than the header timeout, idle: keepalive rules here
        assert (await session.get(url)).status == 200


async def test_oversized_requests_are_refused(exporter: Exporter) -> None:
    base = f"http://127.0.0.1:{exporter.port}"
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/metrics", headers={"X-Big": "a" * 100_000}) as response:
            assert response.status in (400, 431)
        async with session.post(f"{base}/-/reload", data=b"x" * 1_000_000) as response:
            assert response.status == 413
        async with session.get(f"{base}/metrics") as response:
            assert response.status == 200
