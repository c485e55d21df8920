"""Reading the routers' own VRRP configuration, beside the polls, on the same SSH connection.

The routers already know which groups must stay together (sync-groups) and who should be master
(priorities, preempt); reading that lets the exporter derive its sync sets and preferred masters
and lint the pair for split risk before a split happens. Read at start, on reload and every
`config_interval`. A failing read is counted and logged once per change; it never disturbs the
polls, and the last good configuration (or the YAML's sets) stays in use.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Protocol

import structlog

from .aio import cancel_all
from .errors import PollError, PollErrorReason, TransportError
from .model import CommandResult
from .store import SnapshotStore
from .targets import SshTarget
from .vyos_config import DEFAULT_CONFIG_COMMAND, VrrpConfig, parse_vyos_config

log = structlog.get_logger("exporter.configread")


class CommandRunner(Protocol):
    """What reading a configuration needs of a transport: one command on a router's connection."""

    async def run(self, target: SshTarget, time_limit: float, command: str | None = None) -> CommandResult: ...


async def read_config(runner: CommandRunner, target: SshTarget, time_limit: float) -> VrrpConfig:
    """One router's VRRP configuration, or PollError saying why not."""
    result = await runner.run(target, time_limit, target.config_command or DEFAULT_CONFIG_COMMAND)
    if result.exit_status != 0:
        detail = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[0][:200]
        raise TransportError(
            f"config command exited with status {result.exit_status}: {detail}", PollErrorReason.COMMAND
        )
    return parse_vyos_config(result.stdout)


class ConfigReader:
    """One task per cluster: read every router's configuration now, then every `interval`."""

    def __init__(self, runner: CommandRunner, store: SnapshotStore, clock: Callable[[], float]) -> None:
        self._runner = runner
        self._store = store
        self._clock = clock
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._status: dict[tuple[str, str], str | None] = {}  # last error per router, for log-once

    def start(self, clusters: Iterable[tuple[str, tuple[SshTarget, ...]]], interval: float, time_limit: float) -> None:
        for name, targets in clusters:
            self._tasks[name] = asyncio.create_task(
                self._loop(name, targets, interval, time_limit), name=f"config-{name}"
            )

    async def stop(self) -> None:
        await cancel_all(self._tasks)

    def last_error(self, cluster: str, router: str) -> str | None:
        """Why the router's last configuration read failed; None after a good read or before any."""
        return self._status.get((cluster, router))

    async def read_cluster(self, targets: tuple[SshTarget, ...], time_limit: float) -> None:
        await asyncio.gather(*(self._read(t, time_limit) for t in targets))

    async def _loop(self, name: str, targets: tuple[SshTarget, ...], interval: float, time_limit: float) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.read_cluster(targets, time_limit)
            except Exception:
                # A bug must not silently stop config reading: log it loudly and keep the schedule.
                log.exception("config_read_round_crashed", cluster=name)
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))

    async def _read(self, target: SshTarget, time_limit: float) -> None:
        key = (target.cluster, target.router)
        bound = log.bind(cluster=target.cluster, router=target.router)
        try:
            config = await read_config(self._runner, target, time_limit)
        except PollError as exc:
            self._store.record_config(target.cluster, target.router, None, self._clock())
            if self._status.get(key, "") != exc.message:
                bound.warning("config_read_failed", reason=str(exc.reason), error=exc.message)
            self._status[key] = exc.message
            return
        self._store.record_config(target.cluster, target.router, config, self._clock())
        if key not in self._status or self._status[key] is not None:
            bound.info("config_read", groups=len(config.groups), sync_groups=len(config.sync_groups))
        self._status[key] = None
