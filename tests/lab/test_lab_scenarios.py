"""The six scenarios of the seed incident, against real keepalived and real OpenSSH.

Each one drives the failure the way it happens in the field (a link goes down, keepalived stops,
sshd goes away) and asserts on what the exporter serves on /metrics and on `poll`'s exit code and
output. keepalived's own view (its JSON dump) is used only to know when the routers have settled.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from lab_harness import (
    CLUSTER,
    SET,
    ExporterProcess,
    Metrics,
    in_order,
    routers_up,
    run_poll,
    split_is,
    states_are,
    table_row,
)
from vrrplab import GROUPS, ROUTER_NAMES, Lab, VrrpOptions

pytestmark = pytest.mark.lab

V1, V2 = ROUTER_NAMES  # vyos01 (priority 150), vyos02 (priority 100)
WAIT = 15.0  # bound for the exporter to show a state the routers are already in (poll interval 1 s)
HEALTHY = {**{(V1, g): "MASTER" for g in GROUPS}, **{(V2, g): "BACKUP" for g in GROUPS}}
MAIN = "MAIN"  # the set the exporter derives from the routers' `sync-group MAIN`
ALL_STATES = {"INIT", "BACKUP", "MASTER", "FAULT", "DISABLED"}

Start = Callable[..., ExporterProcess]


def healthy(m: Metrics, set_name: str = SET) -> bool:
    return (
        routers_up(m, V1, V2)
        and states_are(m, HEALTHY)
        and split_is(m, 0, set_name)
        and all(m.value("vrrp_group_masters", vrrp_cluster=CLUSTER, group=g) == 1 for g in GROUPS)
    )


def masters(m: Metrics) -> dict[str, float | None]:
    return {g: m.value("vrrp_group_masters", vrrp_cluster=CLUSTER, group=g) for g in GROUPS}


def flap(lab: Lab, router: str, iface: str, group: str, peer_takes_over: bool = True) -> None:
    """Take the router's link of `group` down (switch port, like a pulled cable) until the peer is
    MASTER of it, then bring it back."""
    peer = V2 if router == V1 else V1
    lab.set_link(router, iface, up=False)
    lab.wait_states({(router, group): "FAULT", **({(peer, group): "MASTER"} if peer_takes_over else {})}, 10)
    lab.set_link(router, iface, up=True)


# ------------------------------------------------------------------------------------------------


def test_1_healthy(lab_reset: Lab, start_exporter: Start, exporter_config: Callable[..., Path]) -> None:
    """All groups MASTER on vyos01: no split, every router up, poll exits 0. vyos01 is polled with
    the default command (`/opt/vyatta/bin/vyatta-op-cmd-wrapper show vrrp`), vyos02 with a
    per-router `command: show vrrp` override."""
    logins = {r: lab_reset.accepted_logins(r) for r in ROUTER_NAMES}
    exp = start_exporter(commands={V2: "show vrrp"})
    m = exp.wait_for(healthy, WAIT, "the healthy state")
    assert exp.get("/-/healthy")[0] == 200
    status, page = exp.get("/")
    assert status == 200 and all(word in page for word in (V1, V2, *GROUPS)), page[:2000]
    time.sleep(2.5)  # two or three more poll rounds: one persistent SSH connection per router
    m = exp.metrics()
    assert healthy(m)
    assert {r: lab_reset.accepted_logins(r) - n for r, n in logins.items()} == {V1: 1, V2: 1}

    for v, iface, vrid in (("VLAN1", "eth0", "1"), ("VLAN100", "eth1", "100"), ("VLAN101", "eth2", "101")):
        for r in ROUTER_NAMES:
            series = m.series("vrrp_group_state", vrrp_cluster=CLUSTER, router=r, group=v)
            assert {s.labels["state"] for s in series} == ALL_STATES, series
            assert {(s.labels["interface"], s.labels["vrid"]) for s in series} == {(iface, vrid)}
    assert m.value("vrrp_group_priority", vrrp_cluster=CLUSTER, router=V1, group="VLAN100") == 150
    assert m.value("vrrp_group_priority", vrrp_cluster=CLUSTER, router=V2, group="VLAN100") == 100
    assert m.value("vrrp_set_masters", vrrp_cluster=CLUSTER, set=SET) == 1
    assert m.total("vrrp_poll_errors_total", vrrp_cluster=CLUSTER) == 0

    table = run_poll(exporter_config(commands={V2: "show vrrp"}))
    assert table.returncode == 0, table
    assert in_order(table_row(table.stdout, "Group"), V1, V2), table
    for g in GROUPS:
        assert in_order(table_row(table.stdout, g), "MASTER 150", "BACKUP 100"), table
    doc = run_poll(exporter_config(), output="json")
    assert doc.returncode == 0, doc
    c = doc.cluster(CLUSTER)
    assert (doc.doc["exit_code"], c["verdict"], c["exit_code"]) == (0, "healthy", 0)
    assert [(r["name"], r["up"], r["error"]) for r in c["routers"]] == [(V1, True, None), (V2, True, None)]
    assert {g["name"]: g["masters"] for g in c["groups"]} == {g: [V1] for g in GROUPS}
    assert [(s["name"], s["split"], s["masters"]) for s in c["sets"]] == [(SET, False, [V1])]

    assert exp.stop() == 0, "SIGTERM must stop the exporter cleanly with exit 0"


def test_2_seed_incident_split_with_nopreempt(
    lab_reset: Lab, start_exporter: Start, exporter_config: Callable[..., Path]
) -> None:
    """no-preempt on every group; vyos01's VLAN100 link goes down and comes back: VLAN100 stays on
    vyos02 while VLAN1 stays on vyos01 -> split. The same for VLAN101 gives the seed's tables."""
    lab = lab_reset
    lab.configure(VrrpOptions(nopreempt=True))
    exp = start_exporter()
    exp.wait_for(healthy, WAIT, "the healthy state")

    flap(lab, V1, "eth1", "VLAN100")
    lab.wait_states({(V1, "VLAN100"): "BACKUP", (V2, "VLAN100"): "MASTER"}, 10)
    m = exp.wait_for(
        lambda m: split_is(m, 1) and m.state(V2, "VLAN100") == "MASTER", WAIT, "the split after the VLAN100 link flap"
    )
    assert m.value("vrrp_set_masters", vrrp_cluster=CLUSTER, set=SET) == 2
    assert masters(m) == {g: 1 for g in GROUPS}, "every group has exactly one master: no per-group alarm"

    flap(lab, V1, "eth2", "VLAN101")
    seed = {
        (V1, "VLAN1"): "MASTER",
        (V2, "VLAN1"): "BACKUP",
        (V1, "VLAN100"): "BACKUP",
        (V2, "VLAN100"): "MASTER",
        (V1, "VLAN101"): "BACKUP",
        (V2, "VLAN101"): "MASTER",
    }
    lab.wait_states(seed, 10)
    m = exp.wait_for(lambda m: states_are(m, seed) and split_is(m, 1), WAIT, "the seed's split")
    assert routers_up(m, V1, V2)

    time.sleep(1.0)  # ten adverts later: no-preempt keeps it split, nothing heals by itself
    assert {k: s.state for k, s in lab.all_states().items()} == seed
    assert split_is(exp.metrics(), 1)

    table = run_poll(exporter_config())
    assert table.returncode == 1, table
    assert in_order(table_row(table.stdout, "Group"), V1, V2), table
    assert in_order(table_row(table.stdout, "VLAN1"), "MASTER 150", "BACKUP 100"), table
    assert in_order(table_row(table.stdout, "VLAN100"), "BACKUP 150", "MASTER 100"), table
    assert in_order(table_row(table.stdout, "VLAN101"), "BACKUP 150", "MASTER 100"), table
    assert "split" in table.stdout.lower(), table
    doc = run_poll(exporter_config(), output="json")
    c = doc.cluster(CLUSTER)
    assert (doc.returncode, doc.doc["exit_code"], c["verdict"]) == (1, 1, "split"), doc
    assert {g["name"]: g["masters"] for g in c["groups"]} == {"VLAN1": [V1], "VLAN100": [V2], "VLAN101": [V2]}
    (s,) = c["sets"]
    assert (s["name"], s["split"], sorted(s["masters"])) == (SET, True, [V1, V2])


