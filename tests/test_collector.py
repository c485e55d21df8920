"""The collector on hand-built snapshots: names and labels exactly as DESIGN.md, no frozen series."""

from __future__ import annotations

import json
import platform
from dataclasses import replace
from importlib import metadata

import pytest
from prometheus_client import generate_latest
from seed import B, D, M, record, setup, situation, snapshot, table

from exporter import REVISION_ENV, revision
from exporter.errors import PollErrorReason
from exporter.model import ClusterSpec, PollFailure, SyncSetSpec, VrrpGroup

NOW = 1_000_000.0


def test_seed_split_metrics() -> None:
    source, reg = setup()
    record(source, "split")
    v = reg.get_sample_value
    assert v("vrrp_master_split", {"vrrp_cluster": "home", "set": "all"}) == 1
    assert v("vrrp_set_masters", {"vrrp_cluster": "home", "set": "all"}) == 2
    assert v("vrrp_group_masters", {"vrrp_cluster": "home", "group": "VLAN100"}) == 1
    assert v("vrrp_router_up", {"vrrp_cluster": "home", "router": "vyos02"}) == 1
    base = {"vrrp_cluster": "home", "router": "vyos02", "group": "VLAN100", "interface": "eth1", "vrid": "100"}
    assert v("vrrp_group_state", {**base, "state": "MASTER"}) == 1
    for other in ("INIT", "BACKUP", "FAULT", "DISABLED"):
        assert v("vrrp_group_state", {**base, "state": other}) == 0
    assert v("vrrp_group_priority", {"vrrp_cluster": "home", "router": "vyos01", "group": "VLAN1"}) == 150
    assert (
        v(
            "vrrp_group_last_transition_timestamp_seconds",
            {"vrrp_cluster": "home", "router": "vyos01", "group": "VLAN1"},
        )
        == NOW - 38
    )
    assert v("vrrp_group_master_is_preferred", {"vrrp_cluster": "home", "group": "VLAN1"}) == 1
    assert v("vrrp_group_master_is_preferred", {"vrrp_cluster": "home", "group": "VLAN100"}) == 0
    assert v("vrrp_set_missing_groups", {"vrrp_cluster": "home", "set": "all"}) == 0
    build = {"version": "0.1.0", "revision": revision(), "pythonversion": platform.python_version()}
    assert v("vrrp_exporter_build_info", build) == 1
    for reason in PollErrorReason:
        assert v("vrrp_poll_errors_total", {"vrrp_cluster": "home", "router": "vyos01", "reason": reason.value}) == 0


def test_split_flips_back() -> None:
    source, reg = setup()
    record(source, "healthy")
    assert reg.get_sample_value("vrrp_master_split", {"vrrp_cluster": "home", "set": "all"}) == 0
    record(source, "split", NOW + 5)
    assert reg.get_sample_value("vrrp_master_split", {"vrrp_cluster": "home", "set": "all"}) == 1
    record(source, "preempt_restored", NOW + 10)
    assert reg.get_sample_value("vrrp_master_split", {"vrrp_cluster": "home", "set": "all"}) == 0


def test_transitions_counted_including_implied_ones() -> None:
    source, reg = setup()
    labels = {"vrrp_cluster": "home", "router": "vyos01", "group": "VLAN100"}
    record(source, "healthy")
    assert reg.get_sample_value("vrrp_group_transitions_total", labels) == 0
    record(source, "split", NOW + 5)  # MASTER -> BACKUP
    assert reg.get_sample_value("vrrp_group_transitions_total", labels) == 1
    # Same state as before, Last Transition a second "later" only from rounding: no transition.
    source.store.record(snapshot("vyos01", table("vyos01", (M, B, B), age=42), NOW + 9))
    assert reg.get_sample_value("vrrp_group_transitions_total", labels) == 1
    # Same state, but VLAN100's Last Transition restarted (alone: not a keepalived reload, which
    # restarts every group's, tests/test_store.py): it flapped between two polls.
    rows = table("vyos01", (M, B, B), age=53)
    source.store.record(
        snapshot("vyos01", (rows[0], replace(rows[1], last_transition_age_seconds=1), rows[2]), NOW + 20)
    )
    assert reg.get_sample_value("vrrp_group_transitions_total", labels) == 2
    assert reg.get_sample_value("vrrp_group_last_transition_timestamp_seconds", labels) == NOW + 19


