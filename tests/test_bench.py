"""The benchmark harness works: `python -m bench --quick` runs, prints its table and writes JSON
with every figure. Only the shape is checked, never a time: these machines are shared and noisy,
and the figures are for people to read (docs/performance.md), not for CI to judge.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from numbers import Real
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("bench")
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out / "bench.json"), "--workdir", str(out / "work")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return json.loads((out / "bench.json").read_text()), result.stdout


def number(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def test_table_has_every_section(quick_run: tuple[dict[str, Any], str]) -> None:
    _, table = quick_run
    for title in ("1. Fleet poll", "2. Connection reuse", "3. Simulator ceiling", "4. Scrape", "5. Parse", "Targets"):
        assert title in table


def test_fleet_figures(quick_run: tuple[dict[str, Any], str]) -> None:
    results, _ = quick_run
    assert results["meta"]["quick"] is True
    assert results["fleet"]
    for run in results["fleet"]:
        assert run["routers"] > 0 and run["groups"] == run["routers"] * 10
        assert all(number(run["probe"][k]) for k in ("median_seconds", "max_seconds"))
        assert all(number(run["first_round"][k]) for k in ("wall_seconds", "cpu_seconds", "sim_cpu_seconds"))
        for key in (
            "median_wall_seconds",
            "median_cpu_seconds",
            "median_cpu_interval_seconds",
            "median_sim_cpu_seconds",
        ):
            assert number(run["steady"][key]), key
        assert run["steady"]["rounds"] >= 1
        rss = ("start", "after_polling", "peak_polling", "peak_render_scrape", "peak_generate_latest_scrape")
        assert all(number(run["rss_mib"][k]) for k in rss)
        assert number(run["sim_rss_mib"]) and number(run["connect_seconds"])
        assert run["scrape"]["identical"] is True


def test_reuse_and_simulator_ceiling(quick_run: tuple[dict[str, Any], str]) -> None:
    results, _ = quick_run
    methods = results["reuse"]["methods"]
    expected = ["persistent", "reconnect", "ssh"]
    assert list(methods) == expected
    for name in expected:
        if name == "ssh" and shutil.which("ssh") is None:
            assert "skipped" in methods[name]
            continue
        for key in ("median_round_wall_seconds", "cpu_per_poll_seconds", "sim_cpu_per_poll_seconds"):
            assert number(methods[name][key]), (name, key)
    ceiling = results["reuse"]["sim_ceiling"]
    assert ceiling["commands"] > 0
    assert number(ceiling["commands_per_second"]) and number(ceiling["sim_utilization"])


def test_scrape_and_parse(quick_run: tuple[dict[str, Any], str]) -> None:
    results, _ = quick_run
    for size in results["scrape"]:
        keys = ("http_seconds", "generate_latest_seconds", "render_seconds", "render_cold_seconds", "bytes")
        assert all(number(size[k]) for k in keys)
        assert size["identical"] is True  # render() prints exactly what prometheus_client would
    for size in results["parse"]["sizes"]:
        assert size["tables"] > 0 and number(size["tables_per_second"])


def test_every_target_is_reported(quick_run: tuple[dict[str, Any], str]) -> None:
    results, _ = quick_run
    names = " | ".join(t["target"] for t in results["targets"])
    for fragment in ("poll round", "new asyncssh connection", "`ssh` process", "GET /metrics", "render()", "peak RSS"):
        assert fragment in names
    for target in results["targets"]:
        if "`ssh`" in target["target"] and shutil.which("ssh") is None:
            continue
        # met/missed is for people to read; None means this run could not tell (e.g. a router failed).
        assert number(target["value"]) and number(target["limit"]) and target["met"] in (True, False, None), target
