"""Hostile and careless config files (issue 15): each is refused fast, with a message that names the
place, through the real `--config.check` entry point: exit 2, never a traceback."""

from __future__ import annotations

import contextlib
import io
import os
import time
from pathlib import Path

import pytest

from exporter import cli
from exporter.config import parse_config, parse_duration
from exporter.errors import ConfigError
from exporter.targets import Runtime

ROUTERS = "clusters:\n  - name: home\n    routers:\n      - {name: vyos01, address: 192.0.2.1}\n"


def check(path: Path | str) -> tuple[int, str, str]:
    """`vyos-vrrp-exporter --config.check --config.file=PATH`, in-process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["--config.check", f"--config.file={path}", "--log.level=error"])
    return code, out.getvalue(), err.getvalue()


def refused(path: Path | str, expected: str, within: float = 1.0) -> str:
    started = time.perf_counter()
    code, out, err = check(path)
    elapsed = time.perf_counter() - started
    assert code == 2, (out, err)
    assert "Traceback" not in err and "internal error" not in err, err
    assert expected in err, err
    assert elapsed < within, f"took {elapsed:.2f}s"
    return err


def write(tmp_path: Path, text: str, name: str = "c.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- explicit hostile files -----------------------------------------------------------------------


def test_400_digit_duration(tmp_path: Path) -> None:
    err = refused(write(tmp_path, f"poll_interval: {'9' * 400}s\n{ROUTERS}"), "poll_interval: invalid duration")
    assert len(err) < 1000  # the value is cut short in the message


def test_durations_are_bounded() -> None:
    with pytest.raises(ValueError, match="longer than a year"):
        parse_duration("9999999999999999y")
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration("1" * 400 + "s")


def test_5000_digit_integer(tmp_path: Path) -> None:
    text = ROUTERS.replace("192.0.2.1}", f"192.0.2.1, port: {'7' * 5000}}}")
    refused(write(tmp_path, text), "c.yml:4:50: refused: number '777")
    refused(write(tmp_path, text), "has more than 32 characters")


def test_1000_deep_nesting(tmp_path: Path) -> None:
    # libyaml stops a flow nesting itself at 1,000 ("exceeded maximum nesting depth"); ours is 32.
    refused(write(tmp_path, "ssh: " + "[" * 1000 + "]" * 1000 + "\n" + ROUTERS), "nesting")
    refused(write(tmp_path, "ssh: " + "[" * 100 + "]" * 100 + "\n" + ROUTERS), "nesting deeper than 32 levels")
    deep_block = "".join("  " * i + f"k{i}:\n" for i in range(1000)) + "  " * 1000 + "v\n"
    refused(write(tmp_path, deep_block), "nesting deeper than 32 levels")


def test_long_key_and_long_key_path(tmp_path: Path) -> None:
    refused(write(tmp_path, f"{'k' * 1000}: 1\n{ROUTERS}"), "c.yml:1:1: refused: key longer than 256 characters")
    # Past 1,024 characters PyYAML itself no longer reads a plain key as a key.
    refused(write(tmp_path, f"{'k' * 100_000}: 1\n{ROUTERS}"), "not valid YAML")
    path = "".join(f"{'k' * 200}{i}:\n" + "  " * (i + 1) for i in range(30))
    err = refused(write(tmp_path, ROUTERS + "ssh:\n  " + path + "v\n"), "ssh.")
    assert all(len(line) <= 500 for line in err.splitlines())


def test_alias_bomb_refused_fast(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    text = "\n".join(lines) + "\n" + ROUTERS  # ~700 bytes expanding to 10**10 strings
    refused(write(tmp_path, text), "once aliases are expanded", within=0.5)
    refused(write(tmp_path, "ssh: &s {known_hosts: *s}\n" + ROUTERS), "recursive")


def test_anchors_for_shared_ssh_blocks_are_fine() -> None:
    config = parse_config(
        """
clusters:
  - {name: a, ssh: &lab {username: lab, keepalive_interval: 10s}, routers: [{name: r1, address: 192.0.2.1}]}
  - {name: b, ssh: {<<: *lab, username: other}, routers: [{name: r1, address: 192.0.2.2}]}
