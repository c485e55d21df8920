"""The VyOS `show vrrp` renderer and the SSH simulator built on it.

Renderer: compared with the real `tabulate` (a test dependency) wherever tabulate 0.10 and the
0.8.x that VyOS ships agree, i.e. tables without empty-string cells; the DISABLED cases, where they
differ, are pinned to literal 0.8.x output. Simulator: a real asyncssh client against real
loopback SSH servers; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncssh
import pytest
import yaml
from fixtures_util import load_fixture  # tests/ is on sys.path (no __init__.py)
from tabulate import tabulate

import exporter
from exporter.model import VrrpGroup, VrrpState
from exporter.parse import parse_show_vrrp
from exporter.sim.cli import bench_specs
from exporter.sim.fleet import OP_MODE_SCRIPT, WRAPPER, SimFleet, SimRouter, generate_key
from exporter.sim.seed import SEED_CLUSTER, SeedPhase, apply_seed_phase, seed_cluster
from exporter.sim.vyos_render import (
    SUPPORTED_VERSIONS,
    VrrpMessage,
    dialect,
    message_exit_status,
    normalize_version,
    render_message,
    render_show_vrrp,
    seconds_to_human,
    tabulate_simple,
    vmac_interface,
)

TIMEOUT = 10.0  # upper bound for any single network wait in these tests
SHOW_VRRP = f"{WRAPPER} show vrrp"
SCRIPT_SUMMARY = f"{OP_MODE_SCRIPT} show_summary"

M, B, F, D = VrrpState.MASTER, VrrpState.BACKUP, VrrpState.FAULT, VrrpState.DISABLED

# shared/seed: `show vrrp` on both routers during the incident (VyOS 1.3 era, July 2021).
SEED_SPLIT_VYOS01 = """\
Name     Interface      VRID  State      Priority  Last Transition
-------  -----------  ------  -------  ----------  -----------------
VLAN1    eth0              1  MASTER          150  26m13s
VLAN100  eth1            100  BACKUP          150  29m15s
VLAN101  eth2            101  BACKUP          150  29m15s
"""
SEED_SPLIT_VYOS02 = """\
Name     Interface      VRID  State      Priority  Last Transition
-------  -----------  ------  -------  ----------  -----------------
VLAN1    eth0              1  BACKUP          100  4h27m1s
VLAN100  eth1            100  MASTER          100  4h30m45s
VLAN101  eth2            101  MASTER          100  4h30m45s
"""
SEED_SYNC_FAULT_VYOS01 = """\
Name     Interface      VRID  State      Priority  Last Transition
-------  -----------  ------  -------  ----------  -----------------
VLAN1    eth0              1  FAULT           150  2m37s
VLAN100  eth1            100  FAULT           150  2m37s
VLAN101  eth2            101  FAULT           150  2m37s
"""


class FakeClock:
    """A settable Unix clock, so Last Transition ages are exact."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def groups_of(*rows: tuple[str, str, int, VrrpState, int | None, int | None]) -> list[VrrpGroup]:
    return [VrrpGroup(*row) for row in rows]


SAMPLE = groups_of(
    ("VLAN1", "eth0", 1, M, 150, 1573),
    ("VLAN100", "eth1v100", 100, B, 150, 16021),  # a VMAC interface
    ("VLAN101", "eth2.101", 101, F, 5, 34_578_069),  # a bit over a year
    ("LAB", "bond0.4", 4, VrrpState.INIT, 254, 59),
)


# --- seconds_to_human -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, ""),
        (59, "59s"),
        (60, "1m"),
        (16021, "4h27m1s"),
        (16245, "4h30m45s"),
        (7 * 86400, "1w"),
        (31_557_600, "1y"),  # 365.25 days, as vyos.utils.convert
        (31_557_600 + 4 * 604800 + 6 * 86400 + 23 * 3600 + 60 + 9, "1y4w6d23h1m9s"),
        (-5, ""),
    ],
)
def test_seconds_to_human_like_vyos_utils_convert(seconds: int, expected: str) -> None:
    assert seconds_to_human(seconds) == expected


