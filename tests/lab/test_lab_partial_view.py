"""Issue 13 in the real lab: a half view and a lost standby, with real keepalived and real OpenSSH.

1. The seed's split while the exporter cannot reach vyos02: vyos02's management SSH is black-holed
   inside the lab (Lab.block_ssh, a DROP for tcp/22), so the split must be inferred from vyos01's
   own table (MASTER of VLAN1, BACKUP of VLAN100/VLAN101).
2. keepalived stopped cleanly (SIGTERM, as `systemctl stop keepalived`) on vyos01, with the
   messages of VyOS 1.4 (`VRRP is not running`, exit 0) and 1.5 (`VRRP data is not available
   (process not running or no active groups)`, exit 1): vyos02 MASTER of everything, no standby.
   The time from the stop to the exporter's verdict `vrrp_stopped` is printed (tests/reporting.py).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import reporting
from lab_harness import CLUSTER, SET, ExporterProcess, Metrics, routers_up, run_poll, split_is, states_are
from vrrplab import GROUPS, ROUTER_NAMES, Lab, VrrpOptions

pytestmark = pytest.mark.lab

V1, V2 = ROUTER_NAMES
WAIT = 15.0
HEALTHY = {**{(V1, g): "MASTER" for g in GROUPS}, **{(V2, g): "BACKUP" for g in GROUPS}}
SEED_SPLIT = {
    (V1, "VLAN1"): "MASTER",
    (V2, "VLAN1"): "BACKUP",
    (V1, "VLAN100"): "BACKUP",
    (V2, "VLAN100"): "MASTER",
    (V1, "VLAN101"): "BACKUP",
    (V2, "VLAN101"): "MASTER",
}
TABLE = "keepalived stopped on vyos01 in the real lab (SIGTERM, poll 1 s): stop -> verdict"

Start = Callable[..., ExporterProcess]


def healthy(m: Metrics) -> bool:
    return routers_up(m, V1, V2) and states_are(m, HEALTHY) and split_is(m, 0)


def router_up(m: Metrics, router: str) -> float | None:
    return m.value("vrrp_router_up", vrrp_cluster=CLUSTER, router=router)


def flap(lab: Lab, router: str, iface: str, group: str) -> None:
    """The router's link of `group` down (switch port) until the peer is MASTER of it, then back."""
    peer = V2 if router == V1 else V1
    lab.set_link(router, iface, up=False)
    lab.wait_states({(router, group): "FAULT", (peer, group): "MASTER"}, 10)
    lab.set_link(router, iface, up=True)


def test_seed_split_while_vyos02_is_unreachable(
    lab_reset: Lab, start_exporter: Start, exporter_config: Callable[..., Path]
) -> None:
    lab = lab_reset
    lab.configure(VrrpOptions(nopreempt=True))
    exp = start_exporter()
    exp.wait_for(healthy, WAIT, "the healthy state")

    lab.block_ssh(V2)
    try:
        assert lab.ssh_blocked(V2)
        m = exp.wait_for(
            lambda m: router_up(m, V2) == 0 and not m.series("vrrp_group_state", router=V2),
            WAIT,
            "vyos02 down (SSH black-holed)",
        )
        assert split_is(m, 0), "vyos01 alone is MASTER of every group: nothing proves a split"
        assert m.total("vrrp_poll_errors_total", router=V2) >= 1

        # the seed's split, made as the split scenario makes it: vyos01's VLAN100 and VLAN101 links flap
        flap(lab, V1, "eth1", "VLAN100")
        flap(lab, V1, "eth2", "VLAN101")
        lab.wait_states(SEED_SPLIT, 10)
        seen_by_v1 = {k: v for k, v in SEED_SPLIT.items() if k[0] == V1}
        m = exp.wait_for(
            lambda m: split_is(m, 1) and states_are(m, seen_by_v1),
            WAIT,
            "vrrp_master_split{set=all} 1 inferred from vyos01's table alone",
        )
        assert router_up(m, V2) == 0 and not m.series("vrrp_group_state", router=V2)
        assert m.value("vrrp_set_masters", vrrp_cluster=CLUSTER, set=SET) == 1, "one router seen as MASTER"

        table = run_poll(exporter_config())
        assert table.returncode == 1, table
        inferred = [line for line in table.stdout.splitlines() if "inferred from vyos01" in line]
        assert inferred, table
        assert any(V2 in line for line in inferred), f"the line should name the router not read:\n{table}"
        doc = run_poll(exporter_config(), output="json")
        c = doc.cluster(CLUSTER)
        assert (doc.returncode, c["verdict"]) == (1, "split"), doc
        (s,) = c["sets"]
        assert s["split"] is True and list(s["split_seen_by"]) == [V1], s
        routers = {r["name"]: r for r in c["routers"]}
        assert routers[V2]["up"] is False and routers[V1]["up"] is True
    finally:
        lab.unblock_ssh(V2)

    # recovery: vyos02 answers again and the full view shows the same split from both tables
    m = exp.wait_for(
        lambda m: routers_up(m, V1, V2) and states_are(m, SEED_SPLIT) and split_is(m, 1),
        45,
        "vyos02 back: the split seen in both tables",
    )
    assert m.value("vrrp_set_masters", vrrp_cluster=CLUSTER, set=SET) == 2
    after = run_poll(exporter_config())
    assert after.returncode == 1, after
    assert "inferred from" not in after.stdout, after


