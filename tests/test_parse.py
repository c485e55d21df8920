"""Tests for exporter.parse: every fixture in tests/fixtures/vyos, VyOS's messages, malformed
output, the JSON variant and a round trip through the real `tabulate`."""

from __future__ import annotations

import contextlib
import json
import random
import re
import time
from dataclasses import replace
from typing import Any

import pytest
from fixtures_util import fixture_names, load_fixture  # tests/ is on sys.path (no __init__.py)
from tabulate import tabulate

from exporter.errors import ParseError, VrrpUnavailableError
from exporter.model import VrrpGroup, VrrpState
from exporter.parse import MAX_OUTPUT_CHARS, ParsedVrrp, parse_duration, parse_show_vrrp, parse_show_vrrp_detailed
from exporter.sim.vyos_render import render_show_vrrp, vmac_interface

MASTER, BACKUP, FAULT, INIT, DISABLED = (
    VrrpState.MASTER,
    VrrpState.BACKUP,
    VrrpState.FAULT,
    VrrpState.INIT,
    VrrpState.DISABLED,
)
MINUTE, HOUR, DAY, WEEK, YEAR = 60, 3600, 86400, 604800, 31_557_600


def secs(y: int = 0, w: int = 0, d: int = 0, h: int = 0, m: int = 0, s: int = 0) -> int:
    return y * YEAR + w * WEEK + d * DAY + h * HOUR + m * MINUTE + s


def g(
    name: str, interface: str, vrid: int | None, state: VrrpState, priority: int | None, age: int | None
) -> VrrpGroup:
    return VrrpGroup(name, interface, vrid, state, priority, age)


# -- fixtures -------------------------------------------------------------------------------------

DISABLED_TABLE = (
    g("VLAN1", "eth0", 1, MASTER, 150, secs(m=26, s=13)),
    g("VLAN2", "eth1", 2, BACKUP, 5, secs(m=26, s=13)),
    g("VLAN3", "eth2", 3, FAULT, 100, 7),
    g("VLAN4", "eth3", 4, DISABLED, None, None),
)

