"""Configuration: YAML text -> validated, frozen objects. Validation is pure; file checks are separate.

Every problem is reported with its YAML path (`clusters[0].routers[1].address: field required`), all
at once, so an operator fixes the file in one go.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from .errors import ConfigError

DEFAULT_COMMAND = "/opt/vyatta/bin/vyatta-op-cmd-wrapper show vrrp"
DEFAULT_USERNAME = "vyos"
# keepalived's transition lines: "(VLAN1) Entering MASTER STATE", "VRRP_Group(MAIN) Syncing instances
# to BACKUP state", "(VLAN100) Entering FAULT STATE"; its ARP and advert chatter does not match.
DEFAULT_WATCH_PATTERN = r"(?i)\bstate\b"

# Prometheus' duration syntax (model.ParseDuration), which operators already know.
_DURATION_RE = re.compile(
    r"^(?:(?P<y>\d+)y)?(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?"
    r"(?:(?P<s>\d+)s)?(?:(?P<ms>\d+)ms)?$"
)
_UNIT_SECONDS = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}


def parse_duration(value: object) -> float:
    """`500ms`, `5s`, `1m30s` -> seconds. Bare numbers are refused: the unit must be explicit."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"expected a duration with a unit such as 500ms, 5s or 1m, got {value!r}")
    match = _DURATION_RE.match(value.strip())
    if not value.strip() or match is None:
        raise ValueError(f"invalid duration {value!r}: use forms like 500ms, 5s, 1m30s")
    seconds = sum(int(v) * _UNIT_SECONDS[k] for k, v in match.groupdict().items() if v is not None)
    if seconds <= 0:
        raise ValueError(f"duration {value!r} must be greater than zero")
    return float(seconds)


Duration = Annotated[float, BeforeValidator(parse_duration)]
Name = Annotated[str, Field(min_length=1, max_length=128)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SshOptions(_Strict):
    """SSH settings; every key may be set globally, per cluster and per router (most specific wins)."""

    username: str | None = None
    private_key: Path | None = None
    passphrase_file: Path | None = None
    passphrase_env: str | None = None
    password_file: Path | None = None
    password_env: str | None = None
    known_hosts: Path | None = None
    insecure_ignore_host_key: bool | None = None
    command: Annotated[str, Field(min_length=1)] | None = None
    keepalive_interval: Duration | None = None
    # Optional long-running command printing keepalived's log; a matching line triggers a re-poll.
    watch_command: Annotated[str, Field(min_length=1)] | None = None
    watch_pattern: Annotated[str, Field(min_length=1)] | None = None


class RouterConfig(_Strict):
    name: Name
    address: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)] = 22
    ssh: SshOptions = SshOptions()


class SyncSetConfig(_Strict):
    name: Name
    groups: Annotated[list[Name], Field(min_length=1)]
    preferred_master: Name | None = None


class ClusterConfig(_Strict):
    name: Name
    preferred_master: Name | None = None
    routers: Annotated[list[RouterConfig], Field(min_length=1)]
    sync_sets: list[SyncSetConfig] | None = None
    ssh: SshOptions = SshOptions()


DEFAULT_TIMEOUT_SECONDS = 3.0


class Config(_Strict):
    poll_interval: Duration = 5.0
    timeout: Duration | None = None  # default: 3s, or 80% of a shorter poll_interval
    # SSH channels in flight; handshakes have their own, lower limit in the transport.
    max_concurrent_polls: Annotated[int, Field(ge=1, le=10000)] = 1024
    ssh: SshOptions = SshOptions()
    clusters: Annotated[list[ClusterConfig], Field(min_length=1)]

    @property
    def command_timeout(self) -> float:
        """Per-command time limit, connect included; always shorter than the poll interval."""
        if self.timeout is not None:
            return self.timeout
        return min(DEFAULT_TIMEOUT_SECONDS, 0.8 * self.poll_interval)


