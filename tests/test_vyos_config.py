"""Tests for exporter.vyos_config: every fixture in tests/fixtures/vyos_config, the quoting forms,
malformed lines, the size bounds, and a planted VRRP password that must appear nowhere."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from exporter.errors import ParseError
from exporter.vyos_config import (
    DEFAULT_CONFIG_COMMAND,
    DEFAULT_PRIORITY,
    MAX_CONFIG_CHARS,
    MAX_CONFIG_LINES,
    VrrpConfig,
    VrrpGroupConfig,
    parse_vyos_config,
)

FIXTURES = Path(__file__).parent / "fixtures" / "vyos_config"


def load(name: str) -> str:
    # Bytes, not read_text(): universal-newline decoding would hide the CRLF fixture's line ends.
    return (FIXTURES / name).read_bytes().decode("utf-8")


def seed_groups(priority: int, preempt: bool) -> dict[str, VrrpGroupConfig]:
    return {
        name: VrrpGroupConfig(
            name,
            interface=interface,
            vrid=vrid,
            priority=priority,
            preempt=preempt,
            addresses=(address,),
            uses_virtual_address=True,
        )
        for name, interface, vrid, address in (
            ("VLAN1", "eth0", 1, "192.168.0.4/24"),
            ("VLAN100", "eth1", 100, "192.168.100.1/24"),
            ("VLAN101", "eth2", 101, "192.168.101.1/24"),
        )
    }


# -- fixtures -------------------------------------------------------------------------------------

MAIN_TYPO = ("VLAN1", "VLAN10", "VLAN101")
MAIN_FIXED = ("VLAN1", "VLAN100", "VLAN101")

# fixture -> (groups, sync_groups)
EXPECTED: dict[str, tuple[dict[str, VrrpGroupConfig], dict[str, tuple[str, ...]]]] = {
    "seed_incident_vyos01.txt": (seed_groups(150, preempt=False), {}),
    "seed_incident_vyos02.txt": (seed_groups(DEFAULT_PRIORITY, preempt=False), {}),
    "seed_typo_vyos01.txt": (seed_groups(150, preempt=False), {"MAIN": MAIN_TYPO}),
    "seed_typo_vyos02.txt": (seed_groups(100, preempt=False), {"MAIN": MAIN_TYPO}),
    "seed_fixed_vyos01.txt": (seed_groups(150, preempt=False), {"MAIN": MAIN_FIXED}),
    "seed_fixed_vyos02.txt": (seed_groups(100, preempt=False), {"MAIN": MAIN_FIXED}),
    "seed_preempt_vyos01.txt": (seed_groups(150, preempt=True), {}),
    "seed_preempt_vyos02.txt": (seed_groups(100, preempt=True), {}),
    "v13_virtual_address.txt": (
        {
            "LAN": VrrpGroupConfig(
                "LAN",
                interface="eth1",
                vrid=10,
                priority=200,
                preempt_delay=180,
                addresses=("10.0.1.1/24", "10.0.1.2/24"),
                uses_virtual_address=True,
                rfc3768=True,
                advertise_interval=2,
                has_health_check=True,
                has_transition_scripts=True,
                description="office LAN gateway",
            ),
            "WAN": VrrpGroupConfig(
                "WAN",
                interface="eth0",
                vrid=20,
                priority=200,
                addresses=("203.0.113.1/24",),
                uses_virtual_address=True,
                peer_address="203.0.113.3",
                hello_source_address="203.0.113.2",
            ),
            "OLD": VrrpGroupConfig(
                "OLD", interface="eth2", vrid=30, addresses=("10.0.2.1/24",), uses_virtual_address=True, disabled=True
            ),
        },
        {"MAIN": ("LAN", "WAN")},
    ),
    "v14_address_full.txt": (
        {
            "Foo": VrrpGroupConfig(
                "Foo",
                interface="eth0",
                vrid=10,
                priority=150,
                preempt=False,
                addresses=("192.0.2.1/24", "203.0.113.22/24"),
                has_track=True,
                has_health_check=True,
                has_transition_scripts=True,
                has_authentication=True,
                authentication_type="plaintext-password",
            ),
            "Bar": VrrpGroupConfig("Bar", interface="eth0", vrid=11, addresses=("2001:db8:bb::1/64",)),
        },
        {"MAIN": ("Foo", "Bar")},
    ),
    "show_config_full.txt": (
        {
            "VLAN9": VrrpGroupConfig("VLAN9", interface="eth0.9", vrid=9, priority=200, addresses=("10.9.1.1/24",)),
            "VLAN20": VrrpGroupConfig(
                "VLAN20",
                interface="eth0.20",
                vrid=20,
                priority=200,
                addresses=("10.20.20.1/24",),
                has_authentication=True,
                authentication_type="plaintext-password",
            ),
        },
        {"MAIN": ("VLAN20", "VLAN9")},
    ),
}


def test_every_fixture_has_an_expectation() -> None:
    assert sorted(p.name for p in FIXTURES.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture(name: str) -> None:
    text = load(name)
    assert text.startswith("# Source: ")  # every fixture names where it comes from
    groups, sync_groups = EXPECTED[name]
    config = parse_vyos_config(text)
    assert dict(config.groups) == groups
    assert list(config.groups) == list(groups)  # config order is kept
    assert dict(config.sync_groups) == sync_groups


def test_crlf_fixture_really_has_crlf() -> None:
    assert "\r\n" in load("show_config_full.txt")


def test_result_is_immutable() -> None:
    config = parse_vyos_config(load("seed_fixed_vyos01.txt"))
    with pytest.raises(TypeError):
        config.groups["X"] = config.groups["VLAN1"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        config.groups["VLAN1"].priority = 1  # type: ignore[misc]


def test_sync_group_of() -> None:
    config = parse_vyos_config(load("seed_typo_vyos01.txt"))
    assert config.sync_group_of("VLAN1") == "MAIN"
    assert config.sync_group_of("VLAN100") is None  # the typo left it out


# -- forms of one line ----------------------------------------------------------------------------

PREFIX = "set high-availability vrrp group G "


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        # show configuration commands: values single-quoted
        ([PREFIX + "priority '120'"], VrrpGroupConfig("G", priority=120)),
        # cli-shell-api showConfig --show-commands quotes every word
        (["set 'high-availability' 'vrrp' 'group' 'G' 'priority' '120'"], VrrpGroupConfig("G", priority=120)),
        # hand-written: bare and double-quoted, tabs, a quoted value with spaces
        ([PREFIX + 'description "two  words"', "set\thigh-availability vrrp group G vrid 7"],
         VrrpGroupConfig("G", vrid=7, description="two  words")),
        # a later set of a single-value node replaces the earlier one, as in VyOS
        ([PREFIX + "priority 120", PREFIX + "priority 130"], VrrpGroupConfig("G", priority=130)),
        # the group alone exists; repeated addresses are kept once, canonical form
        (["set high-availability vrrp group G"], VrrpGroupConfig("G")),
        ([PREFIX + "address 2001:DB8::1/64", PREFIX + "address 2001:db8::1/64"],
         VrrpGroupConfig("G", addresses=("2001:db8::1/64",))),
        # bare `track` and `transition-script` nodes count as present; unknown nodes are skipped
        ([PREFIX + "track", PREFIX + "garp master-delay 2", PREFIX + "future-node x y z"],
         VrrpGroupConfig("G", has_track=True)),
        ([PREFIX + "preempt-delay 0"], VrrpGroupConfig("G", preempt_delay=0)),
    ],
)  # fmt: skip
def test_line_forms(lines: list[str], expected: VrrpGroupConfig) -> None:
    assert parse_vyos_config("\n".join(lines)).groups == {"G": expected}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n\n",
        "# nothing configured\n",
        "set system host-name 'vyos01'\nset interfaces ethernet eth0 address dhcp\n",
        "set high-availability vrrp global-parameters startup-delay '5'\n",
        "set high-availability virtual-server 203.0.113.1 port '80'\n",
    ],
)
def test_no_vrrp_configured_is_empty(text: str) -> None:
    assert parse_vyos_config(text) == VrrpConfig()


def test_skipped_lines() -> None:
    text = "\n".join(
        [
            "vyos@vyos01:~$ show configuration commands",
            "[edit]",
            "vyos@vyos01# ",
            "delete high-availability vrrp group G no-preempt",
            "comment high-availability vrrp group G 'a comment'",
            "# a comment",
            PREFIX + "no-preempt   ",
            "vyos@vyos01:~$",
        ]
    )
    # the delete is not applied: only `set` builds the configuration
    assert parse_vyos_config(text).groups == {"G": VrrpGroupConfig("G", preempt=False)}


def test_lines_of_other_subtrees_are_never_tokenized() -> None:
    # an unterminated quote outside the VRRP subtree is not ours to judge
    text = "set interfaces ethernet eth0 description 'vrrp uplink\n" + PREFIX + "vrid 3\n"
    assert parse_vyos_config(text).groups == {"G": VrrpGroupConfig("G", vrid=3)}


# -- malformed input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line_no", "message"),
    [
        ("set system host-name x\n" + PREFIX + "interface 'eth0", 2, "unterminated quote"),
        (PREFIX + "vrid abc", 1, "vrid must be a number from 1 to 255"),
        (PREFIX + "vrid 0", 1, "vrid must be a number from 1 to 255"),
        (PREFIX + "priority 256", 1, "priority must be a number from 1 to 255"),
        (PREFIX + "priority -1", 1, "priority must be a number"),
        (PREFIX + "preempt-delay 1001", 1, "preempt-delay must be a number from 0 to 1000"),
        (PREFIX + "priority", 1, "priority has no value"),
        ("set high-availability vrrp group", 1, "group has no value"),
        (PREFIX + "interface 'eth0'x", 1, "text right after a closing quote"),
        (PREFIX + "interface eth'0'", 1, "quote inside a word"),
        ("Must be an admin user to run this command.", 1, "not a VyOS configuration command"),
        ("Invalid command: show [configuration]", 1, "not a VyOS configuration command"),
        (PREFIX + "description '" + "x" * 5000 + "'", 1, "longer than"),
    ],
)
def test_malformed_line_is_a_parse_error_naming_it(text: str, line_no: int, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_vyos_config(text)
    assert info.value.line_no == line_no
    assert message in str(info.value)
    assert f"line {line_no}: " in str(info.value)


def test_size_bounds() -> None:
    with pytest.raises(ParseError, match="more than the 4194304 accepted"):
        parse_vyos_config("#" * (MAX_CONFIG_CHARS + 1))
    with pytest.raises(ParseError, match="lines, more than"):
        parse_vyos_config("\n" * (MAX_CONFIG_LINES + 1))


# -- the password ---------------------------------------------------------------------------------

PLANTED = "Q7v!pZx9"  # unique: appears in no other test text


def everything_returned(config: VrrpConfig) -> str:
    return repr(config) + repr(dict(config.groups)) + repr(dict(config.sync_groups)) + str(config)


@pytest.mark.parametrize(
    "line",
    [
        f"set high-availability vrrp group G authentication password '{PLANTED}'",
        f"set high-availability vrrp group G authentication password {PLANTED}",
        f'set high-availability vrrp group G authentication password "{PLANTED}"',
        f"set 'high-availability' 'vrrp' 'group' 'G' 'authentication' 'password' '{PLANTED}'",
        # cli-shell-api prints a quote inside a value unescaped: still dropped, no error
        f"set high-availability vrrp group G authentication password 'a'{PLANTED}'",
        f"set high-availability vrrp group G authentication password '{PLANTED}",
    ],
)
def test_password_is_dropped_while_parsing(line: str) -> None:
    config = parse_vyos_config(f"{line}\nset high-availability vrrp group G vrid 1\n")
    assert config.groups["G"].has_authentication
    assert PLANTED not in everything_returned(config)


@pytest.mark.parametrize(
    "line",
    [
        # errors on lines that carry the password elsewhere must not quote them
        f"set high-availability vrrp group 'G authentication password {PLANTED}",
        f"set high-availability vrrp group G vrid x authentication password {PLANTED}",
        f"set high-availability vrrp group G authentication type '{PLANTED}",
        f"Password: {PLANTED}",
    ],
)
def test_password_never_in_an_error(line: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_vyos_config(line)
    error = info.value
    assert PLANTED not in str(error) + repr(error) + repr(error.args) + str(error.line) + error.message


def test_fixture_passwords_appear_nowhere() -> None:
    for name, password in (("v14_address_full.txt", "Pw7xQz!k"), ("show_config_full.txt", "Kx2#vR9m")):
        text = load(name)
        assert password in text  # planted in the fixture
        assert password not in everything_returned(parse_vyos_config(text))


# -- the default config command's filter ----------------------------------------------------------


@pytest.mark.skipif(shutil.which("sed") is None, reason="needs sed")
def test_default_command_filter_keeps_vrrp_lines_and_errors() -> None:
    _, _, router_filter = DEFAULT_CONFIG_COMMAND.partition(" | ")
    assert router_filter.startswith("sed ")

    def filtered(text: str) -> str:
        return subprocess.run(
            ["bash", "-c", router_filter], input=text, capture_output=True, text=True, check=True
        ).stdout

    whole = load("show_config_full.txt")
    out = filtered(whole)
    assert "system login" not in out and "encrypted-password" not in out  # the rest stays on the router
    assert parse_vyos_config(out) == parse_vyos_config(whole)
    assert filtered("set system host-name x\n") == ""  # no VRRP configured: nothing at all
    error = "Must be an admin user to run this command.\n"
    assert filtered("set system host-name x\n" + error) == error  # passed through, then a ParseError
