"""Measurements that run in a process of their own: `python -m bench.worker KIND PARAMS_JSON`.

One process per measurement, so the CPU time (`resource.getrusage`) and RSS a worker reports
belong to what it measured and nothing else: the simulator, the harness and the other methods run
elsewhere. The simulator's CPU is read from /proc by pid, around the same intervals. Each worker
prints one JSON object on its last stdout line; logs go to stderr.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import resource
import shutil
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncssh
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from exporter.collector import VrrpCollector
from exporter.config import Config, load_config
from exporter.errors import PollError
from exporter.log import configure_logging
from exporter.model import RouterSnapshot, VrrpGroup, VrrpState
from exporter.parse import parse_show_vrrp
from exporter.poller import Poller
from exporter.service import Exporter
from exporter.sim.cli import bench_specs
from exporter.sim.vyos_render import render_show_vrrp
from exporter.store import SnapshotStore
from exporter.targets import SshTarget, all_targets
from exporter.transport import SshTransport

from .procs import process_cpu_seconds

Params = dict[str, Any]
Result = dict[str, Any]
COMMAND_TIMEOUT = 30.0  # generous: a measurement wants the answer, failures are counted anyway
# What Prometheus 2.x sends by default: OpenMetrics preferred, so this is the format a scrape gets.
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


def cpu_seconds(children: bool = False) -> float:
    """CPU (user + system) of this process, and with `children` also of its reaped children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    total = own.ru_utime + own.ru_stime
    if children:
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        total += kids.ru_utime + kids.ru_stime
    return total


def reset_peak_rss() -> None:
    """Start a new high-water mark (Linux: `5` in clear_refs resets VmHWM to the current RSS)."""
    Path("/proc/self/clear_refs").write_text("5")


def rss_mib() -> tuple[float, float]:
    """(current, peak since start or the last reset) resident set size of this process in MiB."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


class SimCpu:
    """CPU seconds of the simulator process (0 when no pid was given)."""

    def __init__(self, pid: int | None) -> None:
        self._pid = pid

    def __call__(self) -> float:
        return process_cpu_seconds(self._pid) if self._pid else 0.0


def spread(items: Sequence[SshTarget], count: int) -> list[SshTarget]:
    """`count` items evenly spread over `items` (all of them if there are fewer)."""
    if count >= len(items):
        return list(items)
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


# --- 1. the simulator alone: unloaded latency, and its ceiling under a trivial client ------------------


async def probe(p: Params) -> Result:
    """Per-command latency of a sample of routers, one command at a time per router, on open
    connections: the routers' own latency, the yardstick of a poll round."""
    configure_logging("warn")
    targets = spread(all_targets(load_config(p["config"])), p["sample"])
    transport = SshTransport()
    try:
        for target in targets:  # connect first, one by one: handshakes are not command latency
            await transport.run(target, COMMAND_TIMEOUT)

        async def router_latency(target: SshTarget) -> float:
            times = []
            for _ in range(p["repeats"]):
                started = time.perf_counter()
                result = await transport.run(target, COMMAND_TIMEOUT)
                times.append(time.perf_counter() - started)
                parse_show_vrrp(result.stdout)
            return median(times)

        latencies = await asyncio.gather(*(router_latency(t) for t in targets))
    finally:
        await transport.close()
    return {
        "sample": len(targets),
        "repeats": p["repeats"],
        "median_seconds": median(latencies),
        "max_seconds": max(latencies),
    }


async def hammer(p: Params) -> Result:
    """The simulator's ceiling: a minimal asyncssh client keeps `len(routers)` commands in flight
    back to back for `seconds`; the simulator's CPU per command gives what one core can serve."""
    targets = all_targets(load_config(p["config"]))[: p["routers"]]
    sim_cpu = SimCpu(p.get("sim_pid"))
    conns = [
        await asyncssh.connect(
            t.address,
            t.port,
            username=t.username,
            client_keys=[str(t.private_key)],
            known_hosts=str(t.known_hosts),
            config=None,
            agent_path=None,
        )
        for t in targets
    ]
    done = 0
    try:
        c0, s0, t0 = cpu_seconds(), sim_cpu(), time.perf_counter()
        end = t0 + p["seconds"]

        async def loop(conn: asyncssh.SSHClientConnection, command: str) -> None:
            nonlocal done
            while time.perf_counter() < end:
                await conn.run(command, check=True)
                done += 1

        await asyncio.gather(*(loop(c, t.command) for c, t in zip(conns, targets, strict=True)))
        wall, client_cpu, server_cpu = time.perf_counter() - t0, cpu_seconds() - c0, sim_cpu() - s0
    finally:
        for conn in conns:
            conn.close()
    return {
        "routers": len(targets),
        "seconds": wall,
        "commands": done,
        "commands_per_second": done / wall,
        "client_cpu_per_command_seconds": client_cpu / done,
        "sim_cpu_per_command_seconds": server_cpu / done if server_cpu else None,
        "sim_utilization": server_cpu / wall,
        # One core's worth of simulator CPU spent on nothing but answering commands.
        "sim_ceiling_commands_per_second": done / server_cpu if server_cpu else None,
    }


