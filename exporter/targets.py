"""The config resolved for running: per router an SshTarget with every override merged, per cluster a ClusterSpec."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .config import (
    DEFAULT_COMMAND,
    DEFAULT_USERNAME,
    DEFAULT_WATCH_PATTERN,
    ClusterConfig,
    Config,
    RouterConfig,
    merge_ssh,
)
from .model import DEFAULT_SET_NAME, ClusterSpec, SyncSetSpec


@dataclass(frozen=True, slots=True)
class SshTarget:
    """Everything the transport needs to reach one router, with the overrides already merged."""

    cluster: str
    router: str
    address: str
    port: int
    username: str
    command: str
    private_key: Path | None
    passphrase_file: Path | None
    passphrase_env: str | None
    password_file: Path | None
    password_env: str | None
    known_hosts: Path | None
    insecure_ignore_host_key: bool
    keepalive_interval: float
    watch_command: str | None = None
    watch_pattern: str = DEFAULT_WATCH_PATTERN
    # Prints the router's VRRP configuration as `set` commands; None: the built-in default (issue 14).
    config_command: str | None = None


def ssh_target(config: Config, cluster: ClusterConfig, router: RouterConfig) -> SshTarget:
    opts = merge_ssh(config.ssh, cluster.ssh, router.ssh)
    return SshTarget(
        cluster=cluster.name,
        router=router.name,
        address=router.address,
        port=router.port,
        username=opts.username or DEFAULT_USERNAME,
        command=opts.command or DEFAULT_COMMAND,
        private_key=opts.private_key,
        passphrase_file=opts.passphrase_file,
        passphrase_env=opts.passphrase_env,
        password_file=opts.password_file,
        password_env=opts.password_env,
        known_hosts=opts.known_hosts,
        insecure_ignore_host_key=bool(opts.insecure_ignore_host_key),
        keepalive_interval=opts.keepalive_interval or 15.0,
        watch_command=opts.watch_command,
        watch_pattern=opts.watch_pattern or DEFAULT_WATCH_PATTERN,
        config_command=opts.config_command,
    )


def cluster_spec(cluster: ClusterConfig) -> ClusterSpec:
    sets = (
        tuple(SyncSetSpec(s.name, tuple(s.groups), s.preferred_master) for s in cluster.sync_sets)
        if cluster.sync_sets
        else (SyncSetSpec(DEFAULT_SET_NAME),)
    )
    return ClusterSpec(
        name=cluster.name,
        routers=tuple(r.name for r in cluster.routers),
        sets=sets,
        preferred_master=cluster.preferred_master,
        sets_declared=bool(cluster.sync_sets),
    )


def all_targets(config: Config) -> list[SshTarget]:
    return [ssh_target(config, c, r) for c in config.clusters for r in c.routers]


@dataclass(frozen=True, slots=True)
class Runtime:
    """A validated config resolved once for running: what the poller, watch streams and views use."""

    config: Config
    specs: dict[str, ClusterSpec]  # by cluster name, in config order
    targets: dict[str, tuple[SshTarget, ...]]  # by cluster name, routers in config order

    @classmethod
    def of(cls, config: Config) -> Runtime:
        return cls(
            config=config,
            specs={c.name: cluster_spec(c) for c in config.clusters},
            targets={c.name: tuple(ssh_target(config, c, r) for r in c.routers) for c in config.clusters},
        )

    def all_targets(self) -> list[SshTarget]:
        return [t for targets in self.targets.values() for t in targets]
