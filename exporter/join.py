"""The cluster join: put every router's `show vrrp` side by side and find what is wrong.

Pure: the cluster's spec, its routers' snapshots and which of them are fresh in, a ClusterView out;
freshness is judged by the read side (views.py), English wording and exit codes are findings.py's.
The collector, the `poll` command and the status page all read the same view, so they can never
disagree.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from .config_risk import RiskFinding, derive_preferred, derive_sets, lint
from .model import DEFAULT_SET_NAME, ClusterSpec, RouterSnapshot, SyncSetSpec, VrrpGroup, VrrpState
from .vyos_config import VrrpConfig


class Verdict(StrEnum):
    """Worst finding of a cluster, in the order `poll` reports them."""

    HEALTHY = "healthy"
    SPLIT = "split"
    NO_MASTER = "no_master"
    DUAL_MASTER = "dual_master"
    ROUTER_DOWN = "router_down"
    VRRP_STOPPED = "vrrp_stopped"  # a router that is up reports no VRRP after having reported groups
    NO_STANDBY = "no_standby"  # a group has its master and no router in BACKUP: no redundancy left


# Most severe first: a dual master is the most specific finding (the split it implies is its
# consequence); a router down explains a missing standby, so it names the verdict before it.
_SEVERITY = (
    Verdict.DUAL_MASTER,
    Verdict.SPLIT,
    Verdict.NO_MASTER,
    Verdict.ROUTER_DOWN,
    Verdict.VRRP_STOPPED,
    Verdict.NO_STANDBY,
)


class Notice(StrEnum):
    """Findings that are not failures: they never change the verdict."""

    NOT_PREFERRED = "not_preferred"  # a group's master is not its preferred master
    MISSING_GROUPS = "missing_groups"  # a sync set names groups no up router reports


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong (or worth a warning) in a cluster, about one set, group or router by name."""

    kind: Verdict | Notice
    subject: str


@dataclass(frozen=True, slots=True)
class RouterView:
    name: str
    snapshot: RouterSnapshot | None
    up: bool
    stale: bool  # had data once, but it is older than the freshness limit

    @property
    def groups(self) -> dict[str, VrrpGroup]:
        if not self.up or self.snapshot is None:
            return {}
        return {g.name: g for g in self.snapshot.groups}

    @property
    def vrrp_gone(self) -> tuple[str, ...]:
        """Groups it reported before and reports no longer, now that it reports none at all."""
        return self.snapshot.vrrp_gone if self.up and self.snapshot is not None else ()


@dataclass(frozen=True, slots=True)
class GroupView:
    name: str
    masters: tuple[str, ...]  # routers (up, fresh) reporting MASTER, in config order
    states: Mapping[str, VrrpGroup | None]  # router -> its row, None where an up router lacks the group
    all_disabled: bool
    standbys: tuple[str, ...] = ()  # routers (up, fresh) reporting BACKUP, in config order

    @property
    def no_standby(self) -> bool:
        return len(self.masters) == 1 and not self.standbys

    @property
    def no_master(self) -> bool:
        return not self.masters and not self.all_disabled

    @property
    def dual_master(self) -> bool:
        return len(self.masters) >= 2


@dataclass(frozen=True, slots=True)
class SetView:
    name: str
    groups: tuple[str, ...]  # the set's groups that some up router reports
    missing_groups: tuple[str, ...]  # declared groups that no up router reports
    masters: Mapping[str, tuple[str, ...]]  # router -> groups of this set it is MASTER of
    preferred_master: str | None
    # Router -> the set's groups it is BACKUP/FAULT/INIT of while MASTER of others: its own table
    # proves the split, whatever the other routers answer (or fail to).
    split_seen_by: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def master_count(self) -> int:
        return len(self.masters)

    @property
    def split(self) -> bool:
        """The set's groups are not all mastered by one router."""
        return self.master_count >= 2 or bool(self.split_seen_by)


