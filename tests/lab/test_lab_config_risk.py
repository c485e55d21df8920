"""Issue 14 in the real lab: the routers' own VRRP configuration, read over SSH, against what it does.

Each lab router's keepalived.conf is generated from VyOS `set` commands (vyos_to_keepalived.py) and
the same commands are what the router prints for `show configuration commands`, which the exporter
reads with its default `ssh.config_command` (a `sed` pipeline run by the router's shell) every
`config_interval: 2s`. A config change is a VyOS commit: the file is rewritten and keepalived
reloaded (Lab.commit).

(a) the seed's incident (no-preempt everywhere, no sync-group) is flagged `split_prone` before any
    failover, then really splits after one link flap;
(b) the seed's sync-group fix (corrected: VLAN100) clears the finding, the set MAIN is derived from
    the routers and a link flap moves all groups together;
(c) the seed's typo (`member VLAN10`) is flagged `sync_group_member_missing`.
`vyos-vrrp-exporter lint` is checked against the lab routers too.
Timings go to tests/reporting.py: config change -> finding on /metrics, and flap -> split.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import reporting
from lab_harness import CLUSTER, ExporterProcess, Metrics, routers_up, run_lint, split_is, states_are
from vrrplab import GROUPS, ROUTER_NAMES, Lab, VrrpOptions, vyos_vrrp_commands

pytestmark = pytest.mark.lab

V1, V2 = ROUTER_NAMES
WAIT = 15.0
CONFIG_INTERVAL = "2s"
RULES = (
    "split_prone",
    "sync_group_member_missing",
    "sync_group_inconsistent",
    "peer_mismatch",
    "priority_tie",
    "preferred_master_mismatch",
)
HEALTHY = {**{(V1, g): "MASTER" for g in GROUPS}, **{(V2, g): "BACKUP" for g in GROUPS}}
ON_V2 = {**{(V1, g): "BACKUP" for g in GROUPS}, **{(V2, g): "MASTER" for g in GROUPS}}
INCIDENT = VrrpOptions(nopreempt=True)
FIXED = VrrpOptions(nopreempt=True, sync_group="MAIN")
TYPO = VrrpOptions(nopreempt=True, sync_group="MAIN", sync_members=("VLAN1", "VLAN10", "VLAN101"))
TABLE = "config risk in the real lab (config_interval 2s, poll 1s)"

Start = Callable[..., ExporterProcess]


def risks(m: Metrics) -> dict[str, float | None]:
    return {rule: m.value("vrrp_config_risk", vrrp_cluster=CLUSTER, rule=rule) for rule in RULES}


def read(m: Metrics) -> bool:
    """Both routers' configurations were read: every rule is exported."""
    return all(v is not None for v in risks(m).values())


def risk_is(rule: str, want: Callable[[float], bool]) -> Callable[[Metrics], bool]:
    def check(m: Metrics) -> bool:
        value = m.value("vrrp_config_risk", vrrp_cluster=CLUSTER, rule=rule)
        return read(m) and value is not None and want(value)

    return check


def commit_all(lab: Lab, options: VrrpOptions) -> float:
    """Commit the configuration `options` stand for on both routers; returns the last reload time."""
    sent = 0.0
    for r in ROUTER_NAMES:
        sent = lab.commit(r, vyos_vrrp_commands(r, options))
    return sent


def flap_v1(lab: Lab, iface: str = "eth1") -> float:
    """vyos01's switch port of `iface` down until vyos02 is MASTER of that VLAN's group, then up.
    Returns the Unix time the link went down."""
    group = {"eth0": "VLAN1", "eth1": "VLAN100", "eth2": "VLAN101"}[iface]
    t_down = time.time()
    lab.set_link(V1, iface, up=False)
    lab.wait_states({(V2, group): "MASTER"}, 10)
    lab.set_link(V1, iface, up=True)
    return t_down


# ------------------------------------------------------------------------------------------------


def test_a_incident_flagged_split_prone_then_splits(lab_reset: Lab, start_exporter: Start) -> None:
    lab = lab_reset
    lab.configure(FIXED)  # start from the fix, so that the incident arrives as a config change
    exp = start_exporter(config_interval=CONFIG_INTERVAL)
    m = exp.wait_for(lambda m: read(m) and routers_up(m, V1, V2) and states_are(m, HEALTHY), WAIT, "configs read")
    assert risks(m)["split_prone"] == 0, risks(m)

    t_commit = commit_all(lab, INCIDENT)
    # Both routers' new configuration read: the finding, and the set derived from it (`all`: the
    # incident has no sync-group). A read between the two commits sees vyos02's MAIN still.
    flagged = risk_is("split_prone", lambda v: v >= 1)
    m = exp.wait_for(
        lambda m: flagged(m) and split_is(m, 0), WAIT, "vrrp_config_risk{rule=split_prone} >= 1, set all derived"
    )
    t_seen = m.at
    assert risks(m)["sync_group_member_missing"] == 0
    assert states_are(m, HEALTHY) and split_is(m, 0), "flagged before any failover: nothing has split yet"
    assert {k: s.state for k, s in lab.all_states().items()} == HEALTHY, "the reload changed no state"

    t_down = flap_v1(lab, "eth1")
    became = lab.wait_transition(V2, "VLAN100", "MASTER", after=t_down)
    m = exp.wait_for(lambda m: split_is(m, 1), WAIT, "the split after the flap", interval=0.02)
    time.sleep(1.0)  # no-preempt: nothing heals by itself
    m = exp.metrics()
    assert split_is(m, 1) and m.state(V2, "VLAN100") == "MASTER" and m.state(V1, "VLAN1") == "MASTER"
    assert risks(m)["split_prone"] >= 1
    reporting.add_line(
        TABLE,
        f"(a) incident committed on both routers -> split_prone on /metrics {t_seen - t_commit:.2f} s; "
        f"vyos01 VLAN100 link down -> vyos02 MASTER {became.at - t_down:.2f} s -> split 1 on /metrics "
        f"{m.at - t_down:.2f} s after the link went down (scrape every 20 ms)",
    )


