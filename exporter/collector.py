"""Prometheus collector: the VRRP metric families and the rows of one scrape, with no I/O.

Families are built fresh per scrape, so a router or group that disappears simply stops being
exported instead of freezing at its last value. Example output::

    # HELP vrrp_master_split 1 if the masters of the groups of this sync set sit on two or more routers ...
    # TYPE vrrp_master_split gauge
    vrrp_master_split{set="all",vrrp_cluster="home"} 1.0

Two ways out, one source of rows: `collect()` (prometheus_client's model, what a registry and the
tests read) and `render()` (the same text, written by exposition.py's TextWriter).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from functools import partial
from typing import Protocol

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from . import build_info
from .config_risk import RULES
from .errors import PollErrorReason
from .exposition import Family, Labels, Row, TextWriter
from .join import ClusterView, RouterView
from .model import VrrpState

_SOURCE = "From a background poll of `show vrrp` over SSH, not from this scrape."
STATES = tuple(VrrpState)


class ScrapeSource(Protocol):
    """What the collector reads (views.Views): the cluster views and the history behind them."""

    def clusters(self) -> list[ClusterView]: ...

    def errors(self, cluster: str, router: str) -> Mapping[PollErrorReason, int]: ...

    def transitions(self, cluster: str, router: str, group: str) -> int: ...

    def transition_at(self, cluster: str, router: str, group: str) -> float | None: ...

    def generation(self, cluster: str, router: str) -> int: ...

    def parse_problems(self, cluster: str, router: str) -> int: ...

    def config_errors(self, cluster: str, router: str) -> int: ...

    def config_read_at(self, cluster: str, router: str) -> float | None: ...


def _gauge(name: str, doc: str, labels: Labels) -> Family:
    return Family(name, f"{doc} {_SOURCE}", labels)


_ROUTER: Labels = ("vrrp_cluster", "router")
_GROUP: Labels = ("vrrp_cluster", "router", "group")
_SET: Labels = ("vrrp_cluster", "set")

UP = _gauge("vrrp_router_up", "1 if the last poll of this router succeeded and is fresh.", _ROUTER)
DURATION = _gauge("vrrp_poll_duration_seconds", "Duration of the last poll of this router.", _ROUTER)
SUCCESS = _gauge(
    "vrrp_last_poll_success_timestamp_seconds", "Unix time of the last successful poll of this router.", _ROUTER
)
ERRORS = Family(
    "vrrp_poll_errors_total",
    "Failed polls of this router by reason (connect, timeout, auth, hostkey, command, parse, unavailable:"
    f" VyOS said its VRRP data is not available and the answer is not believed yet). {_SOURCE}",
    (*_ROUTER, "reason"),
    counter=True,
)
PARSE_PROBLEMS = Family(
    "vrrp_poll_parse_problems_total",
    "Cells of this router's `show vrrp` table that could not be read (e.g. a Last Transition); the"
    f" group is exported without them. {_SOURCE}",
    _ROUTER,
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
TRANSITIONS = Family(
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
STANDBYS = _gauge(
    "vrrp_group_standbys",
    "Routers reporting BACKUP for the group (0 with a master = no redundancy left); up routers only.",
    ("vrrp_cluster", "group"),
)
SET_MASTERS = _gauge("vrrp_set_masters", "Distinct routers that are MASTER of some group of the sync set.", _SET)
SPLIT = _gauge(
    "vrrp_master_split",
    "1 if the groups of this sync set are not all mastered by one router (asymmetric routing): masters on"
    " two or more routers, or one router MASTER of some and BACKUP/FAULT/INIT of others, else 0.",
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
PREFERRED_INFO = _gauge(
    "vrrp_group_preferred_master_info",
    "The router that should be MASTER of the group (its set's or the cluster's preferred_master, else the"
    " highest-priority router in the routers' own VRRP configuration); always 1.",
    ("vrrp_cluster", "group", "router"),
)
_CONFIG = "From a background poll of the routers' own VRRP configuration (`ssh.config_command`) every config_interval."
CONFIG_RISK = Family(
    "vrrp_config_risk",
    "Findings of one split-risk rule in the routers' own VRRP configuration (0 = none); every rule is"
    f" exported once every router's configuration has been read; `vyos-vrrp-exporter lint` prints the fixes. {_CONFIG}",
    ("vrrp_cluster", "rule"),
)
CONFIG_ERRORS = Family(
    "vrrp_config_read_errors_total",
    f"Failed reads of this router's VRRP configuration (the last good one, or the YAML's sets, stay in use). {_CONFIG}",
    _ROUTER,
    counter=True,
)
CONFIG_READ = Family(
    "vrrp_config_last_read_success_timestamp_seconds",
    f"Unix time of the last successful read of this router's VRRP configuration. {_CONFIG}",
    _ROUTER,
)
# Labels as Go exporters' `<name>_build_info` (prometheus/common/version: version, revision,
# goversion...), with the interpreter's version as `pythonversion` in the place of `goversion`.
BUILD_INFO = Family(
    "vrrp_exporter_build_info",
    "Version, git revision (or unknown) and Python version of vyos-vrrp-exporter; always 1.",
    ("version", "revision", "pythonversion"),
)

_GROUP_FAMILIES = (STATE, PRIORITY, TRANSITION, TRANSITIONS)
# Exposition order.
FAMILIES: tuple[Family, ...] = (
    *(UP, DURATION, SUCCESS, ERRORS, PARSE_PROBLEMS),
    *_GROUP_FAMILIES,
    *(GROUP_MASTERS, STANDBYS, SET_MASTERS, SPLIT, MISSING, PREFERRED, PREFERRED_INFO),
    *(CONFIG_RISK, CONFIG_ERRORS, CONFIG_READ),
    BUILD_INFO,
)


def _router_rows(cluster: str, router: RouterView) -> Iterator[Row]:
    key = (cluster, router.name)
    yield UP, key, 1 if router.up else 0
    snapshot = router.snapshot
    if snapshot is not None:
        yield DURATION, key, snapshot.duration_seconds
        if snapshot.last_success_at is not None:
            yield SUCCESS, key, snapshot.last_success_at


def _error_rows(cluster: str, router: str, errors: Mapping[PollErrorReason, int], problems: int) -> Iterator[Row]:
    for reason, count in errors.items():
        yield ERRORS, (cluster, router, str(reason)), count
    yield PARSE_PROBLEMS, (cluster, router), problems


def _group_rows(source: ScrapeSource, cluster: str, router: RouterView) -> Iterator[Row]:
    for group in router.groups.values():
        key = (cluster, router.name, group.name)
        vrid = "" if group.vrid is None else str(group.vrid)
        for s in STATES:
            yield STATE, (*key, group.interface, vrid, s.value), 1 if group.state is s else 0
        if group.priority is not None:
            yield PRIORITY, key, group.priority
        at = source.transition_at(*key)
        if at is not None:
            yield TRANSITION, key, at
        yield TRANSITIONS, key, source.transitions(*key)


def _derived_rows(view: ClusterView) -> Iterator[Row]:
    if not view.any_up:
        return  # nothing fresh to derive from; vrrp_router_up already says why
    cluster = view.spec.name
    for group in view.groups:
        yield GROUP_MASTERS, (cluster, group.name), len(group.masters)
        yield STANDBYS, (cluster, group.name), len(group.standbys)
    for s in view.sets:
        yield SET_MASTERS, (cluster, s.name), s.master_count
        yield SPLIT, (cluster, s.name), 1 if s.split else 0
        yield MISSING, (cluster, s.name), len(s.missing_groups)
    for group_name, (router, is_master) in view.preferred.items():
        yield PREFERRED, (cluster, group_name), 1 if is_master else 0
        yield PREFERRED_INFO, (cluster, group_name, router), 1


def _config_rows(view: ClusterView) -> Iterator[Row]:
    if view.risks is None:
        return  # not read yet (or config reading is off): no claim either way
    counts = Counter(f.rule for f in view.risks)
    for rule in RULES:
        yield CONFIG_RISK, (view.spec.name, rule), counts[rule]


def _config_router_rows(cluster: str, router: str, errors: int, read_at: float | None) -> Iterator[Row]:
    yield CONFIG_ERRORS, (cluster, router), errors
    if read_at is not None:
        yield CONFIG_READ, (cluster, router), read_at


class VrrpCollector(Collector):
    """Every metric of DESIGN.md's table, from the read side's views."""

    def __init__(self, source: ScrapeSource) -> None:
        self._source = source
        self._writer = TextWriter(FAMILIES)

    def collect(self) -> Iterator[Metric]:
        source = self._source
        families = {family: family.metric() for family in FAMILIES}
        for view in source.clusters():
            cluster = view.spec.name
            for router in view.routers:
                for family, labels, value in (
                    *_router_rows(cluster, router),
                    *_error_rows(
                        cluster,
                        router.name,
                        source.errors(cluster, router.name),
                        source.parse_problems(cluster, router.name),
                    ),
                    *_group_rows(source, cluster, router),
                    *_config_router_rows(
                        cluster,
                        router.name,
                        source.config_errors(cluster, router.name),
                        source.config_read_at(cluster, router.name),
                    ),
                ):
                    families[family].add_metric(labels, value)
            for family, labels, value in (*_derived_rows(view), *_config_rows(view)):
                families[family].add_metric(labels, value)
        families[BUILD_INFO].add_metric(list(build_info()), 1)
        yield from families.values()

    def render(self, openmetrics: bool = False) -> bytes:
        """What `generate_latest` (or, with `openmetrics`, the OpenMetrics encoder without its
        final `# EOF`) returns for `collect()`, byte for byte (see exposition.py for why)."""
        return b"".join(self.render_parts(openmetrics))

    def render_parts(self, openmetrics: bool = False) -> list[bytes]:
        """`render()` in pieces, for a caller that joins them with more (one copy of 10 MB, not two).

        Error, group and derived series, which between two polls almost never change, are reused
        whole until their counts or the routers' generations change."""
        source = self._source
        out = self._writer.scrape()
        for view in source.clusters():
            cluster = view.spec.name
            stamps: list[tuple[int, bool]] = []
            for router in view.routers:
                out.rows(_router_rows(cluster, router))
                errors = source.errors(cluster, router.name)
                problems = source.parse_problems(cluster, router.name)
                rows = partial(_error_rows, cluster, router.name, errors, problems)
                out.block(("errors", cluster, router.name), (*errors.values(), problems), rows)
                stamp = (source.generation(cluster, router.name), router.up)
                out.block(("groups", cluster, router.name), stamp, partial(_group_rows, source, cluster, router))
                stamps.append(stamp)
                errors_read = (source.config_errors(cluster, router.name), source.config_read_at(cluster, router.name))
                out.rows(_config_router_rows(cluster, router.name, *errors_read))
            # Derived series follow from the spec, the up routers' tables and the routers' configuration.
            derived = (view.spec, tuple(stamps), view.risks, tuple(view.preferred.items()))
            out.block(("derived", cluster), derived, partial(_derived_rows, view))
            out.block(("config", cluster), view.risks, partial(_config_rows, view))
        out.rows([(BUILD_INFO, build_info(), 1)])
        return out.finish(openmetrics)
