"""The benchmark: `python -m bench` (minutes) or `python -m bench --quick` (seconds, for CI).

Plan of a run (each step in its own process, the simulator in another, all on 127.0.0.1):

1. fleet poll: per fleet size, a simulator with `--latency`, a probe of its routers' own command
   latency, then the exporter's Poller polling every router each `poll_interval` (rounds that
   connect, then steady rounds): round wall time / slowest router latency, CPU, RSS;
2. connection reuse: the same polls over the exporter's kept connections, over a new asyncssh
   connection per poll, and over one OpenSSH `ssh` process per poll: wall and CPU ratios;
3. the simulator's own ceiling under a trivial client;
4. scrape: /metrics for 100, 1,000 and 10,000 groups; 5. parse: tables per second.

Ratios are what to read: the machine is shared and noisy, and every ratio compares figures taken
in the same run. Nothing here asserts on time; tests/test_bench.py runs `--quick` for shape only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

from . import report
from .procs import BenchError, kill_all, run_worker, simulator
from .service import service_run


@dataclass(frozen=True)
class Plan:
    routers: tuple[int, ...] = (10, 100, 1000)
    groups: int = 10
    latency: float = 1.0  # seconds the simulator waits before answering each `show vrrp`
    poll_interval: str = "5s"
    timeout: str = "3s"
    steady_rounds: int = 5
    max_connect_rounds: int = 6
    probe_sample: int = 16
    probe_repeats: int = 3
    reuse_routers: int = 50
    reuse_rounds: dict[str, int] = field(default_factory=lambda: {"persistent": 20, "reconnect": 5, "ssh": 3})
    hammer_seconds: float = 5.0
    service_intervals: int = 3
    service_scrapes: int = 7
    scrape_groups: tuple[int, ...] = (100, 1000, 10000)
    scrape_reps: int = 5
    parse_groups: tuple[int, ...] = (10, 100)
    parse_seconds: float = 2.0
    worker_timeout: float = 600.0

    @property
    def interval_seconds(self) -> float:
        from exporter.config import parse_duration

        return parse_duration(self.poll_interval)


FULL = Plan()
QUICK = Plan(
    routers=(10,),
    latency=0.05,
    poll_interval="500ms",
    timeout="400ms",
    steady_rounds=2,
    max_connect_rounds=3,
    probe_sample=4,
    probe_repeats=2,
    reuse_routers=4,
    reuse_rounds={"persistent": 3, "reconnect": 1, "ssh": 1},
    hammer_seconds=0.5,
    service_intervals=2,
    service_scrapes=3,
    scrape_groups=(100,),
    scrape_reps=2,
    parse_groups=(10,),
    parse_seconds=0.2,
    worker_timeout=120.0,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="the seconds-long variant (CI): shape, not figures")
    parser.add_argument("--json", type=Path, default=Path("bench-results.json"), help="where the JSON goes")
    parser.add_argument("--routers", help="fleet sizes, comma-separated (default 10,100,1000)")
    parser.add_argument("--latency", type=float, help="simulator latency per command in seconds (default 1.0)")
    parser.add_argument("--workdir", type=Path, help="keep simulator files and logs here (default: a temp dir)")
    parser.add_argument(
        "--only", help=f"comma-separated subset of {','.join(SECTIONS)} (default: all; the table shows what ran)"
    )
    return parser.parse_args(argv)


def plan_from(args: argparse.Namespace) -> Plan:
    plan = QUICK if args.quick else FULL
    if args.routers:
        plan = replace(plan, routers=tuple(int(n) for n in args.routers.split(",")))
    if args.latency is not None:
        plan = replace(plan, latency=args.latency)
    return plan


def meta(plan: Plan, quick: bool) -> dict[str, Any]:
    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=Path(__file__).parent
    ).stdout.strip()
    ssh_version = (
        subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip() if shutil.which("ssh") else None
    )
    return {
        "quick": quick,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": commit or None,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
        "packages": {n: version(n) for n in ("asyncssh", "cryptography", "prometheus-client", "aiohttp")},
        "openssh": ssh_version,
        "plan": asdict(plan),
    }


def fleet_runs(plan: Plan, work: Path, log: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One simulator per fleet size; at sizes above the default max_concurrent_polls (256), a
    second run with max_concurrent_polls = N, so every router's command can be in flight at once.
    Then the exporter itself, as deployed, against the same simulator."""
    runs, services = [], []
    for routers in plan.routers:
        directory = work / f"fleet-{routers}"
        deadline = plan.worker_timeout * 4
        with simulator(
            directory,
            routers,
            plan.groups,
            plan.latency,
            poll_interval=plan.poll_interval,
            timeout=plan.timeout,
            deadline=deadline,
        ) as sim:
            report.progress(f"fleet {routers}: simulator up in {sim.start_seconds:.1f}s, probing")
            probe = run_worker(
                "probe",
                {"config": str(sim.config), "sample": plan.probe_sample, "repeats": plan.probe_repeats},
                plan.worker_timeout,
                log,
            )
            for limit in [None] if routers <= 256 else [None, routers]:
                report.progress(f"fleet {routers}: polling (max_concurrent_polls={limit or 'default'})")
                result = run_worker(
                    "fleet",
                    {
                        "config": str(sim.config),
                        "max_concurrent_polls": limit,
                        "steady_rounds": plan.steady_rounds,
                        "max_connect_rounds": plan.max_connect_rounds,
                        "sim_pid": sim.pid,
                    },
                    plan.worker_timeout,
                    log,
                )
                result["latency_setting_seconds"] = plan.latency
                result["probe"] = probe
                result["sim_rss_mib"] = sim.rss_mib()
                result["sim_start_seconds"] = sim.start_seconds
                runs.append(result)
            report.progress(f"fleet {routers}: the exporter as deployed (python -m exporter)")
            services.append(
                service_run(
                    sim,
                    plan.interval_seconds,
                    plan.service_intervals,
                    plan.service_scrapes,
                    plan.worker_timeout,
                    work / f"service-{routers}.log",
                )
            )
    return runs, services


