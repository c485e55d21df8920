"""The lab itself: each router answers like VyOS over real OpenSSH, and the host stays untouched."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
from vrrplab import GROUPS, MGMT_NET, NEVER_IN_ROOT_NS, OPMODE_SRC, ROOT_VETH, ROUTERS, VLANS, Lab, run

pytestmark = pytest.mark.lab

# the first two lines of `show vrrp` in the seed (VyOS 1.3), byte for byte
SEED_HEADER = "Name     Interface      VRID  State      Priority  Last Transition"
SEED_DASHES = "-------  -----------  ------  -------  ----------  -----------------"


def _rows(text: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in text.splitlines()[2:] if line.strip()}


@pytest.mark.parametrize(
    "command", ["show vrrp", "/opt/vyatta/bin/vyatta-op-cmd-wrapper show vrrp", "vbash -ic 'show vrrp'"]
)
def test_show_vrrp_over_openssh_is_the_vyos_table(lab_reset: Lab, command: str) -> None:
    for r in ROUTERS:
        res = lab_reset.ssh(r.name, command)
        assert res.returncode == 0, res.stderr
        lines = res.stdout.splitlines()
        assert lines[0] == SEED_HEADER
        assert lines[1] == SEED_DASHES
        rows = _rows(res.stdout)
        assert list(rows) == list(GROUPS)
        want_state = "MASTER" if r.priority == 150 else "BACKUP"
        for v in VLANS:
            name, iface, vrid, state, prio, *_since = rows[v.group]
            assert (name, iface, int(vrid), state, int(prio)) == (v.group, v.iface, v.vrid, want_state, r.priority)


def test_table_is_rendered_by_debian_tabulate_like_vyos(lab_reset: Lab) -> None:
    """The table comes from Debian's python3-tabulate 0.8.9 (VyOS's library and version family):
    rendering keepalived's live groups with it, with Last Transition 1h2m5s ago, gives the seed's
    header and dash lines and VyOS's duration format."""
    script = (
        "import json, sys, tabulate; sys.path.insert(0, sys.argv[1]); import show_vrrp as s; "
        "print(tabulate.__version__); "
        "print(tabulate.tabulate(s.summary_rows(json.loads(sys.argv[2]), now=float(sys.argv[3])), s.HEADERS))"
    )
    live = lab_reset.states("vyos01")
    now = max(g.last_transition for g in live.values()) + 3725
    dump = [
        {
            "data": {
                "iname": g.group,
                "ifp_ifname": g.iface,
                "vrid": g.vrid,
                "state": 2,
                "effective_priority": g.priority,
                "last_transition": g.last_transition,
            }
        }
        for g in live.values()
    ]
    out = subprocess.run(
        ["/usr/bin/python3", "-c", script, str(OPMODE_SRC), json.dumps(dump), str(now)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    version, *table = out.stdout.splitlines()
    assert version.startswith("0.8."), f"Debian bookworm ships python3-tabulate 0.8.9, found {version}"
    assert table[:2] == [SEED_HEADER, SEED_DASHES]
    assert [line.split()[-1] for line in table[2:]] == ["1h2m5s"] * len(GROUPS)
    assert lab_reset.ssh("vyos01", "show vrrp").stdout.splitlines()[:2] == table[:2]


def test_other_commands_are_refused_like_vyos(lab_reset: Lab) -> None:
    res = lab_reset.ssh("vyos02", "show interfaces")
    assert res.returncode == 1
    assert res.stdout.strip() == "Invalid command: [show interfaces]"
    detail = lab_reset.ssh("vyos02", "show vrrp detail")
    assert detail.returncode == 0
    assert "VRRP Topology" in detail.stdout or "Interface" in detail.stdout


def test_parallel_calls_are_all_answered(lab_reset: Lab) -> None:
    """VyOS deletes the dump after reading it, so parallel readers would steal it from each other;
    the lab serialises calls per router and every one of them gets a table."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: lab_reset.ssh(ROUTERS[i % 2].name, "show vrrp"), range(8)))
    assert all(r.returncode == 0 and r.stdout.startswith(SEED_HEADER) for r in results), results


def test_root_namespace_only_sees_the_management_link(lab_reset: Lab) -> None:
    routes = json.loads(run(["ip", "-j", "-4", "route", "show", "table", "all"]).stdout)
    ours = [r for r in routes if r.get("dev") == ROOT_VETH]
    assert ours, "no route via the management veth"
    for route in ours:
        net = ipaddress.IPv4Network(route["dst"], strict=False)
        assert net.subnet_of(MGMT_NET), route
    for route in routes:
        dst = route.get("dst", "")
        if dst and dst != "default" and route.get("dev", "").startswith("vvx-"):
            net = ipaddress.IPv4Network(dst, strict=False)
            assert not any(net.overlaps(n) for n in NEVER_IN_ROOT_NS), route
    # keepalived runs in the router namespaces only, never in the root namespace
    root_ns = os.readlink("/proc/self/ns/net")
    for r in ROUTERS:
        pid = int((lab_reset.rdir(r.name) / "keepalived.pid").read_text())
        assert os.readlink(f"/proc/{pid}/ns/net") != root_ns
