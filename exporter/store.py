"""The write side: the last poll of every router plus what only poll history can tell.

Per router: the last snapshot, each group's transition history, error counters by reason, and a
generation number that changes whenever anything its group series show changes. Written only by
the poller; read through `views.Views`. Everything runs on one event loop, so a reader never sees a
half-applied update. Judging freshness and joining the routers' tables is the read side's job.

Sized for one exporter polling 1,000 routers x 10 groups: history is indexed per router (a poll
touches only its own router's entries; docs/performance.md has the profiles).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from .errors import PollErrorReason
from .model import RouterSnapshot, VrrpState
from .vyos_config import VrrpConfig

RouterKey = tuple[str, str]  # (cluster, router)

# `Last Transition` has one-second resolution and the poll itself takes time, so a recomputed
# transition time wobbles by about a second between polls. Only a jump beyond this is a transition.
TRANSITION_TOLERANCE_SECONDS = 2.0
_REASONS = tuple(PollErrorReason)  # iterating the enum itself is slow enough to show at 1,000 routers


@dataclass(slots=True)
class _GroupHistory:
    state: VrrpState
    transition_at: float | None  # Unix time of the last transition, None if unknown
    transitions: int = 0


_Row = tuple[str, VrrpState, float | None, _GroupHistory]  # group, state now, transition time now, before


def _is_reload(rows: list[_Row]) -> bool:
    """A keepalived reload (every VyOS HA commit): Last Transition reset at one instant on every
    group that kept its state, with no state change before that instant.

    Measured in the lab (keepalived 2.2.7, SIGHUP as `systemctl reload` sends): no group changes
    state, the peer sees nothing, and every group's last_transition becomes the reload time
    (keepalived builds new instances and does not carry it over). Needs two or more such groups:
    one group reset alone is read as a flap that came back between two polls (counted)."""
    tolerance = TRANSITION_TOLERANCE_SECONDS
    kept = [
        (at, old)
        for _, state, at, old in rows
        if state == old.state and at is not None and old.transition_at is not None
    ]
    if len(kept) < 2 or any(at <= old.transition_at + tolerance for at, old in kept if old.transition_at is not None):
        return False
    instants = [at for at, _ in kept]
    if max(instants) - min(instants) > tolerance:
        return False
    # A group that changed state in the same commit (a new priority wins) did so at the reload or after.
    return all(at is None or at >= min(instants) - tolerance for _, state, at, old in rows if state != old.state)


class SnapshotStore:
    def __init__(self) -> None:
        self._snapshots: dict[RouterKey, RouterSnapshot] = {}
        # Per router, then per group: a poll updates (and prunes) only its own router's groups.
        self._history: dict[RouterKey, dict[str, _GroupHistory]] = {}
        self._errors: dict[tuple[str, str, PollErrorReason], int] = {}
        self._parse_problems: dict[RouterKey, int] = {}
        self._reloads: dict[RouterKey, int] = {}  # keepalived reloads recognised (not counted as transitions)
        # The routers' own VRRP configuration: the last one read, when, and failed reads.
        self._configs: dict[RouterKey, tuple[VrrpConfig, float]] = {}
        self._config_errors: dict[RouterKey, int] = {}
        # Per router: the groups it reported last time it reported any, and whether its last
        # successful poll had groups (a router with VRRP that suddenly reports none is doubted).
        self._known_groups: dict[RouterKey, tuple[str, ...]] = {}
        self._reported_groups: dict[RouterKey, bool] = {}
        self._rounds: dict[str, int] = {}
        # Per router: what its group series show, and a number that changes whenever that does.
        self._group_signatures: dict[RouterKey, tuple[object, object]] = {}
        self._generations: dict[RouterKey, int] = {}
        self._next_generation = 0

    # --- writes (poller) ------------------------------------------------------------------------

    def record(self, snapshot: RouterSnapshot) -> list[tuple[str, VrrpState | None, VrrpState]]:
        """Store one poll result. Returns the state changes seen, as (group, old, new)."""
        key = (snapshot.cluster, snapshot.router)
        previous = self._snapshots.get(key)
        if snapshot.failure is not None:
            self.count_error(snapshot.cluster, snapshot.router, snapshot.failure.reason)
            if previous is not None and previous.last_success_at is not None:
                snapshot = replace(snapshot, last_success_at=previous.last_success_at)
            self._snapshots[key] = snapshot
            return []
        if snapshot.problems:
            self._parse_problems[key] = self._parse_problems.get(key, 0) + len(snapshot.problems)
        self._reported_groups[key] = bool(snapshot.groups)
        if snapshot.groups:
            self._known_groups[key] = tuple(g.name for g in snapshot.groups)
        elif self._known_groups.get(key):
            snapshot = replace(snapshot, vrrp_gone=self._known_groups[key])
        self._snapshots[key] = snapshot
        changes = self._track(snapshot)
        self._update_generation(key, snapshot)
        return changes

    def record_config(self, cluster: str, router: str, config: VrrpConfig | None, at: float) -> None:
        """A read of the router's VRRP configuration: the config, or None when the read failed
        (the last good one stays: a flaky read must not flip the derived sync sets)."""
        key = (cluster, router)
        if config is None:
            self._config_errors[key] = self._config_errors.get(key, 0) + 1
        else:
            self._configs[key] = (config, at)

    def forget_configs(self) -> None:
        """Config reading was turned off: nothing derived from old reads may linger."""
        self._configs.clear()

    def configs(self, cluster: str, routers: Iterable[str]) -> dict[str, VrrpConfig]:
        return {r: c[0] for r in routers if (c := self._configs.get((cluster, r))) is not None}

    def config_read_at(self, cluster: str, router: str) -> float | None:
        entry = self._configs.get((cluster, router))
        return entry[1] if entry is not None else None

    def config_errors(self, cluster: str, router: str) -> int:
        return self._config_errors.get((cluster, router), 0)

    def vouch(self, cluster: str, router: str, at: float) -> None:
        """The router answered, in doubt: its last table stands (history untouched) and stays fresh."""
        key = (cluster, router)
        previous = self._snapshots.get(key)
        if previous is not None and previous.failure is None:
            self._snapshots[key] = replace(previous, vouched_at=at)

    def count_error(self, cluster: str, router: str, reason: PollErrorReason) -> None:
        """Count a failed attempt that does not replace the router's snapshot (e.g. a doubted answer)."""
        ekey = (cluster, router, reason)
        self._errors[ekey] = self._errors.get(ekey, 0) + 1

    def _track(self, snapshot: RouterSnapshot) -> list[tuple[str, VrrpState | None, VrrpState]]:
        changes: list[tuple[str, VrrpState | None, VrrpState]] = []
        key = (snapshot.cluster, snapshot.router)
        history = self._history.setdefault(key, {})
        rows: list[_Row] = []
        for group in snapshot.groups:
            age = group.last_transition_age_seconds
            at = None if age is None else snapshot.polled_at - age
            old = history.get(group.name)
            if old is None:
                history[group.name] = _GroupHistory(group.state, at)
            else:
                rows.append((group.name, group.state, at, old))
        reload = _is_reload(rows)
        if reload:
            self._reloads[key] = self._reloads.get(key, 0) + 1
        for name, state, at, old in rows:
            changed = state != old.state
            moved = at is not None and (
                old.transition_at is None or at > old.transition_at + TRANSITION_TOLERANCE_SECONDS
            )
            if changed or moved:
                if changed or not reload:  # a reload resets Last Transition; no state changed
                    old.transitions += 1
                if changed:
                    changes.append((name, old.state, state))
                old.state = state
                old.transition_at = at
            elif at is not None and old.transition_at is None:
                old.transition_at = at
        # Groups the router no longer reports stop being exported at all (no frozen series).
        seen = {g.name for g in snapshot.groups}
        for name in [n for n in history if n not in seen]:
            del history[name]
        return changes

    def _update_generation(self, key: RouterKey, snapshot: RouterSnapshot) -> None:
        """Give the router a new generation if anything its group series show has changed.

        Lets a renderer reuse a router's group lines between scrapes: a VyOS age that merely grew
        changes nothing exported, so a steady router keeps its generation across polls."""
        rows = tuple((g.name, g.interface, g.vrid, g.state, g.priority) for g in snapshot.groups)
        history = tuple((name, h.transition_at, h.transitions) for name, h in self._history[key].items())
        signature = (rows, history)
        if self._group_signatures.get(key) != signature:
            self._group_signatures[key] = signature
            self._next_generation += 1  # never reused, even for a router removed and added again
            self._generations[key] = self._next_generation

    def finish_round(self, cluster: str) -> None:
        self._rounds[cluster] = self._rounds.get(cluster, 0) + 1

    def retain(self, routers: Iterable[RouterKey]) -> None:
        """Forget routers (and clusters) that a reload removed, with all their counters."""
        keep = set(routers)
        clusters = {c for c, _ in keep}
        self._snapshots = {k: v for k, v in self._snapshots.items() if k in keep}
        self._history = {k: v for k, v in self._history.items() if k in keep}
        self._errors = {k: v for k, v in self._errors.items() if k[:2] in keep}
        self._parse_problems = {k: v for k, v in self._parse_problems.items() if k in keep}
        self._reloads = {k: v for k, v in self._reloads.items() if k in keep}
        self._configs = {k: v for k, v in self._configs.items() if k in keep}
        self._config_errors = {k: v for k, v in self._config_errors.items() if k in keep}
        self._known_groups = {k: v for k, v in self._known_groups.items() if k in keep}
        self._reported_groups = {k: v for k, v in self._reported_groups.items() if k in keep}
        self._rounds = {k: v for k, v in self._rounds.items() if k in clusters}
        self._group_signatures = {k: v for k, v in self._group_signatures.items() if k in keep}
        self._generations = {k: v for k, v in self._generations.items() if k in keep}

    # --- reads ----------------------------------------------------------------------------------

    def snapshot(self, cluster: str, router: str) -> RouterSnapshot | None:
        return self._snapshots.get((cluster, router))

    def cluster_snapshots(self, cluster: str, routers: Iterable[str]) -> dict[str, RouterSnapshot]:
        return {r: s for r in routers if (s := self._snapshots.get((cluster, r))) is not None}

    def transitions(self, cluster: str, router: str, group: str) -> int:
        history = self._history.get((cluster, router), {}).get(group)
        return history.transitions if history else 0

    def transition_at(self, cluster: str, router: str, group: str) -> float | None:
        history = self._history.get((cluster, router), {}).get(group)
        return history.transition_at if history else None

    def generation(self, cluster: str, router: str) -> int:
        """Changes whenever the router's group series would change (0: no successful poll yet)."""
        return self._generations.get((cluster, router), 0)

    def errors(self, cluster: str, router: str) -> Mapping[PollErrorReason, int]:
        return {reason: self._errors.get((cluster, router, reason), 0) for reason in _REASONS}

    def reloads(self, cluster: str, router: str) -> int:
        """keepalived reloads seen on the router (Last Transition reset on every group at once)."""
        return self._reloads.get((cluster, router), 0)

    def parse_problems(self, cluster: str, router: str) -> int:
        return self._parse_problems.get((cluster, router), 0)

    def expects_groups(self, cluster: str, router: str) -> bool:
        """The router has VRRP groups as far as we know: its last successful poll reported some, or
        it has not been read yet (a first answer lost to another reader must not blind us)."""
        return self._reported_groups.get((cluster, router), True)

    def rounds(self, cluster: str) -> int:
        return self._rounds.get(cluster, 0)
