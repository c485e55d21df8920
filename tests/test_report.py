"""`poll` output: the seed's side-by-side table, verdict lines and the JSON document."""

from __future__ import annotations

import json
from pathlib import Path

from seed import situation, snapshot

from exporter.errors import PollErrorReason
from exporter.findings import overall_exit_code
from exporter.join import ClusterView, build_view
from exporter.model import ClusterSpec, PollFailure
from exporter.report import render_json, render_table
from exporter.views import view_at
from exporter.vyos_config import VrrpConfig, parse_vyos_config

NOW = 1_000_000.0
SPEC = ClusterSpec("home", ("vyos01", "vyos02"))


def test_split_table_matches_the_seed_view() -> None:
    view = view_at(SPEC, situation("split", NOW), NOW, 15)
    text = render_table([view])
    assert text.splitlines()[:5] == [
        "cluster home",
        "Group    Interface  VRID  vyos01      vyos02",
        "-------  ---------  ----  ----------  ----------",
        "VLAN1    eth0          1  MASTER 150  BACKUP 100",
        "VLAN100  eth1        100  BACKUP 150  MASTER 100",
    ]
    assert "set all: SPLIT across 2 routers: vyos01 is MASTER of VLAN1; vyos02 is MASTER of VLAN100, VLAN101" in text
    assert text.rstrip().endswith("verdict home: SPLIT (exit 1)")


def test_json_document() -> None:
    views = [view_at(SPEC, situation("split", NOW), NOW, 15)]
    doc = json.loads(render_json(views))
    assert doc["exit_code"] == 1
    [cluster] = doc["clusters"]
    assert cluster["verdict"] == "split"
    assert cluster["sets"][0] == {
        "name": "all",
        "groups": ["VLAN1", "VLAN100", "VLAN101"],
        "masters": ["vyos01", "vyos02"],
        "split": True,
        "split_seen_by": {"vyos01": ["VLAN100", "VLAN101"], "vyos02": ["VLAN1"]},
        "missing_groups": [],
        "preferred_master": None,
    }
    vlan100 = next(g for g in cluster["groups"] if g["name"] == "VLAN100")
    assert vlan100["masters"] == ["vyos02"]
    assert vlan100["routers"]["vyos01"] == {
        "state": "BACKUP",
        "priority": 150,
        "interface": "eth1",
        "vrid": 100,
        "last_transition_age_seconds": 38,
    }


def test_router_down_table_and_exit_code() -> None:
    snaps = situation("healthy", NOW)
    snaps["vyos02"] = snapshot("vyos02", now=NOW, failure=PollFailure(PollErrorReason.AUTH, "authentication refused"))
    view = view_at(SPEC, snaps, NOW, 15)
    text = render_table([view])
    assert "vyos02 (DOWN)" in text
    assert "router down: router vyos02 is down (auth: authentication refused)" in text
    assert overall_exit_code([view]) == 3


def test_worst_exit_code_wins() -> None:
    healthy = view_at(SPEC, situation("healthy", NOW), NOW, 15)
    split = view_at(SPEC, situation("split", NOW), NOW, 15)
    down = view_at(SPEC, {}, NOW, 15)
    assert overall_exit_code([healthy]) == 0
    assert overall_exit_code([healthy, down]) == 3
    assert overall_exit_code([down, split]) == 1


def test_half_view_split_and_down_router_in_both_outputs() -> None:
    """The seed's split with vyos02 unreachable: the table says the split is inferred and from whom;
    the JSON shows the down router with null data instead of leaving it out."""
    snaps = situation("split", NOW)
    snaps["vyos02"] = snapshot("vyos02", now=NOW, failure=PollFailure(PollErrorReason.TIMEOUT, "timed out"))
    view = view_at(SPEC, snaps, NOW, 15)
    text = render_table([view])
    inferred = (
        "set all: SPLIT, inferred from vyos01's own table: vyos01 is MASTER of VLAN1 and not of"
        " VLAN100, VLAN101 (vyos02 could not be read)"
    )
    assert inferred in text.splitlines() and "verdict home: SPLIT (exit 1)" in text.splitlines()
    # The README shows these two lines as `poll` prints them.
    readme = (Path(__file__).parents[1] / "README.md").read_text().splitlines()
    assert readme[readme.index(inferred) + 1] == "verdict home: SPLIT (exit 1)"
    doc = json.loads(render_json([view]))
    assert doc["exit_code"] == 1
    [cluster] = doc["clusters"]
    assert [r["name"] for r in cluster["routers"]] == ["vyos01", "vyos02"]
    down = cluster["routers"][1]
    assert down["up"] is False and down["error"]["reason"] == "timeout"
    assert all(g["routers"]["vyos02"] is None for g in cluster["groups"])
    assert cluster["sets"][0]["split_seen_by"] == {"vyos01": ["VLAN100", "VLAN101"]}