def test_seconds_to_human_before_1_4_stops_at_weeks() -> None:
    one_year_and_a_bit = 34_578_069
    assert seconds_to_human(one_year_and_a_bit, years=False) == "57w1d5h1m9s"
    assert seconds_to_human(0, years=False) == ""
    # vyos.util put the separator before every part but a leading weeks part.
    assert seconds_to_human(90061, " ", years=False) == " 1d 1h 1m 1s"
    assert seconds_to_human(90061, " ") == "1d 1h 1m 1s"


def test_only_1_4_and_later_print_years() -> None:
    year = [VrrpGroup("G", "eth0", 1, M, 100, 31_557_600)]
    assert "52w1d6h" in render_show_vrrp(year, "1.3")
    assert "1y" in render_show_vrrp(year, "1.4")


# --- render_show_vrrp vs tabulate ------------------------------------------------------------------------


def vyos_rows(groups: list[VrrpGroup], version: str) -> tuple[list[str], list[list[object]]]:
    """The rows VyOS hands to tabulate, written out independently of the renderer."""
    years = version not in ("1.2", "1.3")
    rows: list[list[object]] = []
    for g in groups:
        last = seconds_to_human(g.last_transition_age_seconds or 0, years=years)
        if version == "1.2":
            rows.append([g.name, g.interface, g.vrid, g.state.value, last])
        else:
            rows.append([g.name, g.interface, g.vrid, g.state.value, g.priority, last])
    return list(dialect(version).headers), rows


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_render_equals_real_tabulate(version: str) -> None:
    headers, rows = vyos_rows(SAMPLE, version)
    assert render_show_vrrp(SAMPLE, version) == tabulate(rows, headers) + "\n"


def test_headers_per_version() -> None:
    assert render_show_vrrp(SAMPLE, "1.2").splitlines()[0].split() == [
        "Name", "Interface", "VRID", "State", "Last", "Transition",
    ]  # fmt: skip
    for version in ("1.3", "1.4", "1.5"):
        assert "Priority" in render_show_vrrp(SAMPLE, version).splitlines()[0]


def test_tabulate_simple_equals_real_tabulate_on_random_tables() -> None:
    # Numeric-looking names are right/decimal aligned by tabulate: the renderer must agree.
    rng = random.Random(20210722)
    words = ["VLAN1", "eth0", "eth1v1", "MASTER", "BACKUP", "10", "1.5", "007", "1e3", "4h27m1s", "-3", "0.25"]
    headers = ["Name", "Interface", "VRID", "State", "Priority", "Last Transition"]
    for _ in range(300):
        ncols = rng.randint(1, 6)
        rows: list[list[str | int]] = [
            [rng.choice(words) if rng.random() < 0.5 else rng.randint(0, 70000) for _ in range(ncols)]
            for _ in range(rng.randint(0, 6))
        ]
        assert tabulate_simple(rows, headers[:ncols]) == tabulate(rows, headers[:ncols]), rows


def test_empty_table_is_headers_and_dashes() -> None:
    for version in SUPPORTED_VERSIONS:
        headers = list(dialect(version).headers)
        assert render_show_vrrp([], version) == tabulate([], headers) + "\n"


def test_seed_tables_byte_for_byte() -> None:
    split = {spec.name: spec.groups for spec in seed_cluster("1.3", SeedPhase.SPLIT)}
    assert render_show_vrrp(split["vyos01"], "1.3") == SEED_SPLIT_VYOS01
    assert render_show_vrrp(split["vyos02"], "1.3") == SEED_SPLIT_VYOS02
    fault = {spec.name: spec.groups for spec in seed_cluster("1.4", SeedPhase.SYNC_FAULT)}
    assert render_show_vrrp(fault["vyos01"], "1.4") == SEED_SYNC_FAULT_VYOS01


