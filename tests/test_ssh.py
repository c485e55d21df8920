"""The real exporter over real SSH (asyncssh servers of the simulator on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from harness import Harness, running

from exporter.model import VrrpState
from exporter.sim.fleet import SimFleet
from exporter.sim.seed import SeedPhase, apply_seed_phase

POLL = 0.3


@pytest.fixture
async def lab(fleet: SimFleet) -> AsyncIterator[Harness]:
    path = fleet.write_config(poll_interval=f"{int(POLL * 1000)}ms", timeout="250ms")
    async with running(fleet, path) as harness:
        yield harness


def split(cluster: str = "home") -> dict[str, str]:
    return {"vrrp_cluster": cluster, "set": "all"}


async def test_metrics_match_simulated_state(lab: Harness) -> None:
    for router in ("vyos01", "vyos02"):
        assert await lab.value("vrrp_router_up", vrrp_cluster="home", router=router) == 1
    samples = await lab.scrape()
    for router in lab.fleet:
        for group in router.snapshot():
            labels = {
                "vrrp_cluster": "home",
                "router": router.name,
                "group": group.name,
                "interface": group.interface,
                "vrid": str(group.vrid),
            }
            for state in VrrpState:
                key = ("vrrp_group_state", frozenset({**labels, "state": state.value}.items()))
                assert samples[key] == (1 if state is group.state else 0), (router.name, group, state)
            prio = (
                "vrrp_group_priority",
                frozenset({k: labels[k] for k in ("vrrp_cluster", "router", "group")}.items()),
            )
            assert samples[prio] == group.priority
    assert await lab.value("vrrp_master_split", **split()) == 0
    assert await lab.value("vrrp_group_master_is_preferred", vrrp_cluster="home", group="VLAN100") == 1


async def test_split_flips_within_one_poll_interval(lab: Harness) -> None:
    for phase, expected in ((SeedPhase.SPLIT, 1), (SeedPhase.PREEMPT_FIX, 0), (SeedPhase.SPLIT, 1)):
        apply_seed_phase(lab.fleet.routers, phase)
        changed_at = time.monotonic()
        # No wake-up: the regular schedule must see it within one interval (plus the poll itself).
        async with asyncio.timeout(POLL * 2 + 1):
            while await lab.value("vrrp_master_split", **split()) != expected:
                await asyncio.sleep(0.02)
        print(f"{phase}: split={expected} visible on /metrics after {time.monotonic() - changed_at:.3f}s")
    assert await lab.value("vrrp_set_masters", **split()) == 2


async def test_sync_group_all_fault(lab: Harness) -> None:
    apply_seed_phase(lab.fleet.routers, SeedPhase.SYNC_FAULT)
    await lab.rounds(2)
    for group in ("VLAN1", "VLAN100", "VLAN101"):
        assert await lab.value("vrrp_group_masters", vrrp_cluster="home", group=group) == 0
    # The set is `all`, or MAIN once the routers' new sync-group has been read (config reading).
    splits = [v for (name, _), v in (await lab.scrape()).items() if name == "vrrp_master_split"]
    assert splits and not any(splits)


async def test_connection_reuse(lab: Harness) -> None:
    await lab.rounds(8)
    for router in lab.fleet:
        assert router.connections_opened == 1, router
        assert router.commands_run >= 8


async def test_changed_host_key_is_refused(lab: Harness) -> None:
    vyos02 = lab.fleet["vyos02"]
    await vyos02.restart(new_host_key=True)  # drops the session; the exporter must reconnect
    await lab.rounds(2)
    assert await lab.value("vrrp_router_up", vrrp_cluster="home", router="vyos02") == 0
    errors = await lab.value("vrrp_poll_errors_total", vrrp_cluster="home", router="vyos02", reason="hostkey")
    assert errors is not None and errors >= 1
    samples = await lab.scrape()
    assert not any(dict(labels).get("router") == "vyos02" for name, labels in samples if name == "vrrp_group_state")
    assert await lab.value("vrrp_router_up", vrrp_cluster="home", router="vyos01") == 1


async def test_hanging_command_times_out_and_scrapes_still_answer(lab: Harness) -> None:
    vyos01 = lab.fleet["vyos01"]
    vyos01.hang = True
    slowest = 0.0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        started = time.monotonic()
        timeouts = await lab.value("vrrp_poll_errors_total", vrrp_cluster="home", router="vyos01", reason="timeout")
        slowest = max(slowest, time.monotonic() - started)
        if timeouts:
            break
        await asyncio.sleep(0.05)
    assert timeouts and timeouts >= 1
    print(f"slowest scrape while vyos01 hangs: {slowest * 1000:.1f} ms")
    assert await lab.value("vrrp_router_up", vrrp_cluster="home", router="vyos01") == 0
    assert await lab.value("vrrp_router_up", vrrp_cluster="home", router="vyos02") == 1
    vyos01.hang = False
    async with asyncio.timeout(10):
        while await lab.value("vrrp_router_up", vrrp_cluster="home", router="vyos01") != 1:
            await asyncio.sleep(0.05)


async def test_router_restart_reconnects(lab: Harness) -> None:
    vyos01 = lab.fleet["vyos01"]
    await vyos01.stop()
    await lab.rounds(2)
    assert await lab.value("vrrp_router_up", vrrp_cluster="home", router="vyos01") == 0
    await vyos01.start()
    async with asyncio.timeout(15):  # within one backoff period
        while await lab.value("vrrp_router_up", vrrp_cluster="home", router="vyos01") != 1:
            await asyncio.sleep(0.05)
    assert vyos01.connections_opened == 2


async def test_garbage_output_is_a_parse_error(lab: Harness) -> None:
    lab.fleet["vyos02"].garbage = b"\x00\xff\xfe garbage \x1b[2J"
    await lab.rounds(2)
    assert await lab.value("vrrp_router_up", vrrp_cluster="home", router="vyos02") == 0
    parse_errors = await lab.value("vrrp_poll_errors_total", vrrp_cluster="home", router="vyos02", reason="parse")
    assert parse_errors is not None and parse_errors >= 1
