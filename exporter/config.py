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
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
)

from . import yamlsafe
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


# Longest duration text we read: "1y52w6d23h59m59s999ms" is 22; anything much longer is not a mistake.
MAX_DURATION_CHARS = 32
# Longest duration we accept (a year): far above any interval that makes sense, far below float overflow.
MAX_DURATION_SECONDS = 365 * 86400.0


def _shown(value: object, limit: int = 40) -> str:
    """A value as the operator wrote it, cut short so an error line stays one line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def parse_duration(value: object, allow_zero: bool = False) -> float:
    """`500ms`, `5s`, `1m30s` -> seconds. Bare numbers are refused: the unit must be explicit."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"expected a duration with a unit such as 500ms, 5s or 1m, got {_shown(value)}")
    text = value.strip()
    match = _DURATION_RE.match(text) if len(text) <= MAX_DURATION_CHARS else None
    if not text or match is None:
        raise ValueError(f"invalid duration {_shown(value)}: use forms like 500ms, 5s, 1m30s")
    seconds = sum(int(v) * _UNIT_SECONDS[k] for k, v in match.groupdict().items() if v is not None)
    if seconds <= 0 and not allow_zero:
        raise ValueError(f"duration {_shown(value)} must be greater than zero")
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"duration {_shown(value)} is longer than a year")
    return float(seconds)


def parse_interval_or_off(value: object) -> float:
    """A duration, or `0` / `"0"` / `0s` for "off" (returned as 0.0). Only `config_interval` uses it."""
    if isinstance(value, int) and not isinstance(value, bool) and value == 0:
        return 0.0
    if isinstance(value, str) and value.strip() == "0":
        return 0.0
    try:
        return parse_duration(value, allow_zero=True)
    except ValueError as exc:
        raise ValueError(f"{exc} (or 0 to turn it off)") from None