"""
    )
    a, b = Runtime.of(config).all_targets()
    assert (a.username, a.keepalive_interval, b.username, b.keepalive_interval) == ("lab", 10.0, "other", 10.0)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs mkfifo")
def test_fifo_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "c.yml"
    os.mkfifo(fifo)
    refused(fifo, "named pipe (FIFO), not a regular file")


def test_dev_zero_and_directory(tmp_path: Path) -> None:
    refused("/dev/zero", "character device, not a regular file")
    refused(tmp_path, "directory, not a regular file")


def test_too_many_values(tmp_path: Path) -> None:
    refused(write(tmp_path, "ssh: [" + "1," * 200_000 + "1]\n" + ROUTERS), "refused: more than 100000 values", within=2)


def test_file_size_limit(tmp_path: Path) -> None:
    big = write(tmp_path, ROUTERS + "#" * (1024 * 1024) + "\n")
    refused(big, "larger than 1024 KiB")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_bytes(b"clusters: \xff\xfe\n")
    refused(path, "not UTF-8 text")


def test_duplicate_keys_name_key_and_line(tmp_path: Path) -> None:
    text = "poll_interval: 5s\nclusters: []\n" + ROUTERS
    refused(write(tmp_path, text), "c.yml:3:1: not valid YAML: duplicate key 'clusters' (first at line 2)")
    nested = ROUTERS.replace("address: 192.0.2.1}", "address: 192.0.2.1, address: 192.0.2.9}")
    refused(write(tmp_path, nested), "duplicate key 'address'")


def test_yaml_syntax_error_names_file_line_column(tmp_path: Path) -> None:
    path = write(tmp_path, ROUTERS + "  - name: [unclosed\n")
    err = refused(path, f"{path}:6:1: not valid YAML: ")
    assert "flow sequence" in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            ROUTERS.replace("192.0.2.1}", "192.0.2.1, port: true}"),
            "routers[0].port: Input should be a valid integer, got true",
        ),
        (
            ROUTERS.replace("192.0.2.1}", "192.0.2.1, port: '22'}"),
            "routers[0].port: Input should be a valid integer, got '22'",
        ),
        (ROUTERS.replace("192.0.2.1}", "192.0.2.1, port: 22.0}"), "routers[0].port: Input should be a valid integer"),
        ("max_concurrent_polls: yes\n" + ROUTERS, "max_concurrent_polls: Input should be a valid integer, got true"),
        (
            "ssh: {insecure_ignore_host_key: 'true'}\n" + ROUTERS,
            "insecure_ignore_host_key: Input should be a valid boolean",
        ),
        ("poll_interval: 5\n" + ROUTERS, "poll_interval: expected a duration with a unit"),
        ("ssh: {keepalive_interval: true}\n" + ROUTERS, "keepalive_interval: expected a duration with a unit"),
        ("ssh: {watch_pattern: '(unclosed'}\n" + ROUTERS, "ssh.watch_pattern: not a valid regular expression"),
        ("ssh: {config_command: ''}\n" + ROUTERS, "ssh.config_command: String should have at least 1 character"),
        ("config_interval: -1s\n" + ROUTERS, "config_interval: invalid duration"),
        (
            "config_interval: 5\n" + ROUTERS,
            "config_interval: expected a duration with a unit such as 500ms, 5s or 1m, got 5 (or 0 to turn it off)",
        ),
    ],
)
def test_booleans_and_strings_are_not_numbers(tmp_path: Path, text: str, expected: str) -> None:
    refused(write(tmp_path, text), expected)


# --- the rules themselves ---------------------------------------------------------------------------


def test_readme_keepalive_interval_is_merged_not_revalidated() -> None:
    config = parse_config("ssh: {keepalive_interval: 15s}\n" + ROUTERS.replace("}", ", ssh: {username: u}}"))
    (target,) = Runtime.of(config).all_targets()
    assert (target.keepalive_interval, target.username) == (15.0, "u")


@pytest.mark.parametrize("off", ["0", "'0'", "0s", "0m"])
def test_config_interval_zero_turns_reading_off(off: str) -> None:
    config = parse_config(f"config_interval: {off}\n" + ROUTERS)
    assert config.config_interval == 0.0 and config.config_read_interval is None


def test_config_interval_and_config_command() -> None:
    config = parse_config(
        "config_interval: 1h\nssh: {config_command: show configuration commands}\n"
        "clusters:\n  - name: c\n    ssh: {config_command: cluster-cmd}\n    routers:\n"
        "      - {name: r1, address: 192.0.2.1}\n"
        "      - {name: r2, address: 192.0.2.2, ssh: {config_command: router-cmd}}\n"
        "  - name: d\n    routers: [{name: r3, address: 192.0.2.3}]\n"
    )
    assert config.config_read_interval == 3600.0
    commands = [t.config_command for t in Runtime.of(config).all_targets()]
    assert commands == ["cluster-cmd", "router-cmd", "show configuration commands"]


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return info.value.problems


@pytest.mark.parametrize(
    ("global_ssh", "cluster_ssh", "router_ssh", "expected"),
    [
        (
            "{known_hosts: /k, insecure_ignore_host_key: true}",
            "{}",
            "{}",
            "ssh: known_hosts and insecure_ignore_host_key exclude each other",
        ),
        (
            "{known_hosts: /k}",
            "{}",
            "{insecure_ignore_host_key: true}",
            "clusters[0].routers[0].ssh: insecure_ignore_host_key here and known_hosts (set in ssh) exclude each other",
        ),
        (
            "{insecure_ignore_host_key: true}",
            "{known_hosts: /k}",
            "{}",
            "clusters[0].ssh: known_hosts here and insecure_ignore_host_key (set in ssh) exclude each other",
        ),
        (
            "{}",
            "{insecure_ignore_host_key: true}",
            "{known_hosts: /k}",
            "clusters[0].routers[0].ssh: known_hosts here and insecure_ignore_host_key (set in clusters[0].ssh)",
        ),
        (
            "{}",
            "{}",
            "{known_hosts: /k, insecure_ignore_host_key: true}",
            "clusters[0].routers[0].ssh: known_hosts and insecure_ignore_host_key exclude each other",
        ),
    ],
)
def test_known_hosts_with_insecure_refused_wherever_set(
    global_ssh: str, cluster_ssh: str, router_ssh: str, expected: str
) -> None:
    text = (
        f"ssh: {global_ssh}\nclusters:\n  - name: c\n    ssh: {cluster_ssh}\n    routers:\n"
        f"      - {{name: r1, address: 192.0.2.1, ssh: {router_ssh}}}\n"
        "      - {name: r2, address: 192.0.2.2}\n"
    )
    problems = _problems(text)
    assert any(p.startswith(expected) for p in problems), problems
    assert len(problems) == 1, problems  # said once, not once per router


def test_insecure_false_below_undoes_insecure_above() -> None:
    parse_config(
        "ssh: {insecure_ignore_host_key: true}\nclusters:\n  - name: c\n    routers:\n"
        "      - {name: r1, address: 192.0.2.1, ssh: {known_hosts: /k, insecure_ignore_host_key: false}}\n"
    )


def test_schema_and_cross_field_problems_in_one_run(tmp_path: Path) -> None:
    text = (
        "poll_interval: fast\nclusters:\n  - name: c\n    preferred_master: nobody\n    routers:\n"
        "      - {name: r1, address: 192.0.2.1, port: true}\n      - {name: r1, address: 192.0.2.2}\n"
    )
    err = refused(write(tmp_path, text), "4 problem(s)")
    for expected in (
        "poll_interval: invalid duration 'fast'",
        "clusters[0].routers[0].port: Input should be a valid integer, got true",
        "clusters[0].routers: duplicate router name 'r1'",
        "clusters[0].preferred_master: 'nobody' is not a router of this cluster",
    ):
        assert expected in err


def test_problem_list_is_bounded(tmp_path: Path) -> None:
    routers = "".join(f"      - {{name: r{i}}}\n" for i in range(500))
    err = refused(write(tmp_path, "clusters:\n  - name: c\n    routers:\n" + routers), "... and 400 more problem(s)")
    assert "invalid configuration (500 problem(s)):" in err
    assert err.count("field required") == 100


def test_check_prints_permission_warnings(tmp_path: Path) -> None:
    key, known_hosts = tmp_path / "id", tmp_path / "kh"
    key.write_text("k")
    known_hosts.write_text("")
    key.chmod(0o644)
    path = write(tmp_path, f"ssh: {{private_key: {key}, known_hosts: {known_hosts}}}\n" + ROUTERS)
    code, out, err = check(path)
    assert code == 0, err
    assert "OK (1 cluster(s), 1 router(s))" in out
    assert f"warning: clusters[0].routers[0].ssh.private_key: {key} is readable by group or others (mode 0644)" in err
    key.chmod(0o600)
    assert check(path)[2] == ""
