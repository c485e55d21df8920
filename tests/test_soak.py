"""Bounded soak: many polls against flapping simulated routers; resources must not grow.

CI runs a reduced size (VRRP_SOAK_POLLS, default 2,000 polls); the full run is
`VRRP_SOAK_POLLS=20000 pytest tests/test_soak.py -s` (about 4 minutes). Exporter and simulator
share this process, so the figures include both: they are an upper bound for the exporter.
Tolerances: RSS may grow by 25 MB (allocator arenas and caches settle during the first minutes;
a leak of one object per poll would exceed it at 20,000 polls), open files by 4 and asyncio
tasks by 4 (a poll in flight at the moment of measuring).
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import time
from pathlib import Path

import aiohttp
import reporting

from exporter.config import load_config
from exporter.model import VrrpState
from exporter.service import Exporter
from exporter.sim.cli import bench_specs
from exporter.sim.fleet import SimFleet

POLLS = int(os.environ.get("VRRP_SOAK_POLLS", "2000"))
TIME_LIMIT = 540.0  # seconds; the loop stops by itself at POLLS or at this limit
ROUTERS = 10


def resources() -> dict[str, float]:
    gc.collect()
    status = Path("/proc/self/status").read_text()
    rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return {
        "rss_mb": rss_kb / 1024,
        "fds": len(os.listdir("/proc/self/fd")),
        "tasks": len(asyncio.all_tasks()),
    }


async def flap(fleet: SimFleet, stop: asyncio.Event, rng: random.Random) -> int:
    """Change states, drop sessions and break outputs now and then, until told to stop."""
    events = 0
    routers = list(fleet)
    while not stop.is_set():
        router = rng.choice(routers)
        roll = rng.random()
        if roll < 0.80:
            group = rng.choice(router.groups)
            router.set_state(group.name, rng.choice([VrrpState.MASTER, VrrpState.BACKUP, VrrpState.FAULT]))
        elif roll < 0.90:
            router.garbage = b"\x00garbage" if router.garbage is None else None
        else:
            await router.restart()
        events += 1
        await asyncio.sleep(0.02)
    for router in routers:
        router.garbage = None
    return events


async def test_soak(tmp_path: Path) -> None:
    specs, clusters = bench_specs(ROUTERS, 10, 2, "1.4")
    async with SimFleet(tmp_path, specs, clusters=clusters) as fleet:
        path = fleet.write_config(poll_interval="100ms", timeout="80ms")
        exporter = Exporter(load_config(path), path)
        await exporter.start("127.0.0.1:0")
        stop = asyncio.Event()
        rng = random.Random(7)
        scrapes = 0
        try:
            async with aiohttp.ClientSession() as session:
                url = f"http://127.0.0.1:{exporter.port}/metrics"
                for _ in range(20):  # warm up: connections, caches, first errors
                    await exporter.poller.wait_next_round()
                start = resources()
                commands_at_start = sum(r.commands_run for r in fleet)
                flapper = asyncio.create_task(flap(fleet, stop, rng))
                deadline = time.monotonic() + TIME_LIMIT
                while sum(r.commands_run for r in fleet) - commands_at_start < POLLS and time.monotonic() < deadline:
                    async with session.get(url) as response:
                        assert response.status == 200
                        await response.read()
                    scrapes += 1
                    await asyncio.sleep(0.1)
                stop.set()
                flaps = await flapper
                for router in fleet:
                    router.garbage = None
                for _ in range(5):  # settle: every router answers again
                    await exporter.poller.wait_next_round()
                end = resources()
        finally:
            stop.set()
            await exporter.stop()
        polls = sum(r.commands_run for r in fleet) - commands_at_start
    line = (
        f"{polls} polls, {scrapes} scrapes, {flaps} flaps: RSS {start['rss_mb']:.1f} -> {end['rss_mb']:.1f} MB,"
        f" fds {start['fds']:.0f} -> {end['fds']:.0f}, asyncio tasks {start['tasks']:.0f} -> {end['tasks']:.0f}"
    )
    reporting.add_line("soak (exporter and simulator in one process)", line)
    assert polls >= min(POLLS, 100)
    assert end["rss_mb"] - start["rss_mb"] < 25, line
    assert end["fds"] - start["fds"] <= 4, line
    assert end["tasks"] - start["tasks"] <= 4, line
