"""Split risk and derived intent from the VRRP configuration of the routers of one cluster.

Pure functions over `Mapping[router, VrrpConfig]` (router order = the cluster's config order, which
breaks every tie below): no I/O, no logging, no clock.

Derived intent (used when the YAML declares none):

- `derive_sets`: one sync set per VyOS sync-group, named after it, holding the members that name a
  group configured on the same router (union over the routers; a typo such as `VLAN10` names
  nothing and is left out, and a sync-group left with no member yields no set). Every group that is
  in no sync-group on any router goes to the default set `all` (DEFAULT_SET_NAME), as today: with
  no sync-group at all the result is exactly today's default. A sync-group literally named `all`
  shares that set.
- `derive_preferred`: each group's preferred master is its strictly highest-priority router among
  the routers where it is configured and not disabled; a tie (or no such router) gives None.

Lint rules (`RULES`, in the order a metric exports them; each finding names its rule, routers,
groups, a one-line reason and the VyOS commands that fix it):

- `split_prone`: groups that must share a master, are not tied together by a common sync-group,
  and whose failover is **not undone by itself**. A failover moves one unit (a group, or all groups
  of one sync-group) to the other router when a link, a track interface or a health check fails.
  When the fault clears, VRRP alone moves that unit back only if (a) preemption is on for every
  group of it (with `no-preempt` "the newly elected master will keep the master status and the
  virtual address indefinitely", VyOS docs, Preemption; counted on any router, although only the
  higher-priority router's setting acts, because it is set per router and one edit away) and
  (b) one router has the strictly highest priority on every group of the unit (on equal
  priorities VRRP falls back to the higher primary IP address of each interface, which the VRRP
  subtree does not show and which can differ per VLAN). Two units are safe together only if both
  return by themselves **to the same router**; otherwise a single link flap leaves the masters
  split for good: the seed's incident (`no-preempt` on every group, no sync-group) and the pattern
  the keepalived maintainer diagnosed in acassen/keepalived#1205 ("the VRRP instances have the same
  priorities on both servers, and so it is indeterminate which will be master"; fixes: higher
  priorities on one server, no `nopreempt`, a vrrp_sync_group). Which groups must share a master:
  the declared sets' groups when the YAML declares sets; otherwise every group, except that two
  groups that are members of two different sync-groups on every router are separate on purpose
  (the operator made two sync-groups). Preempt with one router highest everywhere is accepted:
  a split then lasts only while a link is down (DESIGN.md), which the state metrics show. The fix
  puts the groups in one sync-group (the largest existing one, else MAIN) with priorities and
  preemption made alike per router; the reason names the alternative (preempt, one router highest).
- `sync_group_member_missing`: a sync-group member names no group configured on that router
  (the seed's `sync-group MAIN member VLAN10` for VLAN100; VyOS 1.2 commits it without a word).
- `sync_group_inconsistent`: members of one sync-group on one router differ in priority,
  preemption or preempt-delay, which VyOS's own documentation says loops.
- `peer_mismatch`: a group configured (or enabled) on some routers of the cluster only (no standby),
  or whose VRID, interface, virtual addresses or advertise interval differ between routers (not one
  virtual router: both may be master), or whose sync-group differs (the routers fail it over with
  different groups). The group's first router in config order is the reference for the fix.
- `priority_tie`: the highest priority of a group is shared by two or more routers, so who is
  master depends on interface addresses and on who came up first.
- `preferred_master_mismatch`: the YAML's declared preferred master of a group is not its strictly
  highest-priority router, so VRRPNotPreferredMaster would fire on a healthy pair.

Fix commands are VyOS configuration-mode commands. A command written bare is to be entered on every
router listed in the finding; a command needed on one router only is written `router: command`.
Where values must be chosen, the reference is the declared preferred master, else the cluster's
first router (config order), and new priorities step by 50 within 1..255 (the seed uses 150/100).
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .model import DEFAULT_SET_NAME, SyncSetSpec
from .vyos_config import VrrpConfig, VrrpGroupConfig

__all__ = [
    "RULES",
    "RiskFinding",
    "derive_preferred",
    "derive_sets",
    "fix_by_router",
    "lint",
]

RULES: tuple[str, ...] = (
    "split_prone",
    "sync_group_member_missing",
    "sync_group_inconsistent",
    "peer_mismatch",
    "priority_tie",
    "preferred_master_mismatch",
)

# Name of the sync-group a fix creates when none of the groups is in one (the seed's name).
FIX_SYNC_GROUP = "MAIN"
_PRIORITY_STEP = 50
_MAX_PRIORITY = 255
_SAFE_WORD = re.compile(r"[A-Za-z0-9_./:+@-]+")


@dataclass(frozen=True, slots=True)
class RiskFinding:
    """One split risk: which rule, where, why (one English line) and the commands that fix it."""

    rule: str
    routers: tuple[str, ...]
    groups: tuple[str, ...]
    reason: str
    fix: tuple[str, ...]


def fix_by_router(finding: RiskFinding) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """The fix as (routers, the commands to enter on each of them, in order): a bare command goes
    to every router of the finding, `router: command` to that router only; routers that need the
    same commands share one entry."""
    per_router: dict[str, list[str]] = {r: [] for r in finding.routers}
    owners = sorted(finding.routers, key=len, reverse=True)  # longest first: one name may start another
    for command in finding.fix:
        owner = next((r for r in owners if command.startswith(f"{r}: ")), None)
        if owner is None:
            for commands in per_router.values():
                commands.append(command)
        else:
            per_router[owner].append(command[len(owner) + 2 :])
    shared: dict[tuple[str, ...], list[str]] = {}
    for router, commands in per_router.items():
        if commands:
            shared.setdefault(tuple(commands), []).append(router)
    return [(tuple(routers), commands) for commands, routers in shared.items()]


# -- helpers --------------------------------------------------------------------------------------

Configs = Mapping[str, VrrpConfig]


def _word(value: str) -> str:
    """A value as a VyOS command word: bare where safe, else quoted."""
    if _SAFE_WORD.fullmatch(value):
        return value
    return "'" + value + "'" if "'" not in value else '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _group_cmd(verb: str, group: str, *rest: str) -> str:
    return " ".join([verb, "high-availability vrrp group", _word(group), *(_word(r) for r in rest)])


def _member_cmd(verb: str, sync_group: str, group: str) -> str:
    return f"{verb} high-availability vrrp sync-group {_word(sync_group)} member {_word(group)}"


def _names(items: Iterable[str]) -> str:
    return ", ".join(items)


def _fold(routers: Sequence[str], per_router: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """Commands needed on every router of the finding bare, the others as `router: command`."""
    needed = [set(per_router.get(r, ())) for r in routers]
    everywhere = set.intersection(*needed) if needed else set()
    out: list[str] = []
    for router in routers:
        for command in per_router.get(router, ()):
            if command not in everywhere:
                out.append(f"{router}: {command}")
            elif command not in out:
                out.append(command)
    return tuple(out)


def _all_groups(configs: Configs) -> list[str]:
    seen: dict[str, None] = {}
    for cfg in configs.values():
        seen.update(dict.fromkeys(cfg.groups))
    return list(seen)


def _instances(configs: Configs, group: str, *, enabled: bool = True) -> dict[str, VrrpGroupConfig]:
    """The group's configuration per router (config order), only where enabled unless told."""
    return {
        router: cfg.groups[group]
        for router, cfg in configs.items()
        if group in cfg.groups and not (enabled and cfg.groups[group].disabled)
    }