# DISABLED rows: `[name, interface, vrid, 'DISABLED', '']`. With python3-tabulate 0.8.x (what VyOS
# ships) the '' makes Priority a text column, left-aligned; and a table of DISABLED rows only has
# one column fewer than the headers, so "Last Transition" disappears. Verified with tabulate 0.8.10.
DISABLED_1_4 = """\
Name     Interface      VRID  State     Priority    Last Transition
-------  -----------  ------  --------  ----------  -----------------
VLAN1    eth0              1  MASTER    150         26m13s
VLAN100  eth1            100  BACKUP    150         29m15s
DMZ      eth3v1            7  DISABLED
"""
ONLY_DISABLED_1_4 = """\
Name    Interface      VRID  State     Priority
------  -----------  ------  --------  ----------
DMZ     eth3              7  DISABLED
"""
DISABLED_1_2 = """\
Name    Interface      VRID  State     Last Transition
------  -----------  ------  --------  -----------------
VLAN1   eth0              1  MASTER    26m13s
DMZ     eth3v1            7  DISABLED
"""


def test_disabled_rows_follow_vyos_and_tabulate_0_8() -> None:
    groups = groups_of(
        ("DMZ", "eth3v1", 7, D, None, None),  # listed first: VyOS still prints it last
        ("VLAN1", "eth0", 1, M, 150, 1573),
        ("VLAN100", "eth1", 100, B, 150, 1755),
    )
    for version in ("1.3", "1.4", "1.5"):
        assert render_show_vrrp(groups, version) == DISABLED_1_4
    assert render_show_vrrp([VrrpGroup("DMZ", "eth3", 7, D)], "1.4") == ONLY_DISABLED_1_4
    assert render_show_vrrp([groups[1], groups[0]], "1.2") == DISABLED_1_2


def test_disabled_table_as_newer_tabulate_would_align_it() -> None:
    # Cross-check of the layout with the real library: forcing Priority left reproduces 0.8.x.
    headers = list(dialect("1.4").headers)
    rows = [["VLAN1", "eth0", 1, "MASTER", 150, "26m13s"], ["VLAN100", "eth1", 100, "BACKUP", 150, "29m15s"]]
    rows.append(["DMZ", "eth3v1", "7", "DISABLED", ""])
    aligns = ("left", "left", "decimal", "left", "left", "left")
    expected = tabulate(rows, headers, colalign=aligns)
    groups = groups_of(
        ("VLAN1", "eth0", 1, M, 150, 1573),
        ("VLAN100", "eth1", 100, B, 150, 1755),
        ("DMZ", "eth3v1", 7, D, None, None),
    )
    assert render_show_vrrp(groups, "1.4") == expected + "\n"


def test_unknown_age_or_priority_prints_empty_cells() -> None:
    text = render_show_vrrp([VrrpGroup("G", "eth0", 1, M, None, None)], "1.4")
    assert text.splitlines()[2].rstrip() == "G       eth0              1  MASTER"


# --- messages ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "kind", "text", "status"),
    [
        ("1.2", VrrpMessage.NOT_RUNNING, "VRRP is not running", 0),
        ("1.2", VrrpMessage.NOT_CONFIGURED, "VRRP is not running", 0),
        ("1.2", VrrpMessage.DATA_TIMEOUT, "VRRP information is not available", 1),
        ("1.3", VrrpMessage.NOT_CONFIGURED, "VRRP not configured!", 0),
        ("1.4", VrrpMessage.NOT_CONFIGURED, "VRRP not configured!", 0),
        ("1.4", VrrpMessage.NOT_RUNNING, "VRRP is not running", 0),
        ("1.4", VrrpMessage.DATA_TIMEOUT, "VRRP data is not available (wait time exceeded)", 1),
        ("1.5", VrrpMessage.NOT_RUNNING, "VRRP data is not available (process not running or no active groups)", 1),
        ("1.5", VrrpMessage.DATA_TIMEOUT, "VRRP data is not available (wait time exceeded)", 1),
    ],
)
def test_messages(version: str, kind: VrrpMessage, text: str, status: int) -> None:
    assert render_message(kind, version) == text + "\n"
    assert message_exit_status(kind, version) == status