# --- 2. fleet poll: the exporter's own Poller against N routers, on the poll_interval schedule ---------


async def fleet(p: Params) -> Result:
    """Poll rounds (`Poller.poll_once`: every cluster at once, as the per-cluster loops do when
    their ticks line up) every `interval` seconds: first the rounds that connect, then steady ones."""
    configure_logging("info")  # what a deployment logs (stderr is the harness's log file)
    config = load_config(p["config"])
    if p.get("max_concurrent_polls"):
        config = config.model_copy(update={"max_concurrent_polls": p["max_concurrent_polls"]})
    targets = all_targets(config)
    store = SnapshotStore()
    poller = Poller(config, store)
    sim_cpu = SimCpu(p.get("sim_pid"))
    interval = config.poll_interval
    baseline_rss, _ = rss_mib()
    reset_peak_rss()

    async def one_round(kind: str) -> Result:
        c0, s0, t0 = cpu_seconds(), sim_cpu(), time.perf_counter()
        views = await poller.poll_once()
        wall, cpu, server = time.perf_counter() - t0, cpu_seconds() - c0, sim_cpu() - s0
        snapshots = [store.snapshot(t.cluster, t.router) for t in targets]
        failed: dict[str, int] = {}
        for s in snapshots:
            if s is not None and s.failure is not None:
                failed[str(s.failure.reason)] = failed.get(str(s.failure.reason), 0) + 1
        durations = [s.duration_seconds for s in snapshots if s is not None and s.failure is None]
        return {
            "kind": kind,
            "wall_seconds": wall,
            "cpu_seconds": cpu,
            "sim_cpu_seconds": server,
            "up": sum(len(v.routers_up) for v in views),
            "failed": failed,
            "median_poll_seconds": median(durations),
            "max_poll_seconds": max(durations, default=0.0),
        }

    rounds: list[Result] = []
    start = time.perf_counter()
    tick = 0

    async def next_tick() -> float:
        """Sleep until the next interval starts; returns the CPU spent since the last tick."""
        nonlocal tick
        tick += 1
        await asyncio.sleep(max(0.0, start + tick * interval - time.perf_counter()))
        return cpu_seconds()

    tick_cpu = cpu_seconds()
    try:
        while True:  # connect phase: until every router answered, bounded
            rounds.append(await one_round("connect"))
            now_cpu = await next_tick()
            rounds[-1]["cpu_interval_seconds"], tick_cpu = now_cpu - tick_cpu, now_cpu
            if rounds[-1]["up"] == len(targets) or len(rounds) >= p["max_connect_rounds"]:
                break
        for _ in range(p["steady_rounds"]):
            rounds.append(await one_round("steady"))
            now_cpu = await next_tick()
            rounds[-1]["cpu_interval_seconds"], tick_cpu = now_cpu - tick_cpu, now_cpu
        polling_rss, polling_peak = rss_mib()
        scrape = await fleet_scrape(poller, one_round)
    finally:
        await poller.stop()
    connect = [r for r in rounds if r["kind"] == "connect"]
    steady = [r for r in rounds if r["kind"] == "steady"]
    return {
        "routers": len(targets),
        "groups": sum(len(s.groups) for t in targets if (s := store.snapshot(t.cluster, t.router)) is not None),
        "max_concurrent_polls": config.max_concurrent_polls,
        "poll_interval_seconds": interval,
        "timeout_seconds": config.timeout,
        "connect_rounds": len(connect),
        "connect_seconds": sum(r["wall_seconds"] for r in connect),
        "all_up_after_connect": connect[-1]["up"] == len(targets),
        "first_round": connect[0],
        "steady": {
            "rounds": len(steady),
            "median_wall_seconds": median([r["wall_seconds"] for r in steady]),
            "max_wall_seconds": max((r["wall_seconds"] for r in steady), default=0.0),
            "median_cpu_seconds": median([r["cpu_seconds"] for r in steady]),
            "median_cpu_interval_seconds": median([r["cpu_interval_seconds"] for r in steady]),
            "median_sim_cpu_seconds": median([r["sim_cpu_seconds"] for r in steady]),
            "failed_polls": sum(sum(r["failed"].values()) for r in steady),
        },
        "rounds": rounds,
        "rss_mib": {
            "start": baseline_rss,
            "after_polling": polling_rss,
            "peak_polling": polling_peak,
            "peak_render_scrape": scrape.pop("peak_rss_render_mib"),
            "peak_generate_latest_scrape": scrape.pop("peak_rss_generate_latest_mib"),
        },
        "scrape": scrape,
    }


