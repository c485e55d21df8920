"""Prometheus collector: renders the latest snapshots on every scrape, with no I/O.

Families are built fresh per scrape, so a router or group that disappears simply stops being
exported instead of freezing at its last value. Example output::

    # HELP vrrp_master_split 1 if the masters of the groups of this sync set sit on two or more routers ...
    # TYPE vrrp_master_split gauge
    vrrp_master_split{set="all",vrrp_cluster="home"} 1.0

Two ways out, one source of rows: `collect()` (prometheus_client's model, what a registry and the
tests read) and `render()` (the same text, written directly; see its docstring for why).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from . import __version__
from .errors import PollErrorReason
from .join import ClusterView, RouterView
from .model import VrrpState
from .store import SnapshotStore

_SOURCE = "From a background poll of `show vrrp` over SSH, not from this scrape."
STATES = tuple(VrrpState)

Labels = tuple[str, ...]


class ViewSource(Protocol):
    store: SnapshotStore

    def views(self) -> list[ClusterView]: ...


@dataclass(frozen=True, slots=True, eq=False)  # eq=False: families are dict keys, hashed by identity
class _Family:
    name: str  # counters end in _total, as their samples do
    doc: str
    labels: Labels
    counter: bool = False

    def metric(self) -> GaugeMetricFamily | CounterMetricFamily:
        if self.counter:
            return CounterMetricFamily(self.name, self.doc, labels=list(self.labels))
        return GaugeMetricFamily(self.name, self.doc, labels=list(self.labels))


def _gauge(name: str, doc: str, labels: Labels) -> _Family:
    return _Family(name, f"{doc} {_SOURCE}", labels)


_ROUTER: Labels = ("vrrp_cluster", "router")
_GROUP: Labels = ("vrrp_cluster", "router", "group")
_SET: Labels = ("vrrp_cluster", "set")

UP = _gauge("vrrp_router_up", "1 if the last poll of this router succeeded and is fresh.", _ROUTER)
DURATION = _gauge("vrrp_poll_duration_seconds", "Duration of the last poll of this router.", _ROUTER)
SUCCESS = _gauge(
    "vrrp_last_poll_success_timestamp_seconds", "Unix time of the last successful poll of this router.", _ROUTER
)
ERRORS = _Family(
    "vrrp_poll_errors_total",
    f"Failed polls of this router by reason (connect, timeout, auth, hostkey, command, parse). {_SOURCE}",
    (*_ROUTER, "reason"),
    counter=True,
)
STATE = _gauge(
    "vrrp_group_state",
    "1 for the VRRP state this router reports for the group, 0 for the other states.",
    (*_GROUP, "interface", "vrid", "state"),
)
PRIORITY = _gauge("vrrp_group_priority", "Effective VRRP priority of the group on this router.", _GROUP)
TRANSITION = _gauge(
    "vrrp_group_last_transition_timestamp_seconds",
    "Unix time of the group's last state transition on this router (from Last Transition).",
    _GROUP,
)
TRANSITIONS = _Family(
    "vrrp_group_transitions_total",
    "State changes of the group on this router seen by the exporter, including those implied"
    f" by a newer Last Transition between two polls. {_SOURCE}",
    _GROUP,
    counter=True,
)
GROUP_MASTERS = _gauge(
    "vrrp_group_masters",
    "Routers reporting MASTER for the group (0 = no master, 2+ = dual master); up routers only.",
    ("vrrp_cluster", "group"),
)
SET_MASTERS = _gauge("vrrp_set_masters", "Distinct routers that are MASTER of some group of the sync set.", _SET)
SPLIT = _gauge(
    "vrrp_master_split",
    "1 if the masters of the groups of this sync set sit on two or more routers (asymmetric routing), else 0.",
    _SET,
)
MISSING = _gauge(
    "vrrp_set_missing_groups", "Groups named in the sync set that no router reports (e.g. a typo in the config).", _SET
)
PREFERRED = _gauge(
    "vrrp_group_master_is_preferred",
    "1 if the group's master is its preferred master (set, else cluster setting), else 0.",
    ("vrrp_cluster", "group"),
)
BUILD_INFO = _Family("vrrp_exporter_build_info", "Version of vyos-vrrp-exporter; always 1.", ("version",))

_GROUP_FAMILIES = (STATE, PRIORITY, TRANSITION, TRANSITIONS)
# Exposition order.
FAMILIES: tuple[_Family, ...] = (
    *(UP, DURATION, SUCCESS, ERRORS),
    *_GROUP_FAMILIES,
    *(GROUP_MASTERS, SET_MASTERS, SPLIT, MISSING, PREFERRED),
    BUILD_INFO,
)

Row = tuple[_Family, Labels, float]


def _router_rows(cluster: str, router: RouterView) -> Iterator[Row]:
    key = (cluster, router.name)
    yield UP, key, 1 if router.up else 0
    snapshot = router.snapshot
    if snapshot is not None:
        yield DURATION, key, snapshot.duration_seconds
        if snapshot.last_success_at is not None:
            yield SUCCESS, key, snapshot.last_success_at


def _error_rows(cluster: str, router: str, errors: Mapping[PollErrorReason, int]) -> Iterator[Row]:
    for reason, count in errors.items():
        yield ERRORS, (cluster, router, str(reason)), count


def _group_rows(store: SnapshotStore, cluster: str, router: RouterView) -> Iterator[Row]:
    for group in router.groups.values():
        key = (cluster, router.name, group.name)
        vrid = "" if group.vrid is None else str(group.vrid)
        for s in STATES:
            yield STATE, (*key, group.interface, vrid, s.value), 1 if group.state is s else 0
        if group.priority is not None:
            yield PRIORITY, key, group.priority
        at = store.transition_at(*key)
        if at is not None:
            yield TRANSITION, key, at
        yield TRANSITIONS, key, store.transitions(*key)


def _derived_rows(view: ClusterView) -> Iterator[Row]:
    if not view.any_up:
        return  # nothing fresh to derive from; vrrp_router_up already says why
    cluster = view.spec.name
    for group in view.groups:
        yield GROUP_MASTERS, (cluster, group.name), len(group.masters)
    for s in view.sets:
        yield SET_MASTERS, (cluster, s.name), s.master_count
        yield SPLIT, (cluster, s.name), 1 if s.split else 0
        yield MISSING, (cluster, s.name), len(s.missing_groups)
    for group_name, (_, is_master) in view.preferred.items():
        yield PREFERRED, (cluster, group_name), 1 if is_master else 0


# --- the text formats, written directly ---------------------------------------------------------


class _Single(Collector):
    def __init__(self, metric: Metric) -> None:
        self._metric = metric

    def collect(self) -> Iterator[Metric]:
        yield self._metric


def _headers(family: _Family) -> tuple[bytes, bytes]:
    """`# HELP`/`# TYPE` lines (text format, OpenMetrics), printed by prometheus_client itself."""
    text = generate_latest(_Single(family.metric()))
    openmetrics: bytes = generate_openmetrics(_Single(family.metric()))  # type: ignore[no-untyped-call]
    return text, openmetrics.removesuffix(b"# EOF\n")


_HEADERS = {family: _headers(family) for family in FAMILIES}
_go_float: Callable[[float], str] = floatToGoString  # the library's own float format (untyped there)
_SMALL_INTS = {n: _go_float(n).encode() for n in range(256)}


def _value(value: float) -> bytes:
    if type(value) is int:
        text = _SMALL_INTS.get(value)
        if text is not None:
            return text
    return _go_float(value).encode()


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _prefix(family: _Family, labels: Labels) -> bytes:
    """`name{a="x",b="y"} `, labels sorted by name, as prometheus_client writes a sample."""
    pairs = ",".join(f'{name}="{_escape(value)}"' for name, value in sorted(zip(family.labels, labels, strict=True)))
    return (f"{family.name}{{{pairs}}} " if pairs else f"{family.name} ").encode()


def _lines(rows: Iterable[Row]) -> dict[_Family, bytes]:
    out: dict[_Family, list[bytes]] = {}
    for family, labels, value in rows:
        out.setdefault(family, []).append(_prefix(family, labels) + _value(value) + b"\n")
    return {family: b"".join(lines) for family, lines in out.items()}


@dataclass(slots=True)
class _Formatted:
    """Text one scrape formatted, for the next one to reuse."""

    prefixes: dict[tuple[_Family, Labels], bytes] = field(default_factory=dict)  # per series
    blocks: dict[tuple[str, ...], tuple[object, dict[_Family, bytes]]] = field(default_factory=dict)  # (stamp, text)


class _Text:
    """One scrape's exposition, collected family by family (as UTF-8, the way it is sent)."""

    def __init__(self, previous: _Formatted) -> None:
        self._previous = previous
        self.formatted = _Formatted()  # only what this scrape used: gone series do not pile up
        self._chunks: dict[_Family, list[bytes]] = {family: [] for family in FAMILIES}

    def rows(self, rows: Iterable[Row]) -> None:
        """Series whose values change every poll: the label part is reused, the value is new."""
        prefixes, previous = self.formatted.prefixes, self._previous.prefixes
        for family, labels, value in rows:
            key = (family, labels)
            prefix = prefixes.get(key)
            if prefix is None:
                prefix = prefixes[key] = previous.get(key) or _prefix(family, labels)
            self._chunks[family].append(prefix + _value(value) + b"\n")

    def block(self, key: tuple[str, ...], stamp: object, rows: Callable[[], Iterable[Row]]) -> None:
        """Series that change only when `stamp` does: their whole text is reused until then."""
        cached = self._previous.blocks.get(key)
        if cached is None or cached[0] != stamp:
            cached = (stamp, _lines(rows()))
        self.formatted.blocks[key] = cached
        for family, text in cached[1].items():
            self._chunks[family].append(text)

    def parts(self, openmetrics: bool) -> list[bytes]:
        which = 1 if openmetrics else 0
        return [part for family in FAMILIES for part in (_HEADERS[family][which], *self._chunks[family])]


