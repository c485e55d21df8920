"""The exporter as deployed: `python -m exporter --config.file=...` against the simulator.

Nothing of the exporter runs in the harness here: its CPU and memory are read from /proc by pid,
and /metrics is fetched over HTTP the way Prometheus fetches it, so these are the figures of the
process an operator runs, with the config the simulator wrote (the defaults, max_concurrent_polls
included).
"""

from __future__ import annotations

import re
import socket
import statistics
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .procs import BenchError, Simulator, kill, process_cpu_seconds, process_rss_mib, python_with_deadline, spawn
from .worker import PROMETHEUS_ACCEPT

_UP = re.compile(rb"^vrrp_router_up\{[^}]*\} 1\.0$", re.MULTILINE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _get(url: str, accept: str = "", timeout: float = 30.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except OSError:
        return 0, b""


def service_run(
    sim: Simulator, interval: float, steady_intervals: int, scrapes: int, deadline: float, log: Path
) -> dict[str, Any]:
    """Start the exporter, wait for /-/ready (first round done), let it poll `steady_intervals`
    intervals while its CPU is sampled, then scrape /metrics `scrapes` times over two intervals."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = python_with_deadline(
        deadline,
        "exporter",
        ["--config.file", str(sim.config), "--web.listen-address", f"127.0.0.1:{port}", "--log.level", "info"],
    )
    with log.open("ab") as out:
        proc = spawn(argv, out, out)
    try:
        started = time.perf_counter()
        while _get(f"{base}/-/ready", timeout=5)[0] != 200:
            if proc.poll() is not None:
                raise BenchError(f"the exporter exited with status {proc.returncode} (log: {log})")
            if time.perf_counter() - started > deadline / 2:
                raise BenchError(f"the exporter was not ready after {deadline / 2:.0f}s (log: {log})")
            time.sleep(0.2)
        ready = time.perf_counter() - started
        time.sleep(interval)  # from here on, rounds follow the schedule
        cpu0, sim0, t0 = process_cpu_seconds(proc.pid), sim.cpu_seconds(), time.perf_counter()
        time.sleep(steady_intervals * interval)
        cpu, sim_cpu, wall = process_cpu_seconds(proc.pid) - cpu0, sim.cpu_seconds() - sim0, time.perf_counter() - t0
        rss_polling = process_rss_mib(proc.pid)
        # Prometheus scrapes at any phase of the poll cycle: spread the scrapes over two intervals.
        # The first one formats everything (cold); later ones reuse what did not change.
        times: list[float] = []
        body = b""
        for i in range(scrapes):
            if i:
                time.sleep(max(0.0, 2 * interval / scrapes - times[-1]))
            t = time.perf_counter()
            status, body = _get(f"{base}/metrics", PROMETHEUS_ACCEPT, timeout=60)
            times.append(time.perf_counter() - t)
            if status != 200:
                raise BenchError(f"/metrics answered {status} (log: {log})")
        return {
            "routers": sim.routers,
            "ready_seconds": ready,
            "steady_seconds": wall,
            "cpu_seconds_per_interval": cpu / wall * interval,
            "cpu_share_of_one_core": cpu / wall,
            "sim_cpu_share_of_one_core": sim_cpu / wall,
            "routers_up": len(_UP.findall(body)),
            "rss_mib_polling": rss_polling,
            "rss_mib_end": process_rss_mib(proc.pid),
            "peak_rss_mib": process_rss_mib(proc.pid, "VmHWM"),
            "metrics_first_seconds": times[0],
            "metrics_seconds": statistics.median(times[1:] or times),
            "metrics_max_seconds": max(times[1:] or times),
            "metrics_all_seconds": times,
            "metrics_bytes": len(body),
        }
    finally:
        kill(proc, grace=15.0)