# Expected result of parse_show_vrrp for each file in tests/fixtures/vyos: the groups, or
# (exception type, line number) for the ones that must be refused.
EXPECTED: dict[str, tuple[VrrpGroup, ...] | tuple[type[Exception], int | None]] = {
    # the incident (seed): VLAN split
    "seed_split_vyos01.txt": (
        g("VLAN1", "eth0", 1, MASTER, 150, secs(m=26, s=13)),
        g("VLAN100", "eth1", 100, BACKUP, 150, secs(m=29, s=15)),
        g("VLAN101", "eth2", 101, BACKUP, 150, secs(m=29, s=15)),
    ),
    "seed_split_vyos02.txt": (
        g("VLAN1", "eth0", 1, BACKUP, 100, secs(h=4, m=27, s=1)),
        g("VLAN100", "eth1", 100, MASTER, 100, secs(h=4, m=30, s=45)),
        g("VLAN101", "eth2", 101, MASTER, 100, secs(h=4, m=30, s=45)),
    ),
    # the incident: the sync-group fix
    "seed_syncgroup_vyos01.txt": (
        g("VLAN1", "eth0", 1, MASTER, 150, 38),
        g("VLAN100", "eth1", 100, MASTER, 150, 38),
        g("VLAN101", "eth2", 101, MASTER, 150, 38),
    ),
    "seed_syncgroup_vyos02.txt": (
        g("VLAN1", "eth0", 1, BACKUP, 100, 41),
        g("VLAN100", "eth1", 100, BACKUP, 100, 41),
        g("VLAN101", "eth2", 101, BACKUP, 100, 41),
    ),
    # the incident: the sync-group's failure mode, all FAULT
    "seed_allfault_vyos01.txt": (
        g("VLAN1", "eth0", 1, FAULT, 150, secs(m=2, s=37)),
        g("VLAN100", "eth1", 100, FAULT, 150, secs(m=2, s=37)),
        g("VLAN101", "eth2", 101, FAULT, 150, secs(m=2, s=37)),
    ),
    "seed_allfault_vyos02.txt": (
        g("VLAN1", "eth0", 1, FAULT, 100, secs(m=2, s=37)),
        g("VLAN100", "eth1", 100, FAULT, 100, secs(m=2, s=37)),
        g("VLAN101", "eth2", 101, FAULT, 100, secs(m=2, s=37)),
    ),
    # rendered from the vyos-1x source of each release
    "vyos12_crux_rendered.txt": (
        g("LAN", "eth1", 10, MASTER, None, 33_123_456),
        g("WAN", "eth0.100", 20, BACKUP, None, secs(d=3, s=5)),
        g("DMZ", "eth2", 30, FAULT, None, 38),
        g("GUEST", "eth0.200", 40, DISABLED, None, None),
    ),
    "vyos13_equuleus_rendered.txt": (
        g("VLAN10", "eth0.10", 10, MASTER, 200, secs(h=4, m=27, s=1)),
        g("VLAN20", "eth0.20v20", 20, BACKUP, 100, secs(w=2, d=4, h=22, m=54, s=9)),
        g("VLAN30", "eth2", 30, INIT, 100, 2),
        g("VLAN40", "eth3", 40, DISABLED, None, None),
    ),
    "vyos14_sagitta_rendered.txt": (
        g("VLAN1", "eth0", 1, MASTER, 150, 0),
        g("VLAN100", "eth1v100", 100, BACKUP, 100, secs(w=60, d=3, h=7, m=5, s=42)),
        g("VLAN101", "eth0.101v101", 101, FAULT, 150, secs(m=9)),
        g("VLAN200", "eth0.200", 200, DISABLED, None, None),
    ),
    "vyos14_all_disabled_rendered.txt": (
        g("VLAN200", "eth0.200", 200, DISABLED, None, None),
        g("VLAN201", "eth0.201v201", 201, DISABLED, None, None),
    ),
    "vyos14_numeric_group_names_rendered.txt": (
        g("10", "eth1", 10, MASTER, 200, secs(h=1, m=2, s=3)),
        g("11", "eth1", 11, BACKUP, 100, secs(h=1, m=2, s=3)),
    ),
    "vyos15_circinus_rendered.txt": (
        g("VLAN1", "eth1v1", 1, MASTER, 254, secs(y=1, w=4, d=6, h=23, m=1, s=9)),
        g("VLAN100", "eth0.100v1", 1, BACKUP, 100, secs(y=2)),
        g("VLAN101", "eth2", 101, BACKUP, 100, 0),
        g("VLAN102", "eth3", 102, MASTER, 200, secs(w=52, d=1, h=5, m=59, s=59)),
        g("VLAN200", "eth0.200", 200, DISABLED, None, None),
        g("VLAN201", "eth0.201", 201, DISABLED, None, None),
    ),
    # published output
    "docs_vyos12_config_mode.txt": (g("Foo", "eth1", 10, MASTER, None, 2),),
    "docs_dmvpn_vmac_hub1.txt": (g("HQ", "eth1v1", 1, MASTER, 200, 14),),
    "docs_dmvpn_vmac_hub2.txt": (g("HQ", "eth1v1", 1, BACKUP, 100, 29),),
    "docs_dmvpn_vmac_hub1_fault.txt": (g("HQ", "eth1v1", 1, FAULT, 200, secs(m=1, s=15)),),
    "published_ansible_vyos_command.txt": (
        g("service_nw01", "eth1", 10, MASTER, 150, secs(h=1, m=20, s=44)),
        g("service_nw02", "eth2", 20, MASTER, 150, secs(h=1, m=20, s=44)),
    ),
    "published_blog_eu_gw03.txt": tuple(
        g(f"IPv4_VLAN{vlan}", iface, vlan, BACKUP, 100, secs(h=19, s=4))
        for vlan, iface in ((10, "eth1"), (75, "eth4"), (98, "eth2"), (99, "eth3"))
    ),
    "published_blog_eu_gw04.txt": (
        *(
            g(f"IPv4_VLAN{vlan}", iface, vlan, MASTER, None, secs(h=15, m=9, s=45))
            for vlan, iface in ((10, "eth1"), (75, "eth4"), (98, "eth2"), (99, "eth3"))
        ),
        g("IPv4_XS4ALL", "eth0", 1, MASTER, None, secs(h=15, m=9, s=45)),
    ),
    # published, hand-written durations (100s): unambiguous, so read (issue 13)
    "docs_ha_example_seconds_over_59.txt": (
        g("int", "eth0.201", 201, MASTER, None, 100),
        g("public", "eth0.100", 113, MASTER, None, 200),
    ),
    # published, hand-edited: must be refused
    "published_misaligned_hand_edited.txt": (ParseError, 4),
    # issue 13's facts from vyos-1x 1.4/1.5
    "published_vyos1x_pr1526_vmac_v4_v6.txt": (
        g("v4-10", "eth1v10v4", 10, MASTER, 100, 21),
        g("v6-10", "eth1v10v6", 10, MASTER, 100, 21),
    ),
    "vyos14_vmac_v4_v6_rendered.txt": (
        g("VLAN10", "eth0v10v4", 10, MASTER, 200, secs(h=3, m=2, s=1)),
        g("VLAN10-v6", "eth0v10v6", 10, MASTER, 200, secs(h=3, m=2, s=1)),
        g("VLAN20", "eth0.20v20v4", 20, BACKUP, 100, secs(d=2, h=4)),
        g("VLAN30", "eth1", 30, BACKUP, 100, 45),
    ),
    "vyos14_ages_over_a_year_rendered.txt": (
        g("VLAN1", "eth0", 1, MASTER, 150, secs(y=1, w=8, d=2, h=1, m=5, s=42)),
        g("VLAN100", "eth1", 100, BACKUP, 150, YEAR),
        g("VLAN101", "eth2", 101, BACKUP, 150, secs(y=3, s=2)),
    ),
    "vyos14_disabled_left_aligned_priority_rendered.txt": DISABLED_TABLE,
    "tabulate010_disabled_right_aligned_priority_rendered.txt": DISABLED_TABLE,
    "vyos14_age_under_a_second_rendered.txt": (
        g("VLAN1", "eth0", 1, MASTER, 150, 0),
        g("VLAN100", "eth1", 100, BACKUP, 150, secs(m=29, s=15)),
        g("VLAN101", "eth2", 101, MASTER, 150, 0),
    ),
    "vyos14_numeric_names_with_disabled_rendered.txt": (
        g("10", "eth1", 10, MASTER, 200, secs(h=1, m=2, s=3)),
        g("20", "eth2", 20, BACKUP, 100, secs(h=1, m=2, s=3)),
        g("30", "eth3", 30, DISABLED, None, None),
    ),
    # a Last Transition that cannot be read: state kept, age unknown, counted in PROBLEMS
    "edited_unreadable_last_transition.txt": (
        g("VLAN1", "eth0", 1, BACKUP, 100, None),
        g("VLAN100", "eth1", 100, MASTER, 100, None),
        g("VLAN101", "eth2", 101, MASTER, 100, secs(h=4, m=30, s=45)),
    ),
    # lost tail (issue 15)
    "cut_lost_disabled_rows.txt": (ParseError, 5),
    "cut_mid_last_transition.txt": (ParseError, 3),
    # messages
    "msg_vyos12_vrrp_is_not_running.txt": (),
    "msg_vyos14_not_configured.txt": (),
    "msg_vyos15_process_not_running.txt": (),
    "msg_vyos14_wait_time_exceeded.txt": (VrrpUnavailableError, None),
    "msg_vyos12_information_not_available.txt": (VrrpUnavailableError, None),
}

