"""The poller's scheduling and bookkeeping, with a scripted transport instead of SSH."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import pytest
from seed import SITUATIONS, table

from exporter.config import parse_config
from exporter.errors import PollErrorReason, TransportError
from exporter.join import Verdict
from exporter.model import CommandResult
from exporter.poller import Poller
from exporter.sim.vyos_render import render_show_vrrp
from exporter.targets import SshTarget

VYOS_CONFIG = Path(__file__).parent / "fixtures" / "vyos_config"

CONFIG = """
poll_interval: {interval}
timeout: 100ms
config_interval: {config_interval}
clusters:
  - name: home
    routers:
      - {{name: vyos01, address: 127.0.0.1, port: 10001}}
      - {{name: vyos02, address: 127.0.0.1, port: 10002}}
"""


class ScriptedTransport:
    """Answers like a VyOS router would for the tables the test sets; never opens a socket."""

    def __init__(self, situation: str = "healthy") -> None:
        self.calls: dict[str, int] = {}
        self.config_reads: dict[str, int] = {}
        self.configs = {r: (VYOS_CONFIG / f"seed_incident_{r}.txt").read_text() for r in ("vyos01", "vyos02")}
        self.failing: dict[str, TransportError] = {}
        self.forgotten: list[set[tuple[str, str]]] = []
        self.closed = False
        self.set(situation)

    def set(self, situation: str) -> None:
        one, two = SITUATIONS[situation]
        self.tables: Mapping[str, str] = {
            "vyos01": render_show_vrrp(table("vyos01", one)),
            "vyos02": render_show_vrrp(table("vyos02", two)),
        }

    async def run(self, target: SshTarget, time_limit: float, command: str | None = None) -> CommandResult:
        await asyncio.sleep(0)
        if target.router in self.failing:
            raise self.failing[target.router]
        if command is not None:  # the routers' VRRP configuration (config reading)
            self.config_reads[target.router] = self.config_reads.get(target.router, 0) + 1
            return CommandResult(self.configs[target.router], "", 0)
        self.calls[target.router] = self.calls.get(target.router, 0) + 1
        return CommandResult(self.tables[target.router], "", 0)

    async def forget(self, keep: set[tuple[str, str]]) -> None:
        self.forgotten.append(keep)

    async def close(self) -> None:
        self.closed = True


def poller(
    interval: str = "200ms", situation: str = "healthy", config_interval: str = "0"
) -> tuple[Poller, ScriptedTransport]:
    transport = ScriptedTransport(situation)
    config = parse_config(CONFIG.format(interval=interval, config_interval=config_interval))
    return Poller(config, transport=transport), transport


async def test_one_round_joins_both_routers() -> None:
    p, transport = poller(situation="split")
    [view] = await p.poll_once()
    assert view.verdict is Verdict.SPLIT
    assert transport.calls == {"vyos01": 1, "vyos02": 1}
    assert p.watches is None  # a scripted transport has no SSH sessions to follow logs on


async def test_loop_polls_every_interval_and_wake_polls_at_once() -> None:
    p, transport = poller(interval="10s")
    p.start()
    try:
        async with asyncio.timeout(2):
            await p.wait_next_round()
        assert transport.calls == {"vyos01": 1, "vyos02": 1}
        transport.set("split")
        p.wake("home")  # a watch stream saw a transition: do not wait 10 s
        async with asyncio.timeout(2):
            await p.wait_next_round()
        assert transport.calls == {"vyos01": 2, "vyos02": 2}
        assert p.views.cluster("home").verdict is Verdict.SPLIT
    finally:
        await p.stop()
    assert transport.closed


async def test_failed_poll_keeps_the_last_success_time() -> None:
    p, transport = poller()
    await p.poll_once()
    first = p.store.snapshot("home", "vyos02")
    assert first is not None and first.last_success_at is not None
    transport.failing["vyos02"] = TransportError("connection refused", PollErrorReason.CONNECT)
    await asyncio.sleep(0.01)
    [view] = await p.poll_once()
    failed = p.store.snapshot("home", "vyos02")
    assert failed is not None and failed.failure is not None
    assert failed.last_success_at == first.last_success_at  # a failure is never stamped as a success
    assert failed.polled_at > first.polled_at
    assert view.verdict is Verdict.ROUTER_DOWN
    assert p.store.errors("home", "vyos02")[PollErrorReason.CONNECT] == 1


async def test_reload_forgets_removed_routers() -> None:
    p, transport = poller()
    await p.poll_once()
    smaller = CONFIG.format(interval="200ms", config_interval="0").replace(
        "      - {name: vyos02, address: 127.0.0.1, port: 10002}\n", ""
    )
    await p.reload(parse_config(smaller))
    await p.stop()
    assert transport.forgotten == [{("home", "vyos01")}]
    assert p.store.snapshot("home", "vyos02") is None
    assert [r.name for r in p.views.cluster("home").routers] == ["vyos01"]


@pytest.mark.parametrize("interval", ["200ms", "1s"])
async def test_views_follow_the_configured_interval(interval: str) -> None:
    p, _ = poller(interval)
    assert p.views.max_age == 3 * p.config.poll_interval


async def test_config_reading_derives_intent_and_lints() -> None:
    """The seed's incident configuration: no sync-group (the default set `all` stays), vyos01 the
    highest priority (the preferred master), and the split risk flagged before any split."""
    p, transport = poller(config_interval="5m")
    [view] = await p.poll_once()
    assert transport.config_reads == {"vyos01": 1, "vyos02": 1}
    assert [s.name for s in view.sets] == ["all"]
    assert view.preferred == {"VLAN1": ("vyos01", True), "VLAN100": ("vyos01", True), "VLAN101": ("vyos01", True)}
    assert view.risks is not None and {f.rule for f in view.risks} == {"split_prone"}
    assert view.verdict is Verdict.HEALTHY  # a risk is a warning, not a failure


async def test_sync_groups_become_the_sets() -> None:
    p, transport = poller(config_interval="5m")
    transport.configs = {r: (VYOS_CONFIG / f"seed_fixed_{r}.txt").read_text() for r in ("vyos01", "vyos02")}
    transport.set("split")
    [view] = await p.poll_once()
    assert [s.name for s in view.sets] == ["MAIN"]
    assert view.verdict is Verdict.SPLIT
    assert view.risks is not None and "split_prone" not in {f.rule for f in view.risks}


async def test_a_failed_config_read_keeps_the_yaml_sets_and_polls_go_on() -> None:
    p, transport = poller(config_interval="5m")
    transport.configs["vyos02"] = "Must be an admin user to run this command.\n"
    [view] = await p.poll_once()
    assert view.risks is None and [s.name for s in view.sets] == ["all"]
    assert p.store.config_errors("home", "vyos02") == 1 and p.store.config_errors("home", "vyos01") == 0
    assert view.verdict is Verdict.HEALTHY and transport.calls == {"vyos01": 1, "vyos02": 1}
