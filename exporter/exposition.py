"""The Prometheus text formats written directly, with what one scrape formatted kept for the next.

Why not prometheus_client's encoder: it formats every sample from scratch, about 10 µs each; at
10,000 groups (95,000 samples, 10 MB) a scrape took a second. Here each series' label part is
formatted once, and blocks of series that did not change since the last scrape are reused whole.
The bytes are exactly what `generate_latest` (or the OpenMetrics encoder) writes for the same
families: tests/test_exposition.py compares them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

Labels = tuple[str, ...]


@dataclass(frozen=True, slots=True, eq=False)  # eq=False: families are dict keys, hashed by identity
class Family:
    """One metric family: what HELP/TYPE say and which labels its series carry."""

    name: str  # counters end in _total, as their samples do
    doc: str
    labels: Labels
    counter: bool = False

    def metric(self) -> GaugeMetricFamily | CounterMetricFamily:
        if self.counter:
            return CounterMetricFamily(self.name, self.doc, labels=list(self.labels))
        return GaugeMetricFamily(self.name, self.doc, labels=list(self.labels))


Row = tuple[Family, Labels, float]


class _Single(Collector):
    def __init__(self, metric: Metric) -> None:
        self._metric = metric

    def collect(self) -> Iterator[Metric]:
        yield self._metric


def _headers(family: Family) -> tuple[bytes, bytes]:
    """`# HELP`/`# TYPE` lines (text format, OpenMetrics), printed by prometheus_client itself."""
    text = generate_latest(_Single(family.metric()))
    openmetrics: bytes = generate_openmetrics(_Single(family.metric()))  # type: ignore[no-untyped-call]
    return text, openmetrics.removesuffix(b"# EOF\n")


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


def _prefix(family: Family, labels: Labels) -> bytes:
    """`name{a="x",b="y"} `, labels sorted by name, as prometheus_client writes a sample."""
    pairs = ",".join(f'{name}="{_escape(value)}"' for name, value in sorted(zip(family.labels, labels, strict=True)))
    return (f"{family.name}{{{pairs}}} " if pairs else f"{family.name} ").encode()


def _lines(rows: Iterable[Row]) -> dict[Family, bytes]:
    out: dict[Family, list[bytes]] = {}
    for family, labels, value in rows:
        out.setdefault(family, []).append(_prefix(family, labels) + _value(value) + b"\n")
    return {family: b"".join(lines) for family, lines in out.items()}


@dataclass(slots=True)
class _Formatted:
    """Text one scrape formatted, for the next one to reuse."""

    prefixes: dict[tuple[Family, Labels], bytes] = field(default_factory=dict)  # per series
    blocks: dict[tuple[str, ...], tuple[object, dict[Family, bytes]]] = field(default_factory=dict)  # (stamp, text)


class Scrape:
    """One scrape's exposition, collected family by family (as UTF-8, the way it is sent)."""

    def __init__(self, writer: TextWriter) -> None:
        self._writer = writer
        self.formatted = _Formatted()  # only what this scrape used: gone series do not pile up
        self._chunks: dict[Family, list[bytes]] = {family: [] for family in writer.families}

    def rows(self, rows: Iterable[Row]) -> None:
        """Series whose values change every poll: the label part is reused, the value is new."""
        prefixes, previous = self.formatted.prefixes, self._writer.previous.prefixes
        for family, labels, value in rows:
            key = (family, labels)
            prefix = prefixes.get(key)
            if prefix is None:
                prefix = prefixes[key] = previous.get(key) or _prefix(family, labels)
            self._chunks[family].append(prefix + _value(value) + b"\n")

    def block(self, key: tuple[str, ...], stamp: object, rows: Callable[[], Iterable[Row]]) -> None:
        """Series that change only when `stamp` does: their whole text is reused until then."""
        cached = self._writer.previous.blocks.get(key)
        if cached is None or cached[0] != stamp:
            cached = (stamp, _lines(rows()))
        self.formatted.blocks[key] = cached
        for family, text in cached[1].items():
            self._chunks[family].append(text)

    def finish(self, openmetrics: bool) -> list[bytes]:
        """The text in exposition order; what it formatted becomes the next scrape's cache."""
        self._writer.previous = self.formatted
        which = 1 if openmetrics else 0
        headers = self._writer.headers
        return [part for family in self._writer.families for part in (headers[family][which], *self._chunks[family])]


class TextWriter:
    """Writes `families` (in this order) scrape after scrape, reusing the previous scrape's text."""

    def __init__(self, families: tuple[Family, ...]) -> None:
        self.families = families
        self.headers = {family: _headers(family) for family in families}
        self.previous = _Formatted()

    def scrape(self) -> Scrape:
        return Scrape(self)


class FastCollector(Protocol):
    """A collector that can also write its own text (same bytes as encoding its `collect()`)."""

    def render_parts(self, openmetrics: bool = False) -> list[bytes]: ...


# Name escapings (asked for in the Accept header) that leave legacy names such as ours unchanged;
# under another one (`dots`) the fast path would print unescaped names, so the registry is encoded.
_PLAIN_NAMES = ("underscores", "allow-utf-8", "values")


@dataclass(frozen=True, slots=True)
class Exposition:
    """All of /metrics: `fast` writes its own text, `rest` is encoded by prometheus_client.

    `registry` holds both, in that order: it is what a scrape encodes when the fast path does not
    apply, and what tests compare the fast bytes with."""

    registry: CollectorRegistry
    fast: FastCollector | None = None
    rest: CollectorRegistry | None = None  # everything the registry holds but `fast`

    def encode(self, accept: str) -> tuple[list[bytes], str]:
        """The body (in parts) and its Content-Type, for a request's Accept header."""
        encoder, content_type = choose_encoder(accept)
        escaping = content_type.partition("escaping=")[2] or "underscores"
        if self.fast is None or self.rest is None or escaping not in _PLAIN_NAMES:
            return [encoder(self.registry)], content_type
        openmetrics = content_type.startswith("application/openmetrics-text")
        return [*self.fast.render_parts(openmetrics), encoder(self.rest)], content_type