class VrrpCollector(Collector):
    """Every metric of DESIGN.md's table, from the poller's views."""

    def __init__(self, source: ViewSource) -> None:
        self._source = source
        self._formatted = _Formatted()

    def collect(self) -> Iterator[Metric]:
        store = self._source.store
        families = {family: family.metric() for family in FAMILIES}
        for view in self._source.views():
            cluster = view.spec.name
            for router in view.routers:
                for family, labels, value in (
                    *_router_rows(cluster, router),
                    *_error_rows(cluster, router.name, store.errors(cluster, router.name)),
                    *_group_rows(store, cluster, router),
                ):
                    families[family].add_metric(labels, value)
            for family, labels, value in _derived_rows(view):
                families[family].add_metric(labels, value)
        families[BUILD_INFO].add_metric([__version__], 1)
        yield from families.values()

    def render(self, openmetrics: bool = False) -> bytes:
        """What `generate_latest` (or, with `openmetrics`, the OpenMetrics encoder without its
        final `# EOF`) returns for `collect()`, byte for byte.

        Why: prometheus_client formats every sample from scratch, about 10 µs each; at 10,000
        groups (95,000 samples, 10 MB) a scrape took a second. Here each series' label part is
        formatted once, and error, group and derived series, which between two polls almost
        never change, are reused whole until their counts or the store's group versions change.
        """
        return b"".join(self.render_parts(openmetrics))

    def render_parts(self, openmetrics: bool = False) -> list[bytes]:
        """`render()` in pieces, for a caller that joins them with more (one copy of 10 MB, not two)."""
        store = self._source.store
        out = _Text(self._formatted)
        for view in self._source.views():
            cluster = view.spec.name
            stamps: list[tuple[int, bool]] = []
            for router in view.routers:
                out.rows(_router_rows(cluster, router))
                errors = store.errors(cluster, router.name)
                rows = partial(_error_rows, cluster, router.name, errors)
                out.block(("errors", cluster, router.name), tuple(errors.values()), rows)
                stamp = (store.group_version(cluster, router.name), router.up)
                out.block(("groups", cluster, router.name), stamp, partial(_group_rows, store, cluster, router))
                stamps.append(stamp)
            # Derived series follow from the spec and the up routers' tables, nothing else.
            out.block(("derived", cluster), (view.spec, tuple(stamps)), partial(_derived_rows, view))
        out.rows([(BUILD_INFO, (__version__,), 1)])
        self._formatted = out.formatted
        return out.parts(openmetrics)
