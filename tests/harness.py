"""One exporter-under-test harness: a real Exporter on 127.0.0.1 and the scrapes a user would make."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from scrape import Samples, scrape, value

from exporter.config import load_config
from exporter.service import Exporter
from exporter.sim.fleet import SimFleet


@dataclass
class Harness:
    fleet: SimFleet
    exporter: Exporter
    session: aiohttp.ClientSession
    config_path: Path
    slowest: float = 0.0  # the slowest scrape so far, in seconds

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.exporter.port}/metrics"

    async def scrape(self) -> Samples:
        started = time.monotonic()
        samples = await scrape(self.session, self.url)
        self.slowest = max(self.slowest, time.monotonic() - started)
        return samples

    async def value(self, name: str, **labels: str) -> float | None:
        return value(await self.scrape(), name, **labels)

    async def wait_for(self, name: str, expected: float, limit: float, **labels: str) -> float:
        """Scrape until the sample has the value; return how long it took."""
        started = time.monotonic()
        async with asyncio.timeout(limit):
            while await self.value(name, **labels) != expected:
                await asyncio.sleep(0.05)
        return time.monotonic() - started

    async def rounds(self, n: int = 1) -> None:
        for _ in range(n):
            async with asyncio.timeout(10):
                await self.exporter.poller.wait_next_round()


@asynccontextmanager
async def running(fleet: SimFleet, config_path: Path) -> AsyncIterator[Harness]:
    """The exporter serving `config_path` on a free port, after its first poll round; stopped after."""
    exporter = Exporter(load_config(config_path), config_path)
    await exporter.start("127.0.0.1:0")
    try:
        async with aiohttp.ClientSession() as session:
            harness = Harness(fleet, exporter, session, config_path)
            await harness.rounds()
            yield harness
    finally:
        await exporter.stop()


CLI = [sys.executable, "-m", "exporter"]


async def run_cli(*args: str, limit: float = 60) -> tuple[int, str, str]:
    """The installed command line as a user runs it: (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *CLI, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL
    )
    async with asyncio.timeout(limit):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
