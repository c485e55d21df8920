"""Watch streams: follow keepalived's log on each router's SSH session and ask for a re-poll.

Polling alone sees a transition at the next tick; keepalived logs it the moment it happens. A
router's `watch_command` (e.g. `journalctl --follow ... --unit=keepalived.service`) runs beside the
polls on the same connection; a line matching `watch_pattern` asks for a poll of the router's
cluster, once per burst. A dead stream is restarted with capped backoff; polling never depends on it.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterable

import structlog

from .aio import cancel_all
from .errors import PollError
from .targets import SshTarget
from .transport import SshTransport, backoff_delay

log = structlog.get_logger("exporter.watch")

# A transition shows as a burst of log lines, often on both routers: wait this long after the
# first line, then poll the cluster once.
DEBOUNCE_SECONDS = 0.15
# A stream that stayed up this long before dying starts its backoff from scratch.
STABLE_SECONDS = 60.0

RouterKey = tuple[str, str]


class WatchStreams:
    def __init__(self, transport: SshTransport, repoll: Callable[[str], None]) -> None:
        self._transport = transport
        self._repoll = repoll
        self._tasks: dict[RouterKey, asyncio.Task[None]] = {}
        self._live: dict[RouterKey, bool] = {}
        self._events: dict[RouterKey, int] = {}
        self._pending: dict[str, asyncio.TimerHandle] = {}

    def start(self, targets: Iterable[SshTarget], time_limit: float) -> None:
        """Start a stream for every target with a watch_command (forgetting routers no longer there)."""
        wanted = {(t.cluster, t.router): t for t in targets if t.watch_command is not None}
        self._events = {k: v for k, v in self._events.items() if k in wanted}
        self._live = dict.fromkeys(wanted, False)
        for key, target in wanted.items():
            self._tasks[key] = asyncio.create_task(self._follow(target, time_limit), name=f"watch-{key}")

    async def stop(self) -> None:
        for handle in self._pending.values():
            handle.cancel()
        self._pending.clear()
        await cancel_all(self._tasks)

    def status(self) -> dict[RouterKey, tuple[bool, int]]:
        """(cluster, router) -> (stream live, matching lines seen), for routers with a watch_command."""
        return {key: (live, self._events.get(key, 0)) for key, live in self._live.items()}

    async def _follow(self, target: SshTarget, time_limit: float) -> None:
        key = (target.cluster, target.router)
        pattern = re.compile(target.watch_pattern)
        bound = log.bind(cluster=target.cluster, router=target.router)
        failures = 0
        reason: str | None = None
        while True:
            opened_at: float | None = None

            def opened(resumed: bool = failures > 0) -> None:
                nonlocal opened_at
                opened_at = time.monotonic()
                self._live[key] = True
                bound.info("watch_started")
                if resumed:
                    self._debounced(target.cluster)  # transitions may have happened while it was down

            try:
                await self._transport.watch(target, time_limit, lambda line: self._line(target, pattern, line), opened)
            except PollError as exc:
                self._live[key] = False
                if opened_at is not None or reason != str(exc.reason):
                    bound.warning("watch_failed", reason=str(exc.reason), error=exc.message)
                reason = str(exc.reason)
            stable = opened_at is not None and time.monotonic() - opened_at > STABLE_SECONDS
            failures = 1 if stable else failures + 1
            await asyncio.sleep(backoff_delay(failures))

    def _line(self, target: SshTarget, pattern: re.Pattern[str], line: str) -> None:
        if not pattern.search(line):
            return
        key = (target.cluster, target.router)
        self._events[key] = self._events.get(key, 0) + 1
        log.debug("watch_event", cluster=target.cluster, router=target.router, line=line[:200])
        self._debounced(target.cluster)

    def _debounced(self, cluster: str) -> None:
        if cluster not in self._pending:
            loop = asyncio.get_running_loop()
            self._pending[cluster] = loop.call_later(DEBOUNCE_SECONDS, self._fire, cluster)

    def _fire(self, cluster: str) -> None:
        self._pending.pop(cluster, None)
        self._repoll(cluster)
