"""Prometheus collector: renders the latest snapshots on every scrape, with no I/O.

Families are built fresh per scrape, so a router or group that disappears simply stops being
exported instead of freezing at its last value. Example output::

    # HELP vrrp_master_split 1 if the masters of the groups of this sync set sit on two or more routers ...
    # TYPE vrrp_master_split gauge
    vrrp_master_split{set="all",vrrp_cluster="home"} 1.0
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from . import __version__
from .model import VrrpState
from .store import SnapshotStore
from .verdict import ClusterView

_SOURCE = "From a background poll of `show vrrp` over SSH, not from this scrape."
STATES = tuple(VrrpState)


class ViewSource(Protocol):
    store: SnapshotStore

    def views(self) -> list[ClusterView]: ...


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, f"{doc} {_SOURCE}", labels=labels)


class VrrpCollector(Collector):
    """Every metric of DESIGN.md's table, from the poller's views."""

    def __init__(self, source: ViewSource) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        views = self._source.views()
        yield from self._router_metrics(views)
        yield from self._group_metrics(views)
        yield from self._derived_metrics(views)
        info = GaugeMetricFamily(
            "vrrp_exporter_build_info", "Version of vyos-vrrp-exporter; always 1.", labels=["version"]
        )
        info.add_metric([__version__], 1)
        yield info

    def _router_metrics(self, views: list[ClusterView]) -> Iterator[Metric]:
        store = self._source.store
        labels = ["vrrp_cluster", "router"]
        up = _gauge("vrrp_router_up", "1 if the last poll of this router succeeded and is fresh.", labels)
        duration = _gauge("vrrp_poll_duration_seconds", "Duration of the last poll of this router.", labels)
        success = _gauge(
            "vrrp_last_poll_success_timestamp_seconds",
            "Unix time of the last successful poll of this router.",
            labels,
        )
        errors = CounterMetricFamily(
            "vrrp_poll_errors_total",
            f"Failed polls of this router by reason (connect, timeout, auth, hostkey, command, parse). {_SOURCE}",
            labels=[*labels, "reason"],
        )
        for view in views:
            cluster = view.spec.name
            for router in view.routers:
                key = [cluster, router.name]
                up.add_metric(key, 1 if router.up else 0)
                snapshot = router.snapshot
                if snapshot is not None:
                    duration.add_metric(key, snapshot.duration_seconds)
                    if snapshot.last_success_at is not None:
                        success.add_metric(key, snapshot.last_success_at)
                for reason, count in store.errors(cluster, router.name).items():
                    errors.add_metric([*key, str(reason)], count)
        yield from (up, duration, success, errors)

    def _group_metrics(self, views: list[ClusterView]) -> Iterator[Metric]:
        store = self._source.store
        labels = ["vrrp_cluster", "router", "group"]
        state = _gauge(
            "vrrp_group_state",
            "1 for the VRRP state this router reports for the group, 0 for the other states.",
            [*labels, "interface", "vrid", "state"],
        )
        priority = _gauge("vrrp_group_priority", "Effective VRRP priority of the group on this router.", labels)
        transition = _gauge(
            "vrrp_group_last_transition_timestamp_seconds",
            "Unix time of the group's last state transition on this router (from Last Transition).",
            labels,
        )
        transitions = CounterMetricFamily(
            "vrrp_group_transitions_total",
            "State changes of the group on this router seen by the exporter, including those implied"
            f" by a newer Last Transition between two polls. {_SOURCE}",
            labels=labels,
        )
        for view in views:
            cluster = view.spec.name
            for router in view.routers:
                for group in router.groups.values():
                    key = [cluster, router.name, group.name]
                    vrid = "" if group.vrid is None else str(group.vrid)
                    for s in STATES:
                        state.add_metric([*key, group.interface, vrid, s.value], 1 if group.state is s else 0)
                    if group.priority is not None:
                        priority.add_metric(key, group.priority)
                    at = store.transition_at(cluster, router.name, group.name)
                    if at is not None:
                        transition.add_metric(key, at)
                    transitions.add_metric(key, store.transitions(cluster, router.name, group.name))
        yield from (state, priority, transition, transitions)

    def _derived_metrics(self, views: list[ClusterView]) -> Iterator[Metric]:
        group_masters = _gauge(
            "vrrp_group_masters",
            "Routers reporting MASTER for the group (0 = no master, 2+ = dual master); up routers only.",
            ["vrrp_cluster", "group"],
        )
        set_labels = ["vrrp_cluster", "set"]
        set_masters = _gauge(
            "vrrp_set_masters", "Distinct routers that are MASTER of some group of the sync set.", set_labels
        )
        split = _gauge(
            "vrrp_master_split",
            "1 if the masters of the groups of this sync set sit on two or more routers (asymmetric routing), else 0.",
            set_labels,
        )
        missing = _gauge(
            "vrrp_set_missing_groups",
            "Groups named in the sync set that no router reports (e.g. a typo in the config).",
            set_labels,
        )
        preferred = _gauge(
            "vrrp_group_master_is_preferred",
            "1 if the group's master is its preferred master (set, else cluster setting), else 0.",
            ["vrrp_cluster", "group"],
        )
        for view in views:
            if not view.any_up:
                continue  # nothing fresh to derive from; vrrp_router_up already says why
            cluster = view.spec.name
            for group in view.groups:
                group_masters.add_metric([cluster, group.name], len(group.masters))
            for s in view.sets:
                set_masters.add_metric([cluster, s.name], s.master_count)
                split.add_metric([cluster, s.name], 1 if s.split else 0)
                missing.add_metric([cluster, s.name], len(s.missing_groups))
            for group_name, (_, is_master) in view.preferred.items():
                preferred.add_metric([cluster, group_name], 1 if is_master else 0)
        yield from (group_masters, set_masters, split, missing, preferred)