def test_b_sync_group_fix_clears_finding_and_moves_groups_together(lab_reset: Lab, start_exporter: Start) -> None:
    lab = lab_reset
    lab.configure(INCIDENT)
    exp = start_exporter(config_interval=CONFIG_INTERVAL)
    m = exp.wait_for(risk_is("split_prone", lambda v: v >= 1), WAIT, "the incident flagged split_prone")
    assert m.value("vrrp_master_split", vrrp_cluster=CLUSTER, set="all") == 0

    t_commit = commit_all(lab, FIXED)
    m = exp.wait_for(
        lambda m: read(m) and all(v == 0 for v in risks(m).values()), WAIT, "every vrrp_config_risk 0 after the fix"
    )
    t_clear = m.at
    m = exp.wait_for(
        lambda m: m.value("vrrp_master_split", vrrp_cluster=CLUSTER, set="MAIN") == 0,
        WAIT,
        'the derived set: vrrp_master_split{set="MAIN"}',
    )
    assert not m.series("vrrp_master_split", vrrp_cluster=CLUSTER, set="all"), "no set `all` once MAIN is derived"
    assert {k: s.state for k, s in lab.all_states().items()} == HEALTHY

    t_down = flap_v1(lab, "eth1")
    lab.wait_states(ON_V2, 10)  # the sync group moved every group to vyos02; no-preempt keeps it there
    seen: list[float] = []
    deadline = time.monotonic() + 4.0
    while time.monotonic() < deadline:  # several poll rounds: never a split on the way
        m = exp.metrics()
        seen.append(m.value("vrrp_master_split", vrrp_cluster=CLUSTER, set="MAIN") or 0.0)
        if states_are(m, ON_V2) and len(seen) > 20:
            break
        time.sleep(0.05)
    m = exp.wait_for(lambda m: states_are(m, ON_V2), WAIT, "vyos02 MASTER of every group")
    assert max(seen) == 0, "the sync group moved all groups together: no split at any scrape"
    assert m.value("vrrp_master_split", vrrp_cluster=CLUSTER, set="MAIN") == 0
    assert m.value("vrrp_set_masters", vrrp_cluster=CLUSTER, set="MAIN") == 1
    moved = max(lab.wait_transition(V2, g, "MASTER", after=t_down).at for g in GROUPS) - t_down
    reporting.add_line(
        TABLE,
        f"(b) sync-group fix committed -> every rule 0 on /metrics {t_clear - t_commit:.2f} s; link flap -> "
        f"all 3 groups MASTER on vyos02 within {moved:.2f} s, vrrp_master_split{{set=MAIN}} 0 at all "
        f"{len(seen)} scrapes",
    )


def test_c_typo_flagged_sync_group_member_missing(lab_reset: Lab, start_exporter: Start) -> None:
    lab = lab_reset
    lab.configure(FIXED)
    exp = start_exporter(config_interval=CONFIG_INTERVAL)
    exp.wait_for(lambda m: read(m) and all(v == 0 for v in risks(m).values()), WAIT, "the fix read, no finding")

    t_commit = commit_all(lab, TYPO)  # `sync-group MAIN member VLAN10`, as typed in the seed
    m = exp.wait_for(risk_is("sync_group_member_missing", lambda v: v >= 1), WAIT, "sync_group_member_missing")
    reporting.add_line(TABLE, f"(c) typo committed -> sync_group_member_missing on /metrics {m.at - t_commit:.2f} s")
    assert states_are(m, HEALTHY)
    res = lab.ssh(V1, "show configuration commands")
    assert "member 'VLAN10'" in res.stdout and "set system host-name 'vyos01'" in res.stdout


# -- `lint` (the issue 14 CLI) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "code", "rule"),
    [(INCIDENT, 1, "split_prone"), (FIXED, 0, None), (TYPO, 1, "sync_group_member_missing")],
    ids=["incident", "fixed", "typo"],
)
def test_lint_exit_codes(
    lab_reset: Lab, exporter_config: Callable[..., Path], options: VrrpOptions, code: int, rule: str | None
) -> None:
    lab = lab_reset
    lab.configure(options)
    config = exporter_config()
    table = run_lint(config)
    assert table.returncode == code, table
    doc = run_lint(config, "json")
    assert doc.returncode == code, doc
    text = json.dumps(doc.doc)
    if rule is None:
        return  # exit 0 in both outputs: no finding
    assert rule in table.stdout and rule in text, table
    # each finding comes with the VyOS commands that fix it
    assert "set high-availability vrrp" in table.stdout, table
    if rule == "split_prone":
        assert "sync-group" in table.stdout, table


def test_lint_exit_3_when_a_router_is_unreadable(lab_reset: Lab, exporter_config: Callable[..., Path]) -> None:
    lab = lab_reset
    lab.block_ssh(V2)
    try:
        result = run_lint(exporter_config())
        assert result.returncode == 3, result
        assert V2 in result.stdout + result.stderr, result
    finally:
        lab.unblock_ssh(V2)
