"""The cluster join, table-driven on the seed's situations."""

from __future__ import annotations

import pytest
from seed import B, D, F, M, situation, snapshot, table

from exporter.errors import PollErrorReason
from exporter.findings import exit_code, overall_exit_code, problems, warnings
from exporter.join import Verdict
from exporter.model import ClusterSpec, PollFailure, SyncSetSpec, VrrpGroup, VrrpState
from exporter.store import SnapshotStore
from exporter.views import view_at

INIT = VrrpState.INIT

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

    # vyos01 alone is BACKUP of VLAN100: the master may sit on the router we cannot see, so no
    # "no master" claim; but vyos01's own table proves the set is not on one router (issue 13).
    snaps["vyos01"] = snapshot("vyos01", table("vyos01", (M, B, B)), NOW)
    view = view_at(SPEC, snaps, NOW, MAX_AGE)
    assert {g.name: len(g.masters) for g in view.groups}["VLAN100"] == 0
    assert Verdict.NO_MASTER not in {kind for kind, _ in problems(view)}
    assert view.verdict is Verdict.SPLIT


def test_split_seen_from_half_the_data() -> None:
    """The seed's split while vyos02 cannot be read: vyos01's table alone proves it."""
    snaps = situation("split", NOW)
    snaps["vyos02"] = snapshot("vyos02", now=NOW, failure=PollFailure(PollErrorReason.CONNECT, "refused"))
    view = view_at(SPEC, snaps, NOW, MAX_AGE)
    [s] = view.sets
    assert s.split and s.master_count == 1
    assert dict(s.split_seen_by) == {"vyos01": ("VLAN100", "VLAN101")}
    assert view.verdict is Verdict.SPLIT and exit_code(view) == 1
    found = dict(problems(view))
    assert found[Verdict.SPLIT] == (
        "set all is split: vyos01 is MASTER of VLAN1 but BACKUP of VLAN100, BACKUP of VLAN101"
        " (inferred from vyos01; not read: vyos02)"
    )
    assert Verdict.ROUTER_DOWN in found


@pytest.mark.parametrize(
    ("states", "split"),
    [
        ((M, M, M), False),  # all on one router
        ((M, F, M), True),  # FAULT: not master, and the router is MASTER of the others
        ((M, INIT, INIT), True),  # INIT counts as "not master" too
        ((M, D, D), False),  # DISABLED says nothing about where the master is
        ((B, B, B), False),  # master of nothing: no proof
        ((F, F, F), False),
    ],
)
def test_one_router_proves_a_split_only_with_master_and_non_master(states: tuple[VrrpState, ...], split: bool) -> None:
    snaps = {"vyos01": snapshot("vyos01", table("vyos01", states), NOW)}
    view = view_at(SPEC, snaps, NOW, MAX_AGE)
    assert view.sets[0].split is split
    assert view.verdict is (Verdict.SPLIT if split else Verdict.ROUTER_DOWN)


def test_split_and_a_down_router_in_three_router_cluster_exits_1() -> None:
    spec = ClusterSpec("home", ("vyos01", "vyos02", "vyos03"))
    snaps = situation("split", NOW)
    snaps["vyos03"] = snapshot("vyos03", now=NOW, failure=PollFailure(PollErrorReason.TIMEOUT, "timed out"))
    view = view_at(spec, snaps, NOW, MAX_AGE)
    assert view.verdict is Verdict.SPLIT
    assert overall_exit_code([view]) == 1


def test_disabled_on_one_router_backup_on_the_other_has_no_master() -> None:
    snaps = situation("healthy", NOW)
    one = table("vyos01", (D, M, M))
    snaps["vyos01"] = snapshot("vyos01", (VrrpGroup("VLAN1", "eth0", 1, D), *one[1:]), NOW)
    view = view_at(SPEC, snaps, NOW, MAX_AGE)
    vlan1 = view.group("VLAN1")
    assert vlan1 is not None and vlan1.no_master and not vlan1.all_disabled
    assert view.verdict is Verdict.NO_MASTER and exit_code(view) == 1