def _preferred(instances: Mapping[str, VrrpGroupConfig]) -> str | None:
    if not instances:
        return None
    top = max(g.priority for g in instances.values())
    winners = [r for r, g in instances.items() if g.priority == top]
    return winners[0] if len(winners) == 1 else None


def _raised(above: int) -> int | None:
    """A priority strictly above `above`, a step higher where there is room."""
    return None if above >= _MAX_PRIORITY else min(above + _PRIORITY_STEP, _MAX_PRIORITY)


# -- derived intent -------------------------------------------------------------------------------


def derive_sets(configs: Configs) -> tuple[SyncSetSpec, ...]:
    """Sync sets from the routers' sync-groups, plus `all` for the rest (see the module docstring)."""
    members: dict[str, list[str]] = {}
    in_sync: set[str] = set()
    for cfg in configs.values():
        for sync_group, names in cfg.sync_groups.items():
            known = members.setdefault(sync_group, [])
            for name in names:
                if name in cfg.groups:
                    in_sync.add(name)
                    if name not in known:
                        known.append(name)
    default = members.pop(DEFAULT_SET_NAME, [])
    default += [g for g in _all_groups(configs) if g not in in_sync and g not in default]
    sets = [SyncSetSpec(name, tuple(groups)) for name, groups in members.items() if groups]
    if default:
        sets.append(SyncSetSpec(DEFAULT_SET_NAME, tuple(default)))
    return tuple(sets)


