"""The status page at `/`: per cluster a groups x routers matrix, server-side HTML, no JavaScript.

What an operator checks at 3 a.m. before opening Grafana: which router is MASTER of which group (the
two `show vrrp` tables side by side), whether a sync set is split and between whom, which group has
no master or two, which router is down or stale, and how old the data is. Every finding is written
out in words as well as in colour, so the page reads the same in a text browser or a screen reader.
Optional auto-refresh with `<meta http-equiv="refresh">`; no script.
"""

from __future__ import annotations

import time
from html import escape

from .. import __version__
from ..config_risk import RiskFinding, fix_by_router
from ..findings import problems, warnings
from ..join import ClusterView, GroupView, RouterView, SetView, Verdict
from ..model import VrrpGroup

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.2em 1.5em;color:#111;background:#fff}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.25em;margin:1.2em 0 .3em}h3{font-size:1em;margin:.8em 0 .2em}
table{border-collapse:collapse;margin:.3em 0 .8em}
th,td{border:1px solid #bbb;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#eee}caption{text-align:left;font-weight:bold;padding:.2em 0}
.meta{color:#444}.small{font-size:.85em;color:#444}
.MASTER{background:#b9f0b5;font-weight:bold}.BACKUP{background:#f4f4f4}
.FAULT{background:#ffb3b3;font-weight:bold}.INIT{background:#ffe9a8}.DISABLED{color:#777;background:#fafafa}
.unknown{background:#e4e4e4;color:#555}.absent{color:#777}
.down{background:#ffd2d2}.stale{background:#ffe9a8}
.badge{padding:.15em .6em;display:inline-block;font-weight:bold;border-radius:.2em}
.healthy{background:#b9f0b5}.bad{background:#d62828;color:#fff}.warn{background:#ffc56b}
tr.split>:first-child{border-left:8px solid #d62828}
tr.nomaster td,tr.dualmaster td{outline:2px solid #d62828;outline-offset:-2px}
tr.nostandby>:first-child{background:#ffe8a3}
tr.nomaster>:first-child,tr.dualmaster>:first-child{background:#ffb3b3}
.problems .p-bad{color:#a00000;font-weight:bold}.problems .p-warn{color:#7a4a00}
.legend span{margin-right:.6em;padding:0 .4em}
.risks pre{background:#f4f4f4;border:1px solid #ccc;padding:.4em .6em;margin:.2em 0 .6em;overflow-x:auto}
.risks li{margin-bottom:.4em}
"""

_VERDICT_TEXT = {
    Verdict.HEALTHY: "HEALTHY",
    Verdict.SPLIT: "SPLIT",
    Verdict.NO_MASTER: "NO MASTER",
    Verdict.DUAL_MASTER: "DUAL MASTER",
    Verdict.ROUTER_DOWN: "ROUTER DOWN",
    Verdict.VRRP_STOPPED: "VRRP STOPPED",
    Verdict.NO_STANDBY: "NO STANDBY",
}
_DEGRADED = (Verdict.ROUTER_DOWN, Verdict.VRRP_STOPPED, Verdict.NO_STANDBY)  # exit 3: warn, not page


def _verdict_class(verdict: Verdict) -> str:
    if verdict is Verdict.HEALTHY:
        return "healthy"
    return "warn" if verdict in _DEGRADED else "bad"


def _fmt_time(ts: float | None) -> str:
    if ts is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def _duration(seconds: float) -> str:
    """`4h27m1s`, the way VyOS prints Last Transition; `0s` under a second."""
    left = max(0, int(seconds))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    if left or not parts:
        parts.append(f"{left}s")
    return "".join(parts)


def _ago(ts: float | None, now: float) -> str:
    if ts is None:
        return "never"
    return f'<time datetime="{_iso(ts)}">{_fmt_time(ts)}</time> ({_duration(now - ts)} ago)'


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _id(*parts: str) -> str:
    """An HTML id from names (cluster names are free text)."""
    return "-".join("".join(c if c.isalnum() or c in "-_" else "_" for c in p) for p in parts)


# --- one cluster ---------------------------------------------------------------------------------------


def _router_status(router: RouterView, silent: bool = False) -> tuple[str, str]:
    """(css class, words) of a router's state; `silent`: up, but its VRRP is gone (see join)."""
    if silent:
        return "stale", "up, but reports no VRRP"
    if router.up:
        return "", "up"
    if router.stale:
        return "stale", "stale"
    snapshot = router.snapshot
    if snapshot is None:
        return "down", "not polled yet"
    if snapshot.failure is not None:
        return "down", f"down: {snapshot.failure.reason}"
    return "down", "down"


def _routers_table(view: ClusterView, now: float) -> str:
    rows = []
    for router in view.routers:
        css, status = _router_status(router, router.name in view.vrrp_silent)
        snapshot = router.snapshot
        preferred = " (preferred master)" if router.name == view.spec.preferred_master else ""
        if snapshot is None:
            last_poll, last_ok, took, detail = "never", "never", "", ""
        else:
            last_poll = _ago(snapshot.polled_at, now)
            last_ok = _ago(snapshot.last_success_at, now)
            took = f"{snapshot.duration_seconds * 1000:.0f} ms"
            detail = escape(snapshot.failure.message) if snapshot.failure is not None else ""
        if router.stale:
            detail = detail or "data older than 3 poll intervals: not used"
        if router.name in view.vrrp_silent:
            before = f"reported {', '.join(router.vrrp_gone)} before" if router.vrrp_gone else "its peers report groups"
            detail = escape(f"{before}; keepalived stopped or VRRP removed?")
        rows.append(
            f'<tr data-router="{escape(router.name)}" data-up="{str(router.up).lower()}">'
            f"<td>{escape(router.name)}{preferred}</td>"
            f'<td class="{css}">{escape(status)}</td><td>{last_poll}</td><td>{last_ok}</td><td>{took}</td>'
            f"<td>{detail}</td></tr>"
        )
    return (
        "<table><caption>Routers</caption><tr><th scope=col>Router</th><th scope=col>Status</th>"
        "<th scope=col>Last poll</th><th scope=col>Last successful poll</th><th scope=col>Poll took</th>"
        "<th scope=col>Error</th></tr>" + "".join(rows) + "</table>"
    )


def _cell(router: RouterView, row: VrrpGroup | None, preferred: str | None, now: float) -> str:
    name = escape(router.name)
    if not router.up:
        why = "stale" if router.stale else "down"
        return f'<td class="unknown" data-router="{name}" data-state="unknown">? ({why})</td>'
    if row is None:
        return f'<td class="absent" data-router="{name}" data-state="absent">absent</td>'
    text = row.state.value
    if row.priority is not None:
        text += f" {row.priority}"
    snapshot = router.snapshot
    age = row.last_transition_age_seconds
    since = ""
    if age is not None and snapshot is not None:
        since = f' <span class="small">{_duration(age + max(0.0, now - snapshot.polled_at))}</span>'
    star = ' <span title="preferred master">★</span>' if preferred == router.name else ""
    return f'<td class="{row.state.value}" data-router="{name}" data-state="{row.state.value}">{text}{since}{star}</td>'


def _group_row(view: ClusterView, group: GroupView, split_sets: dict[str, list[str]], now: float) -> str:
    first = next((row for row in group.states.values() if row is not None), None)
    vrid = "" if first is None or first.vrid is None else str(first.vrid)
    iface = "" if first is None else escape(first.interface)
    sets = [s.name for s in view.sets if group.name in s.groups]
    classes = []
    notes = []
    if any(s in split_sets for s in sets):
        classes.append("split")
    if group.dual_master:
        classes.append("dualmaster")
        notes.append("DUAL MASTER")
    elif group.no_master:
        if view.all_up:
            classes.append("nomaster")
            notes.append("NO MASTER")
        else:
            notes.append("no master among the routers that are up")
    elif group.no_standby and view.all_up:
        classes.append("nostandby")
        notes.append("NO STANDBY")
    preferred = view.preferred.get(group.name, (None, False))[0]
    cells = "".join(_cell(r, group.states.get(r.name), preferred, now) for r in view.routers)
    cls = f' class="{" ".join(classes)}"' if classes else ""
    note = f' <strong class="small">{escape(", ".join(notes))}</strong>' if notes else ""
    set_cells = ", ".join(f"{escape(s)} (SPLIT)" if s in split_sets else escape(s) for s in sets)
    return (
        f'<tr{cls} data-group="{escape(group.name)}" data-masters="{len(group.masters)}"'
        f' data-standbys="{len(group.standbys)}">'
        f"<th scope=row>{escape(group.name)}{note}</th><td>{iface}</td><td>{vrid}</td>{cells}"
        f"<td>{len(group.masters)}</td><td>{len(group.standbys)}</td><td>{set_cells}</td>"
        f"{_preferred_cell(view, group)}</tr>"
    )


def _preferred_cell(view: ClusterView, group: GroupView) -> str:
    """The group's preferred master (the YAML's, else its highest-priority router) and whether it is."""
    if group.name not in view.preferred:
        return '<td class="absent">none</td>'
    router, is_master = view.preferred[group.name]
    if is_master:
        return f'<td data-preferred="{escape(router)}">{escape(router)}</td>'
    return f'<td class="INIT" data-preferred="{escape(router)}">{escape(router)} (not master)</td>'


def _matrix(view: ClusterView, now: float) -> str:
    split_sets = {s.name: list(s.masters) for s in view.sets if s.split}
    header = "".join(_router_th(r) for r in view.routers)
    rows = "".join(_group_row(view, g, split_sets, now) for g in view.groups)
    if not view.groups:
        span = 7 + len(view.routers)
        rows = f'<tr><td colspan="{span}">no VRRP group reported by any router that is up</td></tr>'
    return (
        "<table class=matrix><caption>Groups by routers (state, priority, time since the last transition)"
        "</caption><tr><th scope=col>Group</th><th scope=col>Interface</th><th scope=col>VRID</th>"
        f"{header}<th scope=col>Masters</th><th scope=col>Standbys</th><th scope=col>Sync sets</th>"
        f"<th scope=col>Preferred master</th></tr>{rows}</table>"
    )


def _router_th(router: RouterView) -> str:
    css, status = _router_status(router)
    name = escape(router.name)
    if router.up:
        return f"<th scope=col>{name}</th>"
    return f'<th scope=col class="{css}">{name} ({escape(status)})</th>'


def _set_row(view: ClusterView, s: SetView) -> str:
    masters = "; ".join(f"{escape(r)} is MASTER of {escape(', '.join(gs))}" for r, gs in s.masters.items())
    if s.split and s.master_count < 2:
        seen = escape(", ".join(s.split_seen_by))
        verdict = f'<td class="FAULT">SPLIT (seen in the table of {seen}, which is also BACKUP/FAULT of some)</td>'
    elif s.split:
        verdict = f'<td class="FAULT">SPLIT across {s.master_count} routers</td>'
    elif not s.masters and s.groups:
        verdict = '<td class="FAULT">no master</td>' if view.all_up else '<td class="unknown">unknown</td>'
    elif not view.all_up:
        verdict = '<td class="stale">no split among the routers that are up</td>'
    else:
        verdict = "<td>one master router</td>"
    missing = (
        f' <span class="small">(no router reports: {escape(", ".join(s.missing_groups))})</span>'
        if s.missing_groups
        else ""
    )
    preferred = escape(s.preferred_master or view.spec.preferred_master or "")
    return (
        f'<tr data-set="{escape(s.name)}" data-split="{str(s.split).lower()}"><th scope=row>{escape(s.name)}</th>'
        f"<td>{escape(', '.join(s.groups)) or 'none'}{missing}</td><td>{masters or 'none'}</td>"
        f"<td>{preferred}</td>{verdict}</tr>"
    )


def _sets_table(view: ClusterView) -> str:
    rows = "".join(_set_row(view, s) for s in view.sets)
    return (
        "<table><caption>Sync sets (groups whose masters must sit on one router)</caption>"
        "<tr><th scope=col>Set</th><th scope=col>Groups</th><th scope=col>Masters</th>"
        f"<th scope=col>Preferred master</th><th scope=col>Verdict</th></tr>{rows}</table>"
    )


def _problems(view: ClusterView) -> str:
    items = [("p-" + _verdict_class(kind), message) for kind, message in problems(view)]
    items += [("p-warn", f"warning: {w}") for w in warnings(view)]
    if not items:
        return ""
    return '<ul class="problems">' + "".join(f'<li class="{c}">{escape(m)}</li>' for c, m in items) + "</ul>"


def _risk_item(risk: RiskFinding) -> str:
    fixes = "".join(
        f"<p>on {escape(', '.join(routers))}:</p><pre>{escape(chr(10).join(commands))}</pre>"
        for routers, commands in fix_by_router(risk)
    )
    return (
        f'<li data-rule="{escape(risk.rule)}"><strong>{escape(risk.rule)}</strong>: {escape(risk.reason)}'
        f'<br><span class="small">groups {escape(", ".join(risk.groups))}; routers'
        f" {escape(', '.join(risk.routers))}</span>{fixes}</li>"
    )


def _risks(view: ClusterView) -> str:
    """Split risks in the routers' own VRRP configuration, with the commands that fix them."""
    head = "<h3>Configuration split risk</h3>"
    if view.risks is None:
        return (
            f'<div class="risks" data-risks="not-read">{head}<p class="small">not read: needs every router\'s'
            " VRRP configuration (config reading off, not done yet, or a read failed: see the log and"
            " <code>vrrp_config_read_errors_total</code>)</p></div>"
        )
    if not view.risks:
        return f'<div class="risks" data-risks="0">{head}<p>none found in the routers\' VRRP configuration</p></div>'
    items = "".join(_risk_item(r) for r in view.risks)
    return (
        f'<div class="risks" data-risks="{len(view.risks)}">{head}<p class="small">Enter the commands in'
        f" configuration mode on the routers named, then commit and save.</p><ul>{items}</ul></div>"
    )


def _last_poll(view: ClusterView) -> float | None:
    polls = [r.snapshot.polled_at for r in view.routers if r.snapshot is not None]
    return max(polls) if polls else None


def _cluster_html(view: ClusterView, now: float) -> str:
    name = escape(view.spec.name)
    verdict = view.verdict
    up = len(view.routers_up)
    return "\n".join(
        (
            f'<section id="{_id("cluster", view.spec.name)}" data-cluster="{name}" data-verdict="{verdict.value}">',
            f'<h2>Cluster {name} <span class="badge {_verdict_class(verdict)}">{_VERDICT_TEXT[verdict]}</span></h2>',
            f'<p class="meta">{up} of {len(view.routers)} routers up · last poll {_ago(_last_poll(view), now)}</p>',
            _problems(view),
            _matrix(view, now),
            _sets_table(view),
            _risks(view),
            _routers_table(view, now),
            "</section>",
        )
    )


def _summary(views: list[ClusterView], now: float) -> str:
    rows = []
    for view in views:
        verdict = view.verdict
        split = [s.name for s in view.sets if s.split]
        nomaster = [g.name for g in view.groups if g.no_master] if view.all_up else []
        down = [r.name for r in view.routers if not r.up]
        rows.append(
            f'<tr data-cluster="{escape(view.spec.name)}"><th scope=row>'
            f'<a href="#{_id("cluster", view.spec.name)}">{escape(view.spec.name)}</a></th>'
            f'<td class="{_verdict_class(verdict)}">{_VERDICT_TEXT[verdict]}</td>'
            f"<td>{escape(', '.join(split)) or '-'}</td><td>{escape(', '.join(nomaster)) or '-'}</td>"
            f"<td>{escape(', '.join(down)) or '-'}</td><td>{_ago(_last_poll(view), now)}</td></tr>"
        )
    if not rows:
        return "<p>No cluster configured.</p>"
    return (
        "<table><caption>Clusters</caption><tr><th scope=col>Cluster</th><th scope=col>Verdict</th>"
        "<th scope=col>Split sets</th><th scope=col>Groups without master</th><th scope=col>Routers down or stale</th>"
        "<th scope=col>Last poll</th></tr>" + "".join(rows) + "</table>"
    )


_LEGEND = (
    '<p class="legend small">States: <span class="MASTER">MASTER</span><span class="BACKUP">BACKUP</span>'
    '<span class="FAULT">FAULT</span><span class="INIT">INIT</span><span class="DISABLED">DISABLED</span>'
    '<span class="unknown">? router down or stale</span>. A red bar left of a group: its sync set is split. '
    "★ preferred master. The time after a state is the time since its last transition, as in "
    "<code>show vrrp</code>.</p>"
)


def render_status_page(
    views: list[ClusterView], metrics_path: str, refresh_seconds: int = 5, now: float | None = None
) -> str:
    """The whole page. `refresh_seconds` 0 turns the auto-refresh off."""
    now = time.time() if now is None else now
    refresh = f'<meta http-equiv="refresh" content="{int(refresh_seconds)}">\n' if refresh_seconds > 0 else ""
    body = "\n".join(_cluster_html(v, now) for v in views)
    bad = sum(1 for v in views if v.verdict is not Verdict.HEALTHY)
    title = f"VyOS VRRP: {bad} cluster(s) need attention" if bad else "VyOS VRRP: all healthy"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
{refresh}<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>{_CSS}</style></head>
<body><h1>VyOS VRRP exporter</h1>
<p class="meta">Rendered <time datetime="{_iso(now)}">{_fmt_time(now)}</time> from the background poll of
<code>show vrrp</code>{f"; refreshes every {int(refresh_seconds)} s" if refresh_seconds > 0 else ""}.
<a href="{escape(metrics_path)}">Metrics</a> · <a href="/-/healthy">healthy</a> · <a href="/-/ready">ready</a>
· version {escape(__version__)}</p>
{_summary(views, now)}
{_LEGEND}
{body}
</body></html>
"""
