"""Immutable domain types: what one router said, and what a cluster is configured to be."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from .errors import PollErrorReason


class VrrpState(StrEnum):
    """VRRP states as VyOS prints them. Every value is exported, 1 for the current one."""

    INIT = "INIT"
    BACKUP = "BACKUP"
    MASTER = "MASTER"
    FAULT = "FAULT"
    DISABLED = "DISABLED"


@dataclass(frozen=True, slots=True)
class VrrpGroup:
    """One row of `show vrrp`.

    `priority` is None on VyOS 1.2 (no Priority column) and on DISABLED rows (VyOS prints the
    configured interface and VRID there, but no priority or transition); `vrid` is None and
    `interface` empty only where a table leaves those cells blank. `last_transition_age_seconds` is the router's own
    "Last Transition" (time since the last state change), None where the cell is absent.
    """

    name: str
    interface: str
    vrid: int | None
    state: VrrpState
    priority: int | None = None
    last_transition_age_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What one SSH command printed and how it exited."""

    stdout: str
    stderr: str
    exit_status: int


@dataclass(frozen=True, slots=True)
class PollFailure:
    reason: PollErrorReason
    message: str


@dataclass(frozen=True, slots=True)
class RouterSnapshot:
    """The result of one poll of one router. `groups` is empty when the poll failed."""

    cluster: str
    router: str
    polled_at: float  # Unix time when the poll finished
    duration_seconds: float
    groups: tuple[VrrpGroup, ...] = ()
    failure: PollFailure | None = None
    last_success_at: float | None = None  # Unix time of the latest successful poll, this one included
    problems: tuple[str, ...] = ()  # cells of the table the parser could not read (see parse.py)
    # Groups the router reported before and no longer reports at all: its VRRP stopped (set by the store).
    vrrp_gone: tuple[str, ...] = ()
    # When the router last answered in a way that leaves this table standing: a doubtful "not
    # available" (VyOS's dump-file race) that is not believed yet. Keeps the table fresh meanwhile.
    vouched_at: float | None = None

    @property
    def current_at(self) -> float | None:
        """Until when this table is known to be the router's: its success, or a later vouch."""
        if self.vouched_at is None:
            return self.last_success_at
        return max(self.vouched_at, self.last_success_at or self.vouched_at)

    @property
    def ok(self) -> bool:
        return self.failure is None


@dataclass(frozen=True, slots=True)
class SyncSetSpec:
    """Groups whose masters must sit on one router. `groups` None means every group seen."""

    name: str
    groups: tuple[str, ...] | None = None
    preferred_master: str | None = None


DEFAULT_SET_NAME = "all"


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    """What the join needs to know about a cluster: its routers (in config order) and sets."""

    name: str
    routers: tuple[str, ...]
    sets: tuple[SyncSetSpec, ...] = field(default=(SyncSetSpec(DEFAULT_SET_NAME),))
    preferred_master: str | None = None
    # The YAML names its sync sets; otherwise (the default set) they come from the routers'
    # sync-groups once their configuration has been read.
    sets_declared: bool = False