@pytest.mark.parametrize(
    ("given", "expected"),
    [("1.2.9-S1", "1.2"), ("equuleus", "1.3"), ("1.4.1", "1.4"), ("sagitta", "1.4"), ("rolling", "1.5")],
)
def test_version_names(given: str, expected: str) -> None:
    assert normalize_version(given) == expected


def test_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported VyOS version"):
        normalize_version("1.1")


# --- round trip with the parser ------------------------------------------------------------------


def expected_after_parse(groups: list[VrrpGroup], version: str) -> list[VrrpGroup]:
    """What a reader of the printed table can know: no priority on 1.2."""
    if version != "1.2":
        return groups
    return [VrrpGroup(g.name, g.interface, g.vrid, g.state, None, g.last_transition_age_seconds) for g in groups]


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_round_trip_render_parse(version: str) -> None:
    parsed = parse_show_vrrp(render_show_vrrp(SAMPLE, version))
    assert list(parsed) == expected_after_parse(SAMPLE, version)


# Fixtures rendered with Debian's tabulate 0.8.9 from vyos-1x's own row code (issue 13's facts):
# the renderer must print them byte for byte from the groups the parser reads in them.
TABULATE_089_FIXTURES = [
    "vyos14_vmac_v4_v6_rendered.txt",
    "vyos14_ages_over_a_year_rendered.txt",
    "vyos14_disabled_left_aligned_priority_rendered.txt",
    "vyos14_age_under_a_second_rendered.txt",
    "vyos14_numeric_names_with_disabled_rendered.txt",
    "vyos15_circinus_rendered.txt",
]


@pytest.mark.parametrize("name", TABULATE_089_FIXTURES)
def test_renderer_reproduces_tabulate_089_fixture(name: str) -> None:
    text = load_fixture(name)
    assert render_show_vrrp(parse_show_vrrp(text), "1.5") == text


def test_vmac_interface_names_by_version() -> None:
    assert vmac_interface("eth1", 1, "1.3") == "eth1v1"
    assert vmac_interface("eth0", 10, "1.4") == "eth0v10v4"
    assert vmac_interface("eth0.20", 20, "1.5", ipv6=True) == "eth0.20v20v6"


def assert_disabled_round_trip(groups: list[VrrpGroup], version: str) -> None:
    parsed = parse_show_vrrp(render_show_vrrp(groups, version))
    assert [(g.name, g.state) for g in parsed] == [(g.name, g.state) for g in groups]
    assert list(parsed[: len(groups) - 1]) == expected_after_parse(groups[:-1], version)
    assert parsed[-1].priority is None
    assert parsed[-1].last_transition_age_seconds is None


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_round_trip_with_a_disabled_row(version: str) -> None:
    assert_disabled_round_trip([*SAMPLE[:2], VrrpGroup("DMZ", "eth3", 7, D)], version)


# Real VyOS 1.3+ drops the Last Transition header when every row is DISABLED (tabulate zips the
# headers with the 5-cell rows); the parser must accept that table.
@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_round_trip_with_only_disabled_rows(version: str) -> None:
    assert_disabled_round_trip([VrrpGroup("DMZ", "eth3", 7, D)], version)


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_round_trip_messages(version: str) -> None:
    from exporter.errors import PollError, VrrpUnavailableError

    # DESIGN.md: "not running" / "not configured" are zero groups; "wait time exceeded" is transient.
    for kind in VrrpMessage:
        text = render_message(kind, version)
        if text.startswith(("VRRP is not running", "VRRP not configured!")):
            assert parse_show_vrrp(text) == ()
        elif "wait time exceeded" in text:
            with pytest.raises(VrrpUnavailableError):
                parse_show_vrrp(text)
        else:  # version-specific wording: never read as a table
            with contextlib.suppress(PollError):
                assert parse_show_vrrp(text) == ()


# --- the simulator: state and answers without SSH --------------------------------------------------------


