"""`vyos-vrrp-exporter lint`: the seed's saved configurations through the installed command line,
the exporter's config with routers over real SSH (simulated routers), and the README's examples."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness import run_cli as run

from exporter.config_risk import RiskFinding, fix_by_router
from exporter.lint import FromFile, plan_from_files
from exporter.sim.fleet import SimFleet
from exporter.sim.seed import SeedPhase, apply_seed_phase

CONFIGS = Path(__file__).parent / "fixtures" / "vyos_config"
ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "Planted-S3cret-pw"  # a test value that must never be printed


def seed(kind: str) -> list[str]:
    """`--from-file` flags for the seed's two routers in one of its configurations."""
    return [f"--from-file=vyos{n}={CONFIGS / f'seed_{kind}_vyos{n}.txt'}" for n in ("01", "02")]


def fleet_config(fleet: SimFleet, path: Path, extra_clusters: list[dict[str, Any]] | None = None) -> Path:
    """The fleet's exporter config with a config command the simulated routers never answer (the
    router-side `show configuration commands` fails: the exit-3 case), plus `extra_clusters`."""
    doc = fleet.config_dict(poll_interval="1s", timeout="800ms")
    doc["ssh"]["config_command"] = "no-such-config-command"
    doc["clusters"] += extra_clusters or []
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


# --- saved configurations (--from-file, no exporter config) -------------------------------------------


async def test_incident_is_split_prone_with_the_sync_group_fix() -> None:
    code, out, err = await run("lint", *seed("incident"))
    assert code == 1, err
    lines = out.splitlines()
    assert lines[0] == "cluster lint"
    assert lines[1].startswith("split_prone: VLAN1, VLAN100, VLAN101 fail over separately")
    assert lines[2:7] == [
        "  groups: VLAN1, VLAN100, VLAN101; routers: vyos01, vyos02",
        "  on vyos01, vyos02:",
        "    set high-availability vrrp sync-group MAIN member VLAN1",
        "    set high-availability vrrp sync-group MAIN member VLAN100",
        "    set high-availability vrrp sync-group MAIN member VLAN101",
    ]
    assert lines[-1] == "lint lint: 1 FINDING(S) (exit 1)"


async def test_fixed_and_preempt_configurations_are_clean() -> None:
    for kind in ("fixed", "preempt"):
        code, out, err = await run("lint", *seed(kind))
        assert code == 0, (kind, out, err)
        assert out == "cluster lint\nno split risk found\nlint lint: OK (exit 0)\n"


async def test_typo_names_the_missing_member() -> None:
    code, out, _ = await run("lint", *seed("typo"))
    assert code == 1
    assert "sync_group_member_missing: sync-group MAIN lists member VLAN10, which is no VRRP group" in out
    assert "    delete high-availability vrrp sync-group MAIN member VLAN10\n" in out
    assert "    set high-availability vrrp sync-group MAIN member VLAN100\n" in out


async def test_json_document() -> None:
    code, out, _ = await run("lint", *seed("typo"), "--output=json")
    assert code == 1
    doc = json.loads(out)
    assert doc["exit_code"] == 1
    [cluster] = doc["clusters"]
    assert {k: cluster[k] for k in ("name", "routers", "exit_code", "unreadable")} == {
        "name": "lint",
        "routers": ["vyos01", "vyos02"],
        "exit_code": 1,
        "unreadable": [],
    }
    assert [f["rule"] for f in cluster["findings"]] == ["split_prone", "sync_group_member_missing"]
    missing = cluster["findings"][1]
    assert set(missing) == {"rule", "routers", "groups", "reason", "fix"}
    assert missing["groups"] == ["VLAN10"] and missing["routers"] == ["vyos01", "vyos02"]
    assert missing["fix"] == [
        "delete high-availability vrrp sync-group MAIN member VLAN10",
        "set high-availability vrrp sync-group MAIN member VLAN100",
    ]
    code, out, _ = await run("lint", *seed("fixed"), "--output=json")
    assert code == 0 and json.loads(out)["clusters"][0]["findings"] == []


async def test_cluster_prefix_makes_separate_implicit_clusters() -> None:
    flags = [f"--from-file=old/{f.removeprefix('--from-file=')}" for f in seed("incident")]
    flags += [f"--from-file=new/{f.removeprefix('--from-file=')}" for f in seed("fixed")]
    code, out, _ = await run("lint", *flags, "--output=json")
    assert code == 1
    doc = json.loads(out)
    assert [(c["name"], c["exit_code"]) for c in doc["clusters"]] == [("old", 1), ("new", 0)]