def test_3_sync_group_all_fault(lab_reset: Lab, start_exporter: Start, exporter_config: Callable[..., Path]) -> None:
    """All groups in one sync group (the seed's first fix). vyos01 disables eth1, vyos02 disables
    eth2: each router has one FAULT member, so its whole sync group is FAULT: no master anywhere.
    The exporter reads the routers' sync-group and derives the set MAIN from it (issue 14)."""
    lab = lab_reset
    lab.configure(VrrpOptions(sync_group="MAIN"))
    exp = start_exporter()
    exp.wait_for(lambda m: healthy(m, MAIN), WAIT, "the healthy state")

    lab.set_link(V1, "eth1", up=False, side="router")  # VyOS: set interfaces ethernet eth1 disable
    moved = {**{(V1, g): "FAULT" for g in GROUPS}, **{(V2, g): "MASTER" for g in GROUPS}}
    lab.wait_states(moved, 10)
    m = exp.wait_for(lambda m: states_are(m, moved), WAIT, "vyos02 master of the whole sync group")
    assert split_is(m, 0, MAIN), "the sync group moved every group together: no split"
    assert masters(m) == {g: 1 for g in GROUPS}

    lab.set_link(V2, "eth2", up=False, side="router")
    all_fault = {(r, g): "FAULT" for r in ROUTER_NAMES for g in GROUPS}
    lab.wait_states(all_fault, 10)
    m = exp.wait_for(lambda m: states_are(m, all_fault), WAIT, "every group FAULT on both routers")
    assert masters(m) == {g: 0 for g in GROUPS}
    assert m.value("vrrp_set_masters", vrrp_cluster=CLUSTER, set=MAIN) == 0
    assert split_is(m, 0, MAIN), "no master is not a split (it is its own alert)"
    assert routers_up(m, V1, V2)

    table = run_poll(exporter_config())
    assert table.returncode == 1, table
    for g in GROUPS:
        assert in_order(table_row(table.stdout, g), "FAULT 150", "FAULT 100"), table
    doc = run_poll(exporter_config(), output="json")
    c = doc.cluster(CLUSTER)
    assert (doc.returncode, doc.doc["exit_code"], c["verdict"]) == (1, 1, "no_master"), doc
    assert {g["name"]: g["masters"] for g in c["groups"]} == {g: [] for g in GROUPS}

    lab.set_link(V1, "eth1", up=True, side="router")
    lab.set_link(V2, "eth2", up=True, side="router")
    lab.wait_states(HEALTHY, 10)
    exp.wait_for(lambda m: healthy(m, MAIN), WAIT, "recovery once both links are back")


