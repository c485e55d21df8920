"""The status page at `/`: per cluster a groups x routers matrix, server-side HTML, no JavaScript.

What an operator checks at 3 a.m. before opening Grafana: which router is MASTER of which group,
whether a sync set is split, which router is down or stale.
"""

from __future__ import annotations

import time
from html import escape

from . import __version__
from .verdict import ClusterView, RouterView, Verdict

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#111}
table{border-collapse:collapse;margin:.5em 0 1em}
th,td{border:1px solid #bbb;padding:.3em .7em;text-align:left}
th{background:#eee}
.MASTER{background:#c8f7c5;font-weight:bold}.BACKUP{background:#f4f4f4}
.FAULT{background:#ffb3b3;font-weight:bold}.INIT{background:#ffe9a8}.DISABLED{color:#777}
.down{background:#ffd2d2}.stale{background:#ffe9a8}
.verdict{padding:.4em .8em;display:inline-block;font-weight:bold}
.healthy{background:#c8f7c5}.bad{background:#ff6b6b;color:#fff}.warn{background:#ffd27f}
.split{outline:3px solid #d00}
"""


def _verdict_class(verdict: Verdict) -> str:
    if verdict is Verdict.HEALTHY:
        return "healthy"
    return "warn" if verdict is Verdict.ROUTER_DOWN else "bad"


def _fmt_time(ts: float | None) -> str:
    if ts is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def _cluster_html(view: ClusterView) -> str:
    name = escape(view.spec.name)
    verdict = view.verdict
    out = [
        f'<section id="cluster-{name}"><h2>Cluster {name}</h2>',
        f'<p class="verdict {_verdict_class(verdict)}" data-verdict="{verdict.value}">'
        f"{escape(verdict.value.upper().replace('_', ' '))}</p>",
    ]
    problems = view.problems() + [(Verdict.HEALTHY, w) for w in view.warnings()]
    if problems:
        out.append("<ul>" + "".join(f"<li>{escape(m)}</li>" for _, m in problems) + "</ul>")
    header = "".join(_router_th(r) for r in view.routers)
    out.append(f"<table><tr><th>Group</th><th>Interface</th><th>VRID</th>{header}</tr>")
    split_groups = {g for s in view.sets if s.split for g in s.groups}
    for group in view.groups:
        first = next((row for row in group.states.values() if row is not None), None)
        cls = ' class="split"' if group.name in split_groups else ""
        cells = []
        for r in view.routers:
            row = group.states.get(r.name) if r.up else None
            if not r.up:
                cells.append('<td class="down">?</td>')
            elif row is None:
                cells.append("<td>absent</td>")
            else:
                prio = "" if row.priority is None else f" {row.priority}"
                cells.append(f'<td class="{row.state.value}">{row.state.value}{prio}</td>')
        vrid = "" if first is None or first.vrid is None else str(first.vrid)
        iface = "" if first is None else escape(first.interface)
        nomaster = " (no master)" if group.no_master and view.all_up else ""
        out.append(
            f"<tr{cls}><td>{escape(group.name)}{nomaster}</td><td>{iface}</td><td>{vrid}</td>{''.join(cells)}</tr>"
        )
    out.append("</table>")
    out.append("<table><tr><th>Sync set</th><th>Groups</th><th>Masters</th><th>Split</th></tr>")
    for s in view.sets:
        masters = "; ".join(f"{escape(r)}: {escape(', '.join(gs))}" for r, gs in s.masters.items()) or "none"
        split = '<td class="FAULT">SPLIT</td>' if s.split else "<td>no</td>"
        missing = f" (missing: {escape(', '.join(s.missing_groups))})" if s.missing_groups else ""
        out.append(
            f"<tr><td>{escape(s.name)}</td><td>{escape(', '.join(s.groups))}{missing}</td>"
            f"<td>{masters}</td>{split}</tr>"
        )
    out.append("</table></section>")
    return "\n".join(out)


def _router_th(router: RouterView) -> str:
    snapshot = router.snapshot
    last = _fmt_time(snapshot.last_success_at if snapshot else None)
    name = escape(router.name)
    if router.up:
        return f'<th title="last poll {last}">{name}</th>'
    why = "stale" if router.stale else "down"
    reason = f": {snapshot.failure.reason}" if snapshot and snapshot.failure else ""
    return f'<th class="{why}">{name} ({why}{escape(reason)}, last ok {last})</th>'


def render_status_page(views: list[ClusterView], metrics_path: str, refresh_seconds: int = 5) -> str:
    body = "\n".join(_cluster_html(v) for v in views)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{refresh_seconds}">
<title>VyOS VRRP exporter</title><style>{_CSS}</style></head>
<body><h1>VyOS VRRP exporter</h1>
<p>Rendered {_fmt_time(time.time())}. <a href="{escape(metrics_path)}">Metrics</a> ·
<a href="/-/healthy">healthy</a> · <a href="/-/ready">ready</a> · version {escape(__version__)}</p>
{body}
</body></html>
"""