async def test_global_flags_before_the_subcommand() -> None:
    first, second = seed("incident")
    code, out, _ = await run("--log.level=debug", first, "--output", "json", "lint", second)
    assert code == 1
    assert json.loads(out)["clusters"][0]["findings"][0]["rule"] == "split_prone"
    code, out, _ = await run("--from-file", first.removeprefix("--from-file="), "lint", second)
    assert code == 1 and "split_prone:" in out


# --- bad input: exit 2 --------------------------------------------------------------------------------


async def test_unreadable_or_unparsable_file_exits_2(tmp_path: Path) -> None:
    first, _ = seed("incident")
    absent = tmp_path / "absent.txt"
    code, out, err = await run("lint", first, f"--from-file=vyos02={absent}")
    assert code == 2 and out == ""
    assert f"{absent}: cannot read: No such file or directory" in err
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("Must be an admin user to run this command.\n", encoding="utf-8")
    code, out, err = await run("lint", first, f"--from-file=vyos02={garbage}")
    assert code == 2 and out == ""
    assert f"{garbage}: not `show configuration commands` output: line 1:" in err
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe set high-availability")
    code, _, err = await run("lint", first, f"--from-file=vyos02={binary}")
    assert code == 2 and f"{binary}: cannot read:" in err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--from-file=vyos01"], "expected ROUTER=PATH or CLUSTER/ROUTER=PATH"),
        (["--from-file==a.txt"], "expected ROUTER=PATH or CLUSTER/ROUTER=PATH"),
        (["--from-file=/vyos01=a.txt"], "expected ROUTER=PATH or CLUSTER/ROUTER=PATH"),
        (["--from-file=vyos01=a.txt", "--from-file=vyos01=b.txt"], "router vyos01 is given twice"),
        (["--output=yaml", "--from-file=vyos01=a.txt"], "invalid choice"),
    ],
)
async def test_bad_flags_exit_2(flags: list[str], message: str) -> None:
    code, out, err = await run("lint", *flags)
    assert code == 2 and out == ""
    assert message in err


async def test_from_file_must_name_a_router_of_the_config(fleet: SimFleet, tmp_path: Path) -> None:
    other = {"name": "lab", "routers": [{"name": "vyos01", "address": "192.0.2.1"}]}
    config = f"--config.file={fleet_config(fleet, tmp_path / 'two.yml', [other])}"
    incident = CONFIGS / "seed_incident_vyos01.txt"
    code, _, err = await run("lint", config, f"--from-file=vyos03={incident}")
    assert code == 2 and "no router vyos03 in the configuration" in err
    code, _, err = await run("lint", config, f"--from-file=vyos01={incident}")
    assert code == 2 and "router vyos01 is in clusters home, lab; write CLUSTER/vyos01=PATH" in err
    code, _, err = await run("lint", config, f"--from-file=lab/vyos02={incident}")
    assert code == 2 and "cluster lab has no router vyos02" in err
    code, _, err = await run("lint", config, f"--from-file=nowhere/vyos02={incident}")
    assert code == 2 and "no cluster nowhere in the configuration" in err
    code, _, err = await run("lint", "--config.file=/nonexistent.yml", f"--from-file=vyos01={incident}")
    assert code == 2 and "cannot read config file" in err


# --- passwords ------------------------------------------------------------------------------------------


async def test_a_planted_password_is_never_printed(tmp_path: Path) -> None:
    planted = tmp_path / "vyos01.txt"
    text = (CONFIGS / "seed_incident_vyos01.txt").read_text(encoding="utf-8")
    planted.write_text(
        text
        + "set high-availability vrrp group VLAN1 authentication type 'plaintext-password'\n"
        + f"set high-availability vrrp group VLAN1 authentication password '{PASSWORD}'\n",
        encoding="utf-8",
    )
    _, second = seed("incident")
    for output in ("table", "json"):
        code, out, err = await run("lint", f"--from-file=vyos01={planted}", second, f"--output={output}")
        assert code == 1 and "split_prone" in out
        assert PASSWORD not in out + err
    # A malformed line holding the password is named by its number, never quoted.
    broken = tmp_path / "broken.txt"
    broken.write_text(f"set high-availability vrrp group 'VLAN1 authentication password {PASSWORD}\n", encoding="utf-8")
    code, out, err = await run("lint", f"--from-file=vyos01={broken}", second)
    assert code == 2 and f"{broken}: not `show configuration commands` output: line 1:" in err
    assert PASSWORD not in out + err