def reuse_runs(plan: Plan, work: Path, log: Path) -> dict[str, Any]:
    """Connection reuse and the simulator's ceiling, against one latency-0 simulator."""
    with simulator(
        work / "reuse",
        plan.reuse_routers,
        plan.groups,
        0.0,
        poll_interval=plan.poll_interval,
        timeout=plan.timeout,
        deadline=plan.worker_timeout * 4,
    ) as sim:
        methods = {}
        for method, rounds in plan.reuse_rounds.items():
            report.progress(f"connection reuse: {method}")
            if method == "ssh" and shutil.which("ssh") is None:
                methods[method] = {"method": method, "skipped": "the OpenSSH client `ssh` is not installed"}
                continue
            params = {
                "config": str(sim.config),
                "method": method,
                "routers": plan.reuse_routers,
                "rounds": rounds,
                "sim_pid": sim.pid,
            }
            methods[method] = run_worker("reuse", params, plan.worker_timeout, log)
        report.progress("simulator ceiling")
        hammer = run_worker(
            "hammer",
            {
                "config": str(sim.config),
                "routers": plan.reuse_routers,
                "seconds": plan.hammer_seconds,
                "sim_pid": sim.pid,
            },
            plan.worker_timeout,
            log,
        )
    return {"routers": plan.reuse_routers, "latency_seconds": 0.0, "methods": methods, "sim_ceiling": hammer}


SECTIONS = ("fleet", "reuse", "scrape", "parse")


def run(plan: Plan, work: Path, quick: bool, sections: Sequence[str] = SECTIONS) -> dict[str, Any]:
    log = work / "workers.log"
    results: dict[str, Any] = {"meta": meta(plan, quick)}
    if "fleet" in sections:
        results["fleet"], results["service"] = fleet_runs(plan, work, log)
    if "reuse" in sections:
        results["reuse"] = reuse_runs(plan, work, log)
    if "scrape" in sections:
        report.progress("scrape")
        params = {"groups": list(plan.scrape_groups), "reps": plan.scrape_reps}
        results["scrape"] = run_worker("scrape", params, plan.worker_timeout, log)["sizes"]
    if "parse" in sections:
        report.progress("parse")
        params = {"groups": list(plan.parse_groups), "seconds": plan.parse_seconds}
        results["parse"] = run_worker("parse", params, plan.worker_timeout, log)
    results["meta"]["loadavg_end"] = os.getloadavg()
    results["meta"]["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    results["targets"] = report.targets(results)
    return results


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through every `finally`, which stops the children


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = plan_from(args)
    signal.signal(signal.SIGTERM, _terminate)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="vrrp-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    sections = args.only.split(",") if args.only else list(SECTIONS)
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        print(f"unknown --only section(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    try:
        results = run(plan, work, args.quick, sections)
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        args.workdir = args.workdir or work  # keep the logs of a failed run
        return 1
    finally:
        kill_all()
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(report.table(results))
    print(f"\nJSON: {args.json}")
    return 0
