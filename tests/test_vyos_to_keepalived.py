"""tests/lab/vyos_to_keepalived.py: VyOS `set high-availability vrrp` commands -> keepalived.conf.

Pure, no root: the generator the VRRP lab uses for every router, checked against the seed's
configurations (tests/fixtures/vyos_config), vyos-1x's template semantics, and the lab's own
configurations, whose lint verdicts the lab scenarios rely on.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "lab"))

from vrrplab import GROUPS, ROUTER_NAMES, VrrpOptions, show_configuration_commands, vyos_vrrp_commands
from vyos_to_keepalived import ConversionError, keepalived_conf, keepalived_conf_from_commands

from exporter.config_risk import lint
from exporter.vyos_config import DEFAULT_CONFIG_COMMAND, parse_vyos_config

FIXTURES = Path(__file__).parent / "fixtures" / "vyos_config"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def instances(conf: str) -> dict[str, str]:
    """vrrp_instance name -> its block body."""
    return dict(re.findall(r"^vrrp_instance (\S+) \{\n(.*?)^\}", conf, re.M | re.S))


def sync_groups(conf: str) -> dict[str, list[str]]:
    found = re.findall(r"^vrrp_sync_group (\S+) \{\n    group \{\n(.*?)    \}", conf, re.M | re.S)
    return {name: body.split() for name, body in found}


def test_seed_incident_is_nopreempt_everywhere_and_no_sync_group() -> None:
    conf = keepalived_conf_from_commands(fixture("seed_incident_vyos01.txt"))
    blocks = instances(conf)
    assert list(blocks) == ["VLAN1", "VLAN100", "VLAN101"]
    for name, iface, vrid, vip in (
        ("VLAN1", "eth0", 1, "192.168.0.4/24"),
        ("VLAN100", "eth1", 100, "192.168.100.1/24"),
        ("VLAN101", "eth2", 101, "192.168.101.1/24"),
    ):
        body = blocks[name]
        assert "    state BACKUP\n" in body
        assert f"    interface {iface}\n" in body
        assert f"    virtual_router_id {vrid}\n" in body
        assert "    priority 150\n" in body
        assert "    advert_int 1\n" in body  # VyOS's default advertise-interval
        assert "    nopreempt\n" in body and "preempt_delay" not in body
        assert f"    virtual_ipaddress {{\n        {vip}\n    }}\n" in body
    assert sync_groups(conf) == {}
    assert "vrrp_version" not in conf  # VyOS writes it only for global-parameters version


def test_default_priority_and_preempt_delay_as_vyos_fills_them_in() -> None:
    """vyos02 of the seed has no priority line (VyOS default 100); without no-preempt VyOS writes
    `preempt_delay 0` (the node's default), never `nopreempt`."""
    conf = keepalived_conf_from_commands(fixture("seed_preempt_vyos02.txt"))
    for body in instances(conf).values():
        assert "    priority 100\n" in body
        assert "    preempt_delay 0\n" in body and "nopreempt" not in body


def test_sync_group_fix_and_the_typo_are_written_as_configured() -> None:
    fixed = keepalived_conf_from_commands(fixture("seed_fixed_vyos01.txt"))
    assert sync_groups(fixed) == {"MAIN": ["VLAN1", "VLAN100", "VLAN101"]}
    # after the instances, as vyos-1x's template writes it
    assert fixed.index("vrrp_sync_group MAIN") > fixed.rindex("vrrp_instance ")
    typo = keepalived_conf_from_commands(fixture("seed_typo_vyos01.txt"))
    assert sync_groups(typo) == {"MAIN": ["VLAN1", "VLAN10", "VLAN101"]}


def test_14_syntax_delay_vmac_peer_and_what_is_not_reproduced() -> None:
    text = "\n".join(
        [
            "set high-availability vrrp group G address '192.0.2.1/24'",
            "set high-availability vrrp group G address '192.0.2.2/24' interface 'eth5'",
            "set high-availability vrrp group G authentication password 'Pl4ntedPw'",
            "set high-availability vrrp group G authentication type 'plaintext-password'",
            "set high-availability vrrp group G description 'home LAN'",
            "set high-availability vrrp group G interface 'eth1'",
            "set high-availability vrrp group G advertise-interval '3'",
            "set high-availability vrrp group G preempt-delay '30'",
            "set high-availability vrrp group G peer-address '192.0.2.9'",
            "set high-availability vrrp group G hello-source-address '192.0.2.8'",
            "set high-availability vrrp group G rfc3768-compatibility",
            "set high-availability vrrp group G track interface 'eth2'",
            "set high-availability vrrp group G vrid '7'",
            "set high-availability vrrp group Off interface 'eth1'",
            "set high-availability vrrp group Off vrid '8'",
            "set high-availability vrrp group Off disable",
        ]
    )
    conf = keepalived_conf_from_commands(text)
    blocks = instances(conf)
    assert list(blocks) == ["G"], "a disabled group is not written (template: `if disable is not defined`)"
    body = blocks["G"]
    assert body.startswith("    # home LAN\n    state BACKUP\n")
    for line in (
        "advert_int 3",
        "preempt_delay 30",
        "unicast_peer { 192.0.2.9 }",
        "unicast_src_ip 192.0.2.8",
        "use_vmac eth1v7v4",
        "vmac_xmit_base",
    ):
        assert f"    {line}\n" in body, line
    assert "        192.0.2.1/24\n        192.0.2.2/24\n" in body
    assert "track" in body and "not reproduced" in body
    assert "Pl4ntedPw" not in conf and "auth_pass" not in conf


def test_multicast_source_without_peer() -> None:
    text = (
        "set high-availability vrrp group G interface eth0\nset high-availability vrrp group G vrid 1\n"
        "set high-availability vrrp group G hello-source-address 192.0.2.8\n"
    )
    assert "    mcast_src_ip 192.0.2.8\n" in keepalived_conf_from_commands(text)


def test_lab_overrides_interfaces_version_advert_notify() -> None:
    conf = keepalived_conf(
        parse_vyos_config(fixture("seed_fixed_vyos02.txt")),
        interfaces={"eth0": "lan0", "eth1": "lan1"},
        router_id="vyos02",
        vrrp_version=3,
        advert_int=0.1,
        notify="/lab/bin/ka-notify vyos02",
        header="lab router vyos02",
    )
    assert conf.startswith("# Generated from VyOS")
    assert "# lab router vyos02\n" in conf
    globals_ = conf[conf.index("global_defs {") : conf.index("}")]
    for line in ("router_id vyos02", "script_user root", "enable_script_security", "vrrp_version 3"):
        assert f"    {line}\n" in globals_
    blocks = instances(conf)
    assert "    interface lan0\n" in blocks["VLAN1"]
    assert "    interface lan1\n" in blocks["VLAN100"]
    assert "    interface eth2\n" in blocks["VLAN101"], "unmapped interfaces keep their VyOS name"
    assert all("    advert_int 0.1\n" in b for b in blocks.values())
    assert conf.count('    notify "/lab/bin/ka-notify vyos02"\n') == 4  # 3 instances + the sync group


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("set high-availability vrrp group G vrid 1\n", "no interface"),
        ("set high-availability vrrp group G interface eth0\n", "no vrid"),
    ],
)
def test_a_group_vyos_would_not_commit_is_an_error(text: str, words: str) -> None:
    with pytest.raises(ConversionError, match=words):
        keepalived_conf_from_commands(text)