def derive_preferred(configs: Configs) -> dict[str, str | None]:
    """Each group's strictly highest-priority router (enabled instances only); None on a tie."""
    return {group: _preferred(_instances(configs, group)) for group in _all_groups(configs)}


# -- rules ----------------------------------------------------------------------------------------


def _member_missing(configs: Configs) -> list[RiskFinding]:
    by_member: dict[tuple[str, str], list[str]] = {}
    for router, cfg in configs.items():
        for sync_group, names in cfg.sync_groups.items():
            for name in names:
                if name not in cfg.groups:
                    by_member.setdefault((sync_group, name), []).append(router)
    findings = []
    for (sync_group, name), routers in by_member.items():
        per_router: dict[str, list[str]] = {}
        guesses: set[str] = set()
        for router in routers:
            cfg = configs[router]
            # the group meant is most likely one that is in no sync-group yet
            free = [g for g in cfg.groups if cfg.sync_group_of(g) is None]
            guess = difflib.get_close_matches(name, free, n=1, cutoff=0.6)
            per_router[router] = [_member_cmd("delete", sync_group, name)]
            if guess:
                guesses.add(guess[0])
                per_router[router].append(_member_cmd("set", sync_group, guess[0]))
        hint = f" (meant {_names(sorted(guesses))}?)" if guesses else ""
        findings.append(
            RiskFinding(
                "sync_group_member_missing",
                tuple(routers),
                (name,),
                f"sync-group {sync_group} lists member {name}, which is no VRRP group on {_names(routers)}{hint}:"
                " the group meant moves on its own",
                _fold(routers, per_router),
            )
        )
    return findings


def _mode(values: Iterable[int]) -> int:
    """The most common value; on a tie the highest (priority, preempt, the longer delay)."""
    counts = Counter(values)
    return max(counts, key=lambda value: (counts[value], value))


def _settings(group: VrrpGroupConfig) -> tuple[int, bool, int]:
    return group.priority, group.preempt, group.preempt_delay or 0


def _align(group: VrrpGroupConfig, priority: int, preempt: bool, delay: int) -> list[str]:
    """Commands that give `group` these settings (nothing where it already has them)."""
    commands = []
    if group.priority != priority:
        commands.append(_group_cmd("set", group.name, "priority", str(priority)))
    if group.preempt != preempt:
        commands.append(_group_cmd("delete" if preempt else "set", group.name, "no-preempt"))
    if (group.preempt_delay or 0) != delay:
        commands.append(_group_cmd("set", group.name, "preempt-delay", str(delay)))
    return commands