def _verdict_on_status_page(exp: ExporterProcess) -> str | None:
    status, page = exp.get("/")
    found = re.search(r'data-cluster="home" data-verdict="([a-z_]+)"', page) if status == 200 else None
    return found.group(1) if found else None


@pytest.mark.parametrize(
    ("version", "message", "status"),
    [
        ("1.4", "VRRP is not running", 0),
        ("1.5", "VRRP data is not available (process not running or no active groups)", 1),
    ],
)
def test_keepalived_stopped_on_vyos01_leaves_no_standby(
    lab_reset: Lab, start_exporter: Start, exporter_config: Callable[..., Path], version: str, message: str, status: int
) -> None:
    lab = lab_reset
    lab.set_vyos_version(V1, version)
    exp = start_exporter()
    exp.wait_for(healthy, WAIT, "the healthy state")
    assert _verdict_on_status_page(exp) == "healthy"

    t0 = time.time()
    lab.stop_keepalived(V1)  # SIGTERM, as `systemctl stop keepalived`
    t_stopped = time.time()
    lab.wait_states({(V2, g): "MASTER" for g in GROUPS}, 10)

    # the exporter's verdict, scraped from the status page every 20 ms
    deadline = time.monotonic() + 20
    verdict = _verdict_on_status_page(exp)
    while verdict != "vrrp_stopped" and time.monotonic() < deadline:
        time.sleep(0.02)
        verdict = _verdict_on_status_page(exp)
    t_verdict = time.time()
    assert verdict == "vrrp_stopped", f"verdict {verdict}\n{exp.log_tail()}"

    res = lab.ssh(V1, "show vrrp")
    assert (res.returncode, res.stdout.strip()) == (status, message), res

    m = exp.wait_for(
        lambda m: (
            routers_up(m, V1, V2)
            and all(m.value("vrrp_group_standbys", vrrp_cluster=CLUSTER, group=g) == 0 for g in GROUPS)
            and states_are(m, {(V2, g): "MASTER" for g in GROUPS})
        ),
        WAIT,
        "vrrp_group_standbys 0 for every group, vyos02 MASTER of all",
    )
    t_metrics = time.time()
    assert not m.series("vrrp_group_state", router=V1), "nothing stale of vyos01"
    assert all(m.value("vrrp_group_masters", vrrp_cluster=CLUSTER, group=g) == 1 for g in GROUPS)
    assert split_is(m, 0)
    unavailable = m.total("vrrp_poll_errors_total", router=V1, reason="unavailable")
    if version == "1.5":
        assert unavailable >= 1, "the 1.5 message is re-asked before it is believed"

    status_code, page = exp.get("/")
    assert status_code == 200
    row = next((line for line in page.splitlines() if "up, but reports no VRRP" in line), "")
    assert V1 in row or V1 in page[max(0, page.find("up, but reports no VRRP") - 400) :], page[:3000]

    poll = run_poll(exporter_config())
    assert poll.returncode == 3, poll
    doc = run_poll(exporter_config(), output="json")
    c = doc.cluster(CLUSTER)
    assert (doc.returncode, c["verdict"]) == (3, "vrrp_stopped"), doc
    assert {g["name"]: (g["masters"], g["standbys"]) for g in c["groups"]} == {g: ([V2], []) for g in GROUPS}

    reporting.add_line(
        TABLE,
        f"VyOS {version} ({message!r}, exit {status}): SIGTERM -> status page verdict vrrp_stopped "
        f"{t_verdict - t0:.2f} s (stop itself {t_stopped - t0:.2f} s); -> standbys 0 on /metrics by "
        f"{t_metrics - t0:.2f} s; unavailable answers re-asked: {unavailable:g}",
    )

    lab.start_keepalived(V1)
    lab.wait_states(HEALTHY, 10)
    exp.wait_for(healthy, WAIT, "vyos01 master again after its keepalived restarted (preempt)")