async def fleet_scrape(poller: Poller, one_round: Callable[[str], Awaitable[Result]]) -> Result:
    """/metrics on the fleet's real store: render cold, then after one more poll round; and the
    process's peak RSS while scraping each way (10,000 groups make 10 MB of text)."""
    collector = VrrpCollector(poller.views)
    registry = CollectorRegistry()
    registry.register(collector)
    reset_peak_rss()
    started = time.perf_counter()
    collector.render()
    cold = time.perf_counter() - started
    await one_round("scrape")
    started = time.perf_counter()
    body = collector.render()
    warm = time.perf_counter() - started
    size, digest = len(body), hashlib.sha256(body).digest()
    del body  # not to be counted in the next peak
    _, render_peak = rss_mib()
    reset_peak_rss()
    started = time.perf_counter()
    library = generate_latest(registry)
    library_seconds = time.perf_counter() - started
    _, library_peak = rss_mib()
    return {
        "peak_rss_render_mib": render_peak,
        "peak_rss_generate_latest_mib": library_peak,
        "bytes": size,
        "render_cold_seconds": cold,
        "render_seconds": warm,
        "generate_latest_seconds": library_seconds,
        "identical": digest == hashlib.sha256(library).digest(),
    }


# --- 3. connection reuse: the same polls over kept, new, and OpenSSH connections ----------------------


def ssh_argv(t: SshTarget) -> list[str]:
    """What a cron script runs: the OpenSSH client, a new connection (and process) per poll."""
    return [
        *("ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"),
        *("-o", f"UserKnownHostsFile={t.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null"),
        *("-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR", "-i", str(t.private_key)),
        *("-p", str(t.port), "-l", t.username, t.address, t.command),
    ]


async def poll_ssh(t: SshTarget) -> str:
    proc = await asyncio.create_subprocess_exec(
        *ssh_argv(t), stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(COMMAND_TIMEOUT):
        out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"ssh exited with {proc.returncode}: {err.decode(errors='replace').strip()}")
    return out.decode()


async def reuse(p: Params) -> Result:
    """`rounds` rounds polling every router at once (fetch + parse), by one method."""
    configure_logging("warn")
    method = p["method"]
    targets = all_targets(load_config(p["config"]))[: p["routers"]]
    sim_cpu = SimCpu(p.get("sim_pid"))
    kept = SshTransport()

    async def poll(t: SshTarget) -> None:
        if method == "persistent":
            text = (await kept.run(t, COMMAND_TIMEOUT)).stdout
        elif method == "reconnect":
            # The exporter's own connect (options, checks and whatever it keeps between connects,
            # such as the decrypted key), then a clean close: what a poll costs without reuse.
            text = (await kept.run(t, COMMAND_TIMEOUT)).stdout
            await kept.forget({(k.cluster, k.router) for k in targets if k != t})
        else:
            text = await poll_ssh(t)
        parse_show_vrrp(text)

    if method == "persistent":  # connecting is not what this method pays per poll
        await asyncio.gather(*(poll(t) for t in targets))
    walls = []
    c0, s0 = cpu_seconds(children=True), sim_cpu()
    own0 = cpu_seconds()
    for _ in range(p["rounds"]):
        started = time.perf_counter()
        await asyncio.gather(*(poll(t) for t in targets))
        walls.append(time.perf_counter() - started)
    cpu, own, server = cpu_seconds(children=True) - c0, cpu_seconds() - own0, sim_cpu() - s0
    await kept.close()
    polls = p["rounds"] * len(targets)
    return {
        "method": method,
        "routers": len(targets),
        "rounds": p["rounds"],
        "polls": polls,
        "median_round_wall_seconds": median(walls),
        "cpu_per_poll_seconds": cpu / polls,
        "own_process_cpu_per_poll_seconds": own / polls,  # for ssh the rest is the ssh processes
        "sim_cpu_per_poll_seconds": server / polls,
    }


# --- 4. scrape: /metrics for N groups, from a store filled the way the poller fills it ------------------


