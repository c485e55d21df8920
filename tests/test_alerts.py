"""The Prometheus rules: promtool's checks and unit tests, plus what DESIGN.md fixes about the alerts."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from fullstack.binaries import require_binary

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "vrrp-alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "vrrp-alerts.test.yml"
PROMETHEUS_EXAMPLE = ROOT / "deploy" / "prometheus" / "prometheus.example.yml"
ALERTMANAGER_EXAMPLE = ROOT / "deploy" / "prometheus" / "alertmanager.example.yml"
RUNBOOK = ROOT / "docs" / "runbook.md"

SEVERITIES = {
    "VRRPMasterSplit": "critical",
    "VRRPNoMaster": "critical",
    "VRRPDualMaster": "critical",
    "VRRPRouterDown": "warning",
    "VRRPFlapping": "warning",
    "VRRPNotPreferredMaster": "warning",
    "VRRPNoStandby": "warning",
    "VRRPConfigRisk": "warning",
    "VRRPExporterDown": "critical",
}


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False)


def rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in data["groups"] for rule in group["rules"]]


def alerts() -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for r in rules() if "alert" in r}


def github_anchor(heading: str) -> str:
    """The anchor GitHub (and most Markdown renderers) give a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


# --- promtool ----------------------------------------------------------------------------------------


