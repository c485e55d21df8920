"""The status page: rendering of each finding, then the real page in headless Chromium.

The Chromium test loads `/` from an exporter polling the simulated routers in the seed's split, checks
that the split is what the page shows, and saves a screenshot (under the test's tmp dir, and in
$TEST_OUTPUT when that is set).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from fullstack.binaries import require_binary
from seed import B, D, M, situation, snapshot, table

from exporter.config import load_config
from exporter.config_risk import RiskFinding
from exporter.errors import PollErrorReason
from exporter.join import build_view
from exporter.model import ClusterSpec, PollFailure, RouterSnapshot, SyncSetSpec, VrrpGroup
from exporter.service import Exporter
from exporter.sim.fleet import SimFleet
from exporter.sim.seed import SEED_CLUSTER, SeedPhase, seed_cluster
from exporter.views import view_at
from exporter.vyos_config import parse_vyos_config
from exporter.web.statuspage import render_status_page

NOW = 1_000_000.0
SEED = ClusterSpec("home", ("vyos01", "vyos02"), preferred_master="vyos01")
MAX_AGE = 15.0


def page(snapshots: dict[str, RouterSnapshot], spec: ClusterSpec = SEED, now: float = NOW, **kw: int) -> str:
    return render_status_page([view_at(spec, snapshots, now, MAX_AGE)], "/metrics", now=now, **kw)


def rows_with(html: str, css: str) -> list[str]:
    """data-group of every matrix row carrying the class `css`."""
    return re.findall(rf'<tr class="[^"]*\b{css}\b[^"]*" data-group="([^"]+)"', html)


# --- rendering ------------------------------------------------------------------------------------------


def test_seed_split_is_shown_with_its_masters() -> None:
    html = page(situation("split"))
    assert 'data-cluster="home" data-verdict="split"' in html
    assert '<tr data-set="all" data-split="true">' in html
    assert "SPLIT across 2 routers" in html
    assert "vyos01 is MASTER of VLAN1; vyos02 is MASTER of VLAN100, VLAN101" in html
    assert rows_with(html, "split") == ["VLAN1", "VLAN100", "VLAN101"]
    assert rows_with(html, "nomaster") == []
    # The matrix is the two `show vrrp` tables side by side: state and priority per router.
    assert re.search(r'data-group="VLAN100".*?data-router="vyos01" data-state="BACKUP">BACKUP 150', html)
    assert re.search(r'data-group="VLAN100".*?data-router="vyos02" data-state="MASTER">MASTER 100', html)
    assert "warning: group VLAN100 is not on its preferred master vyos01" in html
    assert "<script" not in html.lower()


def test_healthy_cluster() -> None:
    html = page(situation("healthy"))
    assert 'data-verdict="healthy"' in html and ">HEALTHY<" in html
    assert '<tr data-set="all" data-split="false">' in html
    assert rows_with(html, "split") == [] and rows_with(html, "nomaster") == []


def test_all_fault_highlights_every_group_without_master() -> None:
    html = page(situation("all_fault"))
    assert 'data-verdict="no_master"' in html
    assert rows_with(html, "nomaster") == ["VLAN1", "VLAN100", "VLAN101"]
    assert "group VLAN1 has no master (vyos01 FAULT, vyos02 FAULT)" in html


def test_dual_master() -> None:
    html = page(situation("dual_master"))
    assert 'data-verdict="dual_master"' in html
    assert rows_with(html, "dualmaster") == ["VLAN1"]
    assert "DUAL MASTER" in html


def test_group_disabled_everywhere_is_not_masterless() -> None:
    disabled = (VrrpGroup("VLAN9", "eth9", 9, D),)
    snaps = {
        "vyos01": snapshot("vyos01", (*table("vyos01", (M, M, M)), *disabled)),
        "vyos02": snapshot("vyos02", (*table("vyos02", (B, B, B)), *disabled)),
    }
    html = page(snaps)
    assert rows_with(html, "nomaster") == []
    assert 'data-router="vyos01" data-state="DISABLED">DISABLED' in html


def test_down_router_is_unknown_not_masterless() -> None:
    failure = PollFailure(PollErrorReason.CONNECT, "connection refused")
    snaps = {
        "vyos01": snapshot("vyos01", table("vyos01", (B, B, B))),
        "vyos02": snapshot("vyos02", failure=failure),
    }
    html = page(snaps)
    assert 'data-verdict="router_down"' in html
    assert "vyos02 (down: connect)" in html and "connection refused" in html
    assert 'data-router="vyos02" data-state="unknown">? (down)' in html
    assert rows_with(html, "nomaster") == []  # vyos02 may well be the master we cannot see
    assert "no master among the routers that are up" in html


def test_stale_router_and_time_of_last_poll() -> None:
    snaps = {
        "vyos01": snapshot("vyos01", table("vyos01", (M, M, M)), now=NOW),
        "vyos02": snapshot("vyos02", table("vyos02", (B, B, B)), now=NOW - 60),
    }
    html = page(snaps)
    assert "vyos02 (stale)" in html and "data older than 3 poll intervals" in html
    assert "? (stale)" in html
    assert "last poll <time datetime=" in html and "(0s ago)" in html
    assert "(1m ago)" in html  # vyos02's last successful poll


def test_names_are_escaped_and_refresh_is_optional() -> None:
    spec = ClusterSpec("<b>dc</b>", ("r<1>",), sets=(SyncSetSpec("A&B", ("VLAN1",)),))
    snaps = {"r<1>": snapshot("r<1>", (VrrpGroup("VLAN1", "eth0", 1, M, 100, 5),), cluster="<b>dc</b>")}
    html = page(snaps, spec=spec, refresh_seconds=0)
    assert "<b>dc</b>" not in html and "&lt;b&gt;dc&lt;/b&gt;" in html
    assert "r&lt;1&gt;" in html and "A&amp;B" in html
    assert 'http-equiv="refresh"' not in html
    assert 'http-equiv="refresh" content="5"' in page(situation("healthy"))


# --- split risks in the routers' configuration -------------------------------------------------------

CONFIGS = Path(__file__).parent / "fixtures" / "vyos_config"


def config_page(situation_name: str, kind: str, spec: ClusterSpec = SEED) -> str:
    configs = {
        r: parse_vyos_config((CONFIGS / f"seed_{kind}_{r}.txt").read_text(encoding="utf-8")) for r in spec.routers
    }
    snaps = situation(situation_name)
    return render_status_page([build_view(spec, snaps, set(snaps), configs)], "/metrics", now=NOW)


def test_config_risks_with_their_fix_commands() -> None:
    html = config_page("healthy", "typo")
    assert '<div class="risks" data-risks="2"><h3>Configuration split risk</h3>' in html
    assert '<li data-rule="split_prone"><strong>split_prone</strong>: sync-group MAIN (VLAN1, VLAN101), VLAN100' in html
    assert (
        "<p>on vyos01, vyos02:</p><pre>delete high-availability vrrp sync-group MAIN member VLAN10\n"
        "set high-availability vrrp sync-group MAIN member VLAN100</pre>" in html
    )
    assert "<script" not in html.lower()


def test_config_risks_none_and_not_read() -> None:
    assert 'data-risks="0"><h3>Configuration split risk</h3><p>none found' in config_page("healthy", "fixed")
    html = page(situation("healthy"))
    assert 'data-risks="not-read"><h3>Configuration split risk</h3><p class="small">not read' in html


def test_config_risk_text_is_escaped() -> None:
    view = view_at(SEED, situation("healthy"), NOW, MAX_AGE)
    risk = RiskFinding("peer_mismatch", ("vyos01", "<r2>"), ("<g>",), "a & b", ("<r2>: set x '<y>'",))
    html = render_status_page([replace(view, risks=(risk,))], "/metrics", now=NOW)
    assert "<r2>" not in html and "<g>" not in html and "<y>" not in html
    assert "a &amp; b" in html and "<p>on &lt;r2&gt;:</p><pre>set x &#x27;&lt;y&gt;&#x27;</pre>" in html


def test_preferred_master_per_group() -> None:
    # No preferred master in the YAML: the configuration's highest-priority router (vyos01, 150).
    spec = ClusterSpec("home", ("vyos01", "vyos02"))
    html = config_page("split", "incident", spec)
    assert re.search(r'data-group="VLAN1".*?<td data-preferred="vyos01">vyos01</td></tr>', html)
    assert re.search(
        r'data-group="VLAN100".*?<td class="INIT" data-preferred="vyos01">vyos01 \(not master\)</td>', html
    )
    assert "<th scope=col>Preferred master</th></tr>" in html
    assert re.search(r'data-group="VLAN1".*?<td class="absent">none</td></tr>', page(situation("healthy"), spec))


# --- headless Chromium against a running exporter ---------------------------------------------------------

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1280,1100",
)


CHROMIUM_TIMEOUT = 60.0  # seconds; a cold start takes about 1 s here


async def chromium(binary: str, *args: str) -> str:
    """Run headless Chromium with a fresh profile; return its stdout. Never blocks the event loop."""
    with tempfile.TemporaryDirectory(prefix="vrrp-chromium-") as profile:
        proc = await asyncio.create_subprocess_exec(
            binary,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
        )
        try:
            async with asyncio.timeout(CHROMIUM_TIMEOUT):
                out, err = await proc.communicate()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode(errors="replace")


@pytest.fixture
def chromium_bin() -> str:
    return require_binary("chromium", "chromium-browser")


@pytest.fixture
async def split_exporter(tmp_path: Path) -> AsyncIterator[str]:
    """An exporter on 127.0.0.1 polling the simulated routers in the seed split; yields its base URL."""
    async with SimFleet(tmp_path / "sim", seed_cluster(phase=SeedPhase.SPLIT), clusters=[SEED_CLUSTER]) as fleet:
        path = fleet.write_config(poll_interval="500ms", timeout="400ms")
        exporter = Exporter(load_config(path), path)
        await exporter.start("127.0.0.1:0")
        try:
            async with asyncio.timeout(20):
                while not exporter.views.ready():
                    await asyncio.sleep(0.05)
            yield f"http://127.0.0.1:{exporter.port}/"
        finally:
            await exporter.stop()


async def test_status_page_in_chromium_shows_the_split(chromium_bin: str, split_exporter: str, tmp_path: Path) -> None:
    binary = chromium_bin
    dom = await chromium(binary, "--dump-dom", split_exporter)
    assert 'data-cluster="home" data-verdict="split"' in dom
    assert '<tr data-set="all" data-split="true">' in dom
    assert "SPLIT across 2 routers" in dom
    assert "vyos01 is MASTER of VLAN1; vyos02 is MASTER of VLAN100, VLAN101" in dom
    assert rows_with(dom, "split") == ["VLAN1", "VLAN100", "VLAN101"]

    shot = tmp_path / "statuspage-split.png"
    await chromium(binary, f"--screenshot={shot}", split_exporter)
    keep_screenshot(shot)


def keep_screenshot(shot: Path) -> None:
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    if os.environ.get("TEST_OUTPUT"):
        out = Path(os.environ["TEST_OUTPUT"])
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, out / shot.name)
