"""Page on a split, end to end: simulated VyOS routers -> exporter -> Prometheus -> Alertmanager -> webhook.

Real Prometheus and Alertmanager (Debian packages) run on 127.0.0.1 high ports. Prometheus scrapes the
exporter (in-process, polling the simulated routers over SSH) and loads deploy/prometheus/vrrp-alerts.yml;
Alertmanager runs deploy/prometheus/alertmanager.example.yml with every receiver pointed at a webhook
inside this test. The routers are driven into the seed's split: the webhook must get VRRPMasterSplit
firing with the right labels, then resolved after the routers heal. Then every panel query of every
dashboard runs against that Prometheus and must return data.

What differs from production, and why (the test must run in seconds, not minutes):
- every alert's `for:` is cut to 1s (the file is loaded through YAML and only `for` is changed),
  except VRRPExporterDown's: before Prometheus's first scrape `up` is absent, which a 1s `for` would
  turn into a page at every start;
- scrape and evaluation every 1s, Alertmanager group_wait/group_interval 1s, the exporter polls every
  500ms, Prometheus resends firing alerts every 1s (`--rules.alert.resend-delay=1s`).
The measured delays are written to fullstack-timings.json (tmp dir, and $TEST_OUTPUT when set).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from exporter.config import load_config
from exporter.join import Verdict
from exporter.service import Exporter
from exporter.sim.fleet import SimFleet
from exporter.sim.seed import SEED_CLUSTER, SeedPhase, apply_seed_phase, seed_cluster

from .binaries import require_binary
from .dashboards import DASHBOARDS, run_panel_queries
from .stack import Process, PromAPI, Webhook, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "vrrp-alerts.yml"
ALERTMANAGER_EXAMPLE = ROOT / "deploy" / "prometheus" / "alertmanager.example.yml"
JOB = "vyos-vrrp-exporter"  # VRRPExporterDown matches on this job name
FOR = "1s"
STARTUP_TIMEOUT = 30.0
ALERT_TIMEOUT = 30.0


def rules_with_short_for(path: Path) -> str:
    data = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    for group in data["groups"]:
        for rule in group["rules"]:
            if "alert" in rule and rule["alert"] != "VRRPExporterDown":
                rule["for"] = FOR
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path.name


def alertmanager_config(path: Path, webhook: Webhook) -> None:
    """The example config, with every receiver posting to the test's webhook and 1s timers."""
    data = yaml.safe_load(ALERTMANAGER_EXAMPLE.read_text(encoding="utf-8"))
    for receiver in data["receivers"]:
        receiver["webhook_configs"] = [{"url": webhook.url(receiver["name"]), "send_resolved": True}]

    def fast(route: dict[str, Any]) -> None:
        route.update(group_wait="1s", group_interval="1s", repeat_interval="1h")
        for child in route.get("routes", []):
            fast(child)

    fast(data["route"])
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def prometheus_config(path: Path, rules: str, exporter_port: int, alertmanager_port: int) -> None:
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [rules],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]},
        "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]}],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


