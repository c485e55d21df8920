"""Findings in English, and the exit codes of `poll`: one wording for logs, `poll` and the status page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from .join import ClusterView, Finding, GroupView, Notice, RouterView, Verdict

_T = TypeVar("_T")

EXIT_CODES = {
    Verdict.HEALTHY: 0,
    Verdict.SPLIT: 1,
    Verdict.NO_MASTER: 1,
    Verdict.DUAL_MASTER: 1,
    Verdict.ROUTER_DOWN: 3,
    Verdict.VRRP_STOPPED: 3,
    Verdict.NO_STANDBY: 3,
}


def exit_code(view: ClusterView) -> int:
    return EXIT_CODES[view.verdict]


def overall_exit_code(views: list[ClusterView]) -> int:
    """`poll`'s exit code: 1 if any cluster is split or masterless, else 3 if a router is down or
    a pair has lost its redundancy, else 0."""
    codes = {exit_code(view) for view in views}
    if 1 in codes:
        return 1
    if 3 in codes:
        return 3
    return 0


def describe(view: ClusterView, finding: Finding) -> str:
    """One line naming what is wrong and the routers involved."""
    kind, name = finding.kind, finding.subject
    if kind is Verdict.SPLIT:
        s = _found(view.set(name))
        if s.master_count >= 2:
            where = "; ".join(f"{r}: {', '.join(gs)}" for r, gs in s.masters.items())
            return f"set {name} is split across {s.master_count} routers ({where})"
        return f"set {name} is split: {_seen_by(view, s.masters, s.split_seen_by)}"
    if kind is Verdict.NO_MASTER:
        return f"group {name} has no master ({_states(_found(view.group(name)))})"
    if kind is Verdict.DUAL_MASTER:
        return f"group {name} is MASTER on {', '.join(_found(view.group(name)).masters)}"
    if kind is Verdict.ROUTER_DOWN:
        return f"router {name} is down ({_why_down(_found(view.router(name)))})"
    if kind is Verdict.VRRP_STOPPED:
        router = _found(view.router(name))
        if router.vrrp_gone:
            before = f"it reported {', '.join(router.vrrp_gone)} before"
        else:
            before = f"while {', '.join(r.name for r in view.routers if r.groups)} report groups"
        return f"router {name} reports no VRRP at all ({before}; keepalived stopped or VRRP removed?)"
    if kind is Verdict.NO_STANDBY:
        group = _found(view.group(name))
        return f"group {name} has no standby: MASTER on {group.masters[0]}, no router in BACKUP ({_states(group)})"
    if kind is Notice.NOT_PREFERRED:
        return f"group {name} is not on its preferred master {view.preferred[name][0]}"
    assert kind is Notice.MISSING_GROUPS
    return f"set {name} names group(s) no router reports: {', '.join(_found(view.set(name)).missing_groups)}"


def _found(item: _T | None) -> _T:
    """A finding's subject, which the view that produced the finding always holds."""
    assert item is not None
    return item


def problems(view: ClusterView) -> list[tuple[Verdict, str]]:
    """Every failure with its wording, most severe kind first as `poll` prints them."""
    return [(f.kind, describe(view, f)) for f in view.problems() if isinstance(f.kind, Verdict)]


def warnings(view: ClusterView) -> list[str]:
    return [describe(view, f) for f in view.notices()]


def _seen_by(view: ClusterView, masters: Mapping[str, tuple[str, ...]], seen: Mapping[str, tuple[str, ...]]) -> str:
    """A split proved by one router's own table, and which routers could not be read."""
    proofs = []
    for router, others in seen.items():
        states = ", ".join(f"{_row_state(view, router, g)} of {g}" for g in others)
        proofs.append(f"{router} is MASTER of {', '.join(masters[router])} but {states}")
    unread = [r.name for r in view.routers if not r.up]
    tail = f" (inferred from {', '.join(seen)}; not read: {', '.join(unread)})" if unread else ""
    return "; ".join(proofs) + tail


def _row_state(view: ClusterView, router: str, group: str) -> str:
    g = view.group(group)
    row = g.states.get(router) if g is not None else None
    return str(row.state) if row is not None else "absent"


def _states(group: GroupView) -> str:
    return ", ".join(f"{r} {row.state if row else 'absent'}" for r, row in group.states.items())


def _why_down(router: RouterView) -> str:
    if router.snapshot is None:
        return "not polled yet"
    if router.snapshot.failure is not None:
        return f"{router.snapshot.failure.reason}: {router.snapshot.failure.message}"
    return "data is stale"