def test_ages_grow_with_the_clock_and_reset_on_a_state_change() -> None:
    clock = FakeClock()
    router = SimRouter("r1", [VrrpGroup("VLAN1", "eth0", 1, B, 100, 30)], clock=clock)
    assert router.snapshot()[0].last_transition_age_seconds == 30
    clock.now += 61
    assert router.snapshot()[0].last_transition_age_seconds == 91
    router.set_state("VLAN1", B, priority=90)  # same state: the transition time stays
    assert router.snapshot()[0] == VrrpGroup("VLAN1", "eth0", 1, B, 90, 91)
    router.set_state("VLAN1", M)
    assert router.snapshot()[0].last_transition_age_seconds == 0
    # VyOS prints an empty Last Transition for a transition in this very second.
    assert router.answer(SHOW_VRRP).stdout.decode().splitlines()[2].rstrip().endswith("MASTER           90")
    clock.now += 5
    assert router.answer(SHOW_VRRP).stdout.decode().splitlines()[2].endswith("5s")


def test_seed_story_phases() -> None:
    clock = FakeClock()
    routers = {s.name: SimRouter(s.name, s.groups, version=s.version, clock=clock) for s in seed_cluster()}

    def masters() -> dict[str, set[str]]:
        return {name: {g.name for g in r.snapshot() if g.state is M} for name, r in routers.items()}

    assert masters() == {"vyos01": {"VLAN1", "VLAN100", "VLAN101"}, "vyos02": set()}
    apply_seed_phase(routers, SeedPhase.SPLIT)
    assert masters() == {"vyos01": {"VLAN1"}, "vyos02": {"VLAN100", "VLAN101"}}
    apply_seed_phase(routers, SeedPhase.SYNC_FAULT)
    assert {g.state for r in routers.values() for g in r.snapshot()} == {F}
    apply_seed_phase(routers, SeedPhase.PREEMPT_FIX)
    assert masters() == {"vyos01": {"VLAN1", "VLAN100", "VLAN101"}, "vyos02": set()}
    assert [g.priority for g in routers["vyos01"].snapshot()] == [150, 150, 150]
    assert [g.priority for g in routers["vyos02"].snapshot()] == [100, 100, 100]


def test_commands_and_faults_without_ssh() -> None:
    router = SimRouter("r1", [VrrpGroup("VLAN1", "eth0", 1, M, 150, 60)], version="1.5")
    table = router.answer(SHOW_VRRP)
    assert table.stdout.startswith(b"Name ") and table.exit_status == 0
    assert router.answer("show vrrp") == table
    assert router.answer(SCRIPT_SUMMARY) == table
    assert router.answer(f"sudo {OP_MODE_SCRIPT} --summary") == table
    assert router.answer(f"{WRAPPER} show vrrp detail").stdout == b"\n  Invalid command: show vrrp [detail]\n\n"
    assert router.answer("uname -a") == router.answer(None)
    assert router.answer("uname -a").stderr == b"Invalid command\n"
    assert router.answer("uname -a").exit_status == 1

    router.set_message(VrrpMessage.NOT_RUNNING)
    no_data = b"VRRP data is not available (process not running or no active groups)\n"
    assert router.answer(SCRIPT_SUMMARY).stdout == no_data
    assert router.answer(SCRIPT_SUMMARY).exit_status == 1
    assert router.answer(SHOW_VRRP).exit_status == 0  # vyatta-op's wrapper returns 0 regardless
    router.set_message(None)

    router.output_override = "VLAN1 half a table"
    assert router.answer(SHOW_VRRP).stdout == b"VLAN1 half a table"
    router.garbage = b"\xff\xfe\x00binary"
    router.exit_status = 3
    router.stderr = "boom\n"
    assert router.answer(SHOW_VRRP) == router.answer(SCRIPT_SUMMARY)
    assert router.answer(SHOW_VRRP).stdout == b"\xff\xfe\x00binary"
    assert (router.answer(SHOW_VRRP).stderr, router.answer(SHOW_VRRP).exit_status) == (b"boom\n", 3)


def test_simulator_refuses_non_loopback_addresses() -> None:
    with pytest.raises(ValueError, match="loopback"):
        SimRouter("r1", host="0.0.0.0")