def test_bad_overrides() -> None:
    with pytest.raises(ConversionError):
        keepalived_conf(parse_vyos_config(""), vrrp_version=4)
    with pytest.raises(ConversionError):
        keepalived_conf(parse_vyos_config(""), advert_int=0)


def test_no_vrrp_configured_gives_only_global_defs() -> None:
    conf = keepalived_conf_from_commands("set system host-name 'vyos01'\n")
    assert "vrrp_instance" not in conf and "vrrp_sync_group" not in conf


# -- the lab's own configurations ------------------------------------------------------------------

INCIDENT = VrrpOptions(nopreempt=True)
FIXED = VrrpOptions(nopreempt=True, sync_group="MAIN")
TYPO = VrrpOptions(nopreempt=True, sync_group="MAIN", sync_members=("VLAN1", "VLAN10", "VLAN101"))


def lab_configs(options: VrrpOptions) -> dict[str, str]:
    return {r: show_configuration_commands(r, vyos_vrrp_commands(r, options)) for r in ROUTER_NAMES}


def test_lab_config_round_trips_through_the_exporters_parser() -> None:
    """What a lab router prints for `show configuration commands` parses back to its options."""
    for options in (VrrpOptions(), INCIDENT, FIXED, TYPO):
        for router, text in lab_configs(options).items():
            cfg = parse_vyos_config(text)
            assert list(cfg.groups) == list(GROUPS)
            assert {g.priority for g in cfg.groups.values()} == {150 if router == "vyos01" else 100}
            assert {g.preempt for g in cfg.groups.values()} == {not options.nopreempt}
            want = {} if not options.sync_group else {"MAIN": options.sync_members or GROUPS}
            assert dict(cfg.sync_groups) == want


@pytest.mark.parametrize(
    ("options", "rules"),
    [
        (VrrpOptions(), set()),  # preempt, vyos01 highest everywhere: a split lasts only while a link is down
        (INCIDENT, {"split_prone"}),
        (FIXED, set()),
        (TYPO, {"sync_group_member_missing"}),
    ],
    ids=["preempt", "incident", "fixed", "typo"],
)
def test_lab_configs_lint_as_the_lab_scenarios_expect(options: VrrpOptions, rules: set[str]) -> None:
    """The lab scenarios assert these verdicts on /metrics and from `lint`; this pins them without root."""
    configs = {r: parse_vyos_config(t) for r, t in lab_configs(options).items()}
    found = {f.rule for f in lint(configs, None)}
    assert rules <= found
    if not rules:
        assert found == set(), found
    if options is TYPO:
        assert "split_prone" in found, "VLAN100 fell out of the sync-group and keeps no-preempt"


def test_default_config_command_keeps_only_vrrp_lines_of_a_lab_router() -> None:
    """The sed of DEFAULT_CONFIG_COMMAND, run locally on a lab router's output: the VRRP lines stay,
    the password hash and every other `set` line stay on the router."""
    import shutil
    import subprocess

    from vrrplab import FAKE_PASSWORD_HASH

    if shutil.which("sed") is None:
        pytest.skip("no sed")
    sed = DEFAULT_CONFIG_COMMAND.split("| ", 1)[1]
    text = lab_configs(FIXED)["vyos01"]
    out = subprocess.run(["bash", "-c", sed], input=text, capture_output=True, text=True, check=True).stdout
    assert out == vyos_vrrp_commands("vyos01", FIXED)
    assert FAKE_PASSWORD_HASH in text and FAKE_PASSWORD_HASH not in out