@dataclass(frozen=True, slots=True)
class ClusterView:
    spec: ClusterSpec
    routers: tuple[RouterView, ...]
    groups: tuple[GroupView, ...]
    sets: tuple[SetView, ...]
    preferred: Mapping[str, tuple[str, bool]]  # group -> (preferred router, it is the master)
    # Split-risk findings in the routers' own VRRP configuration; None until every router's
    # configuration has been read (or when config reading is off).
    risks: tuple[RiskFinding, ...] | None = None

    @property
    def routers_up(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.routers if r.up)

    @property
    def all_up(self) -> bool:
        return all(r.up for r in self.routers)

    @property
    def any_up(self) -> bool:
        return any(r.up for r in self.routers)

    @property
    def vrrp_silent(self) -> tuple[str, ...]:
        """Routers that are up and report no VRRP at all, although they reported groups before or
        their peers report groups now (keepalived stopped: the pair has lost a member)."""
        return tuple(
            r.name
            for r in self.routers
            if r.up and not r.groups and (r.vrrp_gone or any(o.groups for o in self.routers if o is not r))
        )

    def group(self, name: str) -> GroupView | None:
        return next((g for g in self.groups if g.name == name), None)

    def set(self, name: str) -> SetView | None:
        return next((s for s in self.sets if s.name == name), None)

    def router(self, name: str) -> RouterView | None:
        return next((r for r in self.routers if r.name == name), None)

    def problems(self) -> list[Finding]:
        """Every failure, in the order `poll` reports them."""
        found = [Finding(Verdict.SPLIT, s.name) for s in self.sets if s.split]
        if self.all_up:
            # Without every router's table a missing MASTER may just sit on the router we cannot see.
            found += [Finding(Verdict.NO_MASTER, g.name) for g in self.groups if g.no_master]
        found += [Finding(Verdict.DUAL_MASTER, g.name) for g in self.groups if g.dual_master]
        found += [Finding(Verdict.ROUTER_DOWN, r.name) for r in self.routers if not r.up]
        found += [Finding(Verdict.VRRP_STOPPED, r) for r in self.vrrp_silent]
        if self.all_up:
            # With a router unread, a group may have its standby there.
            found += [Finding(Verdict.NO_STANDBY, g.name) for g in self.groups if g.no_standby]
        return found

    @property
    def verdict(self) -> Verdict:
        kinds = {finding.kind for finding in self.problems()}
        for kind in _SEVERITY:
            if kind in kinds:
                return kind
        return Verdict.HEALTHY

    def notices(self) -> list[Finding]:
        """Findings that are not failures: drift from the preferred master, sync-set typos."""
        found = [
            Finding(Notice.NOT_PREFERRED, group) for group, (_, is_master) in self.preferred.items() if not is_master
        ]
        if self.any_up:
            found += [Finding(Notice.MISSING_GROUPS, s.name) for s in self.sets if s.missing_groups]
        return found


def build_view(
    spec: ClusterSpec,
    snapshots: Mapping[str, RouterSnapshot],
    fresh: Collection[str],
    configs: Mapping[str, VrrpConfig] | None = None,
) -> ClusterView:
    """Join the latest snapshot of each router of `spec`. Only up routers named in `fresh` count.

    `configs`, every router's own VRRP configuration when it has been read: where the YAML
    declares no sync sets they come from the routers' sync-groups, where it names no preferred
    master it is the highest-priority router, and the configuration is linted for split risk."""
    risks = None
    derived: Mapping[str, str | None] = {}
    if configs:
        risks = lint_cluster(spec, configs)
        derived = derive_preferred(configs)
        if not spec.sets_declared:
            spec = replace(spec, sets=derive_sets(configs) or (SyncSetSpec(DEFAULT_SET_NAME),))
    routers = tuple(_router_view(name, snapshots.get(name), name in fresh) for name in spec.routers)
    tables = {r.name: r.groups for r in routers if r.up}
    names = sorted({g for table in tables.values() for g in table})
    groups = tuple(_group_view(name, tables) for name in names)
    by_name = {g.name: g for g in groups}
    sets = tuple(_set_view(s.name, s.groups, s.preferred_master, by_name, spec.routers) for s in spec.sets)
    return ClusterView(spec, routers, groups, sets, _preferred(spec, sets, by_name, derived), risks)