# --- the simulator over SSH --------------------------------------------------------------------------


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[SimFleet]:
    async with SimFleet(tmp_path, seed_cluster(phase=SeedPhase.SPLIT), clusters=[SEED_CLUSTER]) as running:
        yield running


async def connect(
    fleet: SimFleet,
    router: SimRouter,
    *,
    client_keys: list[asyncssh.SSHKey] | None = None,
    username: str = "vyos",
    known_hosts: Path | None = None,
) -> asyncssh.SSHClientConnection:
    async with asyncio.timeout(TIMEOUT):
        return await asyncssh.connect(
            "127.0.0.1",
            router.port,
            username=username,
            known_hosts=str(known_hosts or fleet.known_hosts_path),
            client_keys=client_keys if client_keys is not None else [str(fleet.private_key_path)],
            agent_path=None,
            config=None,
            password=None,
        )


async def run(
    conn: asyncssh.SSHClientConnection, command: str, within: float = TIMEOUT
) -> asyncssh.SSHCompletedProcess:
    async with asyncio.timeout(within):
        return await conn.run(command, check=False)


def text(result: asyncssh.SSHCompletedProcess) -> str:
    assert isinstance(result.stdout, str)
    return result.stdout


async def eventually(condition: Callable[[], bool], within: float = TIMEOUT) -> None:
    async with asyncio.timeout(within):
        while not condition():
            await asyncio.sleep(0.01)


async def test_show_vrrp_over_ssh(fleet: SimFleet) -> None:
    async with await connect(fleet, fleet["vyos01"]) as conn:
        for command in (SHOW_VRRP, "show vrrp", SCRIPT_SUMMARY):
            result = await run(conn, command)
            assert (result.stdout, result.stderr, result.exit_status) == (SEED_SPLIT_VYOS01, "", 0)
    async with await connect(fleet, fleet["vyos02"]) as conn:
        assert (await run(conn, SHOW_VRRP)).stdout == SEED_SPLIT_VYOS02
        refused = await run(conn, "cat /etc/shadow")
        assert (refused.stdout, refused.stderr, refused.exit_status) == ("", "Invalid command\n", 1)


async def test_known_hosts_and_config_files(fleet: SimFleet) -> None:
    lines = fleet.known_hosts_path.read_text().splitlines()
    assert lines == [f"[127.0.0.1]:{r.port} {r.host_key_line().split(' ', 1)[1]}" for r in fleet]
    assert all(line.split()[1] == "ssh-ed25519" for line in lines)
    assert fleet.private_key_path.stat().st_mode & 0o777 == 0o600
    config = yaml.safe_load(fleet.write_config().read_text())
    assert config["ssh"] == {
        "username": "vyos",
        "known_hosts": str(fleet.known_hosts_path.resolve()),
        "private_key": str(fleet.private_key_path.resolve()),
    }
    assert config["clusters"] == [
        {
            "name": "home",
            "preferred_master": "vyos01",
            "routers": [
                {"name": "vyos01", "address": "127.0.0.1", "port": fleet["vyos01"].port},
                {"name": "vyos02", "address": "127.0.0.1", "port": fleet["vyos02"].port},
            ],
        }
    ]


async def test_written_config_is_valid_for_the_exporter(fleet: SimFleet) -> None:
    from exporter.config import load_config
    from exporter.targets import all_targets

    config = load_config(fleet.write_config(poll_interval="1s", timeout="500ms"))
    assert [(t.router, t.port) for t in all_targets(config)] == [
        ("vyos01", fleet["vyos01"].port),
        ("vyos02", fleet["vyos02"].port),
    ]


async def test_wrong_key_or_user_is_refused(fleet: SimFleet) -> None:
    router = fleet["vyos01"]
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(fleet, router, client_keys=[generate_key()])
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(fleet, router, username="admin")
    assert router.commands_run == 0


