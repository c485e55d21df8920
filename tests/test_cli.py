"""The installed command line, run as a user would (subprocesses), against simulated routers."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from harness import run_cli as run

from exporter.cli import main, parsers, split_command
from exporter.sim.fleet import SimFleet
from exporter.sim.seed import SeedPhase, apply_seed_phase

FIXTURES = Path(__file__).parent / "fixtures" / "config"
CLI = [sys.executable, "-m", "exporter"]


async def test_config_check_good(fleet: SimFleet) -> None:
    code, out, _ = await run("--config.check", f"--config.file={fleet.directory / 'config.yml'}")
    assert code == 0
    assert "OK (1 cluster(s), 2 router(s))" in out


async def test_config_check_bad() -> None:
    code, _, err = await run("--config.check", f"--config.file={FIXTURES / 'bad-missing-address.yml'}")
    assert code == 2
    assert "clusters[0].routers[1].address: field required" in err
    code, _, err = await run("--config.check", f"--config.file={FIXTURES / 'bad-many.yml'}")
    assert code == 2
    assert "6 problem(s)" in err and "colour: unknown key" in err and "ssh.usernme: unknown key" in err


async def test_config_check_missing_files(tmp_path: Path) -> None:
    code, _, err = await run("--config.check", f"--config.file={FIXTURES / 'good.yml'}")
    assert code == 2
    assert "clusters[0].routers[0].ssh.private_key: file not found" in err
    code, _, err = await run("--config.check", f"--config.file={tmp_path / 'absent.yml'}")
    assert code == 2 and "cannot read config file" in err


async def test_bad_flag_exits_2() -> None:
    code, _, err = await run("--log.level=loud")
    assert code == 2 and "invalid choice" in err


@pytest.mark.parametrize(
    ("phase", "exit_code", "verdict"),
    [(SeedPhase.HEALTHY, 0, "healthy"), (SeedPhase.SPLIT, 1, "split"), (SeedPhase.SYNC_FAULT, 1, "no_master")],
)
async def test_poll_exit_codes_and_json(fleet: SimFleet, phase: SeedPhase, exit_code: int, verdict: str) -> None:
    apply_seed_phase(fleet.routers, phase)
    config = f"--config.file={fleet.directory / 'config.yml'}"
    code, out, _ = await run("poll", config, "--output=json")
    assert code == exit_code
    doc = json.loads(out)
    assert doc["exit_code"] == exit_code
    [cluster] = doc["clusters"]
    assert cluster["verdict"] == verdict
    assert [r["up"] for r in cluster["routers"]] == [True, True]
    code, out, _ = await run("poll", config)
    assert code == exit_code
    assert f"verdict home: {verdict.upper()} (exit {exit_code})" in out


async def test_poll_seed_table(fleet: SimFleet) -> None:
    apply_seed_phase(fleet.routers, SeedPhase.SPLIT)
    code, out, _ = await run("poll", f"--config.file={fleet.directory / 'config.yml'}")
    assert code == 1
    assert "VLAN100  eth1        100  BACKUP 150  MASTER 100" in out
    assert "set all: SPLIT across 2 routers: vyos01 is MASTER of VLAN1; vyos02 is MASTER of VLAN100, VLAN101" in out


async def test_poll_router_unreachable_exits_3(fleet: SimFleet) -> None:
    await fleet["vyos02"].stop()
    code, out, _ = await run("poll", f"--config.file={fleet.directory / 'config.yml'}", "--output=json")
    assert code == 3
    doc = json.loads(out)
    vyos02 = doc["clusters"][0]["routers"][1]
    assert vyos02["up"] is False and vyos02["error"]["reason"] == "connect"


async def test_poll_bad_config_exits_2() -> None:
    code, _, err = await run("poll", f"--config.file={FIXTURES / 'bad-missing-address.yml'}")
    assert code == 2 and "field required" in err


async def test_demo_once() -> None:
    code, out, err = await run("demo", "--once", "--web.listen-address=127.0.0.1:0", limit=120)
    assert code == 0, err
    lines = out.splitlines()
    split_line = next(i for i, line in enumerate(lines) if "] split" in line)
    assert "verdict SPLIT" in lines[split_line + 1] and 'vrrp_master_split{set="all"}=1' in lines[split_line + 1]
    assert "verdict NO_MASTER" in out
    assert out.count("verdict HEALTHY") == 3  # healthy, preempt-fix, and the dump-file race
    assert "[race]" in out and "reader(s) lost the race" in out
    assert "every phase gave the expected verdict" in out


async def _metric(session: aiohttp.ClientSession, port: int, needle: str) -> bool:
    async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
        return needle in await response.text()


async def _wait_metric(session: aiohttp.ClientSession, port: int, needle: str) -> None:
    async with asyncio.timeout(20):
        while True:
            try:
                if await _metric(session, port, needle):
                    return
            except aiohttp.ClientConnectionError:
                pass  # the server is still starting
            await asyncio.sleep(0.1)


async def test_serve_sighup_reload_and_sigterm(fleet: SimFleet, unused_tcp_port: int) -> None:
    path = fleet.directory / "config.yml"
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        f"--config.file={path}",
        f"--web.listen-address=127.0.0.1:{unused_tcp_port}",
        "--log.format=json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        async with aiohttp.ClientSession() as session:
            await _wait_metric(session, unused_tcp_port, 'vrrp_router_up{router="vyos02",vrrp_cluster="home"} 1.0')
            # Good reload: rename the cluster.
            path.write_text(path.read_text().replace("name: home", "name: lab"))
            proc.send_signal(signal.SIGHUP)
            await _wait_metric(session, unused_tcp_port, 'vrrp_router_up{router="vyos02",vrrp_cluster="lab"} 1.0')
            assert not await _metric(session, unused_tcp_port, 'vrrp_cluster="home"')
            # Bad reload: the old config keeps running and the failure is visible.
            path.write_text("clusters: [{name: x}]\n")
            proc.send_signal(signal.SIGHUP)
            await _wait_metric(session, unused_tcp_port, "vrrp_exporter_config_last_reload_successful 0.0")
            assert await _metric(session, unused_tcp_port, 'vrrp_router_up{router="vyos02",vrrp_cluster="lab"} 1.0')
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            _, err = await proc.communicate()
        assert proc.returncode == 0
        events = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
        names = [e["msg"] for e in events]
        assert "config_reloaded" in names and "config_reload_failed" in names and "exporter_stopped" in names
        failed = next(e for e in events if e["msg"] == "config_reload_failed")
        assert "clusters[0].routers: field required" in failed["problems"]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_bad_web_config_exits_2(fleet: SimFleet, tmp_path: Path) -> None:
    (tmp_path / "web.yml").write_text("basic_auth_users:\n  prometheus: not-a-hash\n")
    code, _, err = await run(
        f"--config.file={fleet.directory / 'config.yml'}",
        f"--web.config.file={tmp_path / 'web.yml'}",
        "--web.listen-address=127.0.0.1:0",
    )
    assert code == 2
    assert "basic_auth_users.prometheus: not a bcrypt hash" in err


async def test_poll_shards_split_the_clusters(tmp_path: Path) -> None:
    from exporter.sim.cli import bench_specs

    specs, clusters = bench_specs(8, 2, 2, "1.4")
    async with SimFleet(tmp_path, specs, clusters=clusters) as fleet:
        path = fleet.write_config(poll_interval="2s", timeout="1s")
        seen: list[str] = []
        for shard in ("1/2", "2/2"):
            code, out, _ = await run("poll", f"--config.file={path}", "--output=json", f"--shard={shard}")
            assert code == 0
            seen += [c["name"] for c in json.loads(out)["clusters"]]
        assert sorted(seen) == sorted(c.name for c in clusters)
    code, _, err = await run("poll", f"--config.file={path}", "--shard=3/2")
    assert code == 2 and "invalid shard" in err


@pytest.mark.parametrize(
    ("argv", "command", "rest"),
    [
        (["poll", "--config.file=x"], "poll", ["--config.file=x"]),
        (["--config.file=x", "poll"], "poll", ["--config.file=x"]),
        (["--config.file", "x", "poll", "--output=json"], "poll", ["--config.file", "x", "--output=json"]),
        (["--config.file", "poll", "poll"], "poll", ["--config.file", "poll"]),  # a file named poll
        (["--config.file", "poll"], None, ["--config.file", "poll"]),  # serve that file
        (
            ["--log.level", "debug", "--log.format=json", "demo", "--once"],
            "demo",
            ["--log.level", "debug", "--log.format=json", "--once"],
        ),
        (["--once", "demo"], "demo", ["--once"]),
        (["stray", "poll"], None, ["stray", "poll"]),  # serve's parser reports the stray argument
        (["--", "poll"], None, ["--", "poll"]),
        ([], None, []),
        (["--config.check", "--config.file=x"], None, ["--config.check", "--config.file=x"]),
    ],
)
def test_split_command(argv: list[str], command: str | None, rest: list[str]) -> None:
    assert split_command(argv) == (command, rest)


@pytest.mark.parametrize(
    "argv",
    [
        ["--web.listen-address=:1", "poll"],  # serve's flag given to poll
        ["--config.check", "poll"],
        ["--config.f=x"],  # no abbreviations
        ["--log.level=warning"],  # the level is spelled warn
        ["poll", "--output=yaml"],
        ["--once"],  # demo's flag without demo
        ["stray", "poll"],
    ],
)
def test_bad_flags_exit_2_wherever_they_are(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_every_flag_has_help() -> None:
    for name, parser in parsers().items():
        assert parser.description, name
        for action in parser._actions:
            assert action.help and action.help != argparse.SUPPRESS, (name, action.option_strings)
            if action.dest == "log_level":  # the help states this parser's own default
                assert f"(default {action.default})" in action.help, name


async def test_global_flags_before_the_subcommand(fleet: SimFleet) -> None:
    config = f"--config.file={fleet.directory / 'config.yml'}"
    code, out, err = await run(config, "--log.level=debug", "--log.format=json", "poll", "--output=json")
    assert code == 0, err
    assert json.loads(out)["clusters"][0]["verdict"] == "healthy"
    logged = [json.loads(line) for line in err.splitlines()]
    assert logged and {e["level"] for e in logged} >= {"debug"} and all("ts" in e for e in logged)
    code, out, _ = await run("--config.file", str(fleet.directory / "config.yml"), "poll")
    assert code == 0 and "verdict home: HEALTHY (exit 0)" in out
    code, _, err = await run("--config.file=/nonexistent.yml", "poll")
    assert code == 2 and "cannot read config file" in err