# Problems parse_show_vrrp_detailed reports per fixture (none where not listed).
PROBLEMS: dict[str, tuple[str, ...]] = {
    "edited_unreadable_last_transition.txt": (
        "line 4: group 'VLAN1': cannot read Last Transition 'n/a': not a duration",
        "line 5: group 'VLAN100': cannot read Last Transition '30m4h': not a duration (units out of order)",
    ),
}
# Cut inside their last row with no final newline: only that makes the cut detectable, so once
# a prompt follows, the unreadable cell is a problem instead (group line, problem substring).
CUT_WITHOUT_NEWLINE = {"cut_mid_last_transition.txt": ("VLAN1", "'1y8w2d1'")}

JSON_NOW = 1732868470.0
JSON_EXPECTED = (
    g("VLAN1", "eth0", 1, MASTER, 150, 69),
    g("VLAN100", "eth1v100", 100, BACKUP, 100, 8469),
    g("VLAN101", "eth2", 101, FAULT, 140, 9),
)
SECRET = "s3cr3tPW"  # auth_data of VLAN100 in vyos15_show_summary_raw.json


def test_every_fixture_has_an_expectation() -> None:
    assert set(fixture_names(".txt")) == set(EXPECTED)
    assert fixture_names(".json") == ["vyos15_show_summary_raw.json"]


def check(
    text: str, expected: tuple[VrrpGroup, ...] | tuple[type[Exception], int | None], line_offset: int = 0
) -> None:
    if expected and isinstance(expected[0], type):
        error_type, line_no = expected
        assert isinstance(error_type, type)
        with pytest.raises(error_type) as info:
            parse_show_vrrp(text)
        if line_no is not None:
            assert isinstance(info.value, ParseError)
            assert info.value.line_no == line_no + line_offset
    else:
        assert parse_show_vrrp(text) == expected


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture(name: str) -> None:
    check(load_fixture(name), EXPECTED[name])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_problems(name: str) -> None:
    expected = EXPECTED[name]
    if expected and isinstance(expected[0], type):
        return  # refused: no result to hold problems
    parsed = parse_show_vrrp_detailed(load_fixture(name))
    assert (parsed.groups, parsed.problems) == (parse_show_vrrp(load_fixture(name)), PROBLEMS.get(name, ()))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_with_crlf_line_endings(name: str) -> None:
    text = load_fixture(name).replace("\r\n", "\n").replace("\n", "\r\n")
    check(text, EXPECTED[name])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_with_prompts_blank_lines_and_trailing_spaces(name: str) -> None:
    body = "\n".join(line + "   " for line in load_fixture(name).replace("\r\n", "\n").split("\n"))
    text = f"\nvyos@vyos01:~$ show vrrp\n\n{body}\n\n[edit]\nvyos@vyos01# \n"
    if name in CUT_WITHOUT_NEWLINE:
        group, cell = CUT_WITHOUT_NEWLINE[name]
        parsed = parse_show_vrrp_detailed(text)
        assert [x.name for x in parsed.groups if x.last_transition_age_seconds is None] == [group]
        assert len(parsed.problems) == 1 and cell in parsed.problems[0]
        return
    check(text, EXPECTED[name], line_offset=3)


def test_fixture_loader_keeps_the_capture_byte_for_byte() -> None:
    text = load_fixture("seed_split_vyos01.txt")
    assert text.startswith("vyos@vyos01:~$ show vrrp" + " " * 46 + "\n")
    assert "\r\n" in load_fixture("msg_vyos14_wait_time_exceeded.txt")
    assert not load_fixture("published_ansible_vyos_command.txt").endswith("\n")


# -- messages -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        "VRRP is not running",
        "VRRP not configured!",
        "VRRP data is not available (process not running or no active groups)",
    ],
)
def test_no_vrrp_messages_mean_zero_groups(message: str) -> None:
    assert parse_show_vrrp(message + "\n") == ()
    assert parse_show_vrrp(f"vyos@r1:~$ show vrrp\r\n{message}  \r\nvyos@r1:~$ ") == ()


@pytest.mark.parametrize(
    "message",
    [
        "VRRP data is not available (wait time exceeded)",
        "VRRP information is not available",
        "VRRP data is not available",
    ],
)
def test_unavailable_messages_are_a_transient_error(message: str) -> None:
    with pytest.raises(VrrpUnavailableError) as info:
        parse_show_vrrp(message + "\n")
    assert message in str(info.value)
    assert not isinstance(info.value, ParseError)


def test_message_followed_by_other_text_is_refused() -> None:
    with pytest.raises(ParseError) as info:
        parse_show_vrrp("VRRP is not running\nsomething else\n")
    assert info.value.line_no == 2


def test_message_is_matched_exactly() -> None:
    with pytest.raises(ParseError):
        parse_show_vrrp("VRRP is not running (yet)\n")


def test_header_only_table_is_zero_groups() -> None:
    headers = ["Name", "Interface", "VRID", "State", "Priority", "Last Transition"]
    assert parse_show_vrrp(tabulate([], headers) + "\n") == ()


# -- malformed tables -----------------------------------------------------------------------------

HEADER = "Name     Interface      VRID  State      Priority  Last Transition"
DASHES = "-------  -----------  ------  -------  ----------  -----------------"
ROW1 = "VLAN1    eth0              1  MASTER          150  26m13s"
ROW2 = "VLAN100  eth1            100  BACKUP          150  29m15s"