def test_lost_standby_is_degraded() -> None:
    """keepalived stopped on vyos01 after it had groups; vyos02 MASTER of everything."""
    store = SnapshotStore()
    for snap in situation("healthy", NOW).values():
        store.record(snap)
    store.record(snapshot("vyos01", (), NOW + 5))
    store.record(snapshot("vyos02", table("vyos02", (M, M, M)), NOW + 5))
    gone = store.snapshot("home", "vyos01")
    assert gone is not None and gone.vrrp_gone == ("VLAN1", "VLAN100", "VLAN101")
    snaps = {r: s for r in ("vyos01", "vyos02") if (s := store.snapshot("home", r)) is not None}
    view = view_at(SPEC, snaps, NOW + 5, MAX_AGE)
    kinds = [kind for kind, _ in problems(view)]
    assert kinds == [Verdict.VRRP_STOPPED, Verdict.NO_STANDBY, Verdict.NO_STANDBY, Verdict.NO_STANDBY]
    assert view.verdict is Verdict.VRRP_STOPPED and exit_code(view) == 3
    assert [len(g.standbys) for g in view.groups] == [0, 0, 0]
    assert "vyos01 reports no VRRP at all (it reported VLAN1, VLAN100, VLAN101 before" in problems(view)[0][1]


def test_no_standby_only_claimed_with_every_router_read() -> None:
    snaps = situation("healthy", NOW)
    snaps["vyos02"] = snapshot("vyos02", table("vyos02", (F, F, F)), NOW)
    view = view_at(SPEC, snaps, NOW, MAX_AGE)
    assert view.verdict is Verdict.NO_STANDBY and exit_code(view) == 3
    assert "group VLAN1 has no standby: MASTER on vyos01" in problems(view)[0][1]
    snaps["vyos02"] = snapshot("vyos02", now=NOW, failure=PollFailure(PollErrorReason.TIMEOUT, "timed out"))
    view = view_at(SPEC, snaps, NOW, MAX_AGE)
    assert [kind for kind, _ in problems(view)] == [Verdict.ROUTER_DOWN]


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
    """`VRRP is not running` on one router: it is up, but the pair has no standby left (issue 13:
    this used to read as healthy)."""
    snaps = situation("healthy", NOW)
    snaps["vyos02"] = snapshot("vyos02", (), NOW)
    view = view_at(SPEC, snaps, NOW, MAX_AGE)
    assert view.all_up
    assert all(g.states["vyos02"] is None for g in view.groups)
    assert view.vrrp_silent == ("vyos02",)  # named even without history: its peer reports groups
    assert view.verdict is Verdict.VRRP_STOPPED and exit_code(view) == 3
    assert [kind for kind, _ in problems(view)] == [Verdict.VRRP_STOPPED, *[Verdict.NO_STANDBY] * 3]
    assert "router vyos02 reports no VRRP at all (while vyos01 report groups" in problems(view)[0][1]


def test_dual_master_is_not_also_a_missing_standby() -> None:
    view = view_at(SPEC, situation("dual_master", NOW), NOW, MAX_AGE)
    kinds = [kind for kind, _ in problems(view)]
    assert Verdict.DUAL_MASTER in kinds and Verdict.NO_STANDBY not in kinds


def test_vrrp_stopped_on_both_routers_is_not_healthy() -> None:
    """No router reports a group any more, but both did: the pair has no VRRP left at all (no peer
    with groups to compare with, so only the history says so)."""
    store = SnapshotStore()
    for snap in situation("healthy", NOW).values():
        store.record(snap)
    for router in ("vyos01", "vyos02"):
        store.record(snapshot(router, (), NOW + 5))
    snaps = {r: s for r in ("vyos01", "vyos02") if (s := store.snapshot("home", r)) is not None}
    view = view_at(SPEC, snaps, NOW + 5, MAX_AGE)
    assert view.groups == ()
    assert view.vrrp_silent == ("vyos01", "vyos02")
    assert view.verdict is Verdict.VRRP_STOPPED and exit_code(view) == 3