# --- over SSH (simulated routers) ------------------------------------------------------------------------


async def test_router_whose_config_cannot_be_read_exits_3(fleet: SimFleet, tmp_path: Path) -> None:
    config = f"--config.file={fleet_config(fleet, tmp_path / 'c.yml')}"
    code, out, err = await run("lint", config)
    assert code == 3, err
    assert "configuration of vyos01 could not be read: config command exited with status 1:" in out
    assert "configuration of vyos02 could not be read:" in out and "Invalid command" in out
    assert out.rstrip().endswith("lint home: NOT READ (exit 3)")
    code, out, _ = await run(
        "lint", config, f"--from-file=vyos01={CONFIGS / 'seed_incident_vyos01.txt'}", "--output=json"
    )
    assert code == 3
    [cluster] = json.loads(out)["clusters"]
    assert cluster["findings"] is None and cluster["exit_code"] == 3
    [unreadable] = cluster["unreadable"]
    assert unreadable["router"] == "vyos02" and "Invalid command" in unreadable["reason"]


async def test_over_ssh_with_the_default_config_command(fleet: SimFleet) -> None:
    """The simulated pair answers the default config pipeline with the seed's configuration: the
    incident's (split_prone), then the sync-group fix (clean)."""
    config = f"--config.file={fleet.directory / 'config.yml'}"
    code, out, err = await run("lint", config)
    assert code == 1, err
    assert out.startswith("cluster home\nsplit_prone: VLAN1, VLAN100, VLAN101 fail over separately")
    assert "    set high-availability vrrp sync-group MAIN member VLAN100\n" in out
    code, out, _ = await run("poll", config)
    assert code == 0  # a risk is a warning in poll
    assert "verdict home: HEALTHY (exit 0)\nconfig risk split_prone: VLAN1, VLAN100, VLAN101" in out
    assert "  fix on vyos01, vyos02: set high-availability vrrp sync-group MAIN member VLAN1\n" in out
    apply_seed_phase(fleet.routers, SeedPhase.SYNC_FAULT)  # the seed's fix 1: sync-group MAIN
    code, out, _ = await run("lint", config, "--output=json")
    assert code == 0
    assert json.loads(out)["clusters"][0]["findings"] == []


async def test_findings_win_over_an_unreadable_router(fleet: SimFleet, tmp_path: Path) -> None:
    lab = {
        "name": "lab",
        "routers": [{"name": "lab01", "address": "192.0.2.1"}, {"name": "lab02", "address": "192.0.2.2"}],
    }
    config = f"--config.file={fleet_config(fleet, tmp_path / 'c.yml', [lab])}"
    files = [f"--from-file=lab{n}={CONFIGS / f'seed_incident_vyos{n}.txt'}" for n in ("01", "02")]
    code, out, _ = await run("lint", config, *files)
    assert code == 1
    assert "lint home: NOT READ (exit 3)" in out and "lint lab: 1 FINDING(S) (exit 1)" in out


# --- rendering helpers -----------------------------------------------------------------------------------


def test_fix_by_router_groups_commands_per_router() -> None:
    finding = RiskFinding(
        "peer_mismatch",
        ("r1", "r1-b"),
        ("VLAN1",),
        "differs",
        ("set a", "r1-b: set b", "r1: set c", "set d"),
    )
    assert fix_by_router(finding) == [
        (("r1",), ("set a", "set c", "set d")),
        (("r1-b",), ("set a", "set b", "set d")),
    ]
    same = RiskFinding("split_prone", ("r1", "r2"), ("VLAN1",), "x", ("set a", "set b"))
    assert fix_by_router(same) == [(("r1", "r2"), ("set a", "set b"))]


def test_from_file_parsing() -> None:
    assert FromFile.parse("vyos01=a=b.txt") == FromFile(None, "vyos01", Path("a=b.txt"))
    assert FromFile.parse("dc/1/vyos01=a.txt") == FromFile("dc/1", "vyos01", Path("a.txt"))
    [target] = plan_from_files([FromFile.parse("b=x"), FromFile.parse("a=y")])
    assert target.spec.routers == ("b", "a") and target.spec.name == "lint"