class SyntheticFleet:
    """An exporter whose store is filled the way its poller would fill it from `bench_specs`
    routers (10 groups each, the first router of each pair MASTER), round after round, with ages
    that grow like VyOS's Last Transition. Nothing connects anywhere."""

    def __init__(self, routers: int, groups_per_router: int) -> None:
        specs, clusters = bench_specs(routers, groups_per_router, 2, "1.4")
        config = {
            "poll_interval": "5s",
            "timeout": "3s",
            "clusters": [
                {"name": c.name, "routers": [{"name": r, "address": "127.0.0.1"} for r in c.routers]} for c in clusters
            ],
        }
        self.exporter = Exporter(Config.model_validate(config))
        self.tables = {s.name: s.groups for s in specs}
        self.targets = all_targets(self.exporter.config)
        self.started = time.time()

    def poll_round(self) -> None:
        now = time.time()
        grown = int(now - self.started)
        for t in self.targets:
            groups = tuple(
                replace(g, last_transition_age_seconds=(g.last_transition_age_seconds or 0) + grown)
                for g in self.tables[t.router]
            )
            self.exporter.poller.store.record(RouterSnapshot(t.cluster, t.router, now, 0.0123, groups, None, now))
        self.exporter.views.clusters()  # the poller builds every cluster's view after its round


async def scrape(p: Params) -> Result:
    """Per size: the current /metrics (prometheus_client's encoder over the registry, through
    aiohttp), `VrrpCollector.render()` alone, and whether both print the same bytes."""
    configure_logging("warn")
    results = []
    for groups in p["groups"]:
        fleet = SyntheticFleet(groups // 10, 10)
        exporter = fleet.exporter
        fleet.poll_round()
        collector = VrrpCollector(exporter.views)
        alone = CollectorRegistry()
        alone.register(collector)
        started = time.perf_counter()
        collector.render()
        cold = time.perf_counter() - started
        render_times, library_times, http_times, http_text_times = [], [], [], []
        client = TestClient(TestServer(exporter.app()))
        await client.start_server()
        try:
            for _ in range(p["reps"]):
                fleet.poll_round()  # every scrape comes after a new poll round: what Prometheus sees
                started = time.perf_counter()
                text = collector.render()
                render_times.append(time.perf_counter() - started)
                started = time.perf_counter()
                library = generate_latest(alone)
                library_times.append(time.perf_counter() - started)
                started = time.perf_counter()
                response = await client.get("/metrics", headers={"Accept": PROMETHEUS_ACCEPT})
                body = await response.read()
                http_times.append(time.perf_counter() - started)
                started = time.perf_counter()
                await (await client.get("/metrics")).read()
                http_text_times.append(time.perf_counter() - started)
            openmetrics = collector.render(openmetrics=True) + b"# EOF\n"
            identical = text == library and openmetrics == generate_openmetrics(alone)  # type: ignore[no-untyped-call]
        finally:
            await client.close()
        results.append(
            {
                "groups": groups,
                "routers": groups // 10,
                "series": text.count(b"\n") - 2 * text.count(b"# TYPE "),
                "bytes": len(text),
                "http_bytes": len(body),
                "http_content_type": response.headers.get("Content-Type", ""),
                "http_seconds": median(http_times),
                "http_text_seconds": median(http_text_times),
                "generate_latest_seconds": median(library_times),
                "render_seconds": median(render_times),
                "render_cold_seconds": cold,
                "identical": identical,
            }
        )
    return {"sizes": results}


# --- 5. parse ----------------------------------------------------------------------------------------


async def parse(p: Params) -> Result:
    results = []
    for groups in p["groups"]:
        rows = tuple(
            VrrpGroup(f"VLAN{g + 1}", f"eth{g % 8}", g % 255 + 1, VrrpState.MASTER, 200, 60 + g) for g in range(groups)
        )
        text = render_show_vrrp(rows, "1.4")
        assert len(parse_show_vrrp(text)) == groups
        count = 0
        c0, t0 = cpu_seconds(), time.perf_counter()
        while time.perf_counter() - t0 < p["seconds"]:
            for _ in range(20):
                parse_show_vrrp(text)
            count += 20
        cpu = cpu_seconds() - c0
        results.append(
            {
                "groups": groups,
                "bytes": len(text),
                "tables": count,
                "tables_per_second": count / (time.perf_counter() - t0),
                "tables_per_cpu_second": count / cpu if cpu else None,
            }
        )
    return {"version": "1.4", "sizes": results}


KINDS: dict[str, Callable[[Params], Coroutine[Any, Any, Result]]] = {
    "probe": probe,
    "hammer": hammer,
    "fleet": fleet,
    "reuse": reuse,
    "scrape": scrape,
    "parse": parse,
}


def main(argv: Sequence[str]) -> int:
    if len(argv) != 3 or argv[1] not in KINDS:
        print(f"usage: python -m bench.worker {{{','.join(KINDS)}}} PARAMS_JSON", file=sys.stderr)
        return 2
    if argv[1] == "reuse" and json.loads(argv[2]).get("method") == "ssh" and shutil.which("ssh") is None:
        print("the OpenSSH client `ssh` is not installed", file=sys.stderr)
        return 3
    try:
        result = asyncio.run(KINDS[argv[1]](json.loads(argv[2])))
    except PollError as exc:
        print(f"poll failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