@dataclass
class Stack:
    fleet: SimFleet
    exporter: Exporter
    prometheus: PromAPI
    webhook: Webhook
    processes: list[Process]

    def check_running(self) -> None:
        for process in self.processes:
            process.check_running()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} log (last lines)\n{p.tail()}" for p in self.processes)


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    prometheus_bin = require_binary("prometheus")
    alertmanager_bin = require_binary("prometheus-alertmanager", "alertmanager")
    webhook = Webhook()
    await webhook.start()
    prom_port, am_port = free_port(), free_port()
    alertmanager_config(tmp_path / "alertmanager.yml", webhook)
    alertmanager = Process(
        "alertmanager",
        [
            alertmanager_bin,
            f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",  # no gossip port on 0.0.0.0:9094
            "--log.level=warn",
        ],
        tmp_path / "alertmanager.log",
    )
    processes = [alertmanager]
    fleet = SimFleet(tmp_path / "sim", seed_cluster(), clusters=[SEED_CLUSTER])
    exporter: Exporter | None = None
    try:
        await alertmanager.start()  # starts while the routers and the exporter come up
        await fleet.start()
        config = fleet.write_config(poll_interval="500ms", timeout="400ms")
        exporter = Exporter(load_config(config), config)
        await exporter.start("127.0.0.1:0")
        prometheus_config(
            tmp_path / "prometheus.yml", rules_with_short_for(tmp_path / RULES.name), exporter.port, am_port
        )
        prometheus = Process(
            "prometheus",
            [
                prometheus_bin,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                "--rules.alert.resend-delay=1s",
                "--log.level=warn",
            ],
            tmp_path / "prometheus.log",
        )
        processes.append(prometheus)
        await prometheus.start()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            api = PromAPI(session, f"http://127.0.0.1:{prom_port}")
            yield Stack(fleet, exporter, api, webhook, processes)
    finally:
        for process in reversed(processes):
            await process.stop()
        if exporter is not None:
            await exporter.stop()
        await fleet.stop()
        await webhook.stop()


async def wait_for_stack(stack: Stack) -> float:
    """Until Prometheus is ready, scrapes the exporter, has the seed cluster's series and sends to
    Alertmanager (its notifier learns about Alertmanager only after ~5 s; alerts before are dropped)."""
    api = stack.prometheus
    started = time.monotonic()

    async def ready() -> bool:
        stack.check_running()
        return await api.ready()

    async def scraping() -> bool:
        stack.check_running()
        result = await api.query('vrrp_master_split{vrrp_cluster="home",set="all"} == 0')
        return bool(result) and await api.targets_up(JOB)

    async def notifier() -> bool:
        stack.check_running()
        return bool(await api.alertmanagers())

    await wait_until(ready, STARTUP_TIMEOUT, "Prometheus /-/ready")
    await wait_until(scraping, STARTUP_TIMEOUT, "Prometheus scraping the healthy seed cluster")
    await wait_until(notifier, STARTUP_TIMEOUT, "Prometheus to discover Alertmanager")
    return time.monotonic() - started


async def watch_verdict(exporter: Exporter, verdict: Verdict, within: float) -> float:
    """Unix time at which the exporter's own view first shows `verdict`."""
    async with asyncio.timeout(within):
        while exporter.views.cluster(SEED_CLUSTER.name).verdict is not verdict:
            await asyncio.sleep(0.01)
    return time.time()


def save_timings(tmp_path: Path, timings: dict[str, Any]) -> None:
    text = json.dumps(timings, indent=2) + "\n"
    (tmp_path / "fullstack-timings.json").write_text(text, encoding="utf-8")
    if os.environ.get("TEST_OUTPUT"):
        out = Path(os.environ["TEST_OUTPUT"])
        out.mkdir(parents=True, exist_ok=True)
        (out / "fullstack-timings.json").write_text(text, encoding="utf-8")
    print("full-stack timings:", text)


async def test_split_pages_then_resolves_and_dashboards_have_data(stack: Stack, tmp_path: Path) -> None:
    try:
        await page_on_split(stack, tmp_path)
    except BaseException:
        print(stack.logs())  # shown by pytest with the failure
        raise


