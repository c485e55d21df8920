"""The exporter's own metrics in /metrics: process_*, python_info and vrrp_exporter_build_info,
in both exposition formats, from a real Exporter on 127.0.0.1."""

from __future__ import annotations

import platform
import resource
import sys

import pytest
from harness import running
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from scrape import value

from exporter import __version__, revision
from exporter.sim.fleet import SimFleet

PROCESS = (
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_cpu_seconds_total",
    "process_start_time_seconds",
    "process_open_fds",
    "process_max_fds",
)


@pytest.mark.skipif(sys.platform != "linux", reason="ProcessCollector reads /proc")
async def test_process_and_build_info_in_metrics(fleet: SimFleet) -> None:
    async with running(fleet, fleet.directory / "config.yml") as harness:
        samples = await harness.scrape()
        names = {name for name, _ in samples}
        assert set(PROCESS) <= names
        assert value(samples, "process_resident_memory_bytes") > 10_000_000  # type: ignore[operator]
        assert value(samples, "process_open_fds") >= 3  # type: ignore[operator]
        assert value(samples, "process_max_fds") == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        python = platform.python_version_tuple()
        assert value(
            samples,
            "python_info",
            implementation=platform.python_implementation(),
            major=python[0],
            minor=python[1],
            patchlevel=python[2],
            version=platform.python_version(),
        )
        build = {"version": __version__, "revision": revision(), "pythonversion": platform.python_version()}
        assert value(samples, "vrrp_exporter_build_info", **build) == 1
        assert value(samples, "vrrp_router_up", vrrp_cluster="home", router="vyos01") == 1

        # OpenMetrics (what Prometheus asks for first): the same families, and it parses.
        accept = "application/openmetrics-text; version=1.0.0"
        async with harness.session.get(harness.url, headers={"Accept": accept}) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("application/openmetrics-text")
            text = await response.text()
        families = {f.name for f in openmetrics_families(text)}
        assert {"process_cpu_seconds", "process_resident_memory_bytes", "vrrp_exporter_build_info"} <= families
