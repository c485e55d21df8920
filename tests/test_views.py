"""The read side: the freshness rule at its boundary, and the memo never serving an outdated view."""

from __future__ import annotations

import pytest
from seed import situation, snapshot

from exporter.errors import PollErrorReason
from exporter.join import Verdict
from exporter.model import ClusterSpec, PollFailure
from exporter.store import SnapshotStore
from exporter.views import STALE_AFTER_INTERVALS, Views

NOW = 1_000_000.0
INTERVAL = 5.0
SPEC = ClusterSpec("home", ("vyos01", "vyos02"))


def views_at(clock: list[float]) -> tuple[Views, SnapshotStore]:
    store = SnapshotStore()
    views = Views(store, clock=lambda: clock[0])
    views.configure([SPEC], poll_interval=INTERVAL)
    for snap in situation("healthy", NOW).values():
        store.record(snap)
    return views, store


@pytest.mark.parametrize(
    ("age", "up"),
    [
        (0.0, True),
        (STALE_AFTER_INTERVALS * INTERVAL, True),  # exactly 3 intervals old: still fresh
        (STALE_AFTER_INTERVALS * INTERVAL + 0.001, False),  # a millisecond older: unknown
        ((STALE_AFTER_INTERVALS + 1) * INTERVAL, False),
    ],
)
def test_freshness_boundary(age: float, up: bool) -> None:
    clock = [NOW + age]
    views, _ = views_at(clock)
    view = views.cluster("home")
    assert [r.up for r in view.routers] == [up, up]
    assert [r.stale for r in view.routers] == [not up, not up]
    assert view.verdict is (Verdict.HEALTHY if up else Verdict.ROUTER_DOWN)


def test_memo_rebuilds_when_only_the_clock_crosses_the_limit() -> None:
    clock = [NOW]
    views, _ = views_at(clock)
    fresh = views.cluster("home")
    assert views.cluster("home") is fresh  # nothing changed: the same object
    clock[0] = NOW + STALE_AFTER_INTERVALS * INTERVAL + 1
    stale = views.cluster("home")
    assert stale is not fresh
    assert not any(r.up for r in stale.routers)


def test_failed_polls_age_out_from_the_last_success() -> None:
    clock = [NOW + 4 * INTERVAL]
    views, store = views_at(clock)
    failure = PollFailure(PollErrorReason.TIMEOUT, "timed out")
    for at in (NOW + INTERVAL, NOW + 2 * INTERVAL, NOW + 4 * INTERVAL):
        store.record(snapshot("vyos02", now=at, failure=failure))
    [one, two] = views.cluster("home").routers
    assert not two.up and not two.stale  # failing, not merely old
    assert not one.up and one.stale  # its last success is 4 intervals old


def test_reconfigure_changes_the_limit() -> None:
    clock = [NOW + 20.0]
    views, _ = views_at(clock)
    assert not views.cluster("home").routers[0].up
    views.configure([SPEC], poll_interval=10.0)  # stale after 30 s now
    assert views.cluster("home").routers[0].up
