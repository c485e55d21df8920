"""Background polling: every `poll_interval`, run `show vrrp` on every router of each cluster.

Why a background poller instead of polling per scrape (the usual exporter advice): an SSH command
takes tens to hundreds of milliseconds per router and several Prometheus servers may scrape us; a
scrape must stay cheap and must never open SSH sessions. Data age is exported
(`vrrp_last_poll_success_timestamp_seconds`) and data older than 3 intervals counts as down.
All routers of a cluster are polled together, so the join compares tables taken at the same moment.

The poller writes the store; what it logs about a cluster it reads back from the views, like
everyone else. It reaches routers through the `Transport` protocol (SshTransport in production).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from typing import Protocol

import structlog

from .aio import cancel_all
from .config import Config
from .configread import CommandRunner, ConfigReader
from .errors import PollError, PollErrorReason, VrrpUnavailableError
from .findings import problems
from .join import ClusterView, Verdict
from .model import PollFailure, RouterSnapshot
from .parse import ParsedVrrp, interpret
from .store import SnapshotStore
from .targets import Runtime, SshTarget
from .transport import SshTransport
from .views import Views
from .watch import WatchStreams

log = structlog.get_logger("exporter.poller")

# VyOS's `show vrrp` has keepalived write one dump file, reads it and deletes it: a reader racing
# another one (a second exporter, an admin at the CLI) gets "not running" / "not available",
# the same words as a stopped keepalived, once the winner's dump is through (~1 s). From a router
# that had groups (or has not been read yet) such an answer is asked again, after a random pause,
# as often as the poll's time limit allows, and only believed once every answer of `DOUBT_POLLS`
# polls in a row said it. The pause is short, because a race loser hears back only once the
# winner's dump is through, so the file is free right then; and random, so that two exporters
# polling at one interval do not collide again at every ask.
DOUBT_POLLS = 2  # polls in a row whose every answer was doubtful before it is believed
DOUBT_ASKS = 3  # answers per poll at most
MIN_ASK_SECONDS = 0.05  # time kept for one more answer, however fast the last one came
DOUBT_PAUSE_SECONDS = (0.02, 0.3)
RACE_JITTER = 0.5  # after a round with a doubtful answer, the next one starts up to half an interval later


class Transport(CommandRunner, Protocol):
    """How the poller reaches a router (SshTransport; tests may pass a scripted one): `run` a
    command, and manage the connections behind it."""

    async def forget(self, keep: set[tuple[str, str]]) -> None: ...

    async def close(self) -> None: ...


def _said(failure: PollFailure | None, parsed: ParsedVrrp) -> str | None:
    return failure.message if failure is not None else parsed.message


class Poller:
    def __init__(
        self,
        config: Config,
        store: SnapshotStore | None = None,
        transport: Transport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store or SnapshotStore()
        self.views = Views(self.store, clock)
        self.transport: Transport = transport or SshTransport()
        self._clock = clock
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._started: dict[str, int] = {}
        self._round_done = asyncio.Condition()
        self._router_status: dict[tuple[str, str], PollErrorReason | None] = {}
        self._verdicts: dict[str, Verdict] = {}
        self._report_missing: set[str] = set()
        self._vrrp_gone: set[tuple[str, str]] = set()  # routers whose `vrrp_stopped` was logged
        self._raced: dict[str, bool] = {}  # clusters whose last round had to ask again
        self._doubts: dict[tuple[str, str], int] = {}  # polls in a row that ended in doubt, per router
        self._doubt_polls = DOUBT_POLLS
        # Watch streams need SSH sessions: a scripted transport has none.
        ssh = self.transport if isinstance(self.transport, SshTransport) else None
        self.watches = WatchStreams(ssh, self.wake) if ssh is not None else None
        self.config_reader = ConfigReader(self.transport, self.store, clock)
        self._risks: dict[str, frozenset[tuple[str, tuple[str, ...]]]] = {}  # logged config findings
        self._set_config(config)

    # --- configuration ----------------------------------------------------------------------------

    def _set_config(self, config: Config) -> None:
        self.runtime = Runtime.of(config)
        self.views.configure(self.runtime.specs.values(), config.poll_interval)
        self._semaphore = asyncio.Semaphore(config.max_concurrent_polls)
        # Sync-set typos are reported after the first round of every (re)load.
        self._report_missing = set(self.runtime.specs)

    @property
    def config(self) -> Config:
        return self.runtime.config

    def ready(self) -> bool:
        return self.views.ready()

    async def reload(self, config: Config) -> None:
        """Swap in a validated config: stop polling, drop removed routers, start again."""
        await self.stop(close_transport=False)
        self._set_config(config)
        keep = {(t.cluster, t.router) for t in self.runtime.all_targets()}
        self.store.retain(keep)
        if config.config_read_interval is None:
            self.store.forget_configs()
        self._router_status = {k: v for k, v in self._router_status.items() if k in keep}
        self._vrrp_gone &= keep
        self._doubts = {k: v for k, v in self._doubts.items() if k in keep}
        self._verdicts = {k: v for k, v in self._verdicts.items() if k in self.runtime.specs}
        await self.transport.forget(keep)
        self.start()

    # --- running ----------------------------------------------------------------------------------

    def start(self) -> None:
        for name in self.runtime.specs:
            self._wake[name] = asyncio.Event()
            self._tasks[name] = asyncio.create_task(self._loop(name), name=f"poll-{name}")
        if self.watches is not None:
            self.watches.start(self.runtime.all_targets(), self.config.command_timeout)
        interval = self.config.config_read_interval
        if interval is not None:
            self.config_reader.start(self.runtime.targets.items(), interval, self.config.command_timeout)

    async def stop(self, close_transport: bool = True) -> None:
        await self.config_reader.stop()
        if self.watches is not None:
            await self.watches.stop()
        await cancel_all(self._tasks)
        if close_transport:
            await self.transport.close()

    def wake(self, cluster: str) -> None:
        """Poll a cluster now instead of at the next tick (used after a known change)."""
        event = self._wake.get(cluster)
        if event is not None:
            event.set()

    async def wait_next_round(self) -> None:
        """Wait until every cluster has completed a round that *started* after this call.

        Callers bound the wait with `asyncio.timeout`."""
        target = {name: self._started.get(name, 0) + 1 for name in self.runtime.specs}
        async with self._round_done:
            await self._round_done.wait_for(lambda: all(self.store.rounds(n) >= k for n, k in target.items()))

    async def _loop(self, name: str) -> None:
        interval = self.config.poll_interval
        wake = self._wake[name]
        while True:
            started = time.monotonic()
            wake.clear()
            try:
                await self.poll_cluster(name)
            except Exception:
                # A bug must not silently stop polling: log it loudly and keep the schedule.
                log.exception("poll_round_crashed", cluster=name)
            delay = interval - (time.monotonic() - started)
            if self._raced.pop(name, False):
                # Another reader shares the routers' one dump file and may poll at our interval:
                # shift our schedule by a random amount so the two drift apart instead of colliding
                # at every round.
                delay = max(delay, 0.0) + random.uniform(0.0, RACE_JITTER * interval)
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await wake.wait()

    async def poll_once(self) -> list[ClusterView]:
        """One round of every cluster, concurrently, with the routers' configuration read first
        when config reading is on (the `poll` command)."""
        await self.read_configs()
        # One look, no earlier poll to weigh against: an answer that every ask of this poll
        # repeated is believed.
        self._doubt_polls = 1
        try:
            await asyncio.gather(*(self.poll_cluster(name) for name in self.runtime.specs))
        finally:
            self._doubt_polls = DOUBT_POLLS
        return self.views.clusters()

    async def read_configs(self) -> None:
        """Read every router's VRRP configuration once (if config reading is on)."""
        if self.config.config_read_interval is None:
            return
        limit = self.config.command_timeout
        await asyncio.gather(*(self.config_reader.read_cluster(ts, limit) for ts in self.runtime.targets.values()))

    def config_unread(self, cluster: str) -> dict[str, str] | None:
        """Routers of `cluster` whose VRRP configuration is not at hand, with why (the last read's
        error); None when config reading is off."""
        if self.config.config_read_interval is None:
            return None
        spec = self.runtime.specs[cluster]
        read = self.store.configs(cluster, spec.routers)
        return {r: self.config_reader.last_error(cluster, r) or "not read yet" for r in spec.routers if r not in read}

    async def poll_cluster(self, name: str) -> list[RouterSnapshot]:
        """One round: every router of the cluster at once. A router whose answer is still in
        doubt keeps its last snapshot (it has none in the result)."""
        self._started[name] = self._started.get(name, 0) + 1
        polled = await asyncio.gather(*(self.poll_router(t) for t in self.runtime.targets[name]))
        snapshots = [s for s in polled if s is not None]
        for snapshot in snapshots:
            self._record(snapshot)
        self.store.finish_round(name)
        self._report(name)
        async with self._round_done:
            self._round_done.notify_all()
        return snapshots

    async def poll_router(self, target: SshTarget) -> RouterSnapshot | None:
        """Ask the router, and ask again while its answer is doubtful (see `DOUBT_POLLS`).

        Returns None while a doubtful answer is not believed yet: the router's last table stays, and
        stays fresh (the router did answer), and every such answer counts as `unavailable`."""
        key = (target.cluster, target.router)
        async with self._semaphore:
            started = time.monotonic()
            deadline = started + self.config.command_timeout
            doubt = self.store.expects_groups(*key)
            for ask in range(1, DOUBT_ASKS + 1):
                asked = time.monotonic()
                parsed, failure, doubtful = await self._ask(target, max(deadline - asked, 0.001))
                if not (doubt and doubtful):
                    self._doubts.pop(key, None)
                    break
                # Room for a pause and another answer as slow as this one (with half again as margin)?
                now = time.monotonic()
                room = deadline - now - max(1.5 * (now - asked), MIN_ASK_SECONDS)
                if ask == DOUBT_ASKS or room < DOUBT_PAUSE_SECONDS[0]:
                    streak = self._doubts.get(key, 0) + 1
                    if streak >= self._doubt_polls:
                        self._doubts.pop(key, None)
                        break  # doubtful at every ask of several polls: believed
                    self._doubts[key] = streak
                    if self.store.snapshot(*key) is not None:
                        self._doubted(target, failure, parsed, asking_again=False)
                        self.store.vouch(*key, self._clock())
                        return None
                    # Never read before: nothing older to keep, so the router is not read yet.
                    failure = PollFailure(PollErrorReason.UNAVAILABLE, f"not believed yet: {_said(failure, parsed)}")
                    parsed = ParsedVrrp(())
                    break
                self._doubted(target, failure, parsed, asking_again=True)
                self._raced[target.cluster] = True
                await asyncio.sleep(min(random.uniform(*DOUBT_PAUSE_SECONDS), room))
            duration = time.monotonic() - started
        now = self._clock()
        return RouterSnapshot(
            cluster=target.cluster,
            router=target.router,
            polled_at=now,
            duration_seconds=duration,
            groups=parsed.groups,
            failure=failure,
            last_success_at=now if failure is None else None,
            problems=parsed.problems,
        )

    async def _ask(self, target: SshTarget, time_limit: float) -> tuple[ParsedVrrp, PollFailure | None, bool]:
        """One command: what it said, why it failed, and whether the answer is in doubt."""
        try:
            result = await self.transport.run(target, time_limit)
            parsed = interpret(result, self._clock())
        except VrrpUnavailableError as exc:
            return ParsedVrrp(()), PollFailure(exc.reason, exc.message), True
        except PollError as exc:
            return ParsedVrrp(()), PollFailure(exc.reason, exc.message), False
        return parsed, None, parsed.doubtful

    def _doubted(self, target: SshTarget, failure: PollFailure | None, parsed: ParsedVrrp, asking_again: bool) -> None:
        """Count an answer not believed yet (asked again now, or left in doubt until the next poll)."""
        self.store.count_error(target.cluster, target.router, PollErrorReason.UNAVAILABLE)
        log.debug(
            "poll_answer_doubted",
            cluster=target.cluster,
            router=target.router,
            answer=_said(failure, parsed),
            asking_again=asking_again,
        )

    def watch_status(self) -> dict[tuple[str, str], tuple[bool, int]]:
        return self.watches.status() if self.watches is not None else {}

    # --- logging: once per change, not once per poll ------------------------------------------------

    def _record(self, snapshot: RouterSnapshot) -> None:
        bound = log.bind(cluster=snapshot.cluster, router=snapshot.router)
        key = (snapshot.cluster, snapshot.router)
        reason = snapshot.failure.reason if snapshot.failure else None
        if key not in self._router_status or self._router_status[key] != reason:
            if snapshot.failure is not None:
                bound.warning(
                    "poll_failed",
                    reason=str(reason),
                    error=snapshot.failure.message,
                    duration_seconds=round(snapshot.duration_seconds, 3),
                )
            elif key in self._router_status:
                bound.info("poll_recovered", groups=len(snapshot.groups))
            else:
                bound.info("router_up", groups=len(snapshot.groups))
        self._router_status[key] = reason
        reloads = self.store.reloads(*key)
        for group, old, new in self.store.record(snapshot):
            bound.info("vrrp_state_changed", group=group, old_state=str(old), new_state=str(new))
        if self.store.reloads(*key) > reloads:
            bound.info("keepalived_reload_seen", note="Last Transition reset on every group; not a transition")
        self._log_vrrp_gone(key, bound)
        if snapshot.failure is None:
            bound.debug("poll_ok", groups=len(snapshot.groups), duration_seconds=round(snapshot.duration_seconds, 3))

    def _log_vrrp_gone(self, key: tuple[str, str], bound: structlog.typing.FilteringBoundLogger) -> None:
        stored = self.store.snapshot(*key)
        if stored is None or stored.failure is not None:
            return
        if stored.vrrp_gone and key not in self._vrrp_gone:
            self._vrrp_gone.add(key)
            bound.warning("vrrp_stopped", groups_before=",".join(stored.vrrp_gone))
        elif stored.groups and key in self._vrrp_gone:
            self._vrrp_gone.discard(key)
            bound.info("vrrp_resumed", groups=len(stored.groups))

    def _report(self, name: str) -> None:
        view = self.views.cluster(name)
        verdict = view.verdict
        previous = self._verdicts.get(name)
        if verdict != previous:
            found = "; ".join(message for _, message in problems(view))
            if verdict is Verdict.HEALTHY:
                log.info(
                    "cluster_verdict_changed",
                    cluster=name,
                    verdict=str(verdict),
                    previous=str(previous) if previous else None,
                )
            else:
                log.warning(
                    "cluster_verdict_changed",
                    cluster=name,
                    verdict=str(verdict),
                    previous=str(previous) if previous else None,
                    problems=found,
                )
            self._verdicts[name] = verdict
        risks = frozenset((f.rule, f.groups) for f in view.risks or ())
        if risks != self._risks.get(name, frozenset()):
            self._risks[name] = risks
            for finding in view.risks or ():
                log.warning(
                    "config_risk",
                    cluster=name,
                    rule=finding.rule,
                    groups=",".join(finding.groups),
                    routers=",".join(finding.routers),
                    reason=finding.reason,
                    fix="; ".join(finding.fix),
                )
        if name in self._report_missing and view.any_up:
            self._report_missing.discard(name)
            for s in view.sets:
                if s.missing_groups:
                    log.warning(
                        "sync_set_group_missing",
                        cluster=name,
                        set=s.name,
                        missing_groups=",".join(s.missing_groups),
                        reported_groups=",".join(g.name for g in view.groups),
                    )