def _inconsistent(configs: Configs) -> list[RiskFinding]:
    # vyos/vyos-documentation docs/configuration/highavailability/index.rst, "Sync groups":
    # "All items in a sync group should be similarly configured. If one VRRP group is set to a
    # different preemption delay or priority, it would result in an endless transition loop."
    # (keepalived's sample config carries the same warning, acassen/keepalived#624.)
    findings = []
    for router, cfg in configs.items():
        for sync_group, names in cfg.sync_groups.items():
            groups = [cfg.groups[n] for n in names if n in cfg.groups and not cfg.groups[n].disabled]
            if len({_settings(g) for g in groups}) < 2:
                continue
            # the members' most common value wins; on a tie, the higher priority, preempt, longer delay
            priority = _mode(g.priority for g in groups)
            preempt = bool(_mode(int(g.preempt) for g in groups))
            delay = _mode(g.preempt_delay or 0 for g in groups)
            shown = "; ".join(
                f"{g.name} priority {g.priority}{'' if g.preempt else ' no-preempt'}"
                + (f" preempt-delay {g.preempt_delay}" if g.preempt_delay else "")
                for g in groups
            )
            fix = [c for g in groups for c in _align(g, priority, preempt, delay)]
            findings.append(
                RiskFinding(
                    "sync_group_inconsistent",
                    (router,),
                    tuple(g.name for g in groups),
                    f"members of sync-group {sync_group} on {router} differ ({shown}):"
                    " VyOS warns this results in an endless transition loop",
                    tuple(fix),
                )
            )
    return findings


def _address_cmd(verb: str, name: str, address: str, legacy: bool) -> str:
    """`address` (1.4+) or, for a router that writes it so, `virtual-address` (1.2/1.3)."""
    return _group_cmd(verb, name, "virtual-address" if legacy else "address", address)


def _peer_mismatch(configs: Configs) -> list[RiskFinding]:
    routers_all = list(configs)
    findings = []
    for name in _all_groups(configs):
        present = _instances(configs, name, enabled=False)
        first_router, ref = next(iter(present.items()))
        per_router: dict[str, list[str]] = {}
        problems: list[str] = []
        missing = [r for r in routers_all if r not in present]
        if missing:
            problems.append(f"not configured on {_names(missing)}")
            for router in missing:
                commands = per_router.setdefault(router, [])
                if ref.interface:
                    commands.append(_group_cmd("set", name, "interface", ref.interface))
                if ref.vrid is not None:
                    commands.append(_group_cmd("set", name, "vrid", str(ref.vrid)))
                commands += [_address_cmd("set", name, a, ref.uses_virtual_address) for a in ref.addresses]
                if ref.priority > _PRIORITY_STEP:
                    commands.append(_group_cmd("set", name, "priority", str(ref.priority - _PRIORITY_STEP)))
        disabled = [r for r, g in present.items() if g.disabled]
        if disabled and len(disabled) < len(present):
            problems.append(f"disabled on {_names(disabled)}")
            for router in disabled:
                per_router.setdefault(router, []).append(_group_cmd("delete", name, "disable"))
        ref_sync = configs[first_router].sync_group_of(name)
        for router, group in present.items():
            if router == first_router:
                continue
            commands = per_router.setdefault(router, [])
            if group.vrid != ref.vrid and ref.vrid is not None:
                problems.append(f"vrid {group.vrid} on {router} but {ref.vrid} on {first_router}")
                commands.append(_group_cmd("set", name, "vrid", str(ref.vrid)))
            if group.interface != ref.interface and ref.interface is not None:
                problems.append(f"interface {group.interface} on {router} but {ref.interface} on {first_router}")
                commands.append(_group_cmd("set", name, "interface", ref.interface))
            if set(group.addresses) != set(ref.addresses):
                problems.append(
                    f"addresses {_names(group.addresses) or 'none'} on {router}"
                    f" but {_names(ref.addresses) or 'none'} on {first_router}"
                )
                commands += [
                    _address_cmd("delete", name, a, group.uses_virtual_address)
                    for a in group.addresses
                    if a not in ref.addresses
                ]
                commands += [
                    _address_cmd("set", name, a, group.uses_virtual_address)
                    for a in ref.addresses
                    if a not in group.addresses
                ]
            if (group.advertise_interval or 1) != (ref.advertise_interval or 1):
                problems.append(
                    f"advertise-interval {group.advertise_interval or 1} on {router}"
                    f" but {ref.advertise_interval or 1} on {first_router}"
                )
                commands.append(_group_cmd("set", name, "advertise-interval", str(ref.advertise_interval or 1)))
            sync = configs[router].sync_group_of(name)
            if sync != ref_sync:
                problems.append(f"sync-group {sync or 'none'} on {router} but {ref_sync or 'none'} on {first_router}")
                if sync is not None:
                    commands.append(_member_cmd("delete", sync, name))
                if ref_sync is not None:
                    commands.append(_member_cmd("set", ref_sync, name))
        if not problems:
            continue
        involved = [r for r in routers_all if r == first_router or per_router.get(r)]
        findings.append(
            RiskFinding(
                "peer_mismatch",
                tuple(involved),
                (name,),
                f"{name} is not the same virtual router on {_names(involved)}: {'; '.join(problems)}",
                _fold(involved, per_router),
            )
        )
    return findings


