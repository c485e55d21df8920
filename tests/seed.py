"""The seed incident's tables as model objects, for tests of the join, collector and report.

The VLANs and priorities are the simulator's (exporter.sim.seed); the situations here add the
dual master that the story itself never reaches."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from exporter.collector import VrrpCollector
from exporter.model import ClusterSpec, RouterSnapshot, VrrpGroup, VrrpState
from exporter.sim.seed import SEED_PRIORITIES as PRIORITY
from exporter.sim.seed import SEED_VLANS as GROUPS
from exporter.store import SnapshotStore
from exporter.views import Views

M, B, F, D = VrrpState.MASTER, VrrpState.BACKUP, VrrpState.FAULT, VrrpState.DISABLED

# Situations from the seed, as (vyos01 states, vyos02 states) per group in GROUPS order.
SITUATIONS = {
    "healthy": ((M, M, M), (B, B, B)),
    "split": ((M, B, B), (B, M, M)),  # the incident: VLAN1 on vyos01, VLAN100/101 on vyos02
    "all_fault": ((F, F, F), (F, F, F)),  # sync-group with different links down on each router
    "preempt_restored": ((M, M, M), (B, B, B)),
    "dual_master": ((M, M, M), (M, B, B)),
}


def table(router: str, states: tuple[VrrpState, ...], age: int = 38) -> tuple[VrrpGroup, ...]:
    return tuple(
        VrrpGroup(name, iface, vrid, state, PRIORITY[router], age)
        for (name, iface, vrid), state in zip(GROUPS, states, strict=True)
    )


def snapshot(
    router: str,
    groups: tuple[VrrpGroup, ...] = (),
    now: float = 1_000_000.0,
    cluster: str = "home",
    failure: object = None,
) -> RouterSnapshot:
    from exporter.model import PollFailure

    assert failure is None or isinstance(failure, PollFailure)
    return RouterSnapshot(
        cluster=cluster,
        router=router,
        polled_at=now,
        duration_seconds=0.05,
        groups=groups,
        failure=failure,
        last_success_at=None if failure is not None else now,
    )


def situation(name: str, now: float = 1_000_000.0) -> dict[str, RouterSnapshot]:
    one, two = SITUATIONS[name]
    return {
        "vyos01": snapshot("vyos01", table("vyos01", one), now),
        "vyos02": snapshot("vyos02", table("vyos02", two), now),
    }


@dataclass
class Source:
    """A store and the read side over it, at a clock the test sets (poll interval 5 s: stale after 15 s)."""

    store: SnapshotStore
    specs: list[ClusterSpec]
    now: float = 1_000_000.0

    def __post_init__(self) -> None:
        self.views = Views(self.store, clock=lambda: self.now)
        self.views.configure(self.specs, poll_interval=5.0)


def setup(spec: ClusterSpec | None = None) -> tuple[Source, CollectorRegistry]:
    source = Source(SnapshotStore(), [spec or ClusterSpec("home", ("vyos01", "vyos02"), preferred_master="vyos01")])
    registry = CollectorRegistry()
    registry.register(VrrpCollector(source.views))
    return source, registry


def record(source: Source, name: str, now: float = 1_000_000.0) -> None:
    source.now = now
    for snap in situation(name, now).values():
        source.store.record(snap)
