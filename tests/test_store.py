"""The write side: what counts as a transition, as keepalived behaves on a reload (measured in the lab)."""

from __future__ import annotations

from seed import B, M, table

from exporter.model import RouterSnapshot, VrrpGroup
from exporter.store import SnapshotStore

T0 = 1_000_000.0
GROUPS = ("VLAN1", "VLAN100", "VLAN101")


def poll(store: SnapshotStore, at: float, groups: tuple[VrrpGroup, ...], router: str = "vyos01") -> list[object]:
    changes: list[object] = list(store.record(RouterSnapshot("home", router, at, 0.01, groups, None, at)))
    return changes


def aged(groups: tuple[VrrpGroup, ...], ages: tuple[int, ...]) -> tuple[VrrpGroup, ...]:
    return tuple(
        VrrpGroup(g.name, g.interface, g.vrid, g.state, g.priority, a) for g, a in zip(groups, ages, strict=True)
    )


def transitions(store: SnapshotStore, router: str = "vyos01") -> dict[str, int]:
    return {g: store.transitions("home", router, g) for g in GROUPS}


def test_steady_polls_count_nothing() -> None:
    store = SnapshotStore()
    for i in range(5):
        poll(store, T0 + 5 * i, aged(table("vyos01", (M, M, M)), (3600 + 5 * i,) * 3))
    assert transitions(store) == {"VLAN1": 0, "VLAN100": 0, "VLAN101": 0}


def test_keepalived_reload_resets_every_age_and_is_not_a_transition() -> None:
    """A VyOS HA commit: same states, every Last Transition restarts at the reload instant."""
    store = SnapshotStore()
    poll(store, T0, aged(table("vyos01", (M, M, M)), (3600, 3600, 3600)))
    assert poll(store, T0 + 5, aged(table("vyos01", (M, M, M)), (2, 2, 3))) == []
    assert transitions(store) == {"VLAN1": 0, "VLAN100": 0, "VLAN101": 0}
    assert store.reloads("home", "vyos01") == 1
    # The new instant is remembered: the next steady poll counts nothing either.
    poll(store, T0 + 10, aged(table("vyos01", (M, M, M)), (7, 7, 8)))
    assert transitions(store) == {"VLAN1": 0, "VLAN100": 0, "VLAN101": 0}


def test_reload_that_moves_one_group_counts_only_that_group() -> None:
    """A commit raising the peer's priority: reload at T, VLAN100 goes BACKUP 0.36 s later."""
    store = SnapshotStore()
    poll(store, T0, aged(table("vyos01", (M, M, M)), (3600, 3600, 3600)))
    changes = poll(store, T0 + 5, aged(table("vyos01", (M, B, M)), (3, 3, 3)))
    assert changes == [("VLAN100", M, B)]
    assert transitions(store) == {"VLAN1": 0, "VLAN100": 1, "VLAN101": 0}


def test_one_group_reset_alone_is_a_flap_that_came_back() -> None:
    store = SnapshotStore()
    poll(store, T0, aged(table("vyos01", (M, M, M)), (3600, 3600, 3600)))
    poll(store, T0 + 5, aged(table("vyos01", (M, M, M)), (3605, 2, 3605)))
    assert transitions(store) == {"VLAN1": 0, "VLAN100": 1, "VLAN101": 0}
    assert store.reloads("home", "vyos01") == 0


def test_resets_at_different_instants_are_flaps() -> None:
    store = SnapshotStore()
    poll(store, T0, aged(table("vyos01", (M, M, M)), (3600, 3600, 3600)))
    poll(store, T0 + 30, aged(table("vyos01", (M, M, M)), (1, 20, 3630)))
    assert transitions(store) == {"VLAN1": 1, "VLAN100": 1, "VLAN101": 0}


def test_state_change_before_the_resets_is_not_a_reload() -> None:
    """VLAN1 moved well before the other groups restarted: not one commit's reload."""
    store = SnapshotStore()
    poll(store, T0, aged(table("vyos01", (B, M, M)), (3600, 3600, 3600)))
    poll(store, T0 + 30, aged(table("vyos01", (M, M, M)), (25, 2, 2)))
    assert transitions(store) == {"VLAN1": 1, "VLAN100": 1, "VLAN101": 1}


def test_a_router_with_one_group_counts_its_reset_as_a_flap() -> None:
    """One group alone cannot show a reload (every group at one instant): counted, as documented."""
    store = SnapshotStore()
    one = table("vyos01", (M, M, M))[:1]
    poll(store, T0, aged(one, (3600,)))
    poll(store, T0 + 5, aged(one, (2,)))
    assert store.transitions("home", "vyos01", "VLAN1") == 1
    assert store.reloads("home", "vyos01") == 0