Duration = Annotated[float, BeforeValidator(parse_duration)]
IntervalOrOff = Annotated[float, BeforeValidator(parse_interval_or_off)]
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
    # Strict: `yes`/`true` are booleans in YAML, but `"true"` or `1` would be a guess.
    insecure_ignore_host_key: StrictBool | None = None
    command: Annotated[str, Field(min_length=1)] | None = None
    # Prints the router's `high-availability vrrp` subtree as `set` commands (issue 14). None: the
    # built-in default command.
    config_command: Annotated[str, Field(min_length=1)] | None = None
    keepalive_interval: Duration | None = None
    # Optional long-running command printing keepalived's log; a matching line triggers a re-poll.
    watch_command: Annotated[str, Field(min_length=1)] | None = None
    watch_pattern: Annotated[str, Field(min_length=1)] | None = None

    @field_validator("watch_pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class RouterConfig(_Strict):
    name: Name
    address: Annotated[str, Field(min_length=1)]
    # Strict: YAML's `true` is not port 1, and a quoted "22" is a string.
    port: Annotated[StrictInt, Field(ge=1, le=65535)] = 22
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


# A real `show vrrp` takes 0.83-0.90 s (keepalived's dump included); 3 s covers a busy router.
DEFAULT_TIMEOUT_SECONDS = 3.0
# How often each router's own VRRP configuration is re-read (issue 14).
DEFAULT_CONFIG_INTERVAL_SECONDS = 300.0


class Config(_Strict):
    poll_interval: Duration = 5.0
    # Per command, connect included; default 3 s whatever poll_interval. It may exceed poll_interval:
    # a router has one poll in flight at a time, so a slow one is polled as often as it answers.
    timeout: Duration | None = None
    # 0 (or "0s") turns reading the routers' configuration off; see config_read_interval.
    config_interval: IntervalOrOff = DEFAULT_CONFIG_INTERVAL_SECONDS
    # SSH channels in flight; handshakes have their own, lower limit in the transport.
    max_concurrent_polls: Annotated[StrictInt, Field(ge=1, le=10000)] = 1024
    ssh: SshOptions = SshOptions()
    clusters: Annotated[list[ClusterConfig], Field(min_length=1)]

    @property
    def command_timeout(self) -> float:
        """Per-command time limit, connect included: `timeout`, else 3 s."""
        return self.timeout if self.timeout is not None else DEFAULT_TIMEOUT_SECONDS

    @property
    def config_read_interval(self) -> float | None:
        """Seconds between reads of the routers' own VRRP configuration, or None when turned off."""
        return self.config_interval or None


def merge_ssh(*layers: SshOptions) -> SshOptions:
    """Later layers override earlier ones key by key (only keys that are set).

    The values are already validated: copy them, never re-validate (a duration is a float by now,
    and parse_duration rightly refuses bare numbers from YAML)."""
    merged = SshOptions()
    for layer in layers:
        merged = merged.model_copy(update=layer.model_dump(exclude_unset=True, exclude_none=True))
    return merged


# --- validation -----------------------------------------------------------------------------------

# Problems listed per run: enough to fix a file in one go, bounded for a file that is all mistakes.
MAX_PROBLEMS = 100
# Characters per problem line, so a hostile key or value cannot flood a terminal or a log line.
MAX_PROBLEM_CHARS = 400


def _yaml_path(loc: Iterable[object]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _describe(error: Any) -> str:
    kind = str(error["type"])
    if kind == "missing":
        return "field required"
    if kind == "extra_forbidden":
        return "unknown key"
    # pydantic prefixes errors raised in our validators with "Value error, ".
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind.endswith("_type") or kind.endswith("_parsing"):
        message += f", got {_shown(error.get('input'))}"
    return message


def _duplicates(names: list[str]) -> list[str]:
    seen: set[str] = set()
    found: list[str] = []
    for name in names:
        if name in seen and name not in found:
            found.append(name)
        seen.add(name)
    return sorted(found)


def _mapping(value: object) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: object) -> list[dict[Any, Any]]:
    """The mappings of a list, or [] where the structure is wrong (reported by the schema)."""
    return [v if isinstance(v, dict) else {} for v in value] if isinstance(value, list) else []


def _name(item: dict[Any, Any]) -> str | None:
    name = item.get("name")
    return name if isinstance(name, str) and name else None


# Keys of one ssh block that exclude each other, with what to do about it.
_EXCLUSIVE = (
    ("password_file", "password_env", "set only one"),
    ("passphrase_file", "passphrase_env", "set only one"),
    ("known_hosts", "insecure_ignore_host_key", "verify host keys, or (labs only) ignore them, not both"),
)


def _ssh_conflicts(layers: list[tuple[str, dict[Any, Any]]]) -> list[str]:
    """Exclusive keys set anywhere along global -> cluster -> router, named where they are set."""
    merged: dict[str, str] = {}  # key -> YAML path of the layer that set it last
    for where, layer in layers:
        for key, value in layer.items():
            if value is False:  # `insecure_ignore_host_key: false` undoes a higher layer's true
                merged.pop(key, None)
            elif isinstance(key, str) and value is not None:
                merged[key] = where
    problems = []
    for first, second, advice in _EXCLUSIVE:
        if first in merged and second in merged:
            a, b = merged[first], merged[second]
            if a == b:
                problems.append(f"{a}: {first} and {second} exclude each other; {advice}")
            else:
                # Name the more specific layer first: that is where the operator is editing.
                (deep_key, deep), (high_key, high) = sorted(((first, a), (second, b)), key=lambda kv: -len(kv[1]))
                problems.append(f"{deep}: {deep_key} here and {high_key} (set in {high}) exclude each other; {advice}")
    return problems


def cross_field_problems(raw: dict[Any, Any]) -> list[str]:
    """Rules that span fields, run on the raw YAML data so they are reported together with schema
    problems. Each rule looks only at values of the right type; wrong ones are the schema's to report."""
    problems: list[str] = []
    clusters = _items(raw.get("clusters"))
    for name in _duplicates([n for c in clusters if (n := _name(c))]):
        problems.append(f"clusters: duplicate cluster name {name!r}")
    top_ssh = ("ssh", _mapping(raw.get("ssh")))
    for ci, cluster in enumerate(clusters):
        where = f"clusters[{ci}]"
        routers = _items(cluster.get("routers"))
        names = [_name(r) for r in routers]
        known = [n for n in names if n is not None]
        for name in _duplicates(known):
            problems.append(f"{where}.routers: duplicate router name {name!r}")
        endpoints = []
        for router in routers:
            address, port = router.get("address"), router.get("port", 22)
            if isinstance(address, str) and isinstance(port, int) and not isinstance(port, bool):
                endpoints.append(f"{address}:{port}")
        for endpoint in _duplicates(endpoints):
            problems.append(f"{where}.routers: two routers share the address {endpoint}")
        # A preferred master is checked only against a complete list of router names.
        complete = bool(routers) and len(known) == len(routers)
        preferred = cluster.get("preferred_master")
        if complete and isinstance(preferred, str) and preferred not in known:
            problems.append(
                f"{where}.preferred_master: {preferred!r} is not a router of this cluster (routers: {', '.join(known)})"
            )
        sync_sets = _items(cluster.get("sync_sets"))
        for si, sync_set in enumerate(sync_sets):
            swhere = f"{where}.sync_sets[{si}]"
            preferred = sync_set.get("preferred_master")
            if complete and isinstance(preferred, str) and preferred not in known:
                problems.append(
                    f"{swhere}.preferred_master: {preferred!r} is not a router of this cluster"
                    f" (routers: {', '.join(known)})"
                )
            groups = sync_set.get("groups")
            for group in _duplicates([g for g in groups if isinstance(g, str)] if isinstance(groups, list) else []):
                problems.append(f"{swhere}.groups: group {group!r} listed twice")
        for name in _duplicates([n for s in sync_sets if (n := _name(s))]):
            problems.append(f"{where}.sync_sets: duplicate set name {name!r}")
        cluster_ssh = (f"{where}.ssh", _mapping(cluster.get("ssh")))
        for ri, router in enumerate(routers):
            router_ssh = (f"{where}.routers[{ri}].ssh", _mapping(router.get("ssh")))
            for problem in _ssh_conflicts([top_ssh, cluster_ssh, router_ssh]):
                if problem not in problems:  # a conflict set above the router is said once
                    problems.append(problem)
    return problems


def _bounded(problems: list[str]) -> list[str]:
    shown = [p if len(p) <= MAX_PROBLEM_CHARS else p[:MAX_PROBLEM_CHARS] + "..." for p in problems[:MAX_PROBLEMS]]
    if len(problems) > MAX_PROBLEMS:
        shown.append(f"... and {len(problems) - MAX_PROBLEMS} more problem(s)")
    return shown


def parse_config(text: str, source: str = "<config>") -> Config:
    """YAML text -> Config, or ConfigError listing every problem with its YAML path."""
    try:
        raw = yamlsafe.load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([yamlsafe.describe(exc, source)]) from None
    except RecursionError:
        # yamlsafe bounds nesting well below the limit; this is the backstop, never a traceback.
        raise ConfigError([f"{source}: nesting too deep to read"]) from None
    if not isinstance(raw, dict):
        raise ConfigError([f"{source}: expected a mapping at the top level, got {_shown(raw)}"])
    problems: list[str] = []
    config: Config | None = None
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{_yaml_path(e['loc'])}: {_describe(e)}" for e in exc.errors()]
    problems += cross_field_problems(raw)
    if problems or config is None:
        raise ConfigError(_bounded(problems), total=len(problems))
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
        text = yamlsafe.read_file(path)
    except yamlsafe.FileRefused as exc:
        raise ConfigError([f"{path}: {exc}"]) from None
    config = parse_config(text, str(path))
    if check_files:
        problems = file_problems(config)
        if problems:
            raise ConfigError(problems)
    return config