def lint_cluster(spec: ClusterSpec, configs: Mapping[str, VrrpConfig]) -> tuple[RiskFinding, ...]:
    """The split-risk findings of a cluster whose every router's configuration is in `configs`,
    judged against the YAML's declared sets and preferred masters (the view and `lint` share it)."""
    return lint(configs, spec.sets if spec.sets_declared else None, declared_preferred(spec, configs))


def declared_preferred(spec: ClusterSpec, configs: Mapping[str, VrrpConfig]) -> dict[str, str]:
    """Group -> the YAML's preferred master for it (its set's, else the cluster's)."""
    every = sorted({g for c in configs.values() for g in c.groups})
    out: dict[str, str] = {}
    for s in spec.sets if spec.sets_declared else ():
        router = s.preferred_master or spec.preferred_master
        if router is None:
            continue
        for g in s.groups or every:
            if g not in out or s.preferred_master is not None:
                out[g] = router
    if spec.preferred_master is not None:
        for g in every:
            out.setdefault(g, spec.preferred_master)
    return out


def _router_view(name: str, snapshot: RouterSnapshot | None, fresh: bool) -> RouterView:
    if snapshot is None:
        return RouterView(name, None, up=False, stale=False)
    return RouterView(name, snapshot, up=snapshot.ok and fresh, stale=snapshot.ok and not fresh)


def _group_view(name: str, tables: Mapping[str, Mapping[str, VrrpGroup]]) -> GroupView:
    states = {router: table.get(name) for router, table in tables.items()}
    masters = tuple(r for r, row in states.items() if row is not None and row.state is VrrpState.MASTER)
    standbys = tuple(r for r, row in states.items() if row is not None and row.state is VrrpState.BACKUP)
    present = [row for row in states.values() if row is not None]
    all_disabled = bool(present) and all(row.state is VrrpState.DISABLED for row in present)
    return GroupView(name, masters, states, all_disabled, standbys)


def _set_view(
    name: str,
    declared: tuple[str, ...] | None,
    preferred_master: str | None,
    groups: Mapping[str, GroupView],
    router_order: tuple[str, ...],
) -> SetView:
    wanted = tuple(groups) if declared is None else declared
    present = tuple(g for g in wanted if g in groups)
    missing = tuple(g for g in wanted if g not in groups)
    masters = {
        router: tuple(g for g in present if router in groups[g].masters)
        for router in router_order
        if any(router in groups[g].masters for g in present)
    }
    seen_by = {
        router: others
        for router in masters
        if (others := tuple(g for g in present if _not_master(groups[g].states.get(router))))
    }
    return SetView(name, present, missing, masters, preferred_master, seen_by)


_NOT_MASTER = frozenset({VrrpState.BACKUP, VrrpState.FAULT, VrrpState.INIT})


def _not_master(row: VrrpGroup | None) -> bool:
    """Running and not MASTER (DISABLED or absent says nothing about where the master is)."""
    return row is not None and row.state in _NOT_MASTER


def _preferred(
    spec: ClusterSpec,
    sets: tuple[SetView, ...],
    groups: Mapping[str, GroupView],
    derived: Mapping[str, str | None],
) -> dict[str, tuple[str, bool]]:
    """Per group, the router that should be master: its set's preference, else the cluster's, else
    the highest-priority router in the routers' configuration (none on a tie)."""
    out: dict[str, tuple[str, bool]] = {}
    for s in sets:
        router = s.preferred_master or spec.preferred_master
        if router is None:
            continue
        for g in s.groups:
            # A set's own preference beats the cluster default when a group sits in several sets.
            if g not in out or s.preferred_master is not None:
                out[g] = (router, router in groups[g].masters)
    if spec.preferred_master is not None:
        for g in groups:
            out.setdefault(g, (spec.preferred_master, spec.preferred_master in groups[g].masters))
    for g in groups:
        router = derived.get(g)
        if g not in out and router is not None:
            out[g] = (router, router in groups[g].masters)
    return dict(sorted(out.items()))
