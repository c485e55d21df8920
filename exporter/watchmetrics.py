"""Metrics of the optional watch streams (`watch_command`), rendered from the poller's state.

Kept apart from the VRRP collector: they describe the exporter's event path, not the routers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

WatchStatus = Callable[[], dict[tuple[str, str], tuple[bool, int]]]


class WatchCollector(Collector):
    """Example output::

    vrrp_watch_up{router="vyos01",vrrp_cluster="home"} 1.0
    vrrp_watch_events_total{router="vyos01",vrrp_cluster="home"} 4.0
    """

    def __init__(self, status: WatchStatus) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        labels = ["vrrp_cluster", "router"]
        up = GaugeMetricFamily(
            "vrrp_watch_up",
            "1 if the router's watch_command stream (keepalived's log over SSH) is running, else 0;"
            " only routers with a watch_command. Polling goes on either way.",
            labels=labels,
        )
        events = CounterMetricFamily(
            "vrrp_watch_events_total",
            "Lines of the watch stream that matched watch_pattern and triggered a re-poll of the cluster.",
            labels=labels,
        )
        for (cluster, router), (live, count) in sorted(self._status().items()):
            up.add_metric([cluster, router], 1 if live else 0)
            events.add_metric([cluster, router], count)
        yield up
        yield events