async def test_password_auth(tmp_path: Path) -> None:
    async with SimFleet(tmp_path, seed_cluster(), password="s3cret") as fleet:
        router = fleet["vyos01"]
        options = {"known_hosts": str(fleet.known_hosts_path), "client_keys": None, "agent_path": None}
        async with asyncio.timeout(TIMEOUT):
            async with asyncssh.connect(
                "127.0.0.1", router.port, username="vyos", password="s3cret", config=None, **options
            ) as conn:
                assert (await run(conn, SHOW_VRRP)).exit_status == 0
            with pytest.raises(asyncssh.PermissionDenied):
                await asyncssh.connect(
                    "127.0.0.1", router.port, username="vyos", password="wrong", config=None, **options
                )
        assert yaml.safe_load(fleet.write_config(password_auth=True).read_text())["ssh"]["password_file"]


async def test_restart_keeps_port_and_drops_connections(fleet: SimFleet) -> None:
    router = fleet["vyos01"]
    port = router.port
    conn = await connect(fleet, router)
    await router.restart()
    assert router.port == port
    async with asyncio.timeout(TIMEOUT):
        await conn.wait_closed()
    async with await connect(fleet, router) as again:
        assert (await run(again, SHOW_VRRP)).stdout == SEED_SPLIT_VYOS01


async def test_new_host_key_after_restart_is_rejected(fleet: SimFleet) -> None:
    router = fleet["vyos01"]
    old_line = router.host_key_line()
    await router.restart(new_host_key=True)
    assert router.host_key_line() != old_line
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await connect(fleet, router)
    fleet.write_known_hosts()  # the operator accepts the new key
    async with await connect(fleet, router) as conn:
        assert (await run(conn, SHOW_VRRP)).exit_status == 0


async def test_hang_never_answers_and_is_cleaned_up(fleet: SimFleet) -> None:
    router = fleet["vyos01"]
    router.hang = True
    conn = await connect(fleet, router)
    with pytest.raises(TimeoutError):
        await run(conn, SHOW_VRRP, within=0.3)
    assert (router.commands_run, router.pending_commands) == (1, 1)
    conn.abort()
    await eventually(lambda: router.active_connections == 0 and router.pending_commands == 0)


async def test_hanging_command_does_not_block_stop(tmp_path: Path) -> None:
    async with SimFleet(tmp_path, seed_cluster()) as fleet:
        router = fleet["vyos02"]
        router.hang = True
        conn = await connect(fleet, router)
        task = asyncio.create_task(run(conn, SHOW_VRRP))
        await eventually(lambda: router.pending_commands == 1)
        async with asyncio.timeout(TIMEOUT):
            await router.stop()
        assert (router.running, router.active_connections, router.pending_commands) == (False, 0, 0)
        try:
            result = await task
        except (asyncssh.Error, OSError):
            pass  # the client saw the connection go
        else:
            assert (result.stdout, result.exit_status) == ("", None)  # channel closed, no answer


async def test_latency_delays_the_answer(fleet: SimFleet) -> None:
    router = fleet["vyos01"]
    router.latency = 0.3
    loop = asyncio.get_running_loop()
    async with await connect(fleet, router) as conn:
        started = loop.time()
        result = await run(conn, SHOW_VRRP)
        assert loop.time() - started >= 0.3
        assert result.stdout == SEED_SPLIT_VYOS01


async def test_exit_status_stderr_and_garbage_over_ssh(fleet: SimFleet) -> None:
    router = fleet["vyos01"]
    router.exit_status, router.stderr, router.garbage = 1, "sudo: unable to resolve host\n", b"\xff\x00\x1b[2J"
    async with await connect(fleet, router) as conn:
        async with asyncio.timeout(TIMEOUT):
            result = await conn.run(SHOW_VRRP, encoding=None, check=False)
    assert (result.stdout, result.stderr, result.exit_status) == (
        b"\xff\x00\x1b[2J",
        b"sudo: unable to resolve host\n",
        1,
    )


