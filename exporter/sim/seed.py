"""The seed's incident (shared/seed) as simulator input: two routers, three VLANs, four phases.

Shared by `demo`, the tests and the lab, so the story is told once.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from ..model import ClusterSpec, VrrpGroup, VrrpState
from .fleet import RouterSpec, SimRouter
from .vyos_render import GroupConfig, render_vrrp_config

SEED_CLUSTER = ClusterSpec(name="home", routers=("vyos01", "vyos02"), preferred_master="vyos01")
SEED_PRIORITIES: Mapping[str, int] = {"vyos01": 150, "vyos02": 100}
SEED_VLANS: tuple[tuple[str, str, int], ...] = (
    ("VLAN1", "eth0", 1),
    ("VLAN100", "eth1", 100),
    ("VLAN101", "eth2", 101),
)


class SeedPhase(StrEnum):
    """The phases of the incident in shared/seed, in story order."""

    HEALTHY = "healthy"  # vyos01 is MASTER of every VLAN
    SPLIT = "split"  # VLAN1 on vyos01, VLAN100/VLAN101 on vyos02: the outage
    SYNC_FAULT = "sync-fault"  # sync-group with different links down: FAULT everywhere
    PREEMPT_FIX = "preempt-fix"  # preempt + higher priority: vyos01 wins every VLAN back


_M, _B, _F = VrrpState.MASTER, VrrpState.BACKUP, VrrpState.FAULT
# Per phase and router: the state of VLAN1, VLAN100, VLAN101, and their Last Transition ages
# (seconds) as printed in the seed where it shows that phase (26m13s, 4h27m1s, 38s, 2m37s...).
_SEED_STORY: Mapping[SeedPhase, Mapping[str, tuple[tuple[VrrpState, ...], tuple[int, ...]]]] = {
    SeedPhase.HEALTHY: {"vyos01": ((_M, _M, _M), (38, 38, 38)), "vyos02": ((_B, _B, _B), (41, 41, 41))},
    SeedPhase.SPLIT: {
        "vyos01": ((_M, _B, _B), (1573, 1755, 1755)),
        "vyos02": ((_B, _M, _M), (16021, 16245, 16245)),
    },
    SeedPhase.SYNC_FAULT: {"vyos01": ((_F, _F, _F), (157, 157, 157)), "vyos02": ((_F, _F, _F), (157, 157, 157))},
    SeedPhase.PREEMPT_FIX: {"vyos01": ((_M, _M, _M), (38, 38, 38)), "vyos02": ((_B, _B, _B), (41, 41, 41))},
}
SEED_PHASES: tuple[SeedPhase, ...] = tuple(SeedPhase)

_VIPS = {"VLAN1": "192.168.0.4/24", "VLAN100": "192.168.100.1/24", "VLAN101": "192.168.101.1/24"}


def seed_config(router: str, phase: SeedPhase, version: str = "1.4") -> str:
    """The router's VRRP configuration in that phase, as the seed shows it: the incident's
    no-preempt without a sync-group, then fix 1 (sync-group MAIN, spelled right), then fix 2
    (preempt, vyos01 150 over vyos02's default 100, no sync-group)."""
    preempt = phase is SeedPhase.PREEMPT_FIX
    priority = SEED_PRIORITIES[router] if SEED_PRIORITIES[router] != 100 else None  # 100 is VyOS's default
    groups = [GroupConfig(name, iface, vrid, priority, preempt, _VIPS[name]) for name, iface, vrid in SEED_VLANS]
    sync = {"MAIN": [name for name, _, _ in SEED_VLANS]} if phase is SeedPhase.SYNC_FAULT else {}
    return render_vrrp_config(groups, sync, version)


def seed_cluster(version: str = "1.4", phase: SeedPhase = SeedPhase.HEALTHY) -> tuple[RouterSpec, ...]:
    """vyos01 (priority 150) and vyos02 (priority 100) with the seed's VLAN1/VLAN100/VLAN101.

    The groups start in `phase` with the Last Transition ages the seed shows for it, so a
    fleet started in SPLIT prints the seed's tables exactly.
    """
    specs = []
    for router, (states, ages) in _SEED_STORY[phase].items():
        groups = tuple(
            VrrpGroup(name, iface, vrid, state, SEED_PRIORITIES[router], age)
            for (name, iface, vrid), state, age in zip(SEED_VLANS, states, ages, strict=True)
        )
        specs.append(RouterSpec(router, groups, version, seed_config(router, phase, version)))
    return tuple(specs)


def apply_seed_phase(routers: Mapping[str, SimRouter], phase: SeedPhase) -> None:
    """Move the seed's routers into `phase` (states and configuration); groups whose state changes
    restart their transition."""
    for router, (states, _ages) in _SEED_STORY[phase].items():
        routers[router].vrrp_config = seed_config(router, phase, routers[router].version)
        for (name, _iface, _vrid), state in zip(SEED_VLANS, states, strict=True):
            routers[router].set_state(name, state, SEED_PRIORITIES[router])
