"""Config parsing and validation: every problem reported at once, each with its YAML path."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.config import DEFAULT_COMMAND, file_problems, load_config, parse_config, parse_duration
from exporter.errors import ConfigError
from exporter.targets import cluster_spec, ssh_target

FIXTURES = Path(__file__).parent / "fixtures" / "config"

MINIMAL = """
clusters:
  - name: home
    routers:
      - {name: vyos01, address: 192.168.0.33}
      - {name: vyos02, address: 192.168.0.34}
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return info.value.problems


@pytest.mark.parametrize(
    ("text", "seconds"), [("500ms", 0.5), ("5s", 5.0), ("1m", 60.0), ("1m30s", 90.0), ("1h", 3600.0)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["5", "", "5 s", "s", "-1s", "0s", "1.5s", "5sec"])
def test_bad_durations(bad: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_defaults() -> None:
    config = parse_config(MINIMAL)
    assert config.poll_interval == 5.0 and config.command_timeout == 3.0
    # The default timeout is 3 s whatever the interval: a real `show vrrp` takes ~0.85 s (issue 13).
    assert parse_config("poll_interval: 1s\n" + MINIMAL).command_timeout == 3.0
    # A timeout at or above the interval is allowed: one poll in flight per router, never queued.
    assert parse_config("poll_interval: 1s\ntimeout: 5s\n" + MINIMAL).command_timeout == 5.0
    assert config.config_interval == 300.0 and config.config_read_interval == 300.0
    target = ssh_target(config, config.clusters[0], config.clusters[0].routers[1])
    assert (target.username, target.port, target.command) == ("vyos", 22, DEFAULT_COMMAND)
    assert target.known_hosts is None and not target.insecure_ignore_host_key
    assert target.config_command is None
    spec = cluster_spec(config.clusters[0])
    assert [s.name for s in spec.sets] == ["all"] and spec.sets[0].groups is None


def test_full_example_and_overrides() -> None:
    config = load_config(FIXTURES / "good.yml", check_files=False)
    cluster = config.clusters[0]
    spec = cluster_spec(cluster)
    assert spec.preferred_master == "vyos01"
    assert [(s.name, s.groups, s.preferred_master) for s in spec.sets] == [
        ("MAIN", ("VLAN1", "VLAN100", "VLAN101"), None),
        ("DMZ", ("VLAN200",), "vyos02"),
    ]


def test_ssh_overrides_most_specific_wins() -> None:
    config = parse_config(
        """
ssh: {username: global, command: show vrrp, known_hosts: /k}
clusters:
  - name: c
    ssh: {username: cluster}
    routers:
      - {name: r1, address: 10.0.0.1}
      - {name: r2, address: 10.0.0.2, port: 2222, ssh: {username: router, command: "vrrp.py show_summary"}}
"""
    )
    c = config.clusters[0]
    r1, r2 = (ssh_target(config, c, r) for r in c.routers)
    assert (r1.username, r1.command, str(r1.known_hosts)) == ("cluster", "show vrrp", "/k")
    assert (r2.username, r2.command, r2.port) == ("router", "vrrp.py show_summary", 2222)


def test_missing_field_has_yaml_path() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(FIXTURES / "bad-missing-address.yml", check_files=False)
    assert info.value.problems == ["clusters[0].routers[1].address: field required"]


def test_every_field_problem_at_once() -> None:
    problems = problems_of((FIXTURES / "bad-many.yml").read_text())
    joined = "\n".join(problems)
    assert "poll_interval: expected a duration with a unit" in joined
    assert "colour: unknown key" in joined
    assert "ssh.usernme: unknown key" in joined
    assert "clusters[0].routers[0].port:" in joined
    # Cross-field rules run on whatever is there, in the same run as the schema's problems.
    assert "clusters[0].routers: duplicate router name 'vyos01'" in joined
    assert "clusters[0].preferred_master: 'vyos03' is not a router of this cluster" in joined
    assert len(problems) == 6


def test_cross_field_problems_at_once() -> None:
    problems = problems_of(
        """
poll_interval: 5s
timeout: 10s
clusters:
  - name: home
    preferred_master: vyos03
    routers:
      - {name: vyos01, address: 192.168.0.33}
      - {name: vyos01, address: 192.168.0.33}
    sync_sets:
      - {name: MAIN, groups: [VLAN1, VLAN1], preferred_master: nobody}
      - {name: MAIN, groups: [VLAN2]}
  - name: home
    routers: [{name: r, address: x, ssh: {password_file: /a, password_env: B}}]
"""
    )
    assert problems == [
        "clusters: duplicate cluster name 'home'",
        "clusters[0].routers: duplicate router name 'vyos01'",
        "clusters[0].routers: two routers share the address 192.168.0.33:22",
        "clusters[0].preferred_master: 'vyos03' is not a router of this cluster (routers: vyos01, vyos01)",
        "clusters[0].sync_sets[0].preferred_master: 'nobody' is not a router of this cluster (routers: vyos01, vyos01)",
        "clusters[0].sync_sets[0].groups: group 'VLAN1' listed twice",
        "clusters[0].sync_sets: duplicate set name 'MAIN'",
        "clusters[1].routers[0].ssh: password_file and password_env exclude each other; set only one",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "expected a mapping at the top level"),
        ("- a\n- b\n", "expected a mapping at the top level"),
        ("clusters: [\n", "not valid YAML"),
        ("clusters: []\n", "clusters: List should have at least 1 item"),
        ("clusters:\n  - {name: c, routers: []}\n", "clusters[0].routers: List should have at least 1 item"),
        (
            "clusters:\n  - {name: c, routers: [{name: r, address: a}], sync_sets: [{name: s, groups: []}]}\n",
            "clusters[0].sync_sets[0].groups: List should have at least 1 item",
        ),
        ("clusters:\n  - {name: '', routers: [{name: r, address: a}]}\n", "clusters[0].name: String should have"),
    ],
)
def test_each_rule(text: str, expected: str) -> None:
    assert any(expected in p for p in problems_of(text)), problems_of(text)


def test_file_checks(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text("k")
    config = parse_config(
        f"""
ssh: {{private_key: {key}, known_hosts: {tmp_path}/missing_known_hosts, password_env: NOT_SET_ANYWHERE}}
clusters: [{{name: c, routers: [{{name: r, address: a}}]}}]
"""
    )
    problems = file_problems(config, environ={})
    assert problems == [
        f"clusters[0].routers[0].ssh.known_hosts: file not found or not a file: {tmp_path}/missing_known_hosts",
        "clusters[0].routers[0].ssh.password_env: environment variable NOT_SET_ANYWHERE is not set",
    ]


def test_unreadable_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.yml")


def test_shards_partition_whole_clusters() -> None:
    from exporter.config import Shard

    names = [f"site{i:03d}" for i in range(300)]
    text = "clusters:\n" + "".join(f"  - {{name: {n}, routers: [{{name: r, address: {n}.example}}]}}\n" for n in names)
    config = parse_config(text)
    shards = [Shard(i, 3).select(config) for i in (1, 2, 3)]
    owned = [[c.name for c in s.clusters] for s in shards]
    assert sorted(name for names_of in owned for name in names_of) == names  # every cluster exactly once
    assert all(60 < len(o) < 140 for o in owned)  # roughly balanced
    assert Shard(2, 3).select(config).clusters == Shard.parse("2/3").select(config).clusters  # stable
    for bad in ("0/3", "4/3", "1", "a/b", "1/0"):
        with pytest.raises(ValueError, match="invalid shard"):
            Shard.parse(bad)