# The same table as tabulate 0.8 prints it when a DISABLED row makes Priority text.
HEADER_LEFT = "Name     Interface      VRID  State    Priority    Last Transition"
ROW1_LEFT = "VLAN1    eth0              1  MASTER   150         26m13s"


def table(*rows: str) -> str:
    return "\n".join([HEADER, DASHES, *rows]) + "\n"


def test_table_helper_is_valid() -> None:
    assert [group.name for group in parse_show_vrrp(table(ROW1, ROW2))] == ["VLAN1", "VLAN100"]


MALFORMED: list[tuple[str, str, int | None]] = [
    ("empty output", "", None),
    ("only prompts", "vyos@vyos01:~$ show vrrp\nvyos@vyos01:~$\n", None),
    ("missing header", "\n".join([DASHES, ROW1]) + "\n", 1),
    ("header without dash line", HEADER + "\n", 1),
    ("header then row, no dash line", "\n".join([HEADER, ROW1]) + "\n", 1),
    ("header then prompt", f"vyos@r:~$ show vrrp\n{HEADER}\nvyos@r:~$\n", 2),
    ("unknown text", "% Invalid command: show [vrrp]\n", 1),
    ("traceback", "Traceback (most recent call last):\n  File x\n", 1),
    ("unknown column", table().replace("Priority", "Prio    "), 1),
    ("missing State column", "Name   VRID\n-----  ----\nA         1\n", 1),
    (
        "no Last Transition column for an active group",
        "\n".join([HEADER[:49], DASHES[:49], ROW1[:49]]) + "\n",
        3,
    ),
    ("duplicate column", table().replace("Interface", "Name     "), 1),
    ("row cut before VRID", table(ROW1, "VLAN100  eth1"), 4),
    ("row cut before State", table(ROW1, "VLAN100  eth1            100"), 4),
    ("row cut inside State", table(ROW1, "VLAN100  eth1            100  BACK"), 4),
    ("row cut inside Priority", table(ROW1, "VLAN100  eth1            100  BACKUP          15"), 4),
    ("row cut inside VRID", table(ROW1, "VLAN100  eth1            10"), 4),
    # lost tail (issue 15): the last row stops short of its columns
    ("row cut inside duration, no final newline", table(ROW1, ROW2[:-2])[:-1], 4),
    ("row cut inside name", table(ROW1, "VLAN1")[:-1], 4),
    ("row cut inside interface", table(ROW1, "VLAN100  et"), 4),
    ("row cut inside VRID, left part", table(ROW1, "VLAN100  eth1            1"), 4),
    ("row cut before Priority", table(ROW1, "VLAN100  eth1            100  BACKUP"), 4),
    ("row cut inside Priority, one digit", table(ROW1, "VLAN100  eth1            100  BACKUP          1"), 4),
    ("disabled row cut before State", table(ROW1, "VLAN100  eth1            100"), 4),
    ("no name", table(ROW1, "         eth1            100  BACKUP          150  29m15s"), 4),
    ("no interface", table("VLAN1                     1  MASTER          150  26m13s"), 3),
    ("non-numeric VRID", table(ROW1.replace("     1", "   one")), 3),
    ("VRID 0", table(ROW1.replace("     1", "     0")), 3),
    ("VRID 256", table(ROW1.replace("     1", "   256")), 3),
    ("non-ASCII digits", table(ROW1.replace("     1", "    \u0661\u0660")), 3),
    ("non-numeric Priority", table(ROW1.replace("150", "hi!")), 3),
    ("Priority 256", table(ROW1.replace("150", "256")), 3),
    ("negative Priority", table(ROW1.replace(" 150", "-150")), 3),
    ("missing Priority", table(ROW1.replace("150", "   ")), 3),
    ("unknown state", table(ROW1.replace("MASTER ", "UNKNOWN")), 3),
    ("lowercase state", table(ROW1.replace("MASTER", "master")), 3),
    ("left-aligned Priority, no DISABLED row", "\n".join([HEADER_LEFT, DASHES, ROW1_LEFT]) + "\n", 3),
    ("duplicate group", table(ROW1, ROW2, ROW1), 5),
    ("spill into gap", table(ROW1, "VLAN100  eth1.1000000  100  BACKUP          150  29m15s"), 4),
    ("shifted row", table(" " + ROW1), 3),
    ("text past last column", table(ROW1 + "            extra"), 3),
    ("two values in a cell", table(ROW1.replace("VLAN1  ", "VLAN 1 ")), 3),
    ("left cell in right column", table(ROW1, ROW2.replace("   100  BACKUP", "100     BACKUP")), 4),
    ("right cell in left column", table(ROW1, ROW2.replace("VLAN100  eth1  ", "VLAN100    eth1")), 4),
    ("garbage after table", table(ROW1) + "garbage\n", 4),
    ("second table", table(ROW1) + "\n" + table(ROW2), 5),
    ("NUL byte", table(ROW1.replace("eth0", "et\x00h")), 3),
    ("ANSI colours", table(ROW1.replace("MASTER", "\x1b[32mMASTER\x1b[0m")), 3),
    ("tab instead of spaces", table(ROW1.replace("  eth0", "\teth0")), 3),
    ("lone CR", table(ROW1.replace("MASTER", "MAS\rTER")), 3),
    ("byte order mark", "\ufeff" + table(ROW1), 1),
    ("surrogate from undecodable byte", table(ROW1.replace("VLAN1", "VLAN\udcff")), 3),
    ("quote in table", table(ROW1.replace("VLAN1  ", 'VLAN1" ')), 3),
    ("line far too long", "x" * 5000 + "\n", 1),
]


@pytest.mark.parametrize(("case", "text", "line_no"), MALFORMED, ids=[case for case, _, _ in MALFORMED])
def test_malformed_output_is_a_parse_error(case: str, text: str, line_no: int | None) -> None:
    with pytest.raises(ParseError) as info:
        parse_show_vrrp(text)
    assert info.value.line_no == line_no, str(info.value)
    if line_no is not None:
        assert f"line {line_no}:" in str(info.value)


