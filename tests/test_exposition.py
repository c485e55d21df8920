"""The fast text writer: byte for byte what prometheus_client's encoders print, scrape after scrape."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from seed import D, Source, record, situation, snapshot

from exporter.collector import VrrpCollector
from exporter.errors import PollErrorReason
from exporter.model import ClusterSpec, PollFailure, SyncSetSpec, VrrpGroup
from exporter.store import SnapshotStore

NOW = 1_000_000.0


def test_fast_render_is_byte_identical_to_prometheus_client() -> None:
    """/metrics is written by VrrpCollector.render (speed); it must equal the library's encoders."""
    odd = VrrpGroup('VLAN "guest"\\x', "eth0.100v1", 7, D, None, None)
    source = Source(
        SnapshotStore(), [ClusterSpec("home", ("vyos01", "vyos02"), (SyncSetSpec("MAIN", ("VLAN1", "VLAN10")),))]
    )
    collector = VrrpCollector(source.views)
    reg = CollectorRegistry()
    reg.register(collector)

    def check() -> None:
        assert collector.render() == generate_latest(reg)
        openmetrics = generate_openmetrics(reg)  # type: ignore[no-untyped-call]
        assert collector.render(openmetrics=True) == openmetrics.removesuffix(b"# EOF\n")

    check()  # nothing polled yet
    record(source, "healthy")
    source.store.record(snapshot("vyos02", (*situation("healthy")["vyos02"].groups, odd), NOW))
    check()
    check()  # the second scrape reuses cached text
    record(source, "split", NOW + 5)
    failure = PollFailure(PollErrorReason.TIMEOUT, "timed out")
    source.store.record(snapshot("vyos01", now=NOW + 6, failure=failure))
    source.now = NOW + 6
    check()
    source.now = NOW + 100  # everything stale
    check()