# --- the README's examples -------------------------------------------------------------------------------

README_SECTION = re.compile(r"^### Split-risk lint\n(.*?)^##", re.MULTILINE | re.DOTALL)


def _readme_lint() -> str:
    match = README_SECTION.search((ROOT / "README.md").read_text(encoding="utf-8"))
    assert match, "README has no 'Split-risk lint' section"
    return match.group(1)


async def _run_in(cwd: Path, command: str) -> tuple[int, str, str]:
    """A README command line as a user types it in `cwd` (`vyos-vrrp-exporter` is the module of
    this checkout, whatever the venv's editable install points at)."""
    args = command.split("#")[0].split()
    assert args[0] == "vyos-vrrp-exporter"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "exporter", *args[1:], cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


# The README's commands, run in a directory where vyos01.txt / vyos02.txt are the seed's first fix as
# typed (the typo) and *-new.txt its corrected fix, /etc/.../config.yml the simulated pair (in the
# incident's configuration): each command's expected exit code.
README_COMMANDS = {
    "vyos-vrrp-exporter lint --config.file=/etc/vyos-vrrp-exporter/config.yml": 1,
    "vyos-vrrp-exporter lint --from-file vyos01=vyos01.txt --from-file vyos02=vyos02.txt": 1,
    "vyos-vrrp-exporter lint --config.file=/etc/vyos-vrrp-exporter/config.yml"
    " --from-file vyos01=vyos01-new.txt --from-file vyos02=vyos02-new.txt": 0,
    "vyos-vrrp-exporter lint --from-file vyos01=vyos01-new.txt --from-file vyos02=vyos02-new.txt --output=json": 0,
}


async def test_readme_examples_run(fleet: SimFleet, tmp_path: Path) -> None:
    """Every `vyos-vrrp-exporter` line of the README's lint section runs here with its exit code,
    and the sample output shown there is what the first from-file example prints."""
    section = _readme_lint()
    commands = [line.split("#")[0].strip() for line in section.splitlines() if line.startswith("vyos-vrrp-exporter ")]
    assert sorted(commands) == sorted(README_COMMANDS)
    for name in ("vyos01", "vyos02"):
        shutil.copy(CONFIGS / f"seed_typo_{name}.txt", tmp_path / f"{name}.txt")
        shutil.copy(CONFIGS / f"seed_fixed_{name}.txt", tmp_path / f"{name}-new.txt")
    config = fleet.write_config(tmp_path / "config.yml", poll_interval="1s", timeout="800ms")
    outputs = {}
    for command, expected in README_COMMANDS.items():
        code, out, err = await _run_in(tmp_path, command.replace("/etc/vyos-vrrp-exporter/config.yml", str(config)))
        assert code == expected, (command, out, err)
        outputs[command] = out
    assert json.loads(outputs[commands[-1]])["exit_code"] == 0
    sample = re.search(r"^```\n(cluster lint\n.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert sample, "README lint section has no sample output"
    assert outputs[commands[1]] == sample.group(1)


async def test_poll_says_the_config_was_not_read_and_keeps_its_exit_code(fleet: SimFleet, tmp_path: Path) -> None:
    config = f"--config.file={fleet_config(fleet, tmp_path / 'c.yml')}"
    code, out, _ = await run("poll", config)
    assert code == 0
    lines = out.rstrip().splitlines()
    assert lines[-2] == "verdict home: HEALTHY (exit 0)"
    assert lines[-1].startswith("config: not read (vyos01: config command exited with status 1:")
    assert "; vyos02: config command exited" in lines[-1]
    code, out, _ = await run("poll", config, "--output=json")
    assert code == 0
    [cluster] = json.loads(out)["clusters"]
    assert cluster["config_risks"] is None
    assert [u["router"] for u in cluster["config_unread"]] == ["vyos01", "vyos02"]


async def test_readme_poll_sample_is_what_poll_prints_on_the_seed_split(fleet: SimFleet) -> None:
    """The README's `poll` sample, config risk lines included, is the simulated pair in the split."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    sample = re.search(r"^```\n(cluster home\nGroup .*?)^```", text, re.MULTILINE | re.DOTALL)
    assert sample, "README has no poll sample"
    apply_seed_phase(fleet.routers, SeedPhase.SPLIT)
    code, out, _ = await run("poll", f"--config.file={fleet.directory / 'config.yml'}")
    assert code == 1
    assert out == sample.group(1)