def test_4_preempt_fix_clears_by_itself(
    lab_reset: Lab, start_exporter: Start, exporter_config: Callable[..., Path]
) -> None:
    """Preempt on, vyos01 has the higher priority (the seed's second fix): the split exists only
    while vyos01's VLAN100 link is down; when it returns, vyos01 takes VLAN100 back on its own."""
    lab = lab_reset
    exp = start_exporter()
    exp.wait_for(healthy, WAIT, "the healthy state")

    lab.set_link(V1, "eth1", up=False)
    lab.wait_states({(V1, "VLAN100"): "FAULT", (V2, "VLAN100"): "MASTER"}, 10)
    m = exp.wait_for(lambda m: split_is(m, 1), WAIT, "the split while vyos01's VLAN100 link is down")
    assert m.state(V1, "VLAN100") == "FAULT"
    assert m.state(V2, "VLAN100") == "MASTER"
    during = run_poll(exporter_config(), output="json")
    assert (during.returncode, during.cluster(CLUSTER)["verdict"]) == (1, "split"), during

    lab.set_link(V1, "eth1", up=True)  # and nothing else: preempt must heal it
    m = exp.wait_for(healthy, WAIT, "the split clearing by itself after the link returned")
    lab.wait_states(HEALTHY, 5)
    assert m.total("vrrp_group_transitions_total", vrrp_cluster=CLUSTER, router=V1, group="VLAN100") >= 2
    assert m.value("vrrp_group_transitions_total", vrrp_cluster=CLUSTER, router=V1, group="VLAN1") == 0
    after = run_poll(exporter_config(), output="json")
    assert (after.returncode, after.cluster(CLUSTER)["verdict"]) == (0, "healthy"), after


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_5_keepalived_stopped(
    lab_reset: Lab,
    start_exporter: Start,
    exporter_config: Callable[..., Path],
    measurements: Callable[[str], None],
    how: str,
) -> None:
    """keepalived stops on vyos01 (SIGTERM: graceful, priority-0 adverts; SIGKILL: a crash, the
    peer waits for the master-down interval). vyos02 takes every group; vyos01 says `VRRP is not
    running` (router up, zero groups) and nothing stale says MASTER; `poll` exits 3 (`vrrp_stopped`:
    no standby left, test_lab_partial_view.py has the details). A restart preempts back."""
    lab = lab_reset
    exp = start_exporter()
    exp.wait_for(healthy, WAIT, "the healthy state")

    t0 = time.time()
    lab.stop_keepalived(V1, sig=getattr(signal, how))
    takeover = {(V2, g): "MASTER" for g in GROUPS}
    lab.wait_states(takeover, 10)
    took = max(lab.wait_transition(V2, g, "MASTER", after=t0).at for g in GROUPS) - t0
    measurements(
        f"failover after keepalived {how} on vyos01 (VRRPv3, 0.1 s adverts): vyos02 MASTER of "
        f"all groups {took * 1000:.0f} ms later (notify hook)"
    )
    res = lab.ssh(V1, "show vrrp")
    assert (res.returncode, res.stdout.strip()) == (0, "VRRP is not running"), res

    def settled(m: Metrics) -> bool:
        return (
            routers_up(m, V1, V2)
            and not m.series("vrrp_group_state", router=V1)
            and states_are(m, {(V2, g): "MASTER" for g in GROUPS})
        )

    m = exp.wait_for(settled, WAIT, "vyos01 without groups and vyos02 master of every group")
    stale = [s for s in m.series("vrrp_group_state", state="MASTER") if s.value == 1 and s.labels["router"] == V1]
    assert not stale
    assert masters(m) == {g: 1 for g in GROUPS}
    assert split_is(m, 0)
    doc = run_poll(exporter_config(), output="json")
    c = doc.cluster(CLUSTER)
    # issue 13: vyos01 is up but reports no VRRP while vyos02 does: no standby left, exit 3
    assert (doc.returncode, c["verdict"]) == (3, "vrrp_stopped"), doc
    for g in c["groups"]:
        assert g["masters"] == [V2]
        assert g["routers"].get(V1) is None, g

    lab.start_keepalived(V1)
    lab.wait_states(HEALTHY, 10)
    exp.wait_for(healthy, WAIT, "vyos01 master again after its keepalived restarted (preempt)")


