"""Read the `high-availability vrrp` subtree of a VyOS configuration given as `set` commands.

Pure functions: no I/O, no logging, no clock. The input is what `show configuration commands`
prints (the whole configuration or only the VRRP lines), or a file of such lines saved by hand.

The node names are those of vyos-1x's interface definitions: `interface-definitions/vrrp.xml.in`
(1.2 crux, 1.3 equuleus: `virtual-address`) and `high-availability.xml.in` (1.4 sagitta and later:
`address <prefix> [interface <if>]`, `track`, `excluded-address`). Both spellings are read.

What a line may look like:

- `set high-availability vrrp group VLAN1 interface 'eth0'`: node names bare, values single-quoted
  (`show configuration commands`, i.e. `vyos-config-to-commands`); `cli-shell-api showConfig
  --show-commands` quotes every word (`set 'high-availability' 'vrrp' ...`); hand-written files use
  double quotes or bare words. A quoted word may hold spaces (`description 'home LAN'`).
- `set` lines of other subtrees are skipped without being tokenized, so a whole configuration works
  and nothing outside the VRRP subtree (password hashes, keys) is ever looked at.
- `delete` and `comment` commands, `#` comments, blank lines, a VyOS prompt line
  (`vyos@vyos01:~$ show configuration commands`) and `[edit]` are skipped; CRLF and trailing
  spaces are fine. A later `set` of a single-value node replaces an earlier one, as it would in VyOS.

**Authentication passwords** are dropped as the line is read: tokenizing of a line stops at
`group <name> authentication password`, so the value is never split off, stored, or quoted in an
error message (an error on a line that mentions authentication never quotes that line).

Errors: a line this module cannot read (an unterminated quote, a VRID or priority that is not a
number in VyOS's range, a `group` without a name, any line that is no command at all, such as
`Must be an admin user to run this command.`) is a `ParseError` naming the line. Skipping it and
reporting it in a `problems` tuple was the alternative; it is refused because the lint built on this
judges a whole pair of routers: a silently dropped `no-preempt` or `sync-group member` line would
yield a confident wrong answer ("no risk"), and VyOS never prints such lines, so they mean the
output is not what we asked for. Unknown nodes, on the other hand, are skipped: newer VyOS
releases add nodes (`garp`, `health-check ping`, `snmp`) and that must not break reading.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .errors import ParseError

__all__ = [
    "DEFAULT_CONFIG_COMMAND",
    "DEFAULT_PRIORITY",
    "MAX_CONFIG_CHARS",
    "MAX_CONFIG_LINES",
    "MAX_LINE_CHARS",
    "VrrpConfig",
    "VrrpGroupConfig",
    "parse_vyos_config",
]

# The whole configuration of a large router (thousands of firewall rules) is under 2 MB.
MAX_CONFIG_CHARS = 4 * 1024 * 1024
MAX_CONFIG_LINES = 200_000
# A `set` line is a path of a few short words; descriptions and scripts are the longest values.
MAX_LINE_CHARS = 4_096

# vyos-1x high-availability.xml.in: `priority` <defaultValue>100</defaultValue> (1.4+); 1.2/1.3
# vrrp.xml.in: "Router priority (default: 100)" and the config script fills in 100.
DEFAULT_PRIORITY = 100

# The default `ssh.config_command` (docs/vyos-setup.md, section 6): `show configuration commands`
# through the op-mode wrapper (1.2 to 1.5), filtered on the router so that only the VRRP lines, and
# any line that is no `set` command at all (an error message), leave it.
DEFAULT_CONFIG_COMMAND = (
    "set -o pipefail; /opt/vyatta/bin/vyatta-op-cmd-wrapper show configuration commands"
    " | sed -n -e '/^set high-availability vrrp /p' -e '/^set /!p'"
)

_VRRP_PATH = ("high-availability", "vrrp")
_PROMPT_RE = re.compile(r"[\w.-]+@[\w.-]+(:\S*)?[$#](\s.*)?")
# A line that mentions one of these is never quoted in an error message.
_SENSITIVE_RE = re.compile(r"authentication|password|secret|key", re.IGNORECASE)
_NUMERIC_RANGES = {
    "vrid": (1, 255),
    "priority": (1, 255),
    "preempt-delay": (0, 1000),
    "advertise-interval": (1, 255),
}


@dataclass(frozen=True, slots=True)
class VrrpGroupConfig:
    """One `high-availability vrrp group <name>` as configured on one router.

    `priority` is VyOS's default 100 when unset; `preempt` is False only with `no-preempt`.
    `addresses` are the virtual addresses in canonical form (`192.0.2.1/24`), from `address`
    (1.4+) or `virtual-address` (1.2/1.3), in config order; `uses_virtual_address` says which
    spelling the router used, so a fix command can be written in it. The authentication password
    is never kept: `has_authentication` only says whether the group has an `authentication` node.
    """

    name: str
    interface: str | None = None
    vrid: int | None = None
    priority: int = DEFAULT_PRIORITY
    preempt: bool = True
    preempt_delay: int | None = None
    addresses: tuple[str, ...] = ()
    uses_virtual_address: bool = False
    rfc3768: bool = False
    advertise_interval: int | None = None
    peer_address: str | None = None
    hello_source_address: str | None = None
    has_track: bool = False
    has_health_check: bool = False
    has_transition_scripts: bool = False
    has_authentication: bool = False
    authentication_type: str | None = None
    disabled: bool = False
    description: str | None = None


@dataclass(frozen=True, slots=True)
class VrrpConfig:
    """The VRRP configuration of one router: groups and sync-groups by name, in config order.

    `sync_groups` maps a sync-group to its `member` values as written, typos included (a member
    that names no group is what the lint's `sync_group_member_missing` reports).
    """

    groups: Mapping[str, VrrpGroupConfig] = field(default_factory=lambda: MappingProxyType({}))
    sync_groups: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))

    def sync_group_of(self, group: str) -> str | None:
        """The first sync-group listing `group` as a member, or None."""
        for name, members in self.sync_groups.items():
            if group in members:
                return name
        return None


# -- tokenizing -----------------------------------------------------------------------------------


class _LineError(Exception):
    """A problem in one line; turned into a ParseError that names the line."""


def _words(text: str) -> Iterator[str]:
    """Yield the words of one line lazily, so the caller can stop before a secret is read.

    Single quotes are literal (no escapes inside, as cli-shell-api prints them); double quotes take
    backslash escapes; a quoted part must end the word.
    """
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            return
        quote = text[i]
        if quote in "'\"":
            i += 1
            out: list[str] = []
            while True:
                if i >= n:
                    raise _LineError("unterminated quote")
                ch = text[i]
                if ch == quote:
                    i += 1
                    break
                if quote == '"' and ch == "\\" and i + 1 < n:
                    i += 1
                    ch = text[i]
                out.append(ch)
                i += 1
            if i < n and text[i] not in " \t":
                raise _LineError("text right after a closing quote")
            yield "".join(out)
        else:
            start = i
            while i < n and text[i] not in " \t":
                if text[i] in "'\"":
                    raise _LineError("quote inside a word")
                i += 1
            yield text[start:i]


# -- building -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _GroupBuilder:
    name: str
    values: dict[str, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    addresses: list[str] = field(default_factory=list)
    uses_virtual_address: bool = False

    def build(self) -> VrrpGroupConfig:
        v = self.values
        return VrrpGroupConfig(
            name=self.name,
            interface=v.get("interface"),
            vrid=int(v["vrid"]) if "vrid" in v else None,
            priority=int(v["priority"]) if "priority" in v else DEFAULT_PRIORITY,
            preempt="no-preempt" not in self.flags,
            preempt_delay=int(v["preempt-delay"]) if "preempt-delay" in v else None,
            addresses=tuple(self.addresses),
            uses_virtual_address=self.uses_virtual_address,
            rfc3768="rfc3768-compatibility" in self.flags,
            advertise_interval=int(v["advertise-interval"]) if "advertise-interval" in v else None,
            peer_address=v.get("peer-address"),
            hello_source_address=v.get("hello-source-address"),
            has_track="track" in self.flags,
            has_health_check="health-check" in self.flags,
            has_transition_scripts="transition-script" in self.flags,
            has_authentication="authentication" in self.flags,
            authentication_type=v.get("authentication type"),
            disabled="disable" in self.flags,
            description=v.get("description"),
        )


def _canonical_address(text: str) -> str:
    """`192.0.2.1/24` in ipaddress's canonical form; text that is no address is kept as written."""
    try:
        return str(ipaddress.ip_interface(text))
    except ValueError:
        return text


def _number(node: str, value: str) -> str:
    low, high = _NUMERIC_RANGES[node]
    if not value.isdecimal() or not low <= int(value) <= high:
        raise _LineError(f"{node} must be a number from {low} to {high}, got {value[:20]!r}")
    return str(int(value))


def _need(words: Iterator[str], what: str) -> str:
    word = next(words, None)
    if word is None:
        raise _LineError(f"{what} has no value")
    return word


def _read_group(builder: _GroupBuilder, words: Iterator[str]) -> None:
    """Apply the rest of one `set high-availability vrrp group <name> ...` line."""
    node = next(words, None)
    if node is None:
        return
    if node in _NUMERIC_RANGES:
        builder.values[node] = _number(node, _need(words, node))
    elif node in ("interface", "description", "peer-address", "hello-source-address"):
        builder.values[node] = _need(words, node)
    elif node in ("no-preempt", "rfc3768-compatibility", "disable"):
        builder.flags.add(node)
    elif node in ("track", "health-check", "transition-script"):
        # present/absent is all the lint needs; `track` alone (no child) counts too
        builder.flags.add(node)
    elif node == "virtual-address":
        address = _canonical_address(_need(words, node))
        builder.uses_virtual_address = True
        if address not in builder.addresses:
            builder.addresses.append(address)
    elif node == "address":
        address = _canonical_address(_need(words, node))
        if address not in builder.addresses:
            builder.addresses.append(address)
    elif node == "authentication":
        builder.flags.add(node)
        child = next(words, None)
        if child == "type":
            builder.values["authentication type"] = _need(words, "authentication type")
        # `password`: stop here. The value is never read off the line.
    # anything else (garp, excluded-address, virtual-address-excluded, ...) is not needed


def parse_vyos_config(text: str) -> VrrpConfig:
    """The VRRP groups and sync-groups in VyOS `set` commands (see the module docstring).

    Raises `ParseError` (naming the line) on text that is not such output; an empty text, or one
    without VRRP lines, is a router with no VRRP configured: an empty `VrrpConfig`.
    """
    if len(text) > MAX_CONFIG_CHARS:
        raise ParseError(f"configuration is {len(text)} characters, more than the {MAX_CONFIG_CHARS} accepted")
    lines = text.splitlines()
    if len(lines) > MAX_CONFIG_LINES:
        raise ParseError(f"configuration has {len(lines)} lines, more than the {MAX_CONFIG_LINES} accepted")
    groups: dict[str, _GroupBuilder] = {}
    sync_groups: dict[str, list[str]] = {}
    for no, raw in enumerate(lines, start=1):
        line = raw.strip()
        try:
            _read_line(line, groups, sync_groups)
        except _LineError as exc:
            shown = None if _SENSITIVE_RE.search(line) else line
            raise ParseError(str(exc), no, shown) from None
    return VrrpConfig(
        groups=MappingProxyType({name: b.build() for name, b in groups.items()}),
        sync_groups=MappingProxyType({name: tuple(members) for name, members in sync_groups.items()}),
    )


def _read_line(line: str, groups: dict[str, _GroupBuilder], sync_groups: dict[str, list[str]]) -> None:
    if len(line) > MAX_LINE_CHARS:
        raise _LineError(f"line is longer than {MAX_LINE_CHARS} characters")
    if not line or line.startswith("#") or line == "[edit]" or _PROMPT_RE.fullmatch(line):
        return
    verb, *tail = line.split(None, 1)
    rest = tail[0] if tail else ""
    if verb in ("delete", "comment"):
        return
    if verb != "set":
        raise _LineError("not a VyOS configuration command (expected output of show configuration commands)")
    # Cheap pre-check: lines of other subtrees are skipped without being tokenized at all.
    if "vrrp" not in rest:
        return
    words = _words(rest)
    for expected in _VRRP_PATH:
        if next(words, None) != expected:
            return
    kind = next(words, None)
    if kind == "group":
        name = _need(words, "group")
        builder = groups.get(name)
        if builder is None:
            builder = groups[name] = _GroupBuilder(name)
        _read_group(builder, words)
    elif kind == "sync-group":
        name = _need(words, "sync-group")
        members = sync_groups.setdefault(name, [])
        if next(words, None) == "member":
            member = _need(words, "member")
            if member not in members:
                members.append(member)
    # global-parameters, snmp, ... and `set high-availability vrrp` alone: nothing to keep
