"""The Grafana dashboards without Grafana: Grafana's published schema (@grafana/schema + tsc, see
grafana/README.md) and the conventions the dashboards keep. Whether every panel query returns data is
checked against a live Prometheus in test_page_on_split.py."""

from __future__ import annotations

import json
import re
import subprocess
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
import yaml

from .binaries import missing, require_binary
from .dashboards import BUILTINS, DASHBOARDS, GRAFANA, ROOT, VARIABLE, load, panels

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
METRIC = re.compile(r"\bvrrp_[a-z_]+(?::[a-z0-9_]+)*")  # metric names and the label vrrp_cluster


def known_metrics() -> set[str]:
    sources = [ROOT / "exporter" / "collector.py", ROOT / "exporter" / "service.py"]
    names = {m for path in sources for m in re.findall(r'"(vrrp_[a-z_]+)"', path.read_text(encoding="utf-8"))}
    # counters are exposed with _total
    names |= {f"{n}_total" for n in names if not n.endswith("_total")}
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "vrrp-alerts.yml").read_text(encoding="utf-8"))
    names |= {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    return names


def exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in panels(dashboard) for t in p.get("targets", [])]


def test_there_are_an_overview_and_a_cluster_dashboard() -> None:
    uids = {load(p)["uid"]: load(p) for p in DASHBOARDS}
    assert set(uids) == {"vrrp-overview", "vrrp-cluster"}
    variables = {uid: [v["name"] for v in d["templating"]["list"]] for uid, d in uids.items()}
    assert variables["vrrp-overview"] == ["datasource", "cluster"]
    assert variables["vrrp-cluster"][:4] == ["datasource", "cluster", "set", "router"]
    titles = {p["title"] for p in panels(uids["vrrp-cluster"])}
    assert {
        "Group state per router",
        "Priority",
        "State transitions",
        "Poll duration",
        "Failed polls by reason",
    } <= titles
    titles = {p["title"] for p in panels(uids["vrrp-overview"])}
    assert {"Split sync sets", "Groups without master", "Routers down", "Routers with failing polls (15m)"} <= titles


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_conventions(path: Path) -> None:
    dashboard = load(path)
    variables = dashboard["templating"]["list"]
    assert variables[0]["type"] == "datasource" and variables[0]["query"] == "prometheus"
    defined = {v["name"] for v in variables} | set(BUILTINS)
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels(dashboard):
        where = f"{path.name} panel {panel['id']} {panel['title']!r}"
        assert panel["datasource"] == DATASOURCE, where
        assert panel.get("description"), f"{where}: say what the panel shows"
        assert panel.get("targets"), where
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, where
            used = {next(g for g in m.groups() if g) for m in VARIABLE.finditer(target["expr"])}
            assert used <= defined, f"{where}: undefined variables {used - defined}"
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, where
    for a, b in combinations(list(panels(dashboard)), 2):
        pa, pb = a["gridPos"], b["gridPos"]
        overlap = pa["x"] < pb["x"] + pb["w"] and pb["x"] < pa["x"] + pa["w"]
        overlap = overlap and pa["y"] < pb["y"] + pb["h"] and pb["y"] < pa["y"] + pa["h"]
        assert not overlap, f"{path.name}: panels {a['id']} and {b['id']} overlap"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_queries_use_only_exported_or_recorded_metrics(path: Path) -> None:
    known = known_metrics()
    for expr in exprs(load(path)):
        used = set(METRIC.findall(expr)) - {"vrrp_cluster"}  # the cluster label, not a metric
        assert used, expr
        assert used <= known, f"unknown metric(s) {used - known} in {expr}"


def schema_checker() -> list[str]:
    node = require_binary("node")
    if not (GRAFANA / "node_modules" / "@grafana" / "schema").is_dir():
        missing("grafana/node_modules missing: run `npm ci` in grafana/ (installs @grafana/schema and typescript)")
    return [node, str(GRAFANA / "check" / "check-dashboards.mjs")]


def test_dashboards_validate_against_grafana_schema() -> None:
    result = subprocess.run(schema_checker(), capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(DASHBOARDS)} dashboard(s) valid against @grafana/schema" in result.stdout


def test_schema_check_rejects_a_broken_dashboard(tmp_path: Path) -> None:
    """The check is not vacuous: a misspelt option value and an unknown query field are errors."""
    dashboard = load(DASHBOARDS[0])
    stat = next(p for p in dashboard["panels"] if p["type"] == "stat")
    stat["options"]["colorMode"] = "backgrond"
    bad = tmp_path / "broken.json"
    bad.write_text(json.dumps(dashboard), encoding="utf-8")
    result = subprocess.run([*schema_checker(), str(bad)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0
    assert "Did you mean '\"background\"'?" in result.stdout + result.stderr

    stat["options"]["colorMode"] = "background"
    stat["targets"][0]["exp"] = stat["targets"][0]["expr"]
    bad.write_text(json.dumps(dashboard), encoding="utf-8")
    result = subprocess.run([*schema_checker(), str(bad)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0
    assert "'\"exp\"' does not exist in type 'PromTarget'" in result.stdout + result.stderr
