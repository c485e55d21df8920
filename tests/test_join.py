"""The cluster join, table-driven on the seed's situations."""

from __future__ import annotations

import pytest
from seed import B, D, M, situation, snapshot, table

from exporter.errors import PollErrorReason
from exporter.findings import exit_code, problems, warnings
from exporter.join import Verdict
from exporter.model import ClusterSpec, PollFailure, SyncSetSpec, VrrpGroup
from exporter.views import view_at

NOW = 1_000_000.0
SPEC = ClusterSpec("home", ("vyos01", "vyos02"))
MAX_AGE = 15.0


@pytest.mark.parametrize(
    ("name", "verdict", "set_masters", "group_masters"),
    [
        ("healthy", Verdict.HEALTHY, 1, {"VLAN1": 1, "VLAN100": 1, "VLAN101": 1}),
        ("split", Verdict.SPLIT, 2, {"VLAN1": 1, "VLAN100": 1, "VLAN101": 1}),
        ("all_fault", Verdict.NO_MASTER, 0, {"VLAN1": 0, "VLAN100": 0, "VLAN101": 0}),
        ("preempt_restored", Verdict.HEALTHY, 1, {"VLAN1": 1, "VLAN100": 1, "VLAN101": 1}),
        ("dual_master", Verdict.DUAL_MASTER, 2, {"VLAN1": 2, "VLAN100": 1, "VLAN101": 1}),
    ],
)
def test_seed_situations(name: str, verdict: Verdict, set_masters: int, group_masters: dict[str, int]) -> None:
    view = view_at(SPEC, situation(name, NOW), NOW, MAX_AGE)
    assert view.verdict is verdict
    assert view.sets[0].name == "all"
    assert view.sets[0].master_count == set_masters
    assert view.sets[0].split is (set_masters >= 2)
    assert {g.name: len(g.masters) for g in view.groups} == group_masters


def test_split_names_who_holds_what() -> None:
    view = view_at(SPEC, situation("split", NOW), NOW, MAX_AGE)
    assert dict(view.sets[0].masters) == {"vyos01": ("VLAN1",), "vyos02": ("VLAN100", "VLAN101")}
    [(kind, message)] = problems(view)
    assert kind is Verdict.SPLIT
    assert "vyos01: VLAN1" in message and "vyos02: VLAN100, VLAN101" in message
    assert exit_code(view) == 1


def test_router_down_is_never_healthy() -> None:
    """Half the data must not produce a healthy verdict, nor a no-master claim it cannot prove."""
    snaps = situation("healthy", NOW)
    failure = PollFailure(PollErrorReason.TIMEOUT, "timed out")
    snaps["vyos02"] = snapshot("vyos02", now=NOW, failure=failure)
    view = view_at(SPEC, snaps, NOW, MAX_AGE)
    assert view.verdict is Verdict.ROUTER_DOWN
    assert exit_code(view) == 3
    assert view.routers_up == ("vyos01",)
    assert [r.name for r in view.routers if not r.up] == ["vyos02"]

    # vyos01 alone sees VLAN100 as BACKUP: the master may be the router we cannot see.
    snaps["vyos01"] = snapshot("vyos01", table("vyos01", (M, B, B)), NOW)
    view = view_at(SPEC, snaps, NOW, MAX_AGE)
    assert view.verdict is Verdict.ROUTER_DOWN
    assert {g.name: len(g.masters) for g in view.groups}["VLAN100"] == 0


def test_stale_data_counts_as_down() -> None:
    snaps = situation("split", NOW - 100)
    view = view_at(SPEC, snaps, NOW, MAX_AGE)
    assert not view.any_up
    assert all(r.stale for r in view.routers)
    assert view.verdict is Verdict.ROUTER_DOWN
    assert view.groups == ()  # nothing stale says MASTER


def test_never_polled_router_is_down() -> None:
    snaps = situation("healthy", NOW)
    del snaps["vyos02"]
    view = view_at(SPEC, snaps, NOW, MAX_AGE)
    assert view.verdict is Verdict.ROUTER_DOWN
    assert "not polled yet" in problems(view)[0][1]


def test_set_naming_a_group_nobody_reports() -> None:
    """The seed's own sync-group commands say VLAN10 where VLAN100 was meant."""
    spec = ClusterSpec("home", ("vyos01", "vyos02"), (SyncSetSpec("MAIN", ("VLAN1", "VLAN10", "VLAN101")),))
    view = view_at(spec, situation("healthy", NOW), NOW, MAX_AGE)
    main = view.sets[0]
    assert main.missing_groups == ("VLAN10",)
    assert main.groups == ("VLAN1", "VLAN101")
    assert view.verdict is Verdict.HEALTHY
    assert any("VLAN10" in w for w in warnings(view))


def test_load_sharing_sets_are_not_a_split() -> None:
    """A network that puts VLAN1 on vyos01 and VLAN100/101 on vyos02 on purpose declares two sets."""
    spec = ClusterSpec(
        "home",
        ("vyos01", "vyos02"),
        (SyncSetSpec("HOME", ("VLAN1",)), SyncSetSpec("PUBLIC", ("VLAN100", "VLAN101"), "vyos02")),
        preferred_master="vyos01",
    )
    view = view_at(spec, situation("split", NOW), NOW, MAX_AGE)
    assert view.verdict is Verdict.HEALTHY
    assert [s.split for s in view.sets] == [False, False]
    assert dict(view.preferred) == {"VLAN1": ("vyos01", True), "VLAN100": ("vyos02", True), "VLAN101": ("vyos02", True)}


def test_preferred_master_drift() -> None:
    spec = ClusterSpec("home", ("vyos01", "vyos02"), preferred_master="vyos02")
    view = view_at(spec, situation("healthy", NOW), NOW, MAX_AGE)
    assert {g: ok for g, (_, ok) in view.preferred.items()} == {"VLAN1": False, "VLAN100": False, "VLAN101": False}
    assert view.verdict is Verdict.HEALTHY  # drift is a warning, not a page
    assert len(warnings(view)) == 3


def test_disabled_everywhere_is_not_no_master() -> None:
    snaps = situation("healthy", NOW)
    extra = VrrpGroup("VLAN200", "", None, D, None, None)
    for name, snap in snaps.items():
        snaps[name] = snapshot(name, (*snap.groups, extra), NOW)
    view = view_at(SPEC, snaps, NOW, MAX_AGE)
    assert view.verdict is Verdict.HEALTHY
    group = view.group("VLAN200")
    assert group is not None and group.all_disabled and not group.no_master


def test_router_with_zero_groups_is_up() -> None:
    """`VRRP is not running` on one router: it is up, and its peer's groups have no second opinion."""
    snaps = situation("healthy", NOW)
    snaps["vyos02"] = snapshot("vyos02", (), NOW)
    view = view_at(SPEC, snaps, NOW, MAX_AGE)
    assert view.all_up
    assert view.verdict is Verdict.HEALTHY
    assert all(g.states["vyos02"] is None for g in view.groups)