def test_cut_rows_say_the_table_looks_cut_short() -> None:
    for case, text, _ in MALFORMED:
        if "cut" in case or case.startswith("left-aligned Priority"):
            with pytest.raises(ParseError, match="the table looks cut short"):
                parse_show_vrrp(text)


# A Last Transition that cannot be read keeps the group (issue 13): (case, text, problem).
UNREADABLE_AGE: list[tuple[str, str, str]] = [
    (
        "units out of order",
        table(ROW1.replace("26m13s", "13s26m")),
        "line 3: group 'VLAN1': cannot read Last Transition '13s26m': not a duration (units out of order)",
    ),
    (
        "repeated unit",
        table(ROW1.replace("26m13s", "26m13m")),
        "line 3: group 'VLAN1': cannot read Last Transition '26m13m': not a duration (units repeated)",
    ),
    (
        "placeholder",
        table(ROW1.replace("26m13s", "n/a   ")),
        "line 3: group 'VLAN1': cannot read Last Transition 'n/a': not a duration",
    ),
    (
        "no unit",
        table(ROW1.replace("26m13s", "1573  "), ROW2),
        "line 3: group 'VLAN1': cannot read Last Transition '1573': not a duration",
    ),
    (
        "before 1970",
        table(ROW1.replace("26m13s", "200y  ")),
        "line 3: group 'VLAN1': cannot read Last Transition '200y': more than 100 years",
    ),
    # cut, but a line follows: not the output's tail, so read as an unreadable cell
    (
        "cut cell, newline after it",
        table(ROW2[:-2], ROW1),
        "line 3: group 'VLAN100': cannot read Last Transition '29m1': not a duration",
    ),
]


@pytest.mark.parametrize(("case", "text", "problem"), UNREADABLE_AGE, ids=[case for case, _, _ in UNREADABLE_AGE])
def test_unreadable_last_transition_keeps_the_group(case: str, text: str, problem: str) -> None:
    parsed = parse_show_vrrp_detailed(text)
    assert parsed.problems == (problem,)
    group = parsed.groups[0]
    assert (group.state, group.vrid, group.priority, group.last_transition_age_seconds) == (
        MASTER if group.name == "VLAN1" else BACKUP,
        1 if group.name == "VLAN1" else 100,
        150,
        None,
    )
    assert parse_show_vrrp(text) == parsed.groups


def test_detailed_result_is_frozen_and_messages_have_no_problems() -> None:
    parsed = parse_show_vrrp_detailed("VRRP is not running\n")
    assert parsed == ParsedVrrp((), (), message="VRRP is not running")
    assert parsed.doubtful  # the words a lost dump-file race prints too: asked again first
    assert not parse_show_vrrp_detailed("VRRP not configured!\n").doubtful
    with pytest.raises(AttributeError):
        parsed.groups = ()  # type: ignore[misc]
    assert parse_show_vrrp_detailed(json_text(), now=JSON_NOW) == ParsedVrrp(JSON_EXPECTED)


def test_parse_error_quotes_the_offending_line() -> None:
    with pytest.raises(ParseError) as info:
        parse_show_vrrp(table(ROW1.replace("MASTER ", "UNKNOWN")))
    assert info.value.line is not None
    assert "UNKNOWN" in info.value.line
    assert "unknown VRRP state 'UNKNOWN'" in str(info.value)


def test_two_real_captures_pasted_together_are_refused() -> None:
    text = load_fixture("docs_dmvpn_vmac_hub1.txt") + load_fixture("docs_dmvpn_vmac_hub2.txt")
    with pytest.raises(ParseError) as info:
        parse_show_vrrp(text)
    assert info.value.line_no == 7  # the second capture's header, after its prompt on line 6


def test_seed_side_by_side_panes_are_refused() -> None:
    # The seed as pasted: two tmux panes on one line. Must not be read as one router.
    seed = load_fixture("seed_split_vyos01.txt").split("\n")
    other = load_fixture("seed_split_vyos02.txt").split("\n")
    pasted = "\n".join(f"{a}\u2502{b}" for a, b in zip(seed, other, strict=True))
    with pytest.raises(ParseError):
        parse_show_vrrp(pasted)


@pytest.mark.parametrize("seed", range(5))
def test_binary_garbage_is_a_parse_error(seed: int) -> None:
    rng = random.Random(seed)
    data = bytes(rng.randrange(256) for _ in range(4000))
    for text in (data.decode("latin-1"), data.decode("utf-8", "surrogateescape")):
        with pytest.raises(ParseError):
            parse_show_vrrp(text)


def test_ten_megabytes_fail_fast() -> None:
    for text in ("A" * 10_000_000, table(*[ROW1] * 150_000), "\n" * 10_000_000):
        assert len(text) > MAX_OUTPUT_CHARS
        started = time.perf_counter()
        with pytest.raises(ParseError):
            parse_show_vrrp(text)
        assert time.perf_counter() - started < 1.0


def test_large_input_stays_linear() -> None:
    # 20,000 valid groups (about 1.3 MB) parse; the same size of near-misses fails; both quickly.
    rows = [f"{f'G{i}':<7}  {f'eth{i % 8}':<11}  {i % 255 + 1:>6}  MASTER   {150:>10}  1m" for i in range(20_000)]
    text = "\n".join([HEADER, DASHES, *rows]) + "\n"
    assert len(text) < MAX_OUTPUT_CHARS
    started = time.perf_counter()
    groups = parse_show_vrrp(text)
    assert len(groups) == 20_000
    assert time.perf_counter() - started < 5.0
    started = time.perf_counter()
    with pytest.raises(ParseError):
        parse_show_vrrp(text[:-10] + "X\n")
    with pytest.raises(ParseError):
        parse_show_vrrp("vyos@vyos:~$ " + "$" * 4000 + "x\n" + "a@b:" * 300_000)
    with pytest.raises(ParseError):
        parse_show_vrrp("[" * 1_000_000)  # deeper than the recursion limit
    assert time.perf_counter() - started < 5.0


