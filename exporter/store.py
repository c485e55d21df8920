"""The snapshot store: the last poll of every router plus the counters derived from poll history.

Written only by the poller, read by scrapes, `poll` and the status page. Everything runs on one
event loop, so a scrape never sees a half-applied update.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from .errors import PollErrorReason
from .model import ClusterSpec, RouterSnapshot, VrrpState
from .verdict import ClusterView, build_view

RouterKey = tuple[str, str]  # (cluster, router)
GroupKey = tuple[str, str, str]  # (cluster, router, group)

# `Last Transition` has one-second resolution and the poll itself takes time, so a recomputed
# transition time wobbles by about a second between polls. Only a jump beyond this is a transition.
TRANSITION_TOLERANCE_SECONDS = 2.0


@dataclass(slots=True)
class _GroupHistory:
    state: VrrpState
    transition_at: float | None  # Unix time of the last transition, None if unknown
    transitions: int = 0


class SnapshotStore:
    def __init__(self) -> None:
        self._snapshots: dict[RouterKey, RouterSnapshot] = {}
        self._history: dict[GroupKey, _GroupHistory] = {}
        self._errors: dict[tuple[str, str, PollErrorReason], int] = {}
        self._rounds: dict[str, int] = {}

    # --- writes (poller) ------------------------------------------------------------------------

    def record(self, snapshot: RouterSnapshot) -> list[tuple[str, VrrpState | None, VrrpState]]:
        """Store one poll result. Returns the state changes seen, as (group, old, new)."""
        key = (snapshot.cluster, snapshot.router)
        previous = self._snapshots.get(key)
        if snapshot.failure is not None:
            ekey = (snapshot.cluster, snapshot.router, snapshot.failure.reason)
            self._errors[ekey] = self._errors.get(ekey, 0) + 1
            if previous is not None and previous.last_success_at is not None:
                snapshot = replace(snapshot, last_success_at=previous.last_success_at)
            self._snapshots[key] = snapshot
            return []
        self._snapshots[key] = snapshot
        return self._track(snapshot)

    def _track(self, snapshot: RouterSnapshot) -> list[tuple[str, VrrpState | None, VrrpState]]:
        changes: list[tuple[str, VrrpState | None, VrrpState]] = []
        seen: set[str] = set()
        for group in snapshot.groups:
            seen.add(group.name)
            gkey = (snapshot.cluster, snapshot.router, group.name)
            at = (
                None
                if group.last_transition_age_seconds is None
                else snapshot.polled_at - group.last_transition_age_seconds
            )
            old = self._history.get(gkey)
            if old is None:
                self._history[gkey] = _GroupHistory(group.state, at)
                continue
            moved = at is not None and (
                old.transition_at is None or at > old.transition_at + TRANSITION_TOLERANCE_SECONDS
            )
            if group.state != old.state or moved:
                old.transitions += 1
                if group.state != old.state:
                    changes.append((group.name, old.state, group.state))
                old.state = group.state
                old.transition_at = at
            elif at is not None and old.transition_at is None:
                old.transition_at = at
        # Groups the router no longer reports stop being exported at all (no frozen series).
        for gkey in [k for k in self._history if k[:2] == (snapshot.cluster, snapshot.router) and k[2] not in seen]:
            del self._history[gkey]
        return changes

    def finish_round(self, cluster: str) -> None:
        self._rounds[cluster] = self._rounds.get(cluster, 0) + 1

    def retain(self, routers: Iterable[RouterKey]) -> None:
        """Forget routers (and clusters) that a reload removed, with all their counters."""
        keep = set(routers)
        clusters = {c for c, _ in keep}
        self._snapshots = {k: v for k, v in self._snapshots.items() if k in keep}
        self._history = {k: v for k, v in self._history.items() if k[:2] in keep}
        self._errors = {k: v for k, v in self._errors.items() if k[:2] in keep}
        self._rounds = {k: v for k, v in self._rounds.items() if k in clusters}

    # --- reads ----------------------------------------------------------------------------------

    def snapshot(self, cluster: str, router: str) -> RouterSnapshot | None:
        return self._snapshots.get((cluster, router))

    def cluster_snapshots(self, cluster: str, routers: Iterable[str]) -> dict[str, RouterSnapshot]:
        return {r: s for r in routers if (s := self._snapshots.get((cluster, r))) is not None}

    def view(self, spec: ClusterSpec, now: float, max_age: float) -> ClusterView:
        return build_view(spec, self.cluster_snapshots(spec.name, spec.routers), now, max_age)

    def transitions(self, cluster: str, router: str, group: str) -> int:
        history = self._history.get((cluster, router, group))
        return history.transitions if history else 0

    def transition_at(self, cluster: str, router: str, group: str) -> float | None:
        history = self._history.get((cluster, router, group))
        return history.transition_at if history else None

    def errors(self, cluster: str, router: str) -> Mapping[PollErrorReason, int]:
        return {reason: self._errors.get((cluster, router, reason), 0) for reason in PollErrorReason}

    def rounds(self, cluster: str) -> int:
        return self._rounds.get(cluster, 0)