@pytest.mark.parametrize("down", [V2, V1])
def test_6_sshd_stopped_and_started(
    lab_reset: Lab, start_exporter: Start, exporter_config: Callable[..., Path], down: str
) -> None:
    """One router's sshd (and its sessions) goes away: vrrp_router_up 0, its group series are
    removed, the other router's series are untouched, poll exits 3 (router unreachable, nothing
    worse: when the unreachable one is the master, the peer's BACKUP rows must not read as
    "no master"); sshd comes back: the same exporter process reconnects."""
    lab = lab_reset
    other = V1 if down == V2 else V2
    exp = start_exporter()
    m0 = exp.wait_for(healthy, WAIT, "the healthy state")
    pid = exp.pid

    def series_of(m: Metrics, router: str) -> dict[tuple[tuple[str, str], ...], float]:
        return {
            tuple(sorted(s.labels.items())): s.value
            for name in ("vrrp_group_state", "vrrp_group_priority")
            for s in m.series(name, router=router)
        }

    other_before = series_of(m0, other)
    other_errors = m0.total("vrrp_poll_errors_total", router=other)
    other_success = m0.total("vrrp_last_poll_success_timestamp_seconds", vrrp_cluster=CLUSTER, router=other)

    lab.stop_sshd(down)
    m = exp.wait_for(
        lambda m: (
            m.value("vrrp_router_up", vrrp_cluster=CLUSTER, router=down) == 0
            and not m.series("vrrp_group_state", router=down)
        ),
        WAIT,
        f"vrrp_router_up{{router={down}}} 0 and its vrrp_group_state series removed",
    )
    assert m.value("vrrp_router_up", vrrp_cluster=CLUSTER, router=other) == 1
    assert series_of(m, other) == other_before
    assert split_is(m, 0)
    errors = {s.labels["reason"]: s.value for s in m.series("vrrp_poll_errors_total", router=down)}
    assert errors.get("connect", 0) >= 1, errors

    doc = run_poll(exporter_config(), output="json")
    c = doc.cluster(CLUSTER)
    assert (doc.returncode, doc.doc["exit_code"], c["verdict"]) == (3, 3, "router_down"), doc
    routers = {r["name"]: r for r in c["routers"]}
    assert routers[other]["up"] is True and routers[other]["error"] is None
    assert routers[down]["up"] is False and routers[down]["error"]["reason"] == "connect", routers[down]
    assert all(g["routers"].get(down) is None for g in c["groups"]), c["groups"]
    table = run_poll(exporter_config())
    assert table.returncode == 3, table

    time.sleep(1.5)  # a few more poll rounds with the router unreachable
    lab.start_sshd(down)
    m = exp.wait_for(healthy, 45, f"{down} back (reconnect without restarting the exporter)")
    assert exp.popen is not None and exp.popen.poll() is None and exp.pid == pid
    assert series_of(m, other) == other_before
    assert m.total("vrrp_poll_errors_total", router=other) == other_errors
    assert m.total("vrrp_last_poll_success_timestamp_seconds", vrrp_cluster=CLUSTER, router=other) > other_success
    assert run_poll(exporter_config()).returncode == 0