# -- durations ------------------------------------------------------------------------------------


def seconds_to_human_weeks(s: int) -> str:
    """What vyos.util.seconds_to_human printed up to VyOS 1.4 (weeks at most)."""
    out = ""
    for unit, size in (("w", WEEK), ("d", DAY), ("h", HOUR), ("m", MINUTE), ("s", 1)):
        count, s = divmod(s, size)
        if count > 0:
            out += f"{count}{unit}"
    return out


def seconds_to_human_years(s: int) -> str:
    """What vyos.utils.convert.seconds_to_human prints since T6244 (a year is 365.25 days)."""
    years, rest = divmod(s, YEAR)
    return (f"{years}y" if years else "") + seconds_to_human_weeks(rest)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("", 0),
        ("38s", 38),
        ("4h27m1s", secs(h=4, m=27, s=1)),
        ("26m13s", secs(m=26, s=13)),
        ("19h4s", secs(h=19, s=4)),
        ("3d5s", secs(d=3, s=5)),
        ("1w", WEEK),
        ("60w3d7h5m42s", secs(w=60, d=3, h=7, m=5, s=42)),
        ("1y", YEAR),
        ("1y4w6d23h1m9s", YEAR + secs(w=4, d=6, h=23, m=1, s=9)),
        ("52w1d5h59m59s", YEAR - 1),
        ("1y52w1d5h59m59s", 2 * YEAR - 1),
        ("12y", 12 * YEAR),
    ],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        # forms VyOS does not print but that have exactly one meaning (issue 13)
        ("0s", 0),
        ("60s", 60),
        ("100s", 100),
        ("90m", 90 * MINUTE),
        ("1h60m", 2 * HOUR),
        ("24h", DAY),
        ("7d", WEEK),
        ("1h0m5s", HOUR + 5),
        ("1m05s", 65),
        ("1y53w", YEAR + 53 * WEEK),
        ("1y52w1d6h", YEAR + secs(w=52, d=1, h=6)),
        ("1h 5m 3s", secs(h=1, m=5, s=3)),  # seconds_to_human(s, separator=" ")
        ("2w 4d 22h 54m 9s", secs(w=2, d=4, h=22, m=54, s=9)),
    ],
)
def test_parse_duration_accepts_unambiguous_odd_forms(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "1m1m",  # repeated unit: one value, or two run together?
        "1y4w6d23h1m9s9s",
        "5s3m",  # units out of order: likewise
        "1s1m",
        "1d1w",
        "1",  # no unit: seconds or minutes?
        "90",
        "1M",  # month or minute?
        "500ms",
        "1.5s",  # ages are whole seconds
        "-1s",
        "1 m",
        "1h  5m",
        " 1m",
        "1m ",
        "s",
        "1x",
        "n/a",
        "\u0661s",
        "9" * 13 + "s",
        "9" * 5000 + "s",
    ],
)
def test_parse_duration_refuses_what_is_ambiguous_or_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_parse_duration_inverts_both_seconds_to_human_versions() -> None:
    rng = random.Random(1)
    samples = [*range(200), YEAR - 1, YEAR, YEAR + 1, 2 * YEAR - 1, 2 * YEAR, 9 * YEAR + 12345]
    samples += [rng.randrange(10 * YEAR) for _ in range(3000)]
    for seconds in samples:
        assert parse_duration(seconds_to_human_weeks(seconds)) == seconds
        assert parse_duration(seconds_to_human_years(seconds)) == seconds


# -- JSON (vrrp.py show_summary --raw) ------------------------------------------------------------


def json_text() -> str:
    return load_fixture("vyos15_show_summary_raw.json")


def json_data() -> list[dict[str, Any]]:
    data = json.loads(json_text())
    assert isinstance(data, list)
    return data


def test_json_fixture() -> None:
    assert parse_show_vrrp(json_text(), now=JSON_NOW) == JSON_EXPECTED


def test_json_without_now_has_unknown_ages() -> None:
    groups = parse_show_vrrp(json_text())
    assert [group.last_transition_age_seconds for group in groups] == [None, None, None]
    assert [group.name for group in groups] == ["VLAN1", "VLAN100", "VLAN101"]


def test_json_with_prompts_crlf_and_version_2_wrapper() -> None:
    wrapped = json.dumps({"vrrp": json_data()}, indent=4).replace("\n", "\r\n")
    text = f"vyos@vyos:~$ /usr/libexec/vyos/op_mode/vrrp.py show_summary --raw\r\n{wrapped}\r\nvyos@vyos:~$ "
    assert parse_show_vrrp(text, now=JSON_NOW) == JSON_EXPECTED


def test_json_empty_list_and_clock_skew() -> None:
    assert parse_show_vrrp("[]\n") == ()
    (group,) = parse_show_vrrp(json.dumps(json_data()[:1]), now=0.0)
    assert group.last_transition_age_seconds == 0


def test_json_group_never_carries_the_password() -> None:
    for group in parse_show_vrrp(json_text(), now=JSON_NOW):
        assert SECRET not in repr(group)


def mutate(index: int, **changes: object) -> str:
    data = json_data()
    for key, value in changes.items():
        if value is _DELETE:
            del data[index]["data"][key]
        else:
            data[index]["data"][key] = value
    return json.dumps(data, indent=4)