def test_failed_router_exports_no_group_series_and_counts_errors() -> None:
    source, reg = setup()
    record(source, "healthy")
    failure = PollFailure(PollErrorReason.HOSTKEY, "host key not verifiable")
    source.store.record(snapshot("vyos02", now=NOW + 5, failure=failure))
    source.now = NOW + 5
    v = reg.get_sample_value
    assert v("vrrp_router_up", {"vrrp_cluster": "home", "router": "vyos02"}) == 0
    assert v("vrrp_poll_errors_total", {"vrrp_cluster": "home", "router": "vyos02", "reason": "hostkey"}) == 1
    assert v("vrrp_group_priority", {"vrrp_cluster": "home", "router": "vyos02", "group": "VLAN1"}) is None
    assert v("vrrp_last_poll_success_timestamp_seconds", {"vrrp_cluster": "home", "router": "vyos02"}) == NOW
    # vyos01 is untouched, and the derived metrics use only vyos01.
    assert v("vrrp_group_priority", {"vrrp_cluster": "home", "router": "vyos01", "group": "VLAN1"}) == 150
    assert v("vrrp_group_masters", {"vrrp_cluster": "home", "group": "VLAN1"}) == 1


def test_vanished_group_series_removed() -> None:
    source, reg = setup()
    record(source, "healthy")
    one = situation("healthy", NOW + 5)["vyos01"]
    source.store.record(snapshot("vyos01", one.groups[:1], NOW + 5))
    source.now = NOW + 5
    text = generate_latest(reg).decode()
    assert 'router="vyos01",vrrp_cluster="home"} 150.0' in text
    # Series of what vyos01 reports (the preferred-master info names it for the group, not by it).
    reported = "\n".join(line for line in text.splitlines() if "preferred_master_info" not in line)
    assert 'group="VLAN101",router="vyos01"' not in reported
    assert 'group="VLAN101",router="vyos02"' in reported


def test_stale_everything_drops_derived_metrics() -> None:
    source, reg = setup()
    record(source, "split")
    source.now = NOW + 60  # 12 intervals later, no new poll finished
    assert reg.get_sample_value("vrrp_router_up", {"vrrp_cluster": "home", "router": "vyos01"}) == 0
    assert reg.get_sample_value("vrrp_master_split", {"vrrp_cluster": "home", "set": "all"}) is None
    assert "vrrp_group_state{" not in generate_latest(reg).decode()


def test_missing_sync_set_group_counted() -> None:
    spec = ClusterSpec("home", ("vyos01", "vyos02"), (SyncSetSpec("MAIN", ("VLAN1", "VLAN10", "VLAN101")),))
    source, reg = setup(spec)
    record(source, "healthy")
    assert reg.get_sample_value("vrrp_set_missing_groups", {"vrrp_cluster": "home", "set": "MAIN"}) == 1


def test_disabled_row_labels() -> None:
    source, reg = setup()
    source.store.record(snapshot("vyos01", (VrrpGroup("VLAN9", "", None, D),), NOW))
    labels = {
        "vrrp_cluster": "home",
        "router": "vyos01",
        "group": "VLAN9",
        "interface": "",
        "vrid": "",
        "state": "DISABLED",
    }
    assert reg.get_sample_value("vrrp_group_state", labels) == 1


def test_help_says_background_poll() -> None:
    source, reg = setup()
    record(source, "healthy")
    text = generate_latest(reg).decode()
    for line in text.splitlines():
        if line.startswith("# HELP vrrp_") and not line.startswith("# HELP vrrp_exporter_"):
            assert "background poll" in line, line


class _Dist:
    def __init__(self, direct_url: str | None) -> None:
        self.direct_url = direct_url

    def read_text(self, name: str) -> str | None:
        assert name == "direct_url.json"
        return self.direct_url


@pytest.mark.parametrize(
    ("env", "direct_url", "expected"),
    [
        ("0123abc", None, "0123abc"),  # set at image build time: wins
        ("", json.dumps({"url": "https://x/y.git", "vcs_info": {"vcs": "git", "commit_id": "feed42"}}), "feed42"),
        ("", json.dumps({"url": "file:///src", "dir_info": {}}), "unknown"),  # pip install .
        ("", None, "unknown"),  # wheel from an index: no direct_url.json
        ("", "not json", "unknown"),
        ("", "[]", "unknown"),
    ],
)
def test_build_info_revision(monkeypatch: pytest.MonkeyPatch, env: str, direct_url: str | None, expected: str) -> None:
    monkeypatch.setenv(REVISION_ENV, env)
    monkeypatch.setattr(metadata, "distribution", lambda name: _Dist(direct_url))
    assert revision.__wrapped__() == expected
