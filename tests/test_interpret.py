"""interpret(): a command result (stdout, stderr, exit status) to groups, or the reason it is none."""

from __future__ import annotations

import pytest
from fixtures_util import load_fixture

from exporter.errors import PollErrorReason, TransportError, VrrpUnavailableError
from exporter.model import CommandResult
from exporter.parse import interpret

TABLE = load_fixture("seed_split_vyos01.txt")


def test_a_table_with_exit_status_0_is_read() -> None:
    parsed = interpret(CommandResult(TABLE, "", 0), now=0.0)
    assert [g.name for g in parsed.groups] == ["VLAN1", "VLAN100", "VLAN101"]
    assert parsed.message is None and not parsed.doubtful


def test_a_table_with_a_failing_exit_status_is_not_believed() -> None:
    with pytest.raises(TransportError) as info:
        interpret(CommandResult(TABLE, "", 1), now=0.0)
    assert info.value.reason is PollErrorReason.COMMAND
    assert "exited with status 1 despite printing a table" in info.value.message


@pytest.mark.parametrize(
    ("stdout", "status", "doubtful"),
    [
        ("VRRP is not running\n", 0, True),  # 1.2-1.4, keepalived stopped (or a lost dump race)
        ("VRRP data is not available (process not running or no active groups)\n", 1, True),  # 1.5
        ("VRRP not configured!\n", 0, False),  # no VRRP configured: believed at once
    ],
)
def test_no_vrrp_messages_are_zero_groups_whatever_the_exit_status(stdout: str, status: int, doubtful: bool) -> None:
    parsed = interpret(CommandResult(stdout, "", status), now=0.0)
    assert parsed.groups == () and parsed.message == stdout.strip()
    assert parsed.doubtful is doubtful


def test_wait_time_exceeded_is_a_transient_unavailable_answer() -> None:
    with pytest.raises(VrrpUnavailableError):
        interpret(CommandResult("VRRP data is not available (wait time exceeded)\n", "", 1), now=0.0)


def test_a_failing_command_names_its_first_error_line() -> None:
    with pytest.raises(TransportError) as info:
        interpret(CommandResult("", "sudo: a password is required\nmore\n", 1), now=0.0)
    assert info.value.reason is PollErrorReason.COMMAND
    assert info.value.message == "command exited with status 1: sudo: a password is required"


def test_a_table_on_stderr_alone_is_read() -> None:
    parsed = interpret(CommandResult("", TABLE, 0), now=0.0)
    assert len(parsed.groups) == 3
