"""Reading the Grafana dashboards of grafana/dashboards/ and running their queries against Prometheus
the way Grafana would: template variables resolved through their own queries, then every panel query."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .stack import PromAPI, PromQueryError

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))

# Grafana's built-in variables, with the values a 6-hour dashboard on a 15 s scrape would get
# (the test's Prometheus scrapes every second, so these windows hold enough samples).
BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m", "__range_s": "300"}
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
LABEL_VALUES = re.compile(r"label_values\(\s*(?:(?P<selector>.+?)\s*,\s*)?(?P<label>\w+)\s*\)")
REGEX_SPECIAL = re.compile(r"[\\^$.|?*+()\[\]{}]")


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' children included, rows themselves excluded."""
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def substitute(text: str, values: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name not in values:
            raise KeyError(name)
        return values[name]

    return VARIABLE.sub(one, text)


def regex_value(values: list[str]) -> str:
    """A multi-value or All variable as Grafana's Prometheus data source writes it: `(a|b)`, escaped."""
    escaped = [REGEX_SPECIAL.sub(lambda m: "\\\\" + m.group(0), v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


@dataclass
class QueryResult:
    dashboard: str
    panel: str
    ref: str
    expr: str
    series: int = 0
    error: str | None = None

    def __str__(self) -> str:
        where = f"{self.dashboard} / {self.panel!r} / {self.ref}"
        return f"{where}: {self.error or f'{self.series} series'}\n    {self.expr}"


async def resolve_variables(api: PromAPI, dashboard: dict[str, Any]) -> dict[str, str]:
    """Each template variable's value, resolved in order through its own query, All where offered."""
    values = dict(BUILTINS)
    for var in dashboard.get("templating", {}).get("list", []):
        name = var["name"]
        if var["type"] == "datasource":
            values[name] = "prometheus"
            continue
        if var["type"] != "query":
            raise AssertionError(f"variable {name}: type {var['type']} is not handled by this test")
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        match = LABEL_VALUES.fullmatch(substitute(query, values).strip())
        if match is None:
            raise AssertionError(f"variable {name}: only label_values() queries are handled, got {query!r}")
        found = sorted(await api.label_values(match.group("label"), match.group("selector")))
        if not found:
            raise AssertionError(f"variable {name}: {query!r} returned no values")
        if var.get("includeAll") or var.get("multi"):
            values[name] = var.get("allValue") or regex_value(found)
        else:
            values[name] = found[0]
    return values


async def run_panel_queries(api: PromAPI, path: Path, now: float) -> list[QueryResult]:
    """Every query of every panel of the dashboard at `path`: instant ones at `now`, range ones over
    the last minute (as a time series panel would)."""
    dashboard = load(path)
    values = await resolve_variables(api, dashboard)
    results = []
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            result = QueryResult(path.name, panel.get("title", ""), target.get("refId", "?"), target.get("expr", ""))
            results.append(result)
            try:
                expr = substitute(result.expr, values)
            except KeyError as exc:
                result.error = f"undefined variable ${exc.args[0]}"
                continue
            result.expr = expr
            try:
                if target.get("instant") and not target.get("range"):
                    series = await api.query(expr, at=now)
                else:
                    series = await api.query_range(expr, now - 60, now, 5)
            except PromQueryError as exc:
                result.error = f"query failed: {exc}"
                continue
            result.series = len(series)
            if not series:
                result.error = "no data"
    return results