def test_7_keepalived_not_answering(
    lab_reset: Lab, start_exporter: Start, exporter_config: Callable[..., Path]
) -> None:
    """keepalived's parent hangs (SIGSTOP): VRRP itself goes on, but op-mode gets no dump and VyOS
    prints `VRRP data is not available (wait time exceeded)` (the lab waits 0.3 s, VyOS 30 s). That is
    a failed poll of that router (reason command), not a parse of garbage; SIGCONT heals it."""
    lab = lab_reset
    exp = start_exporter()
    exp.wait_for(healthy, WAIT, "the healthy state")
    (lab.rdir(V2) / "dump-timeout").write_text("0.3")
    parent = int((lab.rdir(V2) / "keepalived.pid").read_text())
    os.kill(parent, signal.SIGSTOP)
    try:
        res = lab.ssh(V2, "show vrrp")
        assert (res.returncode, res.stdout.strip()) == (1, "VRRP data is not available (wait time exceeded)")
        m = exp.wait_for(
            lambda m: (
                m.value("vrrp_router_up", vrrp_cluster=CLUSTER, router=V2) == 0
                and not m.series("vrrp_group_state", router=V2)
            ),
            WAIT,
            "vyos02 down while its keepalived does not answer",
        )
        # issue 13: every "not available" message is re-asked first and counted as `unavailable`
        failed = sum(m.total("vrrp_poll_errors_total", router=V2, reason=r) for r in ("command", "unavailable"))
        assert failed >= 1
        assert m.total("vrrp_poll_errors_total", router=V2, reason="parse") == 0
        assert states_are(m, {(V1, g): "MASTER" for g in GROUPS})
        doc = run_poll(exporter_config(), output="json")
        routers = {r["name"]: r for r in doc.cluster(CLUSTER)["routers"]}
        assert doc.returncode == 3 and routers[V2]["error"]["reason"] in ("command", "unavailable"), doc
    finally:
        os.kill(parent, signal.SIGCONT)
        (lab.rdir(V2) / "dump-timeout").unlink(missing_ok=True)
    exp.wait_for(healthy, WAIT, "vyos02 answering again")


def test_8_dual_master_when_the_switch_splits_a_vlan(
    lab_reset: Lab, start_exporter: Start, exporter_config: Callable[..., Path]
) -> None:
    """The VLAN100 switch stops carrying frames between the routers (vyos02's port leaves the
    bridge, its link stays up): vyos02 hears no adverts and becomes MASTER too."""
    lab = lab_reset
    exp = start_exporter()
    exp.wait_for(healthy, WAIT, "the healthy state")
    lab.set_port_in_bridge(V2, "eth1", attached=False)
    lab.wait_states({(V1, "VLAN100"): "MASTER", (V2, "VLAN100"): "MASTER"}, 10)
    m = exp.wait_for(
        lambda m: m.value("vrrp_group_masters", vrrp_cluster=CLUSTER, group="VLAN100") == 2,
        WAIT,
        "vrrp_group_masters{group=VLAN100} 2",
    )
    assert m.value("vrrp_group_masters", vrrp_cluster=CLUSTER, group="VLAN1") == 1
    doc = run_poll(exporter_config(), output="json")
    c = doc.cluster(CLUSTER)
    assert (doc.returncode, c["verdict"]) == (1, "dual_master"), doc
    assert {g["name"]: sorted(g["masters"]) for g in c["groups"]}["VLAN100"] == [V1, V2]
    lab.set_port_in_bridge(V2, "eth1", attached=True)
    lab.wait_states(HEALTHY, 10)
    exp.wait_for(healthy, WAIT, "one master again once the switch carries VLAN100")