# --- split risks in the routers' configuration ---------------------------------------------------------

CONFIGS = Path(__file__).parent / "fixtures" / "vyos_config"


def seed_configs(kind: str) -> dict[str, VrrpConfig]:
    return {r: parse_vyos_config((CONFIGS / f"seed_{kind}_{r}.txt").read_text(encoding="utf-8")) for r in SPEC.routers}


def config_view(situation_name: str, kind: str) -> ClusterView:
    snaps = situation(situation_name, NOW)
    return build_view(SPEC, snaps, set(snaps), seed_configs(kind))


def test_config_risks_follow_the_verdict_and_never_change_the_exit_code() -> None:
    view = config_view("healthy", "incident")
    lines = render_table([view]).splitlines()
    verdict = lines.index("verdict home: HEALTHY (exit 0)")
    assert lines[verdict + 1].startswith("config risk split_prone: VLAN1, VLAN100, VLAN101 fail over separately")
    assert lines[verdict + 2 :] == [
        f"  fix on vyos01, vyos02: set high-availability vrrp sync-group MAIN member {g}"
        for g in ("VLAN1", "VLAN100", "VLAN101")
    ]
    assert overall_exit_code([view]) == 0
    doc = json.loads(render_json([view]))
    assert doc["exit_code"] == 0
    [risk] = doc["clusters"][0]["config_risks"]
    assert risk["rule"] == "split_prone" and risk["routers"] == ["vyos01", "vyos02"]
    assert risk["groups"] == ["VLAN1", "VLAN100", "VLAN101"]
    assert risk["fix"][0] == "set high-availability vrrp sync-group MAIN member VLAN1"
    # The derived preferred master (highest priority) is in the JSON per group.
    assert {g["name"]: g["preferred_master"] for g in doc["clusters"][0]["groups"]} == dict.fromkeys(
        ("VLAN1", "VLAN100", "VLAN101"), "vyos01"
    )


def test_clean_configuration_prints_nothing_and_json_has_an_empty_list() -> None:
    view = config_view("healthy", "fixed")
    assert view.risks == ()
    assert render_table([view]).rstrip().endswith("verdict home: HEALTHY (exit 0)")
    assert json.loads(render_json([view]))["clusters"][0]["config_risks"] == []


def test_config_not_read() -> None:
    view = view_at(SPEC, situation("healthy", NOW), NOW, 15)
    assert view.risks is None
    text = render_table([view])  # config reading off (no entry for the cluster): nothing said
    assert "config" not in text.split("verdict home:")[1]
    unread = {"home": {"vyos02": "command: config command exited with status 1: Invalid command"}}
    text = render_table([view], unread)
    assert text.rstrip().splitlines()[-1] == (
        "config: not read (vyos02: command: config command exited with status 1: Invalid command)"
    )
    [cluster] = json.loads(render_json([view], unread))["clusters"]
    assert cluster["config_risks"] is None
    assert cluster["config_unread"] == [{"router": "vyos02", "reason": unread["home"]["vyos02"]}]


def test_planted_password_is_in_no_poll_output() -> None:
    configs = seed_configs("incident")
    text = (CONFIGS / "seed_incident_vyos01.txt").read_text(encoding="utf-8")
    planted = "set high-availability vrrp group VLAN1 authentication password 'Planted-S3cret-pw'\n"
    configs["vyos01"] = parse_vyos_config(text + planted)
    view = build_view(SPEC, situation("healthy", NOW), set(SPEC.routers), configs)
    assert view.risks
    assert "Planted-S3cret-pw" not in render_table([view]) + render_json([view])