async def page_on_split(stack: Stack, tmp_path: Path) -> None:
    startup = await wait_for_stack(stack)
    api = stack.prometheus
    # Healthy: nothing fires (firing alerts would be in ALERTS).
    assert await api.query('ALERTS{alertstate="firing"}') == []

    # The incident: VLAN1 stays on vyos01, VLAN100/VLAN101 move to vyos02.
    split_at = time.time()
    apply_seed_phase(stack.fleet.routers, SeedPhase.SPLIT)
    seen_at = await watch_verdict(stack.exporter, Verdict.SPLIT, ALERT_TIMEOUT)
    notification, alert = await stack.webhook.wait_for("VRRPMasterSplit", "firing", ALERT_TIMEOUT, after=split_at)
    stack.check_running()
    assert notification.receiver_path == "/pager"  # critical: the example config's pager route
    assert alert["labels"] == {
        "alertname": "VRRPMasterSplit",
        "severity": "critical",
        "vrrp_cluster": "home",
        "set": "all",
    }
    description = alert["annotations"]["description"]
    assert "vyos01 is MASTER of VLAN1; vyos02 is MASTER of VLAN100, VLAN101" in description, description
    assert alert["annotations"]["summary"] == "VRRP master split in cluster home, set all: masters on 2 routers"
    assert alert["annotations"]["runbook_url"] == "docs/runbook.md#vrrpmastersplit"

    # The preempt fix: vyos01 wins every group back; the page resolves.
    heal_at = time.time()
    apply_seed_phase(stack.fleet.routers, SeedPhase.PREEMPT_FIX)
    healed_at = await watch_verdict(stack.exporter, Verdict.HEALTHY, ALERT_TIMEOUT)
    resolved, _ = await stack.webhook.wait_for("VRRPMasterSplit", "resolved", ALERT_TIMEOUT, after=heal_at)
    stack.check_running()

    # Every rule evaluates without error (a template or expression that fails at run time shows here).
    broken = [(r["name"], r.get("lastError")) for r in await api.rules() if r.get("health") != "ok"]
    assert broken == []
    # Nothing pointed at a false alarm: no dual master, no group without master, no router down.
    paged = {a["labels"]["alertname"] for n in stack.webhook.notifications for a in n.body["alerts"]}
    assert paged.isdisjoint({"VRRPNoMaster", "VRRPDualMaster", "VRRPRouterDown", "VRRPExporterDown"}), paged

    # Dashboards: every panel query returns data from this Prometheus.
    now = time.time()
    results = [r for path in DASHBOARDS for r in await run_panel_queries(api, path, now)]
    assert len(results) >= 20
    failed = [str(r) for r in results if r.error]
    assert not failed, "dashboard queries without data or with errors:\n" + "\n".join(failed)
    # ...and that check does catch a query Prometheus refuses and one that returns nothing.
    probe = tmp_path / "probe.json"
    probe.write_text(
        json.dumps(
            {
                "templating": {"list": []},
                "panels": [
                    {"id": 1, "title": "typo", "targets": [{"refId": "A", "expr": "sum(vrrp_router_up"}]},
                    {"id": 2, "title": "empty", "targets": [{"refId": "A", "expr": 'vrrp_router_up{router="nope"}'}]},
                ],
            }
        ),
        encoding="utf-8",
    )
    probed = {r.panel: r.error or "" for r in await run_panel_queries(api, probe, now)}
    assert probed["typo"].startswith("query failed") and probed["empty"] == "no data", probed

    save_timings(
        tmp_path,
        {
            "settings": {
                "exporter_poll_interval": "500ms",
                "scrape_interval": "1s",
                "evaluation_interval": "1s",
                "alert_for": FOR,
                "alertmanager_group_wait": "1s",
                "alertmanager_group_interval": "1s",
                "prometheus_rules_alert_resend_delay": "1s",
            },
            "startup_until_alertmanager_discovered_s": round(startup, 2),
            "split_to_exporter_verdict_s": round(seen_at - split_at, 2),
            "split_to_webhook_firing_s": round(notification.received_at - split_at, 2),
            "heal_to_exporter_verdict_s": round(healed_at - heal_at, 2),
            "heal_to_webhook_resolved_s": round(resolved.received_at - heal_at, 2),
            "dashboard_queries": len(results),
            "notifications": [
                {
                    "receiver": n.receiver_path,
                    "status": n.status,
                    "alerts": sorted({a["labels"]["alertname"] for a in n.body["alerts"]}),
                    "at_s_after_split": round(n.received_at - split_at, 2),
                }
                for n in stack.webhook.notifications
            ],
        },
    )
