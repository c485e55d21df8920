"""Human and machine output of `poll`: the seed's side-by-side view, rendered from ClusterViews."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .config_risk import fix_by_router
from .findings import exit_code, overall_exit_code, problems, warnings
from .join import ClusterView, GroupView, RouterView, Verdict
from .lint import finding_json, unreadable_json
from .model import VrrpGroup

# Cluster -> router -> why its VRRP configuration is not at hand (the routers not named were read);
# a cluster absent: config reading is off.
ConfigUnread = Mapping[str, Mapping[str, str]]


def _cell(row: VrrpGroup | None) -> str:
    if row is None:
        return "-"
    return f"{row.state} {row.priority}" if row.priority is not None else str(row.state)


def _router_header(router: RouterView) -> str:
    if router.up:
        return router.name
    return f"{router.name} (DOWN)"


def _first_row(group: GroupView) -> VrrpGroup | None:
    return next((row for row in group.states.values() if row is not None), None)


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(parts).rstrip()

    return [line(headers), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def config_lines(view: ClusterView, unread: Mapping[str, str] | None) -> list[str]:
    """The split risks in the routers' configuration (warnings: they never change the exit code)."""
    if view.risks is None:
        if not unread:
            return []
        why = "; ".join(f"{router}: {reason}" for router, reason in unread.items())
        return [f"config: not read ({why})"]
    lines = []
    for risk in view.risks:
        lines.append(f"config risk {risk.rule}: {risk.reason}")
        for routers, commands in fix_by_router(risk):
            lines += [f"  fix on {', '.join(routers)}: {command}" for command in commands]
    return lines


def render_view(view: ClusterView, config_unread: Mapping[str, str] | None = None) -> str:
    """Rows are groups, one column per router, each cell `STATE priority` (as in the seed)."""
    lines = [f"cluster {view.spec.name}"]
    headers = ["Group", "Interface", "VRID", *(_router_header(r) for r in view.routers)]
    rows = []
    for group in view.groups:
        first = _first_row(group)
        vrid = "" if first is None or first.vrid is None else str(first.vrid)
        cells = [_cell(group.states.get(r.name)) if r.up else "?" for r in view.routers]
        rows.append([group.name, first.interface if first else "", vrid, *cells])
    lines += _table(headers, rows, right={2})
    if not view.groups:
        lines.append("(no VRRP groups reported)" if view.any_up else "(no router answered)")
    for s in view.sets:
        if not s.masters:
            # With a router down its groups may well be MASTER there: do not claim "no master".
            state = "no master" if view.all_up else "no master among the routers that answered"
            lines.append(f"set {s.name}: {state}")
        elif s.split and s.master_count >= 2:
            holders = "; ".join(f"{r} is MASTER of {', '.join(gs)}" for r, gs in s.masters.items())
            lines.append(f"set {s.name}: SPLIT across {s.master_count} routers: {holders}")
        elif s.split:
            unread = [r.name for r in view.routers if not r.up]
            proof = "; ".join(
                f"{r} is MASTER of {', '.join(s.masters[r])} and not of {', '.join(gs)}"
                for r, gs in s.split_seen_by.items()
            )
            tail = f" ({', '.join(unread)} could not be read)" if unread else ""
            lines.append(f"set {s.name}: SPLIT, inferred from {', '.join(s.split_seen_by)}'s own table: {proof}{tail}")
        else:
            lines.append(f"set {s.name}: ok, all masters on {next(iter(s.masters))}")
    for kind, message in problems(view):
        if kind is not Verdict.SPLIT:
            lines.append(f"{kind.value.replace('_', ' ')}: {message}")
    lines += [f"warning: {w}" for w in warnings(view)]
    lines.append(f"verdict {view.spec.name}: {view.verdict.value.upper()} (exit {exit_code(view)})")
    lines += config_lines(view, config_unread)
    return "\n".join(lines)


def render_table(views: list[ClusterView], unread: ConfigUnread | None = None) -> str:
    unread = unread or {}
    return "\n\n".join(render_view(v, unread.get(v.spec.name)) for v in views) + "\n"


def _group_json(row: VrrpGroup | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "state": str(row.state),
        "priority": row.priority,
        "interface": row.interface,
        "vrid": row.vrid,
        "last_transition_age_seconds": row.last_transition_age_seconds,
    }


def view_json(view: ClusterView, unread: Mapping[str, str] | None = None) -> dict[str, Any]:
    routers = []
    for r in view.routers:
        snap = r.snapshot
        failure = snap.failure if snap is not None else None
        routers.append(
            {
                "name": r.name,
                "up": r.up,
                "stale": r.stale,
                "vrrp_gone": list(r.vrrp_gone),
                "error": None if failure is None else {"reason": str(failure.reason), "message": failure.message},
                "duration_seconds": None if snap is None else round(snap.duration_seconds, 6),
                "last_success_at": None if snap is None else snap.last_success_at,
            }
        )
    return {
        "name": view.spec.name,
        "verdict": view.verdict.value,
        "exit_code": exit_code(view),
        "routers": routers,
        "groups": [
            {
                "name": g.name,
                "masters": list(g.masters),
                "standbys": list(g.standbys),
                "preferred_master": view.preferred[g.name][0] if g.name in view.preferred else None,
                "routers": {r.name: _group_json(g.states.get(r.name)) if r.up else None for r in view.routers},
            }
            for g in view.groups
        ],
        "sets": [
            {
                "name": s.name,
                "groups": list(s.groups),
                "masters": list(s.masters),
                "split": s.split,
                "split_seen_by": {r: list(gs) for r, gs in s.split_seen_by.items()},
                "missing_groups": list(s.missing_groups),
                "preferred_master": s.preferred_master or view.spec.preferred_master,
            }
            for s in view.sets
        ],
        "problems": [message for _, message in problems(view)],
        "warnings": warnings(view),
        "config_risks": None if view.risks is None else [finding_json(r) for r in view.risks],
        "config_unread": unreadable_json(unread or {}) if view.risks is None else [],
    }


def render_json(views: list[ClusterView], unread: ConfigUnread | None = None) -> str:
    unread = unread or {}
    doc = {
        "exit_code": overall_exit_code(views),
        "clusters": [view_json(v, unread.get(v.spec.name)) for v in views],
    }
    return json.dumps(doc, indent=2) + "\n"
