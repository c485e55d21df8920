"""Fault matrix: two routers, one faulty, over real SSH on 127.0.0.1.

For every fault: /metrics answers every scrape (the slowest is recorded), the faulty router has
`vrrp_router_up 0` and the right `reason`, the healthy router's series do not move, the cluster is
never called healthy on half the data, the exporter recovers by itself after the fault ends, and
the log says it once per change (one `poll_failed`, one `poll_recovered`). The measured table is
printed at the end of the run.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import reporting
import structlog
import yaml
from faultproxy import FaultProxy
from harness import Harness, running
from scrape import Samples

from exporter.join import Verdict
from exporter.sim.fleet import SimFleet, generate_key
from exporter.sim.seed import SEED_CLUSTER, seed_cluster
from exporter.sim.vyos_render import VrrpMessage

POLL, TIMEOUT = 0.3, 0.25
FAULT_SECONDS = 1.5


@dataclass
class Lab(Harness):
    proxies: dict[str, FaultProxy] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)


def router_series(samples: Samples, router: str) -> dict[Any, float]:
    keep = ("vrrp_group_state", "vrrp_group_priority", "vrrp_router_up")
    return {k: v for k, v in samples.items() if k[0] in keep and ("router", router) in k[1]}


async def make_lab(tmp_path: Path, password: str | None = None) -> AsyncIterator[Lab]:
    async with SimFleet(tmp_path, seed_cluster(), clusters=[SEED_CLUSTER], password=password) as fleet:
        proxies = {r.name: FaultProxy(r.port) for r in fleet}
        for proxy in proxies.values():
            await proxy.start()
        try:
            config = fleet.config_dict(
                poll_interval=f"{int(POLL * 1000)}ms",
                timeout=f"{int(TIMEOUT * 1000)}ms",
                password_auth=password is not None,
            )
            if password is not None:
                fleet.files.password.write_text(password + "\n")
            for router in config["clusters"][0]["routers"]:
                router["port"] = proxies[router["name"]].port
            path = tmp_path / "faults.yml"
            path.write_text(yaml.safe_dump(config))
            write_known_hosts(fleet, proxies)
            async with running(fleet, path) as harness:
                yield Lab(harness.fleet, harness.exporter, harness.session, path, proxies=proxies)
        finally:
            for proxy in proxies.values():
                await proxy.stop()


def write_known_hosts(fleet: SimFleet, proxies: dict[str, FaultProxy]) -> None:
    lines = [f"[127.0.0.1]:{proxies[r.name].port} {r.host_key_line().split(' ', 1)[1]}" for r in fleet]
    fleet.known_hosts_path.write_text("".join(line + "\n" for line in lines))


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    async for lab in make_lab(tmp_path):
        yield lab


Action = Callable[[Lab], Awaitable[None]]


@dataclass(frozen=True)
class Fault:
    name: str
    reason: str
    start: Action
    end: Action


def _attrs(drop: bool = True, **attrs: Any) -> Action:
    """Set fault attributes on vyos01. Entering a fault cuts the live session, since some faults
    only show on a new connection; leaving one does not, so recovery is the exporter's own doing."""

    async def action(lab: Lab) -> None:
        router = lab.fleet["vyos01"]
        for key, setting in attrs.items():
            setattr(router, key, setting)
        if drop:
            lab.proxies["vyos01"].drop_all()

    return action


def _heal(**attrs: Any) -> Action:
    return _attrs(drop=False, **attrs)


def _proxy(mode: str) -> Action:
    async def action(lab: Lab) -> None:
        # Entering a fault cuts the live session (or the exporter would never see it); leaving it
        # lets a connect already in flight run into the fault's own end, as in the field.
        lab.proxies["vyos01"].set_mode(mode, drop=mode != "pass")  # type: ignore[arg-type]

    return action


async def _new_host_key(lab: Lab) -> None:
    await lab.fleet["vyos01"].restart(new_host_key=True)


async def _trust_new_host_key(lab: Lab) -> None:
    write_known_hosts(lab.fleet, lab.proxies)  # the operator verified and recorded the new key


async def _wrong_key(lab: Lab) -> None:
    router = lab.fleet["vyos01"]
    router._authorized = {generate_key().public_data}
    lab.proxies["vyos01"].drop_all()


async def _right_key(lab: Lab) -> None:
    lab.fleet["vyos01"].authorize(lab.fleet.client_key)


FAULTS = [
    Fault("tcp accepted, no SSH banner", "timeout", _proxy("silent"), _proxy("pass")),
    Fault("connection reset during key exchange", "connect", _proxy("reset"), _proxy("pass")),
    Fault("command never returns", "timeout", _attrs(hang=True), _heal(hang=False)),
    Fault("garbage output", "parse", _attrs(garbage=b"\x00\xffgarbage\x1b[2J\n"), _heal(garbage=None)),
    Fault(
        "10 MB of output",
        "command",
        _attrs(output_override=("VLAN1 " * 16 + "\n") * 100_000),
        _heal(output_override=None),
    ),
    Fault(
        "VRRP data is not available (wait time exceeded)",
        "command",
        _attrs(message=VrrpMessage.DATA_TIMEOUT),
        _heal(message=None),
    ),
    Fault(
        "non-zero exit status",
        "command",
        _attrs(output_override="", stderr="Error: op-mode failed\n", exit_status=1),
        _heal(output_override=None, stderr=None, exit_status=None),
    ),
    Fault("host key changed", "hostkey", _new_host_key, _trust_new_host_key),
    Fault("wrong key", "auth", _wrong_key, _right_key),
    Fault("wrong user", "auth", _attrs(username="admin"), _heal(username="vyos")),
]


