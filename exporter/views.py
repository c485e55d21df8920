"""The read side: what the collector, the status page, `poll`, `demo` and the verdict log read.

It owns the freshness rule (data older than 3 poll intervals counts as unknown: the router is
reported down) and a memo of the pure join per cluster. A scrape asks for every cluster's view; at
1,000 routers rebuilding them all took about a third of the /metrics budget, while between two
polls nothing changes but the clock, so a view is rebuilt only when an input of it changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

from .errors import PollErrorReason
from .join import ClusterView, build_view
from .model import ClusterSpec, RouterSnapshot
from .store import SnapshotStore
from .vyos_config import VrrpConfig

STALE_AFTER_INTERVALS = 3

# What a memoised view was built from: the spec and, per router, the snapshot object and whether
# it was fresh. Snapshots are immutable and replaced on every poll, so comparing them by identity
# (tuple equality checks `is` first) tells whether anything changed.
_MemoKey = tuple[ClusterSpec, tuple[tuple[RouterSnapshot | None, bool], ...], tuple[VrrpConfig, ...] | None]


def is_fresh(snapshot: RouterSnapshot, now: float, max_age: float) -> bool:
    """The last successful poll is at most `max_age` old (a failed poll is never a success; an
    answer in doubt vouches for the table it leaves standing)."""
    at = snapshot.current_at
    return at is not None and now - at <= max_age


def view_at(spec: ClusterSpec, snapshots: Mapping[str, RouterSnapshot], now: float, max_age: float) -> ClusterView:
    """The join of `snapshots` as seen at `now`, without a memo (tests, one-off reports)."""
    fresh = {name for name, s in snapshots.items() if is_fresh(s, now, max_age)}
    return build_view(spec, snapshots, fresh)


class Views:
    """Cluster views over a store, for the clusters of the running config."""

    def __init__(self, store: SnapshotStore, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._specs: dict[str, ClusterSpec] = {}
        self.max_age = 0.0
        self._memo: dict[str, tuple[_MemoKey, ClusterView]] = {}

    def configure(self, specs: Iterable[ClusterSpec], poll_interval: float) -> None:
        """The clusters to show and how old their data may be (on start and on every reload)."""
        self._specs = {spec.name: spec for spec in specs}
        self.max_age = STALE_AFTER_INTERVALS * poll_interval
        self._memo.clear()

    def cluster(self, name: str) -> ClusterView:
        """The cluster's join now; the same (immutable) object until an input changes."""
        spec = self._specs[name]
        now = self._clock()
        snapshots = self._store.cluster_snapshots(name, spec.routers)
        inputs = tuple(
            (s, s is not None and is_fresh(s, now, self.max_age)) for s in (snapshots.get(r) for r in spec.routers)
        )
        # The routers' configuration counts once every router's has been read (a partial one would
        # read as peers that disagree); until then the YAML's sets alone apply.
        configs = self._store.configs(name, spec.routers)
        complete = configs if len(configs) == len(spec.routers) else None
        key: _MemoKey = (spec, inputs, tuple(complete.values()) if complete else None)
        cached = self._memo.get(name)
        if cached is not None and cached[0] == key:
            return cached[1]
        fresh = {r for r, (_, ok) in zip(spec.routers, inputs, strict=True) if ok}
        view = build_view(spec, snapshots, fresh, complete)
        self._memo[name] = (key, view)
        return view

    def clusters(self) -> list[ClusterView]:
        return [self.cluster(name) for name in self._specs]

    def ready(self) -> bool:
        """Every cluster has finished a poll round since start."""
        return all(self._store.rounds(name) > 0 for name in self._specs)

    # --- history, for the collector -------------------------------------------------------------

    def errors(self, cluster: str, router: str) -> Mapping[PollErrorReason, int]:
        return self._store.errors(cluster, router)

    def transitions(self, cluster: str, router: str, group: str) -> int:
        return self._store.transitions(cluster, router, group)

    def transition_at(self, cluster: str, router: str, group: str) -> float | None:
        return self._store.transition_at(cluster, router, group)

    def generation(self, cluster: str, router: str) -> int:
        return self._store.generation(cluster, router)

    def parse_problems(self, cluster: str, router: str) -> int:
        return self._store.parse_problems(cluster, router)

    def config_errors(self, cluster: str, router: str) -> int:
        return self._store.config_errors(cluster, router)

    def config_read_at(self, cluster: str, router: str) -> float | None:
        return self._store.config_read_at(cluster, router)
