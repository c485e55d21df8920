"""Event-driven re-poll: a `watch_command` streaming keepalived's log triggers a poll at once."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

import aiohttp
import pytest
import reporting
import yaml

from exporter.config import load_config, parse_config
from exporter.service import Exporter
from exporter.sim.fleet import WATCH_COMMAND, SimFleet
from exporter.sim.seed import SeedPhase, apply_seed_phase

POLL = "5s"


async def split_value(session: aiohttp.ClientSession, port: int) -> str:
    async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
        text = await response.text()
    line = next((x for x in text.splitlines() if x.startswith('vrrp_master_split{set="all"')), "")
    return line.rsplit(" ", 1)[-1]


async def start(fleet: SimFleet, tmp_path: Path, watch: bool) -> Exporter:
    config = fleet.config_dict(poll_interval=POLL, timeout="1s")
    if watch:
        config["ssh"]["watch_command"] = WATCH_COMMAND
    path = tmp_path / f"watch-{watch}.yml"
    path.write_text(yaml.safe_dump(config))
    exporter = Exporter(load_config(path), path)
    await exporter.start("127.0.0.1:0")
    async with asyncio.timeout(10):
        await exporter.poller.wait_next_round()
    return exporter


async def measure(fleet: SimFleet, exporter: Exporter, transitions: int) -> list[float]:
    """Flip between healthy and split; return the delays until /metrics shows each flip."""
    delays = []
    async with aiohttp.ClientSession() as session:
        phases = [SeedPhase.SPLIT, SeedPhase.PREEMPT_FIX] * transitions
        for phase in phases[:transitions]:
            expected = "1.0" if phase is SeedPhase.SPLIT else "0.0"
            await asyncio.sleep(0.3)  # let any poll in flight finish, as in the field
            apply_seed_phase(fleet.routers, phase)
            started = time.monotonic()
            async with asyncio.timeout(15):
                while await split_value(session, exporter.port) != expected:
                    await asyncio.sleep(0.01)
            delays.append(time.monotonic() - started)
    return delays


def summary(delays: list[float]) -> str:
    ms = [round(d * 1000) for d in delays]
    return f"median {statistics.median(ms):.0f} ms, max {max(ms)} ms over {len(ms)} transitions: {ms}"


async def test_watch_triggers_repoll(fleet: SimFleet, tmp_path: Path) -> None:
    exporter = await start(fleet, tmp_path, watch=True)
    try:
        async with asyncio.timeout(5):
            while not all(live for live, _ in exporter.poller.watch_status().values()):
                await asyncio.sleep(0.02)
        assert fleet["vyos01"].watch_sessions == 1  # one stream per router, on the poll's connection
        assert fleet["vyos01"].connections_opened == 1
        delays = await measure(fleet, exporter, 6)
        events = sum(n for _, n in exporter.poller.watch_status().values())
        async with aiohttp.ClientSession() as session:
            text = await (await session.get(f"http://127.0.0.1:{exporter.port}/metrics")).text()
        assert 'vrrp_watch_up{router="vyos01",vrrp_cluster="home"} 1.0' in text
        assert 'vrrp_watch_events_total{router="vyos02",vrrp_cluster="home"}' in text
    finally:
        await exporter.stop()
    reporting.add_line("watch_command (simulator, poll_interval 5s)", f"watch on:  {summary(delays)}")
    # Functional bound, not a timing claim: without the event path each flip waits for the next
    # 5 s tick; with it, every flip is seen long before that.
    assert max(delays) < 2.5, delays
    assert events >= 6  # "Entering ... STATE" lines; the ARP chatter lines did not count


async def test_polling_only_for_comparison(fleet: SimFleet, tmp_path: Path) -> None:
    exporter = await start(fleet, tmp_path, watch=False)
    try:
        delays = await measure(fleet, exporter, 3)
    finally:
        await exporter.stop()
    reporting.add_line("watch_command (simulator, poll_interval 5s)", f"watch off: {summary(delays)}")
    assert max(delays) < 5 + 1.5  # at the next tick at the latest


async def test_watch_stream_dies_and_comes_back(fleet: SimFleet, tmp_path: Path) -> None:
    exporter = await start(fleet, tmp_path, watch=True)
    try:
        status = exporter.poller.watch_status
        async with asyncio.timeout(5):
            while not status()[("home", "vyos01")][0]:
                await asyncio.sleep(0.02)
        fleet["vyos01"].end_watches()
        async with asyncio.timeout(5):
            while status()[("home", "vyos01")][0]:
                await asyncio.sleep(0.01)
        async with asyncio.timeout(10):  # restarted after a backoff, on the same connection
            while not status()[("home", "vyos01")][0]:
                await asyncio.sleep(0.02)
        assert fleet["vyos01"].connections_opened == 1
    finally:
        await exporter.stop()


async def test_refused_watch_leaves_polling_alone(fleet: SimFleet, tmp_path: Path) -> None:
    config = fleet.config_dict(poll_interval="300ms", timeout="250ms")
    config["ssh"]["watch_command"] = "tail -F /var/log/messages"  # the router refuses it
    exporter = Exporter(parse_config(yaml.safe_dump(config)))
    await exporter.start("127.0.0.1:0")
    try:
        for _ in range(5):
            async with asyncio.timeout(10):
                await exporter.poller.wait_next_round()
        assert exporter.poller.watch_status()[("home", "vyos02")] == (False, 0)
        view = exporter.views.cluster("home")
        assert view.all_up
    finally:
        await exporter.stop()


def test_bad_watch_pattern_is_a_config_error() -> None:
    from exporter.errors import ConfigError

    with pytest.raises(ConfigError, match=r"ssh.watch_pattern: not a valid regular expression"):
        parse_config("ssh: {watch_pattern: '(unclosed'}\nclusters: [{name: c, routers: [{name: r, address: a}]}]\n")
