"""`vyos-vrrp-exporter lint`: read every router's VRRP configuration once and print its split risks.

Per cluster of the exporter's config (or of `--from-file` alone, as one implicit cluster named
`lint`), each finding of `config_risk.lint` with the VyOS commands that fix it, grouped by router so
they can be pasted in configuration mode. A router is read over SSH (`ssh.config_command`) unless a
`--from-file ROUTER=PATH` gives its saved `show configuration commands` output. A cluster is linted
only when every one of its routers was read: half a pair would read as peers that disagree.

Exit codes: 0 no finding, 1 findings (in any cluster), 3 a router's configuration could not be read
(and no finding elsewhere: findings are worse), 2 bad flags, config or file.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import Config
from .config_risk import RiskFinding, fix_by_router
from .configread import read_config
from .errors import ParseError, PollError
from .join import lint_cluster
from .model import ClusterSpec
from .targets import Runtime, SshTarget
from .transport import SshTransport
from .vyos_config import MAX_CONFIG_CHARS, VrrpConfig, parse_vyos_config

IMPLICIT_CLUSTER = "lint"
EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_UNREADABLE = 0, 1, 2, 3


class LintUsageError(Exception):
    """A bad `--from-file` or a file that cannot be read: exit 2 with this message."""


# --- what to lint ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FromFile:
    """`--from-file [CLUSTER/]ROUTER=PATH`."""

    cluster: str | None
    router: str
    path: Path

    @classmethod
    def parse(cls, text: str) -> FromFile:
        name, sep, path = text.partition("=")
        cluster, slash, router = name.rpartition("/")
        if not sep or not router or not path or (slash and not cluster):
            raise ValueError(f"invalid --from-file {text!r}: expected ROUTER=PATH or CLUSTER/ROUTER=PATH")
        return cls(cluster if slash else None, router, Path(path))

    def __str__(self) -> str:
        prefix = f"{self.cluster}/" if self.cluster is not None else ""
        return f"{prefix}{self.router}={self.path}"


@dataclass(frozen=True, slots=True)
class LintTarget:
    """One cluster to lint: its spec, the routers read from files and those read over SSH."""

    spec: ClusterSpec
    files: Mapping[str, Path] = field(default_factory=dict)
    ssh: tuple[SshTarget, ...] = ()


def plan_from_files(entries: Sequence[FromFile]) -> list[LintTarget]:
    """No exporter config: every `--from-file` router, in the order given, in the cluster its
    `CLUSTER/` prefix names (`lint` without one)."""
    clusters: dict[str, dict[str, Path]] = {}
    for entry in entries:
        files = clusters.setdefault(entry.cluster or IMPLICIT_CLUSTER, {})
        if entry.router in files:
            raise LintUsageError(f"--from-file {entry}: router {entry.router} is given twice")
        files[entry.router] = entry.path
    return [LintTarget(ClusterSpec(name, tuple(files)), files) for name, files in clusters.items()]


def plan_from_config(config: Config, entries: Sequence[FromFile], clusters: Iterable[str]) -> list[LintTarget]:
    """The clusters named in `clusters` (the shard's) with every `--from-file` router assigned to
    its cluster of `config`; the other routers are read over SSH."""
    runtime = Runtime.of(config)
    files: dict[str, dict[str, Path]] = {name: {} for name in runtime.specs}
    for entry in entries:
        cluster = _cluster_of(runtime, entry)
        if entry.router in files[cluster]:
            raise LintUsageError(f"--from-file {entry}: router {entry.router} is given twice")
        files[cluster][entry.router] = entry.path
    return [
        LintTarget(
            runtime.specs[name],
            files[name],
            tuple(t for t in runtime.targets[name] if t.router not in files[name]),
        )
        for name in clusters
    ]


def _cluster_of(runtime: Runtime, entry: FromFile) -> str:
    if entry.cluster is not None:
        spec = runtime.specs.get(entry.cluster)
        if spec is None:
            raise LintUsageError(f"--from-file {entry}: no cluster {entry.cluster} in the configuration")
        if entry.router not in spec.routers:
            raise LintUsageError(f"--from-file {entry}: cluster {entry.cluster} has no router {entry.router}")
        return entry.cluster
    owners = [name for name, spec in runtime.specs.items() if entry.router in spec.routers]
    if not owners:
        raise LintUsageError(f"--from-file {entry}: no router {entry.router} in the configuration")
    if len(owners) > 1:
        raise LintUsageError(
            f"--from-file {entry}: router {entry.router} is in clusters {', '.join(owners)};"
            f" write CLUSTER/{entry.router}=PATH"
        )
    return owners[0]


def load_file(path: Path) -> VrrpConfig:
    """A saved `show configuration commands` output, or LintUsageError naming the file."""
    try:
        with path.open(encoding="utf-8") as handle:
            text = handle.read(MAX_CONFIG_CHARS + 1)
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise LintUsageError(f"{path}: cannot read: {why}") from None
    try:
        return parse_vyos_config(text)
    except ParseError as exc:  # its message never quotes a line that mentions a password
        raise LintUsageError(f"{path}: not `show configuration commands` output: {exc.message}") from None


# --- reading and linting -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClusterLint:
    """The outcome for one cluster: its findings, or None when a router could not be read."""

    name: str
    routers: tuple[str, ...]
    findings: tuple[RiskFinding, ...] | None
    unreadable: Mapping[str, str]  # router -> why its configuration could not be read

    @property
    def exit_code(self) -> int:
        if self.findings:
            return EXIT_FINDINGS
        return EXIT_UNREADABLE if self.unreadable else EXIT_OK


def overall_exit_code(results: Iterable[ClusterLint]) -> int:
    """1 if any cluster has findings, else 3 if a router was unreadable, else 0 (as `poll`)."""
    codes = {r.exit_code for r in results}
    for code in (EXIT_FINDINGS, EXIT_UNREADABLE):
        if code in codes:
            return code
    return EXIT_OK


async def lint_targets(targets: Sequence[LintTarget], time_limit: float, concurrency: int) -> list[ClusterLint]:
    """Read every file first (a bad one is LintUsageError before any router is contacted), then
    every other router over one SSH transport, closed after; then lint each cluster."""
    from_files = {(t.spec.name, router): load_file(path) for t in targets for router, path in t.files.items()}
    over_ssh = [s for t in targets for s in t.ssh]
    read = await _read_over_ssh(over_ssh, time_limit, concurrency) if over_ssh else {}
    results = []
    for target in targets:
        name = target.spec.name
        got = {r: from_files[(name, r)] if (name, r) in from_files else read[(name, r)] for r in target.spec.routers}
        configs = {r: c for r, c in got.items() if isinstance(c, VrrpConfig)}
        unreadable = {r: c for r, c in got.items() if isinstance(c, str)}
        findings = None if unreadable else lint_cluster(target.spec, configs)
        results.append(ClusterLint(name, target.spec.routers, findings, unreadable))
    return results


async def _read_over_ssh(
    targets: Sequence[SshTarget], time_limit: float, concurrency: int
) -> dict[tuple[str, str], VrrpConfig | str]:
    transport = SshTransport()
    limit = asyncio.Semaphore(concurrency)

    async def one(target: SshTarget) -> VrrpConfig | str:
        async with limit:
            try:
                return await read_config(transport, target, time_limit)
            except PollError as exc:
                return exc.message

    try:
        answers = await asyncio.gather(*(one(t) for t in targets))
    finally:
        await transport.close()
    return {(t.cluster, t.router): answer for t, answer in zip(targets, answers, strict=True)}


# --- output ------------------------------------------------------------------------------------------


def finding_json(finding: RiskFinding) -> dict[str, Any]:
    """One finding for scripts (`lint --output=json`, `poll --output=json`'s config_risks)."""
    return {
        "rule": finding.rule,
        "routers": list(finding.routers),
        "groups": list(finding.groups),
        "reason": finding.reason,
        "fix": list(finding.fix),
    }


def unreadable_json(unreadable: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"router": router, "reason": reason} for router, reason in unreadable.items()]


def finding_lines(finding: RiskFinding) -> list[str]:
    """`RULE: reason`, where, then the fix commands under `on ROUTER:` headings, ready to paste."""
    lines = [
        f"{finding.rule}: {finding.reason}",
        f"  groups: {', '.join(finding.groups)}; routers: {', '.join(finding.routers)}",
    ]
    for routers, commands in fix_by_router(finding):
        lines.append(f"  on {', '.join(routers)}:")
        lines += [f"    {command}" for command in commands]
    if not finding.fix:
        lines.append("  (no configuration command: see the reason)")
    return lines


def _cluster_lines(result: ClusterLint) -> list[str]:
    lines = [f"cluster {result.name}"]
    for router, reason in result.unreadable.items():
        lines.append(f"configuration of {router} could not be read: {reason}")
    if result.findings is None:
        lines.append(f"not linted: the configuration of every router of {result.name} is needed")
        verdict = "NOT READ"
    elif not result.findings:
        lines.append("no split risk found")
        verdict = "OK"
    else:
        for finding in result.findings:
            lines += finding_lines(finding)
        verdict = f"{len(result.findings)} FINDING(S)"
    lines.append(f"lint {result.name}: {verdict} (exit {result.exit_code})")
    return lines


def render_table(results: Sequence[ClusterLint]) -> str:
    if not results:
        return "no cluster to lint\n"
    return "\n\n".join("\n".join(_cluster_lines(r)) for r in results) + "\n"


def render_json(results: Sequence[ClusterLint]) -> str:
    doc = {
        "exit_code": overall_exit_code(results),
        "clusters": [
            {
                "name": r.name,
                "routers": list(r.routers),
                "exit_code": r.exit_code,
                "findings": None if r.findings is None else [finding_json(f) for f in r.findings],
                "unreadable": unreadable_json(r.unreadable),
            }
            for r in results
        ],
    }
    return json.dumps(doc, indent=2) + "\n"
