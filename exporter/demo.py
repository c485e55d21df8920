"""`vyos-vrrp-exporter demo`: the seed incident replayed against simulated VyOS routers.

Two simulated routers (real SSH servers on 127.0.0.1 with throw-away keys) and the real exporter
polling them. Each phase of the story changes the routers, waits for a poll round, then reads the
verdict back from the exporter's own `/metrics` over HTTP, as Prometheus would.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import tempfile
from dataclasses import dataclass

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from .config import load_config
from .errors import PollErrorReason
from .join import ClusterView, Verdict
from .service import Exporter
from .sim.fleet import SimFleet
from .sim.seed import SEED_CLUSTER, SEED_PHASES, SeedPhase, apply_seed_phase, seed_cluster
from .transport import SshTransport


@dataclass(frozen=True, slots=True)
class Phase:
    phase: SeedPhase
    story: str
    expected: Verdict


STORY = (
    Phase(SeedPhase.HEALTHY, "vyos01 is MASTER of VLAN1, VLAN100 and VLAN101", Verdict.HEALTHY),
    Phase(
        SeedPhase.SPLIT,
        "the incident: VLAN1 stays on vyos01, VLAN100/VLAN101 moved to vyos02; ssh through the pair dies"
        " in kex_exchange_identification",
        Verdict.SPLIT,
    ),
    Phase(
        SeedPhase.SYNC_FAULT,
        "fix 1, sync-group: different links down on each router put every group in FAULT on both",
        Verdict.NO_MASTER,
    ),
    Phase(
        SeedPhase.PREEMPT_FIX, "fix 2, preempt with priority 150 on vyos01: it wins every group back", Verdict.HEALTHY
    ),
)
assert tuple(p.phase for p in STORY) == SEED_PHASES


def _connect_host(bound: tuple[str, int]) -> str:
    host = bound[0]
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


async def _split_from_metrics(session: aiohttp.ClientSession, url: str) -> dict[str, float]:
    """Read `vrrp_master_split` per set from the exporter's /metrics, as Prometheus would."""
    async with session.get(url) as response:
        text = await response.text()
    return {
        sample.labels["set"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "vrrp_master_split"
        for sample in family.samples
    }


def _masters(view: ClusterView) -> str:
    if not view.groups:
        return "no groups"
    parts = []
    for group in view.groups:
        parts.append(f"{group.name}={'+'.join(group.masters) or 'none'}")
    return "masters " + " ".join(parts)


async def _play(
    exporter: Exporter, fleet: SimFleet, phase: Phase, index: int, metrics_url: str, session: aiohttp.ClientSession
) -> bool:
    apply_seed_phase(fleet.routers, phase.phase)
    await exporter.poller.read_configs()  # each phase is a commit on the routers: read it now
    exporter.poller.wake(SEED_CLUSTER.name)
    async with asyncio.timeout(30):
        await exporter.poller.wait_next_round()
    view = exporter.views.cluster(SEED_CLUSTER.name)
    split = await _split_from_metrics(session, metrics_url)
    ok = view.verdict is phase.expected
    split_text = ", ".join(f'vrrp_master_split{{set="{k}"}}={v:g}' for k, v in sorted(split.items()))
    print(f"[{index}/{len(STORY)}] {phase.phase.value:<11} {phase.story}")
    print(
        f"      verdict {view.verdict.value.upper():<11} {split_text}  {_masters(view)}"
        + ("" if ok else f"  (expected {phase.expected.value.upper()})"),
        flush=True,
    )
    print(f"      config  {_risks(view)}", flush=True)
    return ok


async def _race(exporter: Exporter, fleet: SimFleet) -> bool:
    """An admin types `show vrrp` on both routers while the exporter polls them: VyOS's one dump
    file races, and the loser is told "VRRP data is not available" as if keepalived had stopped.
    The exporter asks again before it believes that; the verdict must stay HEALTHY."""
    name = SEED_CLUSTER.name
    for router in fleet:
        router.dump_race, router.latency, router.race_seconds = True, 0.05, 0.05  # VyOS's race, faster
    doubted = sum(exporter.views.errors(name, r.name)[PollErrorReason.UNAVAILABLE] for r in fleet)
    races = sum(r.races_lost for r in fleet)
    admin = SshTransport()  # a second reader with its own SSH sessions, like a person at the CLI
    try:
        targets = exporter.poller.runtime.targets[name]
        reading = [asyncio.create_task(admin.run(t, 5.0)) for t in targets]
        await asyncio.sleep(0.02)  # the admin's dumps are under way when the exporter asks
        exporter.poller.wake(name)
        async with asyncio.timeout(30):
            await exporter.poller.wait_next_round()
        await asyncio.gather(*reading)
    finally:
        await admin.close()
        for router in fleet:
            router.dump_race, router.latency = False, 0.0
    view = exporter.views.cluster(name)
    doubted = sum(exporter.views.errors(name, r.name)[PollErrorReason.UNAVAILABLE] for r in fleet) - doubted
    races = sum(r.races_lost for r in fleet) - races
    ok = view.verdict is Verdict.HEALTHY
    print("[race]       an admin runs show vrrp on both routers while the exporter polls them (one dump file)")
    print(
        f"      verdict {view.verdict.value.upper():<11} {races} reader(s) lost the race; {doubted} answer(s)"
        ' doubted and asked again (vrrp_poll_errors_total{reason="unavailable"})'
        + ("" if ok else "  (expected HEALTHY)"),
        flush=True,
    )
    return ok


def _risks(view: ClusterView) -> str:
    """The routers' own configuration, linted: what `vyos-vrrp-exporter lint` would say."""
    if view.risks is None:
        return "not read"
    if not view.risks:
        return "no split risk"
    return "; ".join(f"{f.rule} ({', '.join(f.groups)}): fix {' / '.join(f.fix)}" for f in view.risks)


async def run_demo(args: argparse.Namespace) -> int:
    once = bool(args.once)
    with tempfile.TemporaryDirectory(prefix="vyos-vrrp-demo-") as tmp:
        fleet = SimFleet(tmp, seed_cluster(), clusters=[SEED_CLUSTER])
        async with fleet:
            # Fast polling in --once so the story takes seconds; a calmer pace for people watching.
            interval, timeout = ("500ms", "400ms") if once else ("2s", "1500ms")
            path = fleet.write_config(poll_interval=interval, timeout=timeout)
            exporter = Exporter(load_config(path), path)
            try:
                await exporter.start(args.listen_address, args.telemetry_path)
            except OSError as exc:
                await exporter.stop()
                print(
                    f"demo: cannot listen on {args.listen_address}: {exc.strerror or exc}; "
                    "pick another with --web.listen-address=127.0.0.1:0",
                    file=sys.stderr,
                )
                return 2
            try:
                return await _run_story(exporter, fleet, args, once)
            finally:
                await exporter.stop()


async def _run_story(exporter: Exporter, fleet: SimFleet, args: argparse.Namespace, once: bool) -> int:
    base = f"http://{_connect_host(exporter.bound[0])}:{exporter.port}"
    metrics_url = base + args.telemetry_path
    routers = ", ".join(f"{r.name} on 127.0.0.1:{r.port}" for r in fleet)
    print(f"demo: simulated VyOS routers (SSH): {routers}")
    print(f"demo: metrics {metrics_url}   status page {base}/   config {exporter.config_path}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    all_ok = True
    try:
        async with aiohttp.ClientSession() as session:
            while not stop.is_set():
                for index, phase in enumerate(STORY, start=1):
                    all_ok = await _play(exporter, fleet, phase, index, metrics_url, session) and all_ok
                    if once:
                        continue
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(args.phase_seconds):
                            await stop.wait()
                    if stop.is_set():
                        break
                if not stop.is_set():
                    all_ok = await _race(exporter, fleet) and all_ok
                if once or stop.is_set():
                    break
                print("demo: story done; starting over (Ctrl-C to stop)", flush=True)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if once:
        print("demo: every phase gave the expected verdict" if all_ok else "demo: some phase gave a wrong verdict")
        return 0 if all_ok else 1
    return 0