_DELETE = object()
BAD_JSON: list[tuple[str, str]] = [
    ("vrid as string", mutate(1, vrid="100")),
    ("vrid 0", mutate(1, vrid=0)),
    ("vrid true", mutate(1, vrid=True)),
    ("state 7", mutate(1, state=7)),
    ("state as name", mutate(1, state="BACKUP")),
    ("no ifp_ifname", mutate(1, ifp_ifname=_DELETE)),
    ("no iname", mutate(1, iname=_DELETE)),
    ("iname with spaces", mutate(1, iname="VLAN 100")),
    ("priority 300", mutate(1, effective_priority=300)),
    ("priority null", mutate(1, effective_priority=None)),
    ("last_transition text", mutate(1, last_transition="yesterday")),
    ("last_transition negative", mutate(1, last_transition=-5.0)),
    ("duplicate iname", mutate(1, iname="VLAN1")),
    ("object without vrrp key", json.dumps({"data": json_data()}, indent=4)),
    ("instance without data", json.dumps([{"stats": {}}])),
    ("instance not an object", json.dumps([["VLAN1"]])),
    ("truncated inside auth_data", json_text()[: json_text().index(SECRET) + 3]),
    ("truncated after auth_data", json_text()[: json_text().index(SECRET) + 20]),
    ("garbage after the document", json_text() + f'"auth_data": "{SECRET}"\n'),
    ("prompt inside the document", json_text().replace('"vrid": 100,', '"vrid": 100,\nvyos@vyos:~$ ')),
    ("NaN last_transition", json_text().replace("1732860000.5", "NaN")),
    ("Infinity last_transition", json_text().replace("1732860000.5", "Infinity")),
    ("huge integer", json_text().replace('"vrid": 100', '"vrid": ' + "9" * 5000)),
    ("control character on the auth_data line", json_text().replace(SECRET, SECRET + "\x01")),
    ("auth_data line too long", json_text().replace(SECRET, SECRET + "x" * 5000)),
    ("deep nesting", "[" * 100_000 + "]" * 100_000),
]


@pytest.mark.parametrize(("case", "text"), BAD_JSON, ids=[case for case, _ in BAD_JSON])
def test_bad_json_is_a_parse_error_that_never_shows_auth_data(case: str, text: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_show_vrrp(text, now=JSON_NOW)
    error = info.value
    assert error.line is None or '"' not in error.line
    exposed = [str(error), repr(error), repr(error.args), repr(error.line), error.message]
    exposed += [repr(linked) for linked in (error.__cause__, error.__context__) if linked is not None]
    for text_out in exposed:
        assert SECRET not in text_out, case


def test_json_error_names_the_line() -> None:
    text = "vyos@vyos:~$ show\n" + json_text().replace('"vrid": 100,', '"vrid": 100,,')
    with pytest.raises(ParseError) as info:
        parse_show_vrrp(text)
    expected = 1 + next(no for no, line in enumerate(json_text().split("\n"), 1) if '"vrid": 100,' in line)
    assert info.value.line_no == expected
    assert info.value.__context__ is None and info.value.__cause__ is None


def test_json_fragment_without_bracket_does_not_leak() -> None:
    # A capture cut at the top: no '[' first, so it is read as a (broken) table.
    fragment = json_text()[json_text().index('"auth_type": 1') :]
    with pytest.raises(ParseError) as info:
        parse_show_vrrp(fragment)
    assert SECRET not in str(info.value)
    assert info.value.line is None


# -- round trip through the real tabulate ---------------------------------------------------------

HEADERS_12 = ["Name", "Interface", "VRID", "State", "Last Transition"]
HEADERS_13 = ["Name", "Interface", "VRID", "State", "Priority", "Last Transition"]
_NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-."


def _is_number_like(name: str) -> bool:
    # tabulate parses such cells as numbers and rewrites them ("1_0" -> "10", "1.50" -> "1.5"):
    # VyOS shows them altered too, so the round trip keeps to names that survive.
    try:
        float(name)
    except ValueError:
        return False
    return not (name.isdigit() and (name == "0" or not name.startswith("0")))


def _random_interface(rng: random.Random, vrid: int) -> str:
    base = rng.choice(["eth0", "eth1", "eth12", "bond0", "br0", "peth3"])
    if rng.random() < 0.4:
        base += f".{rng.randrange(1, 4095)}"
    if rng.random() < 0.3:
        base += f"v{vrid}"  # VMAC interface of an rfc3768-compatibility group
    return base


def _random_table(rng: random.Random) -> tuple[str, tuple[VrrpGroup, ...]]:
    with_priority = rng.random() < 0.75
    years = with_priority and rng.random() < 0.5
    rows: list[list[object]] = []
    expected: list[VrrpGroup] = []
    names: set[str] = set()
    all_digits = rng.random() < 0.1
    for _ in range(rng.randrange(0, 12)):
        alphabet = "0123456789" if all_digits else _NAME_CHARS
        name = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 24)))
        if name in names or _is_number_like(name) or name.startswith(("-", ".")):
            continue
        names.add(name)
        vrid = rng.randrange(1, 256)
        interface = _random_interface(rng, vrid)
        state = rng.choice(list(VrrpState))
        if state is DISABLED:
            # As VRRP.disabled() / vrrp_get_disabled(): vrid from the config (a string), priority ''
            # and, with a Priority column, no Last Transition cell at all.
            rows.append([name, interface, str(vrid), "DISABLED", ""])
            expected.append(g(name, interface, vrid, DISABLED, None, None))
            continue
        age = rng.choice([0, rng.randrange(60), rng.randrange(DAY), rng.randrange(3 * YEAR)])
        shown = seconds_to_human_years(age) if years else seconds_to_human_weeks(age)
        priority = rng.randrange(0, 256)
        rows.append([name, interface, vrid, state.value, *([priority] if with_priority else []), shown])
        expected.append(g(name, interface, vrid, state, priority if with_priority else None, age))
    text = tabulate(rows, HEADERS_13 if with_priority else HEADERS_12) + "\n"
    return text, tuple(expected)


