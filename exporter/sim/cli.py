"""`python -m exporter.sim`: simulated routers in their own process, for benchmarks and deploy checks."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from ..model import ClusterSpec, VrrpGroup, VrrpState
from .fleet import RouterSpec, SimFleet


def bench_specs(
    routers: int, groups: int, cluster_size: int, version: str
) -> tuple[list[RouterSpec], list[ClusterSpec]]:
    """`routers` routers in clusters of `cluster_size`; in each, the first is MASTER of all groups."""
    if not 1 <= groups <= 255:
        raise ValueError("groups must be between 1 and 255 (one VRID each)")
    specs: list[RouterSpec] = []
    clusters: list[ClusterSpec] = []
    width = max(4, len(str(routers)))
    for first in range(0, routers, cluster_size):
        members = []
        for index in range(first, min(first + cluster_size, routers)):
            rank = index - first
            name = f"vyos{index + 1:0{width}d}"
            state = VrrpState.MASTER if rank == 0 else VrrpState.BACKUP
            priority = max(1, 200 - 50 * rank)
            rows = tuple(
                VrrpGroup(f"VLAN{g + 1}", f"eth{g}", g + 1, state, priority, 60 + index) for g in range(groups)
            )
            specs.append(RouterSpec(name, rows, version))
            members.append(name)
        clusters.append(ClusterSpec(f"cluster{first // cluster_size + 1:0{width}d}", tuple(members)))
    return specs, clusters


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m exporter.sim",
        description="Run simulated VyOS routers (SSH on 127.0.0.1) until SIGTERM/SIGINT.",
    )
    parser.add_argument("--routers", type=int, required=True, help="number of routers")
    parser.add_argument("--groups", type=int, default=3, help="VRRP groups per router (default 3)")
    parser.add_argument("--dir", type=Path, required=True, help="where config.yml, known_hosts, id_ed25519 go")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--version", default="1.4", help="VyOS version to play (1.2-1.5, default 1.4)")
    parser.add_argument("--cluster-size", type=int, default=2, help="routers per cluster (default 2)")
    parser.add_argument("--poll-interval", default="5s", help="poll_interval written to config.yml")
    parser.add_argument("--timeout", default="3s", help="timeout written to config.yml")
    args = parser.parse_args(argv)
    if args.routers < 1 or args.cluster_size < 1:
        parser.error("--routers and --cluster-size must be at least 1")
    if args.latency < 0:
        parser.error("--latency must not be negative")
    return args


async def _run(args: argparse.Namespace) -> int:
    specs, clusters = bench_specs(args.routers, args.groups, args.cluster_size, args.version)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with SimFleet(args.dir, specs, clusters=clusters) as fleet:
        for router in fleet:
            router.latency = args.latency
        fleet.write_config(args.dir / "config.yml", poll_interval=args.poll_interval, timeout=args.timeout)
        print(f"ready {len(fleet)} routers", flush=True)
        await stop.wait()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