async def test_messages_over_ssh(fleet: SimFleet) -> None:
    router = fleet["vyos01"]
    router.set_message(VrrpMessage.NOT_CONFIGURED)
    async with await connect(fleet, router) as conn:
        assert (await run(conn, SHOW_VRRP)).stdout == "VRRP not configured!\n"
        router.set_message(VrrpMessage.DATA_TIMEOUT)
        direct = await run(conn, SCRIPT_SUMMARY)
        assert (direct.stdout, direct.exit_status) == ("VRRP data is not available (wait time exceeded)\n", 1)


async def test_connection_and_command_counters(fleet: SimFleet) -> None:
    router = fleet["vyos02"]
    first = await connect(fleet, router)
    second = await connect(fleet, router)
    await run(first, SHOW_VRRP)
    await run(first, SHOW_VRRP)
    await run(second, "show vrrp")
    assert (router.connections_opened, router.commands_run, router.active_connections) == (2, 3, 2)
    first.close()
    second.close()
    await eventually(lambda: router.active_connections == 0)
    assert fleet["vyos01"].connections_opened == 0


async def test_state_change_is_seen_by_the_next_poll(tmp_path: Path) -> None:
    clock = FakeClock()
    fleet = SimFleet(tmp_path, seed_cluster("1.3", SeedPhase.SPLIT), clock=clock)
    async with fleet, await connect(fleet, fleet["vyos01"]) as conn:
        assert text(await run(conn, SHOW_VRRP)) == SEED_SPLIT_VYOS01
        clock.now += 2
        apply_seed_phase(fleet.routers, SeedPhase.PREEMPT_FIX)
        lines = text(await run(conn, SHOW_VRRP)).splitlines()
    # VLAN1 kept its transition; VLAN100/VLAN101 changed this second: VyOS prints no age at all.
    assert lines[2:] == [
        "VLAN1    eth0              1  MASTER          150  26m15s",
        "VLAN100  eth1            100  MASTER          150",
        "VLAN101  eth2            101  MASTER          150",
    ]


async def test_two_hundred_routers_start_and_stop(tmp_path: Path) -> None:
    specs, clusters = bench_specs(200, 3, 2, "1.4")
    async with SimFleet(tmp_path, specs, clusters=clusters) as fleet:
        routers = list(fleet)
        assert len({r.port for r in routers}) == 200
        assert len(fleet.known_hosts_path.read_text().splitlines()) == 200
        for router in (routers[0], routers[101], routers[-1]):
            async with await connect(fleet, router) as conn:
                result = await run(conn, SHOW_VRRP)
                assert result.exit_status == 0 and "VLAN3" in text(result)
        config = yaml.safe_load(fleet.write_config().read_text())
        assert len(config["clusters"]) == 100
    assert not any(r.running or r.active_connections for r in routers)
    with pytest.raises(ConnectionRefusedError):
        async with asyncio.timeout(TIMEOUT):
            await asyncio.open_connection("127.0.0.1", routers[0].port)


# --- the command line --------------------------------------------------------------------------------


@pytest.fixture
def env_with_package() -> dict[str, str]:
    root = str(Path(exporter.__file__).resolve().parent.parent)
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}


async def test_command_line_serves_until_sigterm(tmp_path: Path, env_with_package: dict[str, str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "exporter.sim",
        "--routers", "3", "--groups", "2", "--dir", str(tmp_path), "--latency", "0.01",
        stdout=asyncio.subprocess.PIPE,
        env=env_with_package,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            line = await proc.stdout.readline()
        assert line == b"ready 3 routers\n"
        config = yaml.safe_load((tmp_path / "config.yml").read_text())
        assert [len(c["routers"]) for c in config["clusters"]] == [2, 1]
        first = config["clusters"][0]["routers"][0]
        async with asyncio.timeout(TIMEOUT):
            async with asyncssh.connect(
                "127.0.0.1",
                first["port"],
                username=config["ssh"]["username"],
                known_hosts=config["ssh"]["known_hosts"],
                client_keys=[config["ssh"]["private_key"]],
                agent_path=None,
                config=None,
            ) as conn:
                result = await conn.run(SHOW_VRRP, check=False)
        assert text(result).splitlines()[2].split()[:4] == ["VLAN1", "eth0", "1", "MASTER"]
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