def test_round_trip_through_tabulate() -> None:
    rng = random.Random(20210817)
    for _ in range(400):
        text, expected = _random_table(rng)
        assert parse_show_vrrp(text) == expected, text


def test_round_trip_keeps_right_aligned_priority_with_disabled_rows() -> None:
    # tabulate >= 0.10 keeps a numeric column right-aligned around '' cells; 0.8.9 (VyOS 1.4/1.5,
    # Debian bookworm) and 0.9.0 type '' as text and left-align it.
    text = tabulate([["A", "eth0", 1, "MASTER", 150, "1s"], ["B", "eth1", "2", "DISABLED", ""]], HEADERS_13)
    assert re.search(r"MASTER\s+150", text)
    assert parse_show_vrrp(text) == (
        g("A", "eth0", 1, MASTER, 150, 1),
        g("B", "eth1", 2, DISABLED, None, None),
    )


# -- fuzzing: only our two exception types, and never the password --------------------------------


def _mutations(text: str, rng: random.Random, count: int) -> list[str]:
    alphabet = ' -\n\r\t\x00"{}[]:,0123456789abcMASTERBACKUP\u2502\udcff'
    out = []
    for _ in range(count):
        chars = list(text)
        for _ in range(rng.randrange(1, 4)):
            position = rng.randrange(len(chars) + 1)
            action = rng.randrange(3)
            if action == 0 and chars:
                del chars[min(position, len(chars) - 1)]
            elif action == 1:
                chars.insert(position, rng.choice(alphabet))
            else:
                del chars[position:]
        out.append("".join(chars))
    return out


def test_mutated_fixtures_raise_only_parse_errors() -> None:
    rng = random.Random(7)
    for name in sorted(EXPECTED):
        for text in _mutations(load_fixture(name), rng, 150):
            with contextlib.suppress(ParseError, VrrpUnavailableError):
                parse_show_vrrp(text)


def test_mutated_json_raises_only_parse_errors_without_the_password() -> None:
    rng = random.Random(8)
    for text in _mutations(json_text(), rng, 1500):
        error = _parse_error_or_none(text)
        if error is not None:
            assert SECRET not in str(error)
            assert SECRET not in repr(error.line)


def _parse_error_or_none(text: str) -> ParseError | None:
    try:
        parse_show_vrrp(text, now=JSON_NOW)
    except ParseError as error:
        return error
    return None


# -- property: what our renderer prints, the parser reads back; a cut table never lies more --------


def _random_groups(rng: random.Random, version: str) -> list[VrrpGroup]:
    groups: list[VrrpGroup] = []
    digits_only = rng.random() < 0.15
    for index in range(rng.randrange(0, 9)):
        name = str(rng.randrange(1, 10_000)) if digits_only else f"{rng.choice(['VLAN', 'G', 'lan_'])}{index}"
        if any(group.name == name for group in groups):
            continue
        vrid = rng.randrange(1, 256)
        base = rng.choice(["eth0", "eth1", "eth0.20", "bond0.300", "br1"])
        interface = vmac_interface(base, vrid, version, ipv6=rng.random() < 0.3) if rng.random() < 0.4 else base
        state = rng.choice(list(VrrpState))
        if state is DISABLED:
            groups.append(g(name, base, vrid, DISABLED, None, None))
            continue
        age = rng.choice([0, rng.randrange(60), rng.randrange(DAY), rng.randrange(4 * YEAR)])
        priority = rng.randrange(0, 256) if version != "1.2" else None
        groups.append(g(name, interface, vrid, state, priority, age))
    return groups


def _as_listed(groups: list[VrrpGroup]) -> tuple[VrrpGroup, ...]:
    # VyOS lists keepalived's groups first, then the DISABLED ones from the configuration.
    return tuple([x for x in groups if x.state is not DISABLED] + [x for x in groups if x.state is DISABLED])


@pytest.mark.parametrize("version", ["1.2", "1.3", "1.4", "1.5"])
def test_rendered_tables_parse_back_identically(version: str) -> None:
    rng = random.Random(f"round-trip {version}")
    for _ in range(300):
        groups = _random_groups(rng, version)
        text = render_show_vrrp(groups, version)
        assert parse_show_vrrp_detailed(text) == ParsedVrrp(_as_listed(groups)), text


@pytest.mark.parametrize("version", ["1.2", "1.4"])
def test_cut_tables_are_refused_or_lose_only_their_tail(version: str) -> None:
    # The undetectable losses (module docstring): whole rows at the end, and a last row cut
    # inside or just before its Last Transition ('26m' of '26m13s', or nothing: read as 0 s).
    rng = random.Random(f"cut {version}")
    for _ in range(40):
        expected = _as_listed(_random_groups(rng, version))
        text = render_show_vrrp(expected, version)
        for end in range(len(text) - 1):
            cut = text[:end]
            try:
                groups = parse_show_vrrp(cut)
            except ParseError:
                continue
            count = len(groups)
            if not count:
                continue  # header and dash line whole, every row lost: reads as zero groups
            assert groups[:-1] == expected[: count - 1], cut
            if not cut.endswith("\n"):
                last, real = groups[-1], expected[count - 1]
                if last != real:  # only its age may be short: '26m' of '26m13s', or 0
                    age, real_age = last.last_transition_age_seconds, real.last_transition_age_seconds
                    assert age is not None and real_age is not None and age < real_age, cut
                    assert last == replace(real, last_transition_age_seconds=age), cut
            else:
                assert groups[-1] == expected[count - 1], cut