def _raise_commands(cfg: VrrpConfig, group: VrrpGroupConfig, priority: int) -> list[str]:
    """Set `group` to `priority`, and its sync-group partners that shared its old priority too."""
    names = [group.name]
    sync_group = cfg.sync_group_of(group.name)
    if sync_group is not None:
        names += [
            n
            for n in cfg.sync_groups[sync_group]
            if n != group.name and n in cfg.groups and cfg.groups[n].priority == group.priority
        ]
    return [_group_cmd("set", n, "priority", str(priority)) for n in names]


def _make_preferred(configs: Configs, name: str, winner: str) -> dict[str, list[str]]:
    """Commands that make `winner` the strictly highest-priority router of group `name`."""
    instances = _instances(configs, name)
    others = max((g.priority for r, g in instances.items() if r != winner), default=0)
    new = _raised(others)
    if new is not None:
        return {winner: _raise_commands(configs[winner], instances[winner], new)}
    # every other router is at 255 already: lower them instead
    lowered = _MAX_PRIORITY - _PRIORITY_STEP
    per_router = {winner: _raise_commands(configs[winner], instances[winner], _MAX_PRIORITY)}
    for router in instances:
        if router != winner:
            per_router[router] = [_group_cmd("set", name, "priority", str(lowered))]
    return per_router


def _priority_tie(configs: Configs, declared: Mapping[str, str]) -> list[RiskFinding]:
    # keepalived's maintainer: "It is bad practice to have VRRP instances with the same VRID having
    # the same priority" - both become master at once, then one reverts (acassen/keepalived#2323,
    # #1515); with no-preempt the first to come up keeps it (#1205).
    findings = []
    for name in _all_groups(configs):
        instances = _instances(configs, name)
        if len(instances) < 2:
            continue
        top = max(g.priority for g in instances.values())
        tied = [r for r, g in instances.items() if g.priority == top]
        if len(tied) < 2:
            continue
        want = declared.get(name)
        winner = want if want is not None and want in tied else tied[0]
        findings.append(
            RiskFinding(
                "priority_tie",
                tuple(tied),
                (name,),
                f"{name} has priority {top} on {_names(tied)}: the master is decided by interface addresses"
                " and start-up order, not by configuration",
                _fold(tied, _make_preferred(configs, name, winner)),
            )
        )
    return findings


def _preferred_mismatch(configs: Configs, declared: Mapping[str, str]) -> list[RiskFinding]:
    findings = []
    for name, want in declared.items():
        instances = _instances(configs, name)
        if not instances:
            continue
        actual = _preferred(instances)
        if actual == want:
            continue
        shown = ", ".join(f"{r} {g.priority}" for r, g in instances.items())
        if want not in instances:
            findings.append(
                RiskFinding(
                    "preferred_master_mismatch",
                    (want,),
                    (name,),
                    f"declared preferred master {want} of {name} has no enabled {name} (priorities: {shown});"
                    " fix the YAML's preferred_master or configure the group there",
                    (),
                )
            )
            continue
        per_router = _make_preferred(configs, name, want)
        floor = instances[want].priority
        routers = [r for r, g in instances.items() if r == want or r in per_router or g.priority >= floor]
        findings.append(
            RiskFinding(
                "preferred_master_mismatch",
                tuple(routers),
                (name,),
                f"declared preferred master {want} of {name} is not its highest-priority router"
                f" (priorities: {shown}); or fix the YAML's preferred_master",
                _fold(routers, per_router),
            )
        )
    return findings


