"""Tests for exporter.config_risk: the seed's configurations (incident, typo, corrected, preempt),
one table per rule with the fix an operator would type, derived sets and preferred masters."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from exporter.config_risk import RULES, RiskFinding, derive_preferred, derive_sets, lint
from exporter.model import DEFAULT_SET_NAME, SyncSetSpec
from exporter.vyos_config import VrrpConfig, parse_vyos_config

FIXTURES = Path(__file__).parent / "fixtures" / "vyos_config"
SEED = ("VLAN1", "VLAN100", "VLAN101")
PAIR = ("vyos01", "vyos02")


def seed(case: str) -> dict[str, VrrpConfig]:
    return {r: parse_vyos_config((FIXTURES / f"seed_{case}_{r}.txt").read_text()) for r in PAIR}


def group(
    name: str,
    priority: int | None = None,
    *,
    vrid: int = 1,
    interface: str = "eth0",
    address: str = "192.0.2.1/24",
    no_preempt: bool = False,
    extra: tuple[str, ...] = (),
) -> str:
    p = f"set high-availability vrrp group {name} "
    lines = [p + f"interface '{interface}'", p + f"vrid '{vrid}'", p + f"address '{address}'"]
    if priority is not None:
        lines.append(p + f"priority '{priority}'")
    if no_preempt:
        lines.append(p + "no-preempt")
    lines += [p + e for e in extra]
    return "\n".join(lines)


def sync(name: str, *members: str) -> str:
    return "\n".join(f"set high-availability vrrp sync-group {name} member '{m}'" for m in members)


def cluster(**routers: str) -> dict[str, VrrpConfig]:
    return {name: parse_vyos_config(text) for name, text in routers.items()}


def rules(findings: tuple[RiskFinding, ...]) -> list[str]:
    return [f.rule for f in findings]


def one(findings: tuple[RiskFinding, ...], rule: str) -> RiskFinding:
    matching = [f for f in findings if f.rule == rule]
    assert len(matching) == 1, findings
    return matching[0]


def test_rules_are_the_contract_names_in_order() -> None:
    assert RULES == (
        "split_prone",
        "sync_group_member_missing",
        "sync_group_inconsistent",
        "peer_mismatch",
        "priority_tie",
        "preferred_master_mismatch",
    )


# -- the seed -------------------------------------------------------------------------------------


def test_seed_incident_is_split_prone_before_any_failover() -> None:
    findings = lint(seed("incident"), None)
    assert rules(findings) == ["split_prone"]
    finding = findings[0]
    assert finding.routers == PAIR
    assert finding.groups == SEED
    assert "no-preempt on VLAN1, VLAN100, VLAN101" in finding.reason
    assert "\n" not in finding.reason
    # one sync-group with all three groups; priorities are already 150 > 100 and alike per router
    assert finding.fix == (
        "set high-availability vrrp sync-group MAIN member VLAN1",
        "set high-availability vrrp sync-group MAIN member VLAN100",
        "set high-availability vrrp sync-group MAIN member VLAN101",
    )


def test_seed_fix_with_the_typo() -> None:
    findings = lint(seed("typo"), None)
    assert rules(findings) == ["split_prone", "sync_group_member_missing"]
    split = one(findings, "split_prone")
    assert split.groups == SEED
    assert split.reason.startswith("sync-group MAIN (VLAN1, VLAN101), VLAN100 fail over separately")
    assert split.fix == ("set high-availability vrrp sync-group MAIN member VLAN100",)
    typo = one(findings, "sync_group_member_missing")
    assert typo.routers == PAIR
    assert typo.groups == ("VLAN10",)
    assert "meant VLAN100?" in typo.reason
    assert typo.fix == (
        "delete high-availability vrrp sync-group MAIN member VLAN10",
        "set high-availability vrrp sync-group MAIN member VLAN100",
    )


@pytest.mark.parametrize("case", ["fixed", "preempt"])
def test_seed_fixes_have_no_finding(case: str) -> None:
    # fixed: one sync-group, 150/100 alike on each router (no-preempt inside a sync-group is fine);
    # preempt: no sync-group, but every group returns to vyos01 by itself (split only while a link is down)
    assert lint(seed(case), None) == ()


def test_seed_with_declared_sets() -> None:
    declared = (SyncSetSpec("MAIN", SEED),)
    assert rules(lint(seed("incident"), declared)) == ["split_prone"]
    assert lint(seed("fixed"), declared) == ()
    # a set of one group cannot split
    assert lint(seed("incident"), tuple(SyncSetSpec(g, (g,)) for g in SEED)) == ()


# -- split_prone ----------------------------------------------------------------------------------


def test_load_sharing_without_declared_sets_is_split_prone() -> None:
    configs = cluster(
        r1=group("A", 150, vrid=1) + "\n" + group("B", 100, vrid=2, interface="eth1"),
        r2=group("A", 100, vrid=1) + "\n" + group("B", 150, vrid=2, interface="eth1"),
    )
    finding = one(lint(configs, None), "split_prone")
    assert "priorities prefer r1 for A, r2 for B" in finding.reason
    # one sync-group; r1 masters both (first router on a vote tie), members alike on each router
    assert finding.fix == (
        "set high-availability vrrp sync-group MAIN member A",
        "set high-availability vrrp sync-group MAIN member B",
        "r1: set high-availability vrrp group B priority 150",
        "r2: set high-availability vrrp group B priority 100",
    )
    # declared on purpose: A and B in separate sets, nothing to report
    assert lint(configs, (SyncSetSpec("a", ("A",)), SyncSetSpec("b", ("B",)))) == ()


def test_two_sync_groups_are_separate_on_purpose_unless_declared_together() -> None:
    text = group("A", vrid=1, no_preempt=True) + "\n" + group("B", vrid=2, no_preempt=True) + "\n"
    text += sync("MAIN", "A") + "\n" + sync("DMZ", "B")
    configs = cluster(r1=text.replace("vrid '1'", "vrid '1'\nset high-availability vrrp group A priority 200"), r2=text)
    assert "split_prone" not in rules(lint(configs, None))
    finding = one(lint(configs, (SyncSetSpec(DEFAULT_SET_NAME),)), "split_prone")
    assert finding.groups == ("A", "B")
    # declared together: B leaves DMZ for MAIN, and r1 (priority 200 on A) is raised on B too
    assert finding.fix == (
        "delete high-availability vrrp sync-group DMZ member B",
        "set high-availability vrrp sync-group MAIN member B",
        "r1: set high-availability vrrp group B priority 200",
    )


def test_a_group_in_no_sync_group_joins_the_largest_one_without_merging_the_others() -> None:
    r1 = [
        group("A", 150, vrid=1),
        group("B", 100, vrid=2),
        group("C", 150, vrid=3),
        sync("MAIN", "A"),
        sync("DMZ", "B"),
    ]
    r2 = [group("A", 100, vrid=1), group("B", 150, vrid=2), group("C", 100, vrid=3, no_preempt=True)]
    r2 += [sync("MAIN", "A"), sync("DMZ", "B")]
    finding = one(lint(cluster(r1="\n".join(r1), r2="\n".join(r2)), None), "split_prone")
    assert finding.groups == ("A", "B", "C")
    assert finding.reason.startswith("sync-group MAIN (A), sync-group DMZ (B), C fail over separately")
    assert "no-preempt on C" in finding.reason
    # C joins MAIN; members of MAIN on r2 must then agree on preemption
    assert finding.fix == (
        "set high-availability vrrp sync-group MAIN member C",
        "r2: delete high-availability vrrp group C no-preempt",
    )


@pytest.mark.parametrize(
    ("r1", "r2", "cause"),
    [
        # equal priorities: decided by interface addresses, not by configuration
        ((group("A", vrid=1), group("B", 150, vrid=2)), (group("A", vrid=1), group("B", 100, vrid=2)),
         "equal top priorities on A"),
        # no-preempt on the backup side only still counts ("on any of them")
        ((group("A", 150, vrid=1), group("B", 150, vrid=2)), (group("A", 100, vrid=1, no_preempt=True),
         group("B", 100, vrid=2)), "no-preempt on A"),
    ],
)  # fmt: skip
def test_split_prone_causes(r1: tuple[str, ...], r2: tuple[str, ...], cause: str) -> None:
    finding = one(lint(cluster(r1="\n".join(r1), r2="\n".join(r2)), None), "split_prone")
    assert cause in finding.reason


def test_disabled_and_single_router_groups_are_not_split_prone() -> None:
    configs = cluster(
        r1=group("A", 150, vrid=1, no_preempt=True) + "\n" + group("B", 150, vrid=2, extra=("disable",)),
        r2=group("A", 100, vrid=1, no_preempt=True) + "\n" + group("B", 100, vrid=2),
    )
    assert "split_prone" not in rules(lint(configs, None))


# -- sync_group_inconsistent ----------------------------------------------------------------------


def test_sync_group_inconsistent() -> None:
    r1 = "\n".join(
        [
            group("A", 150, vrid=1),
            group("B", 120, vrid=2),
            group("C", 150, vrid=3, no_preempt=True),
            sync("MAIN", "A", "B", "C"),
        ]
    )
    r2 = "\n".join(
        [group("A", 100, vrid=1), group("B", 100, vrid=2), group("C", 100, vrid=3), sync("MAIN", "A", "B", "C")]
    )
    finding = one(lint(cluster(r1=r1, r2=r2), None), "sync_group_inconsistent")
    assert finding.routers == ("r1",)
    assert finding.groups == ("A", "B", "C")
    assert "endless transition loop" in finding.reason
    assert finding.fix == (
        "set high-availability vrrp group B priority 150",
        "delete high-availability vrrp group C no-preempt",
    )


# -- peer_mismatch --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("r2", "problem", "fix"),
    [
        ("", "not configured on r2", (
            "r2: set high-availability vrrp group A interface eth0",
            "r2: set high-availability vrrp group A vrid 1",
            "r2: set high-availability vrrp group A address 192.0.2.1/24",
            "r2: set high-availability vrrp group A priority 100",
        )),
        (group("A", 100, vrid=2), "vrid 2 on r2 but 1 on r1", ("r2: set high-availability vrrp group A vrid 1",)),
        (group("A", 100, interface="eth1"), "interface eth1 on r2 but eth0 on r1",
         ("r2: set high-availability vrrp group A interface eth0",)),
        (group("A", 100, address="192.0.2.9/24"), "addresses 192.0.2.9/24 on r2 but 192.0.2.1/24 on r1", (
            "r2: delete high-availability vrrp group A address 192.0.2.9/24",
            "r2: set high-availability vrrp group A address 192.0.2.1/24",
        )),
        (group("A", 100, extra=("disable",)), "disabled on r2", ("r2: delete high-availability vrrp group A disable",)),
        (group("A", 100, extra=("advertise-interval 3",)), "advertise-interval 3 on r2 but 1 on r1",
         ("r2: set high-availability vrrp group A advertise-interval 1",)),
        (group("A", 100) + "\n" + sync("MAIN", "A"), "sync-group MAIN on r2 but none on r1",
         ("r2: delete high-availability vrrp sync-group MAIN member A",)),
    ],
)  # fmt: skip
def test_peer_mismatch(r2: str, problem: str, fix: tuple[str, ...]) -> None:
    finding = one(lint(cluster(r1=group("A", 150), r2=r2), None), "peer_mismatch")
    assert finding.routers == ("r1", "r2")
    assert finding.groups == ("A",)
    assert problem in finding.reason
    assert finding.fix == fix


def test_peer_mismatch_keeps_the_routers_address_spelling() -> None:
    legacy = "set high-availability vrrp group A interface eth0\nset high-availability vrrp group A vrid 1\n"
    configs = cluster(
        r1=legacy + "set high-availability vrrp group A virtual-address 192.0.2.1/24",
        r2=legacy + "set high-availability vrrp group A virtual-address 192.0.2.2/24",
    )
    assert one(lint(configs, None), "peer_mismatch").fix == (
        "r2: delete high-availability vrrp group A virtual-address 192.0.2.2/24",
        "r2: set high-availability vrrp group A virtual-address 192.0.2.1/24",
    )


# -- priority_tie and preferred_master_mismatch ---------------------------------------------------


def test_priority_tie() -> None:
    configs = cluster(r1=group("A"), r2=group("A", 100))  # unset = VyOS default 100
    finding = one(lint(configs, None), "priority_tie")
    assert finding.routers == ("r1", "r2")
    assert finding.groups == ("A",)
    assert "priority 100 on r1, r2" in finding.reason
    assert finding.fix == ("r1: set high-availability vrrp group A priority 150",)
    # the declared preferred master is the one raised
    findings = lint(configs, None, {"A": "r2"})
    assert one(findings, "priority_tie").fix == ("r2: set high-availability vrrp group A priority 150",)
    assert one(findings, "preferred_master_mismatch").fix == ("r2: set high-availability vrrp group A priority 150",)


def test_priority_tie_at_255_lowers_the_others() -> None:
    configs = cluster(r1=group("A", 255), r2=group("A", 255))
    assert one(lint(configs, None), "priority_tie").fix == (
        "r1: set high-availability vrrp group A priority 255",
        "r2: set high-availability vrrp group A priority 205",
    )


def test_preferred_master_mismatch() -> None:
    findings = lint(seed("preempt"), None, {"VLAN1": "vyos02", "VLAN100": "vyos01"})
    assert rules(findings) == ["preferred_master_mismatch"]
    finding = findings[0]
    assert finding.routers == PAIR
    assert finding.groups == ("VLAN1",)
    assert "(priorities: vyos01 150, vyos02 100)" in finding.reason
    assert finding.fix == ("vyos02: set high-availability vrrp group VLAN1 priority 200",)


def test_preferred_master_raises_sync_group_partners_too() -> None:
    findings = lint(seed("fixed"), None, {"VLAN1": "vyos02"})
    # raising VLAN1 alone would make sync-group MAIN inconsistent on vyos02
    assert one(findings, "preferred_master_mismatch").fix == (
        "vyos02: set high-availability vrrp group VLAN1 priority 200",
        "vyos02: set high-availability vrrp group VLAN100 priority 200",
        "vyos02: set high-availability vrrp group VLAN101 priority 200",
    )


def test_preferred_master_without_the_group() -> None:
    finding = one(lint(seed("preempt"), None, {"VLAN1": "vyos03"}), "preferred_master_mismatch")
    assert finding.routers == ("vyos03",)
    assert finding.fix == ()
    assert "has no enabled VLAN1" in finding.reason


# -- derived intent -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("incident", (SyncSetSpec(DEFAULT_SET_NAME, SEED),)),
        ("typo", (SyncSetSpec("MAIN", ("VLAN1", "VLAN101")), SyncSetSpec(DEFAULT_SET_NAME, ("VLAN100",)))),
        ("fixed", (SyncSetSpec("MAIN", SEED),)),
        ("preempt", (SyncSetSpec(DEFAULT_SET_NAME, SEED),)),
    ],
)
def test_derive_sets_seed(case: str, expected: tuple[SyncSetSpec, ...]) -> None:
    assert derive_sets(seed(case)) == expected


@pytest.mark.parametrize(
    ("configs", "expected"),
    [
        ({}, ()),
        ({"r1": VrrpConfig()}, ()),
        # a sync-group of typos only yields no set; its groups stay in `all`
        (cluster(r1=group("A") + "\n" + sync("MAIN", "X")), (SyncSetSpec(DEFAULT_SET_NAME, ("A",)),)),
        # a sync-group named `all` shares the default set
        (cluster(r1=group("A", vrid=1) + "\n" + group("B", vrid=2) + "\n" + sync("all", "B")),
         (SyncSetSpec(DEFAULT_SET_NAME, ("B", "A")),)),
        # members union over routers, in order of first appearance
        (cluster(r1=group("A", vrid=1) + "\n" + sync("S", "A"), r2=group("B", vrid=2) + "\n" + sync("S", "B")),
         (SyncSetSpec("S", ("A", "B")),)),
    ],
)  # fmt: skip
def test_derive_sets(configs: Mapping[str, VrrpConfig], expected: tuple[SyncSetSpec, ...]) -> None:
    assert derive_sets(configs) == expected


def test_derive_preferred() -> None:
    configs = cluster(
        r1="\n".join([group("A", 150, vrid=1), group("B", vrid=2), group("C", 200, vrid=3, extra=("disable",))]),
        r2="\n".join([group("A", 100, vrid=1), group("B", 100, vrid=2), group("C", 100, vrid=3)]),
    )
    assert derive_preferred(configs) == {"A": "r1", "B": None, "C": "r2"}
    assert derive_preferred(seed("incident")) == dict.fromkeys(SEED, "vyos01")


# -- whole output ---------------------------------------------------------------------------------


def test_findings_are_sorted_and_deterministic() -> None:
    configs = seed("typo")
    configs["vyos02"] = parse_vyos_config(
        (FIXTURES / "seed_typo_vyos02.txt").read_text() + "\nset high-availability vrrp group VLAN1 priority 150"
    )
    findings = lint(configs, None, {"VLAN1": "vyos02"})
    assert findings == lint(configs, None, {"VLAN1": "vyos02"})
    assert [RULES.index(f.rule) for f in findings] == sorted(RULES.index(f.rule) for f in findings)
    assert set(rules(findings)) == {
        "split_prone",
        "sync_group_member_missing",
        "sync_group_inconsistent",
        "priority_tie",
        "preferred_master_mismatch",
    }
    for finding in findings:
        assert finding.rule in RULES
        assert finding.reason and "\n" not in finding.reason
        assert all(cmd.split(": ", 1)[-1].startswith(("set ", "delete ")) for cmd in finding.fix)


def test_no_password_in_any_finding() -> None:
    text = (FIXTURES / "v14_address_full.txt").read_text()
    configs = {"r1": parse_vyos_config(text), "r2": parse_vyos_config(text.replace("vrid '11'", "vrid '12'"))}
    findings = lint(configs, None, {"Foo": "r2"})
    assert findings  # ties, a VRID mismatch and a preferred-master mismatch to print
    assert "Pw7xQz!k" not in repr(findings) + repr(derive_sets(configs)) + repr(derive_preferred(configs))