def test_promtool_check_rules() -> None:
    promtool = require_binary("promtool")
    result = run(promtool, "check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_promtool_unit_tests() -> None:
    promtool = require_binary("promtool")
    result = run(promtool, "test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_catch_a_broken_rule(tmp_path: Path) -> None:
    """The unit tests are not vacuous: a split rule without `for` (a page on every failover) fails them."""
    promtool = require_binary("promtool")
    data = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    for group in data["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == "VRRPMasterSplit":
                rule["for"] = "0s"
    (tmp_path / RULES.name).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    (tmp_path / RULE_TESTS.name).write_text(RULE_TESTS.read_text(encoding="utf-8"), encoding="utf-8")
    result = run(promtool, "test", "rules", RULE_TESTS.name, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "split shorter than for does not page" in result.stdout + result.stderr


def test_promtool_unit_tests_catch_a_no_standby_rule_without_its_router_down_guard(tmp_path: Path) -> None:
    """A router that cannot be polled may be the standby: VRRPNoStandby without the guard fails the tests."""
    promtool = require_binary("promtool")
    text = RULES.read_text(encoding="utf-8")
    guard = "          unless on (vrrp_cluster) vrrp_cluster:vrrp_routers_down:sum > 0\n"
    start = text.index("alert: VRRPNoStandby")
    at = text.index(guard, start)
    assert at < text.index("alert:", start + 1)
    (tmp_path / RULES.name).write_text(text[:at] + text[at + len(guard) :], encoding="utf-8")
    (tmp_path / RULE_TESTS.name).write_text(RULE_TESTS.read_text(encoding="utf-8"), encoding="utf-8")
    result = run(promtool, "test", "rules", RULE_TESTS.name, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "a standby present, a router down or a dual master is not no standby" in result.stdout + result.stderr


def test_example_prometheus_and_alertmanager_configs() -> None:
    promtool = require_binary("promtool")
    result = run(promtool, "check", "config", PROMETHEUS_EXAMPLE.name, cwd=PROMETHEUS_EXAMPLE.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    amtool = require_binary("amtool")
    result = run(amtool, "check-config", ALERTMANAGER_EXAMPLE)
    assert result.returncode == 0, result.stdout + result.stderr


# --- the contract, without binaries ------------------------------------------------------------------------


def test_every_alert_of_design_with_its_severity() -> None:
    found = alerts()
    assert set(found) == set(SEVERITIES)
    for name, severity in SEVERITIES.items():
        assert found[name]["labels"]["severity"] == severity, name


@pytest.mark.parametrize("name", sorted(SEVERITIES))
def test_alert_annotations_and_for(name: str) -> None:
    rule = alerts()[name]
    annotations = rule["annotations"]
    assert set(annotations) >= {"summary", "description", "runbook_url"}
    assert "for" in rule, "every alert waits out transients"
    if name != "VRRPExporterDown":  # the exporter has no cluster label: it is the one that is down
        assert "$labels.vrrp_cluster" in annotations["summary"]
        assert "$labels.vrrp_cluster" in annotations["description"]


def test_split_description_names_the_set_and_the_routers_holding_each_master() -> None:
    description = alerts()["VRRPMasterSplit"]["annotations"]["description"]
    assert "$labels.set" in description
    assert 'vrrp_group_state{vrrp_cluster=%q,state=\\"MASTER\\"}' in description
    assert ".Labels.router" in description and ".Labels.group" in description


def test_warnings_that_never_page_name_what_to_do() -> None:
    """The issue-13/14 warnings: NoStandby names the master router, ConfigRisk the rule and the lint command,
    NotPreferredMaster the router that should hold the group (with a fallback without the info metric)."""
    found = alerts()
    no_standby = found["VRRPNoStandby"]
    assert 'vrrp_group_state{state="MASTER"}' in no_standby["expr"]
    assert "vrrp_cluster:vrrp_routers_down:sum" in no_standby["expr"]
    assert "$labels.router" in no_standby["annotations"]["summary"]
    assert "VRRPRouterDown" in no_standby["annotations"]["description"]
    risk = found["VRRPConfigRisk"]
    assert "vrrp_config_risk" in risk["expr"]
    assert "$labels.rule" in risk["annotations"]["summary"]
    assert "vyos-vrrp-exporter lint" in risk["annotations"]["description"]
    for rule in (
        "split_prone",
        "sync_group_member_missing",
        "sync_group_inconsistent",
        "peer_mismatch",
        "priority_tie",
        "preferred_master_mismatch",
    ):
        assert f'eq $labels.rule "{rule}"' in risk["annotations"]["description"], rule
    preferred = found["VRRPNotPreferredMaster"]["annotations"]["description"]
    assert "vrrp_group_preferred_master_info" in preferred and "the configured preferred master" in preferred


def test_runbook_urls_point_at_runbook_sections() -> None:
    anchors = {
        github_anchor(line.lstrip("#"))
        for line in RUNBOOK.read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    }
    for name, rule in alerts().items():
        url = rule["annotations"]["runbook_url"]
        match = re.fullmatch(r"(?:.*/)?docs/runbook\.md#([\w-]+)", url)
        assert match, f"{name}: {url}"
        assert match.group(1) == name.lower(), f"{name}: anchor should be the alert name"
        assert match.group(1) in anchors, f"{name}: no section '## {name}' in docs/runbook.md"


def test_unit_tests_cover_every_alert_firing_and_silent() -> None:
    cases = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
    firing: set[str] = set()
    silent: set[str] = set()
    for case in cases:
        for check in case.get("alert_rule_test", []):
            (firing if check["exp_alerts"] else silent).add(check["alertname"])
    assert firing == set(SEVERITIES)
    assert silent == set(SEVERITIES)
    names = {case["name"] for case in cases}
    for required in (
        "split shorter than for does not page",
        "router down during a split",
        "split across two exporter instances is caught by the recording rules",
        "flapping",
        "split seen from a partial view while the peer cannot be polled",
        "one router MASTER of every group while the peer cannot be polled is no split",
        "no standby after keepalived stopped on a router or with the peer in FAULT",
        "a standby present, a router down or a dual master is not no standby",
        "config risk warns once after for, not for zero or short-lived findings",
        "not on the preferred master names the router that should hold the group",
    ):
        assert required in names


def test_recording_rules_follow_the_naming_convention() -> None:
    records = [r["record"] for r in rules() if "record" in r]
    assert records
    for name in records:
        level, metric, operation = name.split(":")
        assert level and operation and metric.startswith("vrrp_"), name
    # The alert variant over exporter instances reads the recording rule built from vrrp_group_state.
    assert "vrrp_cluster_set:vrrp_set_masters:sum" in alerts()["VRRPMasterSplit"]["expr"]


DECLARED_SET_TEST = """
rule_files: [vrrp-alerts.yml]
evaluation_interval: 15s
tests:
  - name: declared set MAIN of a cluster polled by two exporters
    interval: 15s
    input_series:
      - {series: 'vrrp_group_state{vrrp_cluster="home",router="vyos01",group="VLAN1",state="MASTER",instance="a"}',
         values: '1x12'}
      - {series: 'vrrp_group_state{vrrp_cluster="home",router="vyos02",group="VLAN100",state="MASTER",instance="b"}',
         values: '1x12'}
      - {series: 'vrrp_set_masters{vrrp_cluster="home",set="MAIN",instance="a"}', values: '1x12'}
      - {series: 'vrrp_set_masters{vrrp_cluster="home",set="MAIN",instance="b"}', values: '1x12'}
      - {series: 'vrrp_master_split{vrrp_cluster="home",set="MAIN",instance="a"}', values: '0x12'}
      - {series: 'vrrp_master_split{vrrp_cluster="home",set="MAIN",instance="b"}', values: '0x12'}
    promql_expr_test:
      - expr: vrrp_cluster_set:vrrp_master_split:bool
        eval_time: 2m
        exp_samples: [{labels: 'vrrp_cluster_set:vrrp_master_split:bool{vrrp_cluster="home",set="MAIN"}', value: 1}]
"""


def test_documented_declared_set_extension_works(tmp_path: Path) -> None:
    """The comment in vrrp-alerts.yml tells how to cover a declared sync set across exporters: do it."""
    promtool = require_binary("promtool")
    text = RULES.read_text(encoding="utf-8")
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "append to the expr above" in line)
    term = []
    for line in lines[start + 1 :]:
        if not line.startswith("      #     "):
            break
        term.append("          " + line[len("      #     ") :])
    anchor = '          group by (vrrp_cluster, set) (vrrp_set_masters{set="all"})\n'
    assert term and text.count(anchor) == 1
    (tmp_path / RULES.name).write_text(text.replace(anchor, anchor + "\n".join(term) + "\n"), encoding="utf-8")
    (tmp_path / "declared.test.yml").write_text(DECLARED_SET_TEST, encoding="utf-8")
    result = run(promtool, "check", "rules", RULES.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    result = run(promtool, "test", "rules", "declared.test.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