@dataclass(slots=True)
class _Unit:
    """Groups that fail over together: one group, or the members of one sync-group everywhere."""

    sync_group: str | None
    groups: list[str]
    returns_to: str | None = None  # the router VRRP alone brings it back to; None if it stays

    def describe(self) -> str:
        return self.groups[0] if self.sync_group is None else f"sync-group {self.sync_group} ({_names(self.groups)})"


def _units(configs: Configs, groups: Sequence[str]) -> list[_Unit]:
    units: dict[object, _Unit] = {}
    for name in groups:
        syncs = {configs[r].sync_group_of(name) for r in _instances(configs, name)}
        sync = next(iter(syncs)) if len(syncs) == 1 else None
        key: object = ("sync", sync) if sync is not None else ("solo", name)
        units.setdefault(key, _Unit(sync, [])).groups.append(name)
    for unit in units.values():
        preferred = {_preferred(_instances(configs, g)) for g in unit.groups}
        if len(preferred) == 1 and None not in preferred and not any(_no_preempt(configs, g) for g in unit.groups):
            unit.returns_to = next(iter(preferred))
    return list(units.values())


def _no_preempt(configs: Configs, group: str) -> bool:
    return any(not i.preempt for i in _instances(configs, group).values())


def _causes(configs: Configs, groups: Sequence[str]) -> list[str]:
    """Why these groups' failovers are not undone by VRRP alone, in an operator's words."""
    causes = []
    no_preempt = [g for g in groups if _no_preempt(configs, g)]
    if no_preempt:
        causes.append(f"no-preempt on {_names(no_preempt)}")
    preferred = {g: _preferred(_instances(configs, g)) for g in groups}
    tied = [g for g, r in preferred.items() if r is None]
    if tied:
        causes.append(f"equal top priorities on {_names(tied)}")
    if len({r for r in preferred.values() if r is not None}) > 1:
        causes.append("priorities prefer " + ", ".join(f"{r} for {g}" for g, r in preferred.items() if r))
    return causes


def _split_prone(
    configs: Configs, declared_sets: tuple[SyncSetSpec, ...] | None, declared: Mapping[str, str]
) -> list[RiskFinding]:
    shared = [g for g in _all_groups(configs) if len(_instances(configs, g)) >= 2]
    scopes: list[tuple[str | None, list[str]]]
    if declared_sets is None:
        scopes = [(None, shared)]
    else:
        scopes = [(s.name, [g for g in shared if s.groups is None or g in s.groups]) for s in declared_sets]
    findings = []
    for set_name, scope in scopes:
        units = _units(configs, scope)
        risky: list[_Unit] = []
        for i, first in enumerate(units):
            for second in units[i + 1 :]:
                on_purpose = declared_sets is None and first.sync_group is not None and second.sync_group is not None
                if on_purpose:
                    continue
                if first.returns_to is None or first.returns_to != second.returns_to:
                    risky += [u for u in (first, second) if u not in risky]
        if not risky:
            continue
        risky = [u for u in units if u in risky]  # in scope order
        groups = [g for g in scope if any(g in u.groups for u in risky)]
        routers = [r for r in configs if any(g in configs[r].groups for g in groups)]
        where = f" of set {set_name}" if set_name is not None else ""
        findings.append(
            RiskFinding(
                "split_prone",
                tuple(routers),
                tuple(groups),
                f"{_names(u.describe() for u in risky)}{where} fail over separately and a failover is not undone"
                f" by itself ({'; '.join(_causes(configs, groups))}): after one link flap their masters can stay"
                " on different routers; fix with one sync-group (below) or with preempt and one router highest"
                " on every group",
                _split_fix(configs, routers, risky, set_name, declared, keep_sync_groups=declared_sets is None),
            )
        )
    return findings