TABLE = "fault matrix (slowest scrape during the fault, recovery after it ends)"


def report(row: dict[str, Any]) -> None:
    if TABLE not in reporting.TABLES:
        reporting.add_line(TABLE, f"{'fault':<50} {'reason':<8} {'slowest scrape':>15} {'recovery':>9}  log lines")
    reporting.add_line(
        TABLE,
        f"{row['fault']:<50} {row['reason']:<8} {row['slowest_ms']:>12.1f} ms {row['recovery_s']:>7.2f} s"
        f"  {row['failed_logs']} failed / {row['recovered_logs']} recovered",
    )


async def exercise(lab: Lab, fault: Fault) -> None:
    labels = {"vrrp_cluster": "home", "router": "vyos01"}
    before = router_series(await lab.scrape(), "vyos02")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    lab.slowest = 0.0
    with structlog.testing.capture_logs() as events:
        await fault.start(lab)
        await lab.wait_for("vrrp_router_up", 0, 10, **labels)
        async with asyncio.timeout(10):
            while not await lab.value("vrrp_poll_errors_total", **labels, reason=fault.reason):
                await asyncio.sleep(0.05)
        # Stay in the fault a while: scrapes keep answering and nothing else moves.
        deadline = time.monotonic() + FAULT_SECONDS
        while time.monotonic() < deadline:
            samples = await lab.scrape()
            assert router_series(samples, "vyos02") == before, "the healthy router's series moved"
            assert lab.exporter.views.cluster("home").verdict is not Verdict.HEALTHY
            await asyncio.sleep(0.05)
        slowest = lab.slowest
        await fault.end(lab)
        recovery = await lab.wait_for("vrrp_router_up", 1, 40, **labels)
        await lab.exporter.poller.wait_next_round()
    assert lab.exporter.views.cluster("home").verdict is Verdict.HEALTHY
    mine = [e for e in events if e.get("router") == "vyos01"]
    failed = [e for e in mine if e["event"] == "poll_failed"]
    recovered = [e for e in mine if e["event"] == "poll_recovered"]
    assert len(recovered) == 1, mine
    # Once per change: a fault shows as one failure reason, unless its cause surfaces in two
    # ways (a dropped session first reports the drop, then the fault itself).
    assert 1 <= len(failed) <= 2, [(e["reason"], e["error"]) for e in failed]
    assert failed[-1]["reason"] == fault.reason, [(e["reason"], e["error"]) for e in failed]
    rss_growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    report(
        {
            "fault": fault.name,
            "reason": fault.reason,
            "slowest_ms": slowest * 1000,
            "recovery_s": recovery,
            "failed_logs": len(failed),
            "recovered_logs": len(recovered),
            "rss_growth_mb": rss_growth_mb,
        }
    )


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
async def test_fault(lab: Lab, fault: Fault) -> None:
    await exercise(lab, fault)


async def test_expired_password(tmp_path: Path) -> None:
    async for lab in make_lab(tmp_path, password="correct horse battery staple"):
        await exercise(
            lab, Fault("password expired", "auth", _attrs(password_expired=True), _heal(password_expired=False))
        )


async def test_server_restart_mid_poll(lab: Lab) -> None:
    router = lab.fleet["vyos01"]
    router.latency = 0.15  # shorter than the timeout: the poll is in flight, not timed out
    with structlog.testing.capture_logs() as events:
        async with asyncio.timeout(10):
            while router.pending_commands == 0:
                await asyncio.sleep(0.005)
        await router.restart()  # every connection dropped while the command runs
        await lab.wait_for("vrrp_poll_errors_total", 1, 10, vrrp_cluster="home", router="vyos01", reason="connect")
        recovery = await lab.wait_for("vrrp_router_up", 1, 40, vrrp_cluster="home", router="vyos01")
    failed = [e for e in events if e["event"] == "poll_failed" and e.get("router") == "vyos01"]
    assert [e["reason"] for e in failed] == ["connect"]
    report(
        {
            "fault": "server restart mid-poll",
            "reason": "connect",
            "slowest_ms": lab.slowest * 1000,
            "recovery_s": recovery,
            "failed_logs": 1,
            "recovered_logs": 1,
        }
    )
    assert router.connections_opened == 2


async def test_reload_removes_and_adds_routers(lab: Lab, tmp_path: Path) -> None:
    """A reload that drops vyos02 and adds vyos03: old series vanish, the old session is closed."""
    from exporter.sim.fleet import SimRouter

    vyos03 = SimRouter("vyos03", lab.fleet["vyos02"].snapshot(), authorized_client_keys=[lab.fleet.client_key])
    await vyos03.start()
    try:
        config = yaml.safe_load(lab.config_path.read_text())
        routers = config["clusters"][0]["routers"]
        routers[1] = {"name": "vyos03", "address": "127.0.0.1", "port": vyos03.port}
        lab.config_path.write_text(yaml.safe_dump(config))
        with lab.fleet.known_hosts_path.open("a") as handle:
            handle.write(vyos03.host_key_line() + "\n")
        ok, message = await lab.exporter.reload()
        assert ok, message
        await lab.wait_for("vrrp_router_up", 1, 10, vrrp_cluster="home", router="vyos03")
        samples = await lab.scrape()
        assert not any(("router", "vyos02") in labels for _, labels in samples)
        assert lab.fleet["vyos02"].active_connections == 0
        assert await lab.value("vrrp_master_split", vrrp_cluster="home", set="all") == 0
    finally:
        await vyos03.stop()