def merge_ssh(*layers: SshOptions) -> SshOptions:
    """Later layers override earlier ones key by key (only keys that are set)."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer.model_dump(exclude_unset=True, exclude_none=True))
    return SshOptions.model_validate(merged)


# --- validation -----------------------------------------------------------------------------------


def _yaml_path(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _describe(error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return "field required"
    if kind == "extra_forbidden":
        return "unknown key"
    message = str(error["msg"])
    # pydantic prefixes errors raised in our validators with "Value error, ".
    return message.removeprefix("Value error, ")


def _duplicates(names: list[str]) -> set[str]:
    seen: set[str] = set()
    return {n for n in names if n in seen or seen.add(n)}  # type: ignore[func-returns-value]


def semantic_problems(config: Config) -> list[str]:
    """Rules that span fields; run only once every field is individually valid."""
    problems: list[str] = []
    if config.timeout is not None and config.timeout >= config.poll_interval:
        problems.append(f"timeout: {config.timeout:g}s must be shorter than poll_interval ({config.poll_interval:g}s)")
    for name in sorted(_duplicates([c.name for c in config.clusters])):
        problems.append(f"clusters: duplicate cluster name {name!r}")
    for ci, cluster in enumerate(config.clusters):
        where = f"clusters[{ci}]"
        routers = [r.name for r in cluster.routers]
        for name in sorted(_duplicates(routers)):
            problems.append(f"{where}.routers: duplicate router name {name!r}")
        endpoints = [f"{r.address}:{r.port}" for r in cluster.routers]
        for endpoint in sorted(_duplicates(endpoints)):
            problems.append(f"{where}.routers: two routers share the address {endpoint}")
        if cluster.preferred_master is not None and cluster.preferred_master not in routers:
            problems.append(
                f"{where}.preferred_master: {cluster.preferred_master!r} is not a router of this cluster"
                f" (routers: {', '.join(routers)})"
            )
        for si, sync_set in enumerate(cluster.sync_sets or []):
            swhere = f"{where}.sync_sets[{si}]"
            if sync_set.preferred_master is not None and sync_set.preferred_master not in routers:
                problems.append(
                    f"{swhere}.preferred_master: {sync_set.preferred_master!r} is not a router of this"
                    f" cluster (routers: {', '.join(routers)})"
                )
            for group in sorted(_duplicates(sync_set.groups)):
                problems.append(f"{swhere}.groups: group {group!r} listed twice")
        for name in sorted(_duplicates([s.name for s in cluster.sync_sets or []])):
            problems.append(f"{where}.sync_sets: duplicate set name {name!r}")
        for ri, router in enumerate(cluster.routers):
            opts = merge_ssh(config.ssh, cluster.ssh, router.ssh)
            rwhere = f"{where}.routers[{ri}]"
            if opts.password_file and opts.password_env:
                problems.append(f"{rwhere}: set password_file or password_env, not both")
            if opts.passphrase_file and opts.passphrase_env:
                problems.append(f"{rwhere}: set passphrase_file or passphrase_env, not both")
            if opts.watch_pattern is not None:
                try:
                    re.compile(opts.watch_pattern)
                except re.error as exc:
                    problems.append(f"{rwhere}.ssh.watch_pattern: not a valid regular expression: {exc}")
            if opts.insecure_ignore_host_key and opts.known_hosts:
                problems.append(f"{rwhere}: known_hosts and insecure_ignore_host_key exclude each other")
    return problems


def parse_config(text: str, source: str = "<config>") -> Config:
    """YAML text -> Config, or ConfigError listing every problem with its YAML path."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"{source}: not valid YAML: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise ConfigError([f"{source}: expected a mapping at the top level, got {type(raw).__name__}"])
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{_yaml_path(e['loc'])}: {_describe(e)}" for e in exc.errors()]
        raise ConfigError(problems) from exc
    problems = semantic_problems(config)
    if problems:
        raise ConfigError(problems)
    return config


def file_problems(config: Config, environ: dict[str, str] | None = None) -> list[str]:
    """Checks that touch the filesystem or environment: key, known_hosts and secret files exist."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    for ci, cluster in enumerate(config.clusters):
        for ri, router in enumerate(cluster.routers):
            target = merge_ssh(config.ssh, cluster.ssh, router.ssh)
            where = f"clusters[{ci}].routers[{ri}]"
            for key in ("private_key", "known_hosts", "passphrase_file", "password_file"):
                path = getattr(target, key)
                if path is None or (key, str(path)) in seen:
                    continue
                seen.add((key, str(path)))
                if not path.is_file():
                    problems.append(f"{where}.ssh.{key}: file not found or not a file: {path}")
                elif not os.access(path, os.R_OK):
                    problems.append(f"{where}.ssh.{key}: file not readable: {path}")
            for key in ("password_env", "passphrase_env"):
                name = getattr(target, key)
                if name is not None and name not in env and (key, name) not in seen:
                    seen.add((key, name))
                    problems.append(f"{where}.ssh.{key}: environment variable {name} is not set")
    return problems


@dataclass(frozen=True, slots=True)
class Shard:
    """`--shard=i/n`: this instance polls the clusters whose stable hash falls in bucket i of n."""

    index: int  # 1-based, as operators count instances
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        index, sep, count = text.partition("/")
        if not sep or not index.isdigit() or not count.isdigit() or not 1 <= int(index) <= int(count):
            raise ValueError(f"invalid shard {text!r}: expected i/n with 1 <= i <= n, e.g. 1/3")
        return cls(int(index), int(count))

    def owns(self, cluster: str) -> bool:
        # sha256, not hash(): the assignment must be the same in every process and release.
        digest = hashlib.sha256(cluster.encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1

    def select(self, config: Config) -> Config:
        """The config with only this shard's clusters (whole clusters: the join needs every router)."""
        return config.model_copy(update={"clusters": [c for c in config.clusters if self.owns(c.name)]})


def permission_warnings(config: Config) -> list[str]:
    """Secret files that group or others can read: allowed (the exporter still works), but said."""
    warnings: list[str] = []
    seen: set[Path] = set()
    for ci, cluster in enumerate(config.clusters):
        for ri, router in enumerate(cluster.routers):
            target = merge_ssh(config.ssh, cluster.ssh, router.ssh)
            for key in ("private_key", "passphrase_file", "password_file"):
                path = getattr(target, key)
                if path is None or path in seen:
                    continue
                seen.add(path)
                try:
                    mode = path.stat().st_mode & 0o777
                except OSError:
                    continue  # missing files are file_problems(), not warnings
                if mode & 0o077:
                    warnings.append(
                        f"clusters[{ci}].routers[{ri}].ssh.{key}: {path} is readable by group or others"
                        f" (mode {mode:04o}); run chmod 600 {path}"
                    )
    return warnings


def load_config(path: str | Path, check_files: bool = True) -> Config:
    """Read, parse and validate a config file. Raises ConfigError with every problem found."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read config file: {exc.strerror or exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: config file is not UTF-8 text: {exc}"]) from exc
    config = parse_config(text, str(path))
    if check_files:
        problems = file_problems(config)
        if problems:
            raise ConfigError(problems)
    return config