def _split_fix(
    configs: Configs,
    routers: Sequence[str],
    risky: Sequence[_Unit],
    set_name: str | None,
    declared: Mapping[str, str],
    *,
    keep_sync_groups: bool,
) -> tuple[str, ...]:
    """One sync-group for the risky groups, with its members set alike so that it cannot loop.

    The sync-group is the largest existing one among them, else the declared set's name, else
    MAIN. With `keep_sync_groups` (no declared sets: separate sync-groups are on purpose) only the
    groups in no sync-group join it; otherwise every risky group does.
    """
    existing = Counter({u.sync_group: len(u.groups) for u in risky if u.sync_group is not None})
    if existing:
        target = max(existing, key=lambda name: (existing[name], -list(existing).index(name)))
    elif set_name is not None and set_name != DEFAULT_SET_NAME and _SAFE_WORD.fullmatch(set_name):
        target = set_name
    else:
        target = FIX_SYNC_GROUP
    joining = [g for u in risky if u.sync_group != target and not (keep_sync_groups and u.sync_group) for g in u.groups]
    groups = [g for u in risky if u.sync_group == target for g in u.groups] + joining
    # the router that should master them all: declared, else the one most groups prefer, else the first
    wanted = [declared[g] for g in groups if g in declared]
    preferred = [p for g in groups if (p := _preferred(_instances(configs, g))) is not None]
    votes = Counter(wanted or preferred)
    master = max(routers, key=lambda r: (votes[r], -routers.index(r)))
    per_router: dict[str, list[str]] = {}
    for router in routers:
        cfg = configs[router]
        commands = per_router.setdefault(router, [])
        for name in joining:
            current = cfg.sync_group_of(name) if name in cfg.groups else target
            if current == target or cfg.groups[name].disabled:
                continue
            if current is not None:
                commands.append(_member_cmd("delete", current, name))
            commands.append(_member_cmd("set", target, name))
    # members of one sync-group must be set alike (VyOS docs), and the master must be highest:
    # the master's highest and the others' lowest priority, unless that does not order them
    highs = [configs[master].groups[g].priority for g in groups if g in configs[master].groups]
    lows = [configs[r].groups[g].priority for r in routers if r != master for g in groups if g in configs[r].groups]
    high, low = max(highs, default=0), min(lows, default=0)
    if high <= low:
        raised = _raised(low)
        high = raised if raised is not None else _MAX_PRIORITY
        low = min(low, high - 1)
    for router in routers:
        cfg = configs[router]
        present = [cfg.groups[g] for g in groups if g in cfg.groups and not cfg.groups[g].disabled]
        if not present:
            continue
        # mixed preemption is aligned to preempt; all `no-preempt` is consistent and stays
        preempt = any(g.preempt for g in present)
        delay = max(g.preempt_delay or 0 for g in present)
        priority = high if router == master else low
        for group in present:
            per_router[router] += _align(group, priority, preempt, delay)
    return _fold(routers, per_router)


# -- entry point ----------------------------------------------------------------------------------


def lint(
    configs: Configs,
    declared_sets: tuple[SyncSetSpec, ...] | None,
    declared_preferred: Mapping[str, str] | None = None,
) -> tuple[RiskFinding, ...]:
    """Every finding of every rule for one cluster, sorted by rule (RULES order), groups, routers.

    `declared_sets` are the YAML's sync sets (None: the YAML declares none, see `split_prone`);
    `declared_preferred` maps a group to the YAML's preferred master for it (the set's, else the
    cluster's), None or empty when the YAML names none.
    """
    declared = dict(declared_preferred or {})
    findings = [
        *_split_prone(configs, declared_sets, declared),
        *_member_missing(configs),
        *_inconsistent(configs),
        *_peer_mismatch(configs),
        *_priority_tie(configs, declared),
        *_preferred_mismatch(configs, declared),
    ]
    return tuple(sorted(findings, key=lambda f: (RULES.index(f.rule), f.groups, f.routers, f.reason, f.fix)))
