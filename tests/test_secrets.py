"""Secrets never leave the process: not in logs (any level, both formats), metrics, status page or poll."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import structlog
import yaml

from exporter.config import load_config
from exporter.log import configure_logging
from exporter.service import Exporter
from exporter.sim.fleet import SimFleet
from exporter.sim.seed import SEED_CLUSTER, seed_cluster

PASSWORD = "pw-Secret-7f3a9c"
WRONG_PASSWORD = "pw-Wrong-0be41d"
PASSPHRASE = "pp-Secret-91c2e8"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    handlers = logging.getLogger().handlers[:]
    yield
    structlog.reset_defaults()
    logging.getLogger().handlers[:] = handlers


def write_config(fleet: SimFleet, tmp_path: Path) -> tuple[Path, list[str]]:
    key = tmp_path / "encrypted_key"
    key.write_bytes(fleet.client_key.export_private_key("openssh", passphrase=PASSPHRASE))
    key.chmod(0o644)  # deliberately too open: must be warned about
    (tmp_path / "passphrase").write_text(PASSPHRASE + "\n")
    (tmp_path / "passphrase").chmod(0o600)
    config = fleet.config_dict(poll_interval="500ms", timeout="400ms")
    routers = config["clusters"][0]["routers"]
    routers[0]["ssh"] = {"private_key": str(key), "passphrase_file": str(tmp_path / "passphrase")}
    routers[1]["ssh"] = {"password_env": "VRRP_TEST_PASSWORD"}
    # A third router that refuses our wrong password: the error path must not leak either.
    # It is vyos02 again under another name, so its host key is recorded for that name too.
    line = fleet["vyos02"].host_key_line().replace("[127.0.0.1]", "[localhost]")
    with fleet.known_hosts_path.open("a") as handle:
        handle.write(line + "\n")
    routers.append(
        {
            "name": "vyos03",
            "address": "localhost",
            "port": fleet["vyos02"].port,
            "ssh": {"password_env": "VRRP_TEST_WRONG_PASSWORD"},
        }
    )
    del config["ssh"]["private_key"]
    path = tmp_path / "secrets.yml"
    path.write_text(yaml.safe_dump(config))
    key_body = key.read_text().splitlines()[2]  # a line of the encrypted key's base64
    raw_key_body = fleet.private_key_path.read_text().splitlines()[2]
    return path, [PASSWORD, WRONG_PASSWORD, PASSPHRASE, key_body, raw_key_body]


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("fmt", ["logfmt", "json"])
async def test_no_secret_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    monkeypatch.setenv("VRRP_TEST_PASSWORD", PASSWORD)
    monkeypatch.setenv("VRRP_TEST_WRONG_PASSWORD", WRONG_PASSWORD)
    async with SimFleet(tmp_path, seed_cluster(), clusters=[SEED_CLUSTER], password=PASSWORD) as fleet:
        path, secrets = write_config(fleet, tmp_path)
        # The routers' own VRRP configuration (read by the exporter and `lint`) carries a VRRP
        # authentication password: dropped as the text is parsed, so it may appear nowhere.
        for router in fleet:
            router.vrrp_config += (
                "set high-availability vrrp group VLAN1 authentication password 'vrrp-auth-PLANTED-7x'\n"
                "set high-availability vrrp group VLAN1 authentication type 'plaintext-password'\n"
            )
        secrets.append("vrrp-auth-PLANTED-7x")
        logs = io.StringIO()
        configure_logging("debug", fmt, stream=logs)
        exporter = Exporter(load_config(path), path)
        await exporter.start("127.0.0.1:0")
        try:
            for _ in range(3):
                async with asyncio.timeout(10):
                    await exporter.poller.wait_next_round()
            await exporter.reload()
            read = exporter.poller.store.configs("home", ("vyos01", "vyos02"))
            assert all(c.groups["VLAN1"].has_authentication for c in read.values()) and len(read) == 2
            async with aiohttp.ClientSession() as session:
                base = f"http://127.0.0.1:{exporter.port}"
                metrics = await (await session.get(f"{base}/metrics")).text()
                page = await (await session.get(f"{base}/")).text()
        finally:
            await exporter.stop()
        assert 'vrrp_router_up{router="vyos01",vrrp_cluster="home"} 1.0' in metrics  # key + passphrase work
        assert 'vrrp_router_up{router="vyos02",vrrp_cluster="home"} 1.0' in metrics  # password works
        assert 'vrrp_poll_errors_total{reason="auth",router="vyos03",vrrp_cluster="home"}' in metrics
        outputs = {"logs": logs.getvalue(), "metrics": metrics, "status page": page}
        for mode in ("table", "json"):
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "exporter",
                "poll",
                f"--config.file={path}",
                f"--output={mode}",
                "--log.level=debug",
                f"--log.format={fmt}",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=dict(os.environ),
            )
            out, err = await proc.communicate()
            outputs[f"poll {mode} stdout"] = out.decode()
            outputs[f"poll {mode} stderr"] = err.decode()
            proc = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "exporter", "lint", f"--config.file={path}", f"--output={mode}"),
                *("--log.level=debug", f"--log.format={fmt}"),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=dict(os.environ),
            )
            out, err = await proc.communicate()
            outputs[f"lint {mode} stdout"] = out.decode()
            outputs[f"lint {mode} stderr"] = err.decode()
    assert "secret_file_permissions" in outputs["logs"] and "chmod 600" in outputs["logs"]
    assert "is readable by group or others" in outputs["poll table stderr"]
    assert "vyos03" in outputs["poll table stdout"]
    # vyos03's login is refused, so its cluster is not linted; the others' configurations were read.
    assert "configuration of vyos03 could not be read" in outputs["lint table stdout"]
    for where, text in outputs.items():
        for secret in secrets:
            assert secret not in text, f"a secret leaked into {where}"
